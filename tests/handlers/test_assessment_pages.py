"""Assessment pages: the ranking and the printable report for each allowed role, refused
for the others; the XLSX export carries the figures; the weights page is the city's."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from relief_pwa.core.enums import Role
from relief_pwa.core.permissions import Capability, can
from relief_pwa.services.assessment import clear_cache
from relief_pwa.tables import AssessmentWeight, AuditEvent
from tests.handlers.test_analytics_pages import tables_of
from tests.services.assessment_seed import seed_quarter

ROLE_USERS = {
    Role.LIAISON: "liaison",
    Role.INVESTIGATOR: "investigator",
    Role.STATION: "station",
    Role.CENTER: "center",
    Role.CITY: "city",
    Role.SUPERVISOR: "supervisor",
}
REPORT = "/assessment/report?quarter=2026-Q3"


async def test_report_renders_for_allowed_roles_and_is_refused_for_others(
    world: Any, make_client: Any
) -> None:
    await seed_quarter(world)
    clear_cache()
    allowed = []
    for role, username in ROLE_USERS.items():
        client = make_client()
        await client.login(username)
        for url in (REPORT, "/assessment?quarter=2026-Q3", "/assessment/weights"):
            response = await client.get(url)
            if can(role, Capability.ASSESSMENT_READ):
                assert response.status_code == 200, (role, url, response.text[:300])
            else:
                assert response.status_code == 403, (role, url)
        if can(role, Capability.ASSESSMENT_READ):
            allowed.append(role)
    assert set(allowed) == {Role.CENTER, Role.CITY, Role.SUPERVISOR}


async def test_report_shows_the_figures_behind_each_score(world: Any, make_client: Any) -> None:
    await seed_quarter(world)
    clear_cache()
    client = make_client()
    await client.login("center")
    page = await client.get(REPORT)
    assert page.status_code == 200
    assert "assessment-report" in page.text  # the A4 print layout (static/css/app.css)
    tables = tables_of(page.text)
    ranking = tables["ranking"]
    assert [row[:2] for row in ranking[1:]] == [["千佛山街道", "1"], ["解放路街道", "2"]]
    street = tables["u370102001"]  # 解放路街道: indicator, counted, among, rate, weight, applied
    intake = next(row for row in street if row[0] == "及时受理")
    assert intake[1:4] == ["3", "5", "60.0"]
    objection = next(row for row in street if row[0] == "异议处理")
    assert objection[1:3] == ["1", "2"]
    # XLSX: one sheet per table, the same figures
    xlsx = await client.get(REPORT + "&format=xlsx")
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    assert {"ranking", "total", "u370102001", "u370102002"} <= set(book.sheetnames)
    rows = [list(r) for r in book["u370102001"].iter_rows(values_only=True)]
    assert any(r[:3] == ["及时受理", 3, 5] for r in rows), rows


async def test_weights_page_is_the_citys_and_audited(world: Any, make_client: Any) -> None:
    form = {"key": "payment", "weight": "40", "effective_from": "2026-07-01", "note": "考核办法"}
    for username in ("center", "supervisor", "station"):
        client = make_client()
        await client.login(username)
        page = await client.get("/assessment/weights")
        assert 'action="/assessment/weights"' not in page.text  # no form offered
        refused = await client.post_form("/assessment/weights", form)
        assert refused.status_code == 403
    assert await AssessmentWeight.count() == 0
    client = make_client()
    await client.login("city")
    bad = await client.post_form("/assessment/weights", {**form, "weight": "abc"})
    assert bad.status_code == 422
    saved = await client.post_form("/assessment/weights", form, follow_redirects=False)
    assert saved.status_code == 303
    rows = await AssessmentWeight.select()
    assert [(r["key"], r["weight"]) for r in rows] == [("payment", 40)]
    events = await AuditEvent.select().where(AuditEvent.action == "assessment.weight_set")
    assert len(events) == 1 and events[0]["actor"] == world.actor("city").staff_id
    page = await client.get("/assessment/weights")
    assert "40 " in page.text


async def test_bad_quarter_and_other_districts_are_refused(world: Any, make_client: Any) -> None:
    client = make_client()
    await client.login("center")
    bad = await client.get("/assessment?quarter=2026-Q9")
    assert 400 <= bad.status_code < 500 and bad.status_code != 404
    other = await client.get("/assessment/report?quarter=2026-Q3&org=370103")
    assert other.status_code == 404
    city = make_client()
    await city.login("city")
    drill = await city.get("/assessment?quarter=2026-Q3&org=370103")
    assert drill.status_code == 200 and "大观园街道" in drill.text
