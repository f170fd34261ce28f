"""Deadlines follow the holiday calendar and the rules in force (both data, changed by city staff)."""

from __future__ import annotations

from datetime import date

import pytest

from relief_pwa.core.applicant_status import next_step
from relief_pwa.core.enums import AppState
from relief_pwa.core.errors import DomainError, PermissionDenied
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.objections import answer_deadline
from relief_pwa.services.publicity import notice_window
from relief_pwa.services.rules import (
    do_load_calendar_text,
    do_remove_calendar_day,
    do_set_calendar_days,
    do_set_rule,
    list_rules,
    load_calendar,
    shipped_calendar,
)
from relief_pwa.tables import AuditEvent


async def test_a_loaded_holiday_is_skipped_and_an_adjusted_saturday_counts(world):
    received = date(2026, 11, 16)  # a Monday; 15 working days → Monday 7 December
    assert answer_deadline(received, await load_calendar()) == date(2026, 12, 7)
    loaded = await do_load_calendar_text(
        world.actor("city"),
        "date,kind,name\n2026-11-20,holiday,测试假日\n2026-11-28,workday,调休上班\n",
        now=world.now,
    )
    assert loaded == 2
    calendar = await load_calendar()
    # Friday 20th is skipped, Saturday 28th counts: the two cancel out.
    assert answer_deadline(received, calendar) == date(2026, 12, 7)
    await do_remove_calendar_day(world.actor("city"), date(2026, 11, 28), now=world.now)
    assert answer_deadline(received, await load_calendar()) == date(2026, 12, 8)
    assert await AuditEvent.count().where(AuditEvent.action.like("calendar.%")) == 2


async def test_the_shipped_2026_calendar_moves_investigation_deadlines_over_national_day(db, now):
    await do_set_calendar_days(SYSTEM_ACTOR, shipped_calendar(), now=now)
    calendar = await load_calendar()
    assert date(2026, 10, 1) in calendar.holidays and date(2026, 10, 10) in calendar.workdays
    assert date(2027, 2, 6) in calendar.holidays  # the statutory 2027 days ship too
    step = next_step(
        AppState.RECEIVED,
        received_on=date(2026, 9, 28),
        state_changed_on=date(2026, 9, 28),
        calendar=calendar,
    )
    assert step.due == date(2026, 10, 23)  # 7 days off, Saturday 10th worked; else 19th
    assert next_step(
        AppState.RECEIVED, received_on=date(2026, 9, 28), state_changed_on=date(2026, 9, 28)
    ).due == (date(2026, 10, 19))


async def test_a_rule_change_applies_from_its_effective_date_only(world):
    await do_set_rule(
        world.actor("city"), "publicity_days", 10, effective_from=date(2026, 12, 1), now=world.now
    )
    calendar = await load_calendar()
    assert notice_window(date(2026, 11, 30), 1, calendar) == (date(2026, 11, 30), date(2026, 12, 6))
    assert notice_window(date(2026, 12, 1), 1, calendar) == (date(2026, 12, 1), date(2026, 12, 10))
    rows = {row.spec.key: row for row in await list_rules(today=date(2026, 11, 16))}
    assert rows["publicity_days"].in_force == 7 and len(rows["publicity_days"].changes) == 1
    with pytest.raises(DomainError):
        await do_set_rule(
            world.actor("city"), "publicity_days", 0, effective_from=date(2026, 12, 1), now=world.now
        )
    with pytest.raises(PermissionDenied):
        await do_set_rule(
            world.actor("center"), "publicity_days", 9, effective_from=date(2026, 12, 1), now=world.now
        )


async def test_a_malformed_calendar_file_names_the_line(world):
    with pytest.raises(DomainError) as refused:
        await do_load_calendar_text(world.actor("city"), "2026-13-01,holiday,x\n", now=world.now)
    assert refused.value.params["line"] == 1
