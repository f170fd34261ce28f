"""The permission policy, end to end over HTTP.

Every route of ``app.routes`` declares what it needs (a capability, any staff
member, or nothing); for every route, every role gets exactly the status its
grants say: 403 without the capability, never 403 (nor a 5xx) with it.
Rendered pages offer each role only forms and links it may use.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from relief_pwa.core.enums import Role
from relief_pwa.core.permissions import GRANTS, Capability, can
from relief_pwa.handlers.common import route_requirement
from relief_pwa.services.publicity import do_start_publicity
from tests.factories import member
from tests.handlers.test_reads_write_nothing import _writes as write_statements
from tests.handlers.test_reads_write_nothing import statements  # noqa: F401  (a fixture)
from tests.services.publicity_support import (  # noqa: F401
    active_application,
    eligible_application,
    fresh_public_state,
)

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
# One login per role (tests/factories.py STAFF).
ROLE_USERS = {
    Role.LIAISON: "liaison",
    Role.INVESTIGATOR: "investigator",
    Role.STATION: "station",
    Role.CENTER: "center",
    Role.CITY: "city",
    Role.SUPERVISOR: "supervisor",
    Role.DEPARTMENT: "department",
}
MISSING_ID = "987654321"  # no such row: allowed roles get 404, never a write


def handlers_of(app: Any) -> list[tuple[str, str, Any]]:
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(getattr(handler, "http_methods", set()) & METHODS):
                found.append((method, route.path, handler))
    return sorted(found, key=lambda item: (item[1], item[0]))


def fill(path: str, ids: dict[str, str] | None = None) -> str:
    ids = ids or {}

    def value(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        for key, number in ids.items():
            if key in name:
                return number
        if kind == "int":
            return MISSING_ID
        return {"code": "370102001001", "slug": "tekun-guide"}.get(name, "x")

    return re.sub(r"\{(\w+):(\w+)\}", value, path)


def test_every_route_declares_what_it_needs(app):
    undeclared = [
        (method, path)
        for method, path, handler in handlers_of(app)
        if route_requirement(handler.opt) is None and not path.startswith("/static")
    ]
    assert undeclared == []


def test_only_supervision_is_read_only_and_every_capability_is_granted():
    granted = set().union(*GRANTS.values())
    assert set(Capability) - granted == set()
    for role in Role:
        writes = {c for c in GRANTS[role] if c not in {Capability.CASES_READ}}
        assert writes, role


@pytest.mark.parametrize("role", list(Role))
async def test_every_route_answers_each_role_as_its_grants_say(app, make_client, world, role):
    client = make_client()
    await client.login(ROLE_USERS[role])
    token = await client.ensure_csrf()
    wrong: list[tuple[str, str, int, str]] = []
    checked = 0
    for method, path, handler in handlers_of(app):
        requirement = route_requirement(handler.opt)
        if requirement in ("public", None) or path in ("/logout",) or path.startswith("/static"):
            continue
        url = fill(path)
        kwargs: dict[str, Any] = {"headers": {"x-csrftoken": token}}
        if method != "GET":
            kwargs["data"] = {"_csrf_token": token}
        response = await client.request(method, url, **kwargs)
        checked += 1
        allowed = requirement == "any_staff" or can(role, Capability(requirement))
        status = response.status_code
        if allowed and (status in (401, 403) or status >= 500):
            wrong.append((method, url, status, f"{requirement} granted"))
        if not allowed and status != 403:
            wrong.append((method, url, status, f"{requirement} not granted"))
    assert checked > 100
    assert wrong == []


async def test_anonymous_visitors_are_sent_to_log_in(app, client, world):
    for method, path, handler in handlers_of(app):
        requirement = route_requirement(handler.opt)
        if requirement in ("public", None) or path.startswith("/static"):
            continue
        response = await client.request(method, fill(path))
        if method == "GET":
            assert response.status_code == 303, (path, response.status_code)
            assert response.headers["location"].startswith("/login")
        else:
            assert response.status_code in (401, 403), (method, path, response.status_code)


# --- what the pages offer -------------------------------------------------------------


class _Targets(HTMLParser):
    """Forms (method, action) and links (href, hx-get/hx-post) of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("action"):
            self.targets.append(((a.get("method") or "GET").upper(), a["action"]))
        if tag == "a" and a.get("href", "").startswith("/"):
            self.targets.append(("GET", a["href"]))
        for attribute in ("hx-get", "hx-post"):
            if a.get(attribute, "").startswith("/"):
                self.targets.append((attribute[3:].upper(), a[attribute]))


def _route_pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{\w+:int\\\}", r"\\d+", re.escape(path))
    regex = re.sub(r"\\\{\w+:str\\\}", r"[^/]+", regex)
    return re.compile(f"^{regex}$")


async def test_pages_offer_each_role_only_what_it_may_use(app, make_client, world, statements):  # noqa: F811
    """… and, while at it, that no page of any role writes to the database on a GET."""
    active = await active_application(world)
    pending = await eligible_application(world, members=[member("李四")])
    await do_start_publicity(world.actor("station"), pending.application_id, now=world.now)
    routes = [
        (method, _route_pattern(path), route_requirement(handler.opt))
        for method, path, handler in handlers_of(app)
    ]
    ids = {
        "household": str(active.household_id),
        "application": str(active.application_id),
    }
    pages = [
        fill(path, ids)
        for method, path, handler in handlers_of(app)
        if method == "GET" and route_requirement(handler.opt) not in ("public", None)
    ]
    offered_wrongly: list[tuple[str, str, str, str]] = []
    writes: dict[tuple[str, str], list[str]] = {}
    for role, username in ROLE_USERS.items():
        client = make_client()
        await client.login(username)
        for page in pages:
            with statements() as log:
                response = await client.get(page)
            if found := write_statements(log):
                writes[(str(role), page)] = found
            if response.status_code != 200 or "html" not in response.headers.get("content-type", ""):
                continue
            parser = _Targets()
            parser.feed(response.text)
            for method, target in parser.targets:
                target_path = target.split("?")[0].split("#")[0]
                for route_method, pattern, requirement in routes:
                    if route_method != method or not pattern.match(target_path):
                        continue
                    if requirement in ("public", "any_staff") or requirement is None:
                        break
                    if not can(role, Capability(requirement)):
                        offered_wrongly.append((role, page, f"{method} {target_path}", str(requirement)))
                    break
    assert writes == {}, writes
    wrong = sorted({(str(role), target, need) for role, _page, target, need in offered_wrongly})
    where = {(str(role), target): page for role, page, target, _need in offered_wrongly}
    assert wrong == [], "\n".join(f"{w} on {where[w[0], w[1]]}" for w in wrong)
