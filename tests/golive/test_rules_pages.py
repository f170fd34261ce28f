"""City staff keep standards, rules and the holiday calendar on pages; supervisors only read."""

from __future__ import annotations

from datetime import date

from relief_pwa.tables import AuditEvent, CalendarDay, ReliefStandard, RuleValue
from tests.helpers import found


async def test_city_staff_enter_a_standard_a_rule_and_holidays(client, world):
    await client.login("city")
    assert (await client.get("/admin/standards")).status_code == 200
    response = await client.post_form(
        "/admin/standards",
        {
            "district_code": "370102",
            "area_type": "urban",
            "effective_from": "2026-12-01",
            "dibao": "1,100",
            "tekun": "1650",
        },
    )
    assert response.status_code == 303
    row = found(await ReliefStandard.select().first())
    assert row["dibao_monthly_fen"] == 1100_00 and row["effective_from"] == date(2026, 12, 1)
    page = await client.get("/admin/standards")
    assert "1,100.00" in page.text or "1100.00" in page.text

    bad = await client.post_form(
        "/admin/standards",
        {
            "district_code": "370102",
            "area_type": "urban",
            "effective_from": "soon",
            "dibao": "x",
            "tekun": "",
        },
    )
    assert bad.status_code == 422 and 'id="effective_from-error"' in bad.text

    assert (await client.get("/admin/rules")).status_code == 200
    response = await client.post_form(
        "/admin/rules",
        {"key": "publicity_days", "value": "10", "effective_from": "2027-01-01", "note": "市局通知"},
    )
    assert response.status_code == 303
    assert await RuleValue.count() == 1
    bad = await client.post_form(
        "/admin/rules", {"key": "publicity_days", "value": "99", "effective_from": "2027-01-01"}
    )
    assert bad.status_code == 422

    response = await client.post_form(
        "/admin/calendar", {"day": "2027-02-09", "kind": "holiday", "name": "春节"}
    )
    assert response.status_code == 303
    upload = await client.post(
        "/admin/calendar/upload",
        data={"_csrf_token": await client.ensure_csrf()},
        files={
            "file": (
                "2027.csv",
                "date,kind,name\n2027-02-10,holiday,春节\n2027-02-20,workday,调休\n".encode(),
            )
        },
    )
    assert upload.status_code == 303, upload.text[:1000]
    assert await CalendarDay.count() == 3
    page = await client.get("/admin/calendar?year=2027")
    assert "2027-02-20" in page.text and "调休" in page.text
    actions = {r["action"] for r in await AuditEvent.select(AuditEvent.action)}
    assert {"standard.set", "rule.set", "calendar.set"} <= actions


async def test_supervisors_read_but_do_not_change(client, world):
    await client.login("supervisor")
    for url in ("/admin/standards", "/admin/rules", "/admin/calendar"):
        page = await client.get(url)
        assert page.status_code == 200 and '<form method="post" action="/admin/' not in page.text
    response = await client.post_form(
        "/admin/rules", {"key": "publicity_days", "value": "9", "effective_from": "2027-01-01"}
    )
    assert response.status_code == 403
    await client.login("station")
    assert (await client.get("/admin/rules")).status_code == 403
