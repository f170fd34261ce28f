"""Architecture rails: the core stays pure; handlers and the bot never touch tables."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "relief_pwa"
FORBIDDEN_IN_CORE = (
    "litestar",
    "piccolo",
    "telegram",
    "jinja2",
    "httpx",
    "aiosqlite",
    "asyncpg",
    "PIL",
    "qrcode",
)
OUR_OUTER_LAYERS = (
    "relief_pwa.tables",
    "relief_pwa.services",
    "relief_pwa.handlers",
    "relief_pwa.bot",
    "relief_pwa.adapters",
    "relief_pwa.db",
    "relief_pwa.settings",
    "relief_pwa.clock",
)
CLOCK_CALLS = {
    ("date", "today"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
}


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def core_violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    problems = []
    for name in _imports(tree):
        if name.split(".")[0] in FORBIDDEN_IN_CORE or name.startswith(OUR_OUTER_LAYERS):
            problems.append(f"imports {name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if (owner_name, node.func.attr) in CLOCK_CALLS:
                problems.append(f"reads the clock: {owner_name}.{node.func.attr}()")
    return problems


@pytest.mark.parametrize("path", _modules("core"), ids=lambda p: p.name)
def test_core_is_pure(path: Path) -> None:
    assert core_violations(path) == []


def test_the_purity_check_catches_violations(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from datetime import date\nimport piccolo\nfrom relief_pwa.tables import Household\n"
        "def f():\n    return date.today()\n"
    )
    assert core_violations(bad) == [
        "imports piccolo",
        "imports relief_pwa.tables",
        "reads the clock: date.today()",
    ]


@pytest.mark.parametrize(
    "path", _modules("handlers") + _modules("bot"), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_handlers_and_bot_go_through_services(path: Path) -> None:
    """Handlers and the bot call services; they never import the tables."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert [n for n in _imports(tree) if n.startswith("relief_pwa.tables")] == []


def test_services_do_not_import_handlers_or_bot() -> None:
    for path in _modules("services"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bad = [n for n in _imports(tree) if n.startswith(("relief_pwa.handlers", "litestar", "jinja2"))]
        assert bad == [], f"{path.name} imports {bad}"


# --- one permission policy -------------------------------------------------------------
#
# Who may do what lives in core/permissions.py. Anywhere else, comparing a
# role (``actor.role == ...``, ``row["role"] in ...``, ``... == Role.CITY``)
# or keeping a tuple of roles (``*_ROLES = ...``) is a second, drifting policy.

POLICY_MODULE = PACKAGE / "core" / "permissions.py"
TEMPLATES = PACKAGE / "templates"


def _is_role_operand(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        if node.attr == "role":
            return True
        if isinstance(node.value, ast.Name) and node.value.id in {"Role", "R"}:
            return True
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return node.slice.value == "role"
    return isinstance(node, ast.Name) and node.id.endswith("_ROLES")


def role_comparisons(source: str) -> list[int]:
    """Line numbers of role comparisons and role tuples in one module."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(
            _is_role_operand(operand) for operand in [node.left, *node.comparators]
        ):
            lines.append(node.lineno)
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id.endswith("_ROLES") for t in targets):
                lines.append(node.lineno)
    return sorted(lines)


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(PACKAGE.rglob("*.py")) if p != POLICY_MODULE],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_no_role_comparison_outside_the_policy(path: Path) -> None:
    assert role_comparisons(path.read_text(encoding="utf-8")) == []


def test_the_role_comparison_check_catches_violations() -> None:
    assert role_comparisons("if actor.role == 'city':\n    pass\n") == [1]
    assert role_comparisons("ok = row['role'] in ('liaison', 'station')\n") == [1]
    assert role_comparisons("x = Role.CITY != y\n") == [1]
    assert role_comparisons("EDIT_ROLES = (Role.LIAISON,)\n") == [1]
    assert role_comparisons("allowed = actor.can(Capability.PLAN_APPROVE)\n") == []


_TEMPLATE_ROLE_TEST = r"\brole\s*(==|!=|in\s|not\s+in\s)"


def test_templates_ask_the_policy_not_the_role() -> None:
    import re

    offending = [
        f"{path.relative_to(TEMPLATES)}: {line.strip()}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(_TEMPLATE_ROLE_TEST, line)
    ]
    assert offending == []


def test_the_permission_doc_lists_every_capability() -> None:
    from relief_pwa.core.permissions import Capability

    doc = (PACKAGE.parent / "docs" / "permissions.md").read_text(encoding="utf-8")
    assert [c.value for c in Capability if f"`{c.value}`" not in doc] == []


# --- jurisdiction through access_* functions ---------------------------------------------
#
# Loading a protected row checks the actor's jurisdiction in one named ``access_*`` function
# (services/access.py). A service that compares org paths itself (``actor.can_see(...)``,
# ``row["org_path"].startswith(actor.org_path)``) or loads one row by id through the list
# filter (``.where((X.id == i) & in_scope(...))``) keeps a second copy of the rule. These
# services have been moved onto the access functions; keep them there.

THROUGH_ACCESS = ("referrals.py", "departments.py", "reviews.py", "change_requests.py")
_SCOPE_ATTRIBUTES = {"org_path", "unit_path", "owner_path"}


def _mentions_scope(node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Attribute) and n.attr in _SCOPE_ATTRIBUTES)
        or (isinstance(n, ast.Constant) and n.value in _SCOPE_ATTRIBUTES)
        for n in ast.walk(node)
    )


def _loads_one_through_in_scope(call: ast.Call) -> bool:
    inside = [n for arg in call.args for n in ast.walk(arg)]
    by_id = any(
        isinstance(n, ast.Compare) and isinstance(n.left, ast.Attribute) and n.left.attr == "id"
        for n in inside
    )
    scoped = any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "in_scope" for n in inside
    )
    return by_id and scoped


def inline_jurisdiction(source: str) -> list[int]:
    """Line numbers where a module checks a jurisdiction itself instead of calling access_*."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name = node.func.attr
        compares_paths = name == "startswith" and (
            _mentions_scope(node.func.value) or any(map(_mentions_scope, node.args))
        )
        loads_by_id = name == "where" and _loads_one_through_in_scope(node)
        if name == "can_see" or compares_paths or loads_by_id:
            lines.append(node.lineno)
    return sorted(lines)


@pytest.mark.parametrize("name", THROUGH_ACCESS)
def test_services_load_protected_rows_through_access_functions(name: str) -> None:
    path = PACKAGE / "services" / name
    assert inline_jurisdiction(path.read_text(encoding="utf-8")) == [], f"{name}: use services/access.py"


def test_the_inline_jurisdiction_check_catches_violations() -> None:
    assert inline_jurisdiction("ok = actor.can_see(row['org_path'])\n") == [1]
    assert inline_jurisdiction("if not row['org_path'].startswith(actor.org_path):\n    pass\n") == [1]
    assert inline_jurisdiction("ok = path.startswith(actor.unit_path)\n") == [1]
    assert inline_jurisdiction(
        "q = Visit.select().where((Visit.id == i) & in_scope(actor, Visit.org_path))\n"
    ) == [1]
    # Lists filtered with in_scope and other prefixes stay allowed.
    assert inline_jurisdiction("q = Visit.select().where(in_scope(actor, Visit.org_path))\n") == []
    assert inline_jurisdiction("ok = covering.startswith(d.serves_path)\n") == []
