"""Standards as data: no built-in fallback; a change applies from its effective date (Beijing days)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.enums import AreaType
from relief_pwa.core.errors import DomainError, PermissionDenied
from relief_pwa.core.facts import Standard
from relief_pwa.services.plans import DraftScope, load_candidates
from relief_pwa.services.standards import do_set_standard
from relief_pwa.tables import AuditEvent
from tests.services.plans_support import recipient


def _standard(on: date, dibao_yuan: int) -> Standard:
    return Standard("370102", AreaType.URBAN, on, dibao_yuan * 100, dibao_yuan * 150)


async def test_a_plan_for_a_month_no_standard_covers_is_refused(world):
    await recipient(world, index="80")
    with pytest.raises(DomainError) as refused:
        await load_candidates(world.actor("center"), DraftScope(), now=world.now)
    assert "No assistance standard is in force for district" in refused.value.message
    assert refused.value.params["district"] == "370102"


async def test_a_future_standard_applies_from_its_date_only(world):
    await recipient(world, index="80")
    city = world.actor("city")
    await do_set_standard(city, _standard(date(2026, 1, 1), 1000), now=world.now)
    await do_set_standard(city, _standard(date(2026, 12, 1), 1100), now=world.now)  # announced ahead
    assert await AuditEvent.count().where(AuditEvent.action == "standard.set") == 2

    async def standard_fen(at: datetime) -> int:
        candidates, _info = await load_candidates(world.actor("center"), DraftScope(), now=at)
        return candidates[0].standard_fen

    # 23:30 on 30 November in Beijing is 15:30 UTC: still November's standard.
    assert await standard_fen(datetime(2026, 11, 30, 23, 30, tzinfo=CHINA_TZ)) == 1000_00
    # 00:30 on 1 December in Beijing is still 30 November in UTC: December's standard already.
    assert await standard_fen(datetime(2026, 12, 1, 0, 30, tzinfo=CHINA_TZ)) == 1100_00
    assert await standard_fen(datetime(2026, 11, 30, 16, 30, tzinfo=UTC)) == 1100_00


async def test_only_city_staff_set_standards(world):
    with pytest.raises(PermissionDenied):
        await do_set_standard(world.actor("center"), _standard(date(2026, 1, 1), 1000), now=world.now)


async def test_the_draft_page_says_which_standard_is_missing(client, world):
    await recipient(world, index="80")
    await client.login("center")
    page = await client.get("/plans/draft")
    assert page.status_code == 400
    assert "370102" in page.text and "2026-11-16" in page.text
