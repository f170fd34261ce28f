"""Times are stored in UTC and shown in Beijing time; days are counted in Beijing (23:30 and 00:30)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from relief_pwa.clock import CHINA_TZ, local_date
from relief_pwa.handlers.common import ENV
from relief_pwa.services.intake import check_and_create_intake
from relief_pwa.tables import Application
from tests.factories import intake_draft

LATE_EVENING = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 23:30 on 30 November in Beijing
AFTER_MIDNIGHT = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # 00:30 on 1 December in Beijing


def test_the_template_filters_show_beijing_time():
    template = ENV.from_string("{{ t|localtime }} / {{ t|localdate }}")
    assert template.render(t=LATE_EVENING) == "2026-11-30 23:30 / 2026-11-30"
    assert template.render(t=AFTER_MIDNIGHT) == "2026-12-01 00:30 / 2026-12-01"
    assert template.render(t=AFTER_MIDNIGHT.isoformat()) == "2026-12-01 00:30 / 2026-12-01"  # SQLite text
    assert template.render(t=None) == " / "
    assert local_date(AFTER_MIDNIGHT) == date(2026, 12, 1)
    assert local_date(datetime(2026, 12, 1, 0, 30, tzinfo=CHINA_TZ)) == date(2026, 12, 1)


async def test_an_application_taken_after_midnight_is_received_that_beijing_day(world):
    station = world.actor("station")
    late = await check_and_create_intake(station, intake_draft(world.units["370102001001"]), now=LATE_EVENING)
    early = await check_and_create_intake(
        station, intake_draft(world.units["370102001001"]), now=AFTER_MIDNIGHT
    )
    received = {
        r["id"]: r["received_on"] for r in await Application.select(Application.id, Application.received_on)
    }
    assert received[late.application_id] == date(2026, 11, 30)
    assert received[early.application_id] == date(2026, 12, 1)


async def test_the_household_file_shows_the_audit_trail_in_beijing_time(client, world):
    result = await check_and_create_intake(
        world.actor("station"), intake_draft(world.units["370102001001"]), now=AFTER_MIDNIGHT
    )
    await client.login("station")
    page = await client.get(f"/households/{result.household_id}")
    assert page.status_code == 200
    assert "2026-12-01 00:30" in page.text and "2026-11-30 16:30" not in page.text
