"""Supervisors change nothing: every writing route of the whole app, enumerated
from ``app.routes``, refuses a logged-in supervisor and leaves the data as it was."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from relief_pwa.piccolo_app import APP_CONFIG
from relief_pwa.services.objections import file_objection
from relief_pwa.services.publicity import do_start_publicity
from relief_pwa.tables import LoginAttempt, WebSession
from tests.factories import member
from tests.services.publicity_support import (  # noqa: F401
    active_application,
    eligible_application,
    fresh_public_state,
)

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Logging in and out and looking after one's own account (password, second factor,
# sessions) change no case record: supervisors must be able to do them.
NOT_CASE_WRITES = {
    "/login",
    "/login/2fa",
    "/logout",
    "/account/password",
    "/account/2fa",
    "/account/2fa/disable",
    "/account/sessions",
}
# Infrastructure tables that any request may touch (session renewal, login throttling).
IGNORED_TABLES = {WebSession, LoginAttempt}


def write_routes(app: Any) -> list[tuple[str, str]]:
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", set()) & WRITE_METHODS:
                found.add((method, route.path))
    return sorted(found)


async def snapshot() -> str:
    digest = hashlib.sha256()
    for table in sorted(APP_CONFIG.table_classes, key=lambda t: t._meta.tablename):
        if table in IGNORED_TABLES:
            continue
        rows = await table.select().order_by(table._meta.primary_key)
        digest.update(table._meta.tablename.encode())
        digest.update(json.dumps(rows, default=str, sort_keys=True).encode())
    return digest.hexdigest()


def fill(path: str, ids: dict[str, int]) -> str:
    def value(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        if kind == "int":
            for key, number in ids.items():
                if key in name:
                    return str(number)
            return str(ids["application"])
        return "tekun-guide" if "slug" in name else "370102001001"

    return re.sub(r"\{(\w+):(\w+)\}", value, path)


async def test_every_write_route_refuses_the_supervisor(world, app, client):
    active = await active_application(world)
    pending = await eligible_application(world, members=[member("李四")])
    notice_id = await do_start_publicity(world.actor("station"), pending.application_id, now=world.now)
    filed = await file_objection(
        kind="objection", body="这户不符合条件，请核实。", notice_id=notice_id, now=world.now
    )
    ids = {
        "household": active.household_id,
        "application": active.application_id,
        "objection": filed.objection_id,
        "notice": notice_id,
    }

    routes = write_routes(app)
    assert len(routes) >= 10, routes  # the whole app, not just this area
    assert ("POST", "/public/objections") in routes and ("POST", "/notices/start") in routes

    await client.login("supervisor")
    token = await client.ensure_csrf()
    form = {
        "_csrf_token": token,
        "reason": "监督人员尝试操作",
        "decision": "approve",
        "body": "监督人员试图写入的内容",
        "kind": "complaint",
        "board": "370102001001",
        "answer": "监督人员的答复内容",
        "investigation": "调查记录",
        "relative_name": "某某",
        "relation": "配偶",
        "slug": "tekun-guide",
        "title": "标题",
        "application": str(pending.application_id),
    }
    before = await snapshot()
    refused = []
    for method, path in routes:
        if path in NOT_CASE_WRITES:
            continue
        url = fill(path, ids)
        response = await client.request(method, url, data=form, headers={"x-csrftoken": token})
        assert response.status_code == 403, (method, url, response.status_code, response.text[:300])
        refused.append(url)
        assert await snapshot() == before, (method, url)
    # Still logged in as the supervisor, and reading still works.
    assert (await client.get("/supervision")).status_code == 200
    assert len(refused) == len(routes) - len(NOT_CASE_WRITES & {p for _, p in routes})
