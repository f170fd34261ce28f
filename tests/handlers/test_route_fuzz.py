"""Every route, every path and query parameter, extreme values: never a 5xx.

Runs as a city user and as an anonymous visitor. Values: ids at and beyond
2^63, negatives, 10 kB strings, years 0001 and 9999, bytes that are not UTF-8.
"""

from __future__ import annotations

import inspect
import re
from typing import Any
from urllib.parse import quote

import pytest

EXTREME = [
    str(2**63),
    str(2**31),  # one past PostgreSQL's SERIAL: a row id that cannot exist
    str(2**64 + 1),
    "-" + str(2**63 + 1),
    "-1",
    "99999999999999999999",
    "x" * 10_240,
    "0001-01-01",
    "9999-12-31",
    "%FF%FE%C3%28",  # not UTF-8 once decoded
    "1e999",
    "１２",
    "²",  # str.isdigit() says yes, int() says no
]
SKIP_PREFIXES = ("/static",)


def _query_names(handler: Any) -> list[str]:
    names = []
    for name, param in handler.parsed_fn_signature.parameters.items():
        if name in {"request", "actor", "data", "state", "scope", "socket", "headers", "cookies"}:
            continue
        kwarg = param.kwarg_definition
        if kwarg is not None and getattr(kwarg, "header", None):
            continue
        query = getattr(kwarg, "query", None) if kwarg is not None else None
        names.append(query or name)
    return names


def _cases(app: Any) -> list[tuple[str, str, str, str]]:
    """(method, path template, kind, parameter) for every route handler."""
    cases = []
    for route in app.routes:
        if not hasattr(route, "route_handlers") or route.path.startswith(SKIP_PREFIXES):
            continue
        path_names = (
            [p.name for p in route.path_parameters]
            if isinstance(route.path_parameters, list | tuple)
            else list(route.path_parameters)
        )
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods):
                if method in {"OPTIONS", "HEAD"}:
                    continue
                for name in path_names:
                    cases.append(
                        (
                            method,
                            route.path_format if hasattr(route, "path_format") else route.path,
                            "path",
                            name,
                        )
                    )
                for name in _query_names(handler):
                    if name not in path_names:
                        cases.append(
                            (
                                method,
                                route.path_format if hasattr(route, "path_format") else route.path,
                                "query",
                                name,
                            )
                        )
    return cases


def _fill(template: str, overrides: dict[str, str]) -> str:
    path = template
    while "{" in path:
        start = path.index("{")
        end = path.index("}", start)
        name = path[start + 1 : end].split(":")[0]
        value = overrides.get(name, "1")
        path = path[:start] + value + path[end + 1 :]
    return path


def _encoded(value: str) -> str:
    return value if value.startswith("%") else quote(value, safe="")


async def _sweep(client: Any, app: Any) -> list[str]:
    failures = []
    for method, template, kind, name in _cases(app):
        for value in EXTREME:
            if kind == "path":
                url = _fill(template, {name: _encoded(value)})
            else:
                url = _fill(template, {}) + f"?{name}={_encoded(value)}"
            if method == "GET":
                response = await client.get(url)
            else:
                token = await client.ensure_csrf()
                response = await client.request(
                    method, url, data={"_csrf_token": token}, headers={"x-csrftoken": token}
                )
            if response.status_code >= 500:
                failures.append(f"{method} {url[:120]} -> {response.status_code}")
    return failures


@pytest.mark.parametrize("who", ["city", "anonymous"])
async def test_no_route_answers_5xx_to_extreme_parameters(
    world: Any, client: Any, app: Any, who: str
) -> None:
    if who != "anonymous":
        await client.login(who)
    failures = await _sweep(client, app)
    assert not failures, "\n".join(failures[:80]) + f"\n({len(failures)} in all)"


def test_the_sweep_covers_the_routes_named_in_the_brief(app: Any) -> None:
    templates = {template for _, template, _, _ in _cases(app)}
    for prefix in (
        "/visits",
        "/photos",
        "/plans",
        "/funds",
        "/batches",
        "/objections",
        "/scoring/models",
        "/scoring/jobs",
    ):
        assert any(t.startswith(prefix + "/{") for t in templates), prefix
    assert inspect.isfunction(_sweep)


_FORM_FIELD = re.compile(r"""(?:first\(form, |form\.getall\(|form\.get\(|values\[)["'](\w+)["']""")


def _form_cases(app: Any) -> list[tuple[str, list[str]]]:
    """(path template, form field names read by the handler's source) for every POST route."""
    cases = []
    for route in app.routes:
        if not hasattr(route, "route_handlers"):
            continue
        for handler in route.route_handlers:
            if "POST" not in handler.http_methods:
                continue
            try:
                source = inspect.getsource(handler.fn)
            except (OSError, TypeError):
                continue
            names = sorted(set(_FORM_FIELD.findall(source)))
            if names:
                cases.append((route.path, names))
    return cases


FORM_EXTREME = [str(2**63), str(2**31), "-1", "²", "x" * 10_240, "9999-12-31", "0001-01-01", "\x00", "１２"]


async def test_no_form_answers_5xx_to_extreme_fields(world: Any, client: Any, app: Any) -> None:
    await client.login("city")
    failures = []
    for template, names in _form_cases(app):
        url = _fill(template, {})
        for value in FORM_EXTREME:
            token = await client.ensure_csrf()
            response = await client.post(
                url,
                data={**dict.fromkeys(names, value), "_csrf_token": token},
                headers={"x-csrftoken": token},
            )
            if response.status_code >= 500:
                failures.append(f"POST {url} {value[:20]!r} -> {response.status_code}")
    assert not failures, "\n".join(failures[:80]) + f"\n({len(failures)} in all)"
