"""A year whose State Council arrangement is not loaded is named on the rules and calendar pages."""

from __future__ import annotations

from datetime import date

from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.rules import do_set_calendar_days, shipped_calendar, years_without_arrangement

WARNING = "尚未载入国务院 {year} 年节假日安排"


async def test_years_without_an_adjusted_working_day_are_missing(db, now):
    assert await years_without_arrangement(date(2026, 3, 1)) == [2026]
    assert await years_without_arrangement(date(2026, 11, 16)) == [2026, 2027]  # next year from November
    await do_set_calendar_days(SYSTEM_ACTOR, shipped_calendar(), now=now)
    assert await years_without_arrangement(date(2026, 3, 1)) == []
    # The shipped 2027 days are the statutory holidays only: no arrangement yet.
    assert await years_without_arrangement(date(2026, 11, 16)) == [2027]
    assert await years_without_arrangement(date(2026, 3, 1), also=2030) == [2030]


async def test_city_staff_see_the_warning_until_the_notice_is_loaded(client, world):
    await do_set_calendar_days(SYSTEM_ACTOR, shipped_calendar(), now=world.now)
    await client.login("city")
    assert world.now.date().month >= 11  # the test day lies in the season of next year's notice
    rules = (await client.get("/admin/rules")).text
    assert WARNING.format(year=2027) in rules and WARNING.format(year=2026) not in rules
    assert "relief-pwa load-calendar FILE" in rules and 'href="/admin/calendar?year=2027"' in rules
    calendar = (await client.get("/admin/calendar?year=2027")).text
    assert WARNING.format(year=2027) in calendar

    upload = await client.post(
        "/admin/calendar/upload",
        data={"_csrf_token": await client.ensure_csrf()},
        files={"file": ("2027.csv", b"date,kind,name\n2027-02-20,workday,\xe6\x98\xa5\xe8\x8a\x82\n")},
    )
    assert upload.status_code == 303, upload.text[:1000]
    assert WARNING.format(year=2027) not in (await client.get("/admin/rules")).text
    assert WARNING.format(year=2027) not in (await client.get("/admin/calendar?year=2027")).text
