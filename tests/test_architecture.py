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
