"""公示: the notice clock with an injected date, objections, re-公示, batches and roles."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.enums import AppState
from relief_pwa.core.errors import DomainError, PermissionDenied, ValidationFailed
from relief_pwa.services.applications import do_transition
from relief_pwa.services.objections import file_objection
from relief_pwa.services.publicity import (
    do_close_due_notices,
    do_decide,
    do_start_publicity,
    do_start_publicity_batch,
    list_candidates,
    list_running,
)
from relief_pwa.tables import Application, AuditEvent, PublicNotice
from tests.factories import member
from tests.services.publicity_support import eligible_application, fresh_public_state  # noqa: F401


async def state_of(application_id: int) -> str:
    row = await Application.select(Application.state).where(Application.id == application_id).first()
    assert row is not None
    return str(row["state"])


async def notices_of(application_id: int) -> list[dict[str, Any]]:
    return (
        await PublicNotice.select()
        .where(PublicNotice.application == application_id)
        .order_by(PublicNotice.id)
    )


def at(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA_TZ)


async def test_publicity_runs_seven_days_and_ends_by_the_clock(world):
    app = await eligible_application(world)
    station = world.actor("station")
    notice_id = await do_start_publicity(
        station, app.application_id, now=world.now, proposed_amount_fen=61_500
    )

    assert await state_of(app.application_id) == AppState.PUBLICIZED
    [notice] = await notices_of(app.application_id)
    assert notice["id"] == notice_id
    assert (notice["starts_on"], notice["ends_on"]) == (date(2026, 11, 16), date(2026, 11, 22))
    assert notice["status"] == "running" and notice["notice_round"] == 1
    assert notice["masked_name"] == "张*" and notice["proposed_amount_fen"] == 61_500

    # The last day of the window is still inside it: nothing closes.
    assert await do_close_due_notices(at(date(2026, 11, 22), 23, 59)) == []
    assert await state_of(app.application_id) == AppState.PUBLICIZED

    # The next morning (Beijing time) the clock ends it as the system.
    closed = await do_close_due_notices(at(date(2026, 11, 23), 0, 5))
    assert closed == [notice_id]
    assert await state_of(app.application_id) == AppState.READY_FOR_APPROVAL
    [notice] = await notices_of(app.application_id)
    assert notice["status"] == "ended"
    event = await AuditEvent.select().where(AuditEvent.action == "application.end_publicity").first()
    assert event is not None and event["actor"] is None and event["actor_label"].startswith("系统")
    assert await AuditEvent.exists().where(AuditEvent.action == "notice.end")

    # Running the clock again changes nothing.
    assert await do_close_due_notices(at(date(2026, 11, 24))) == []


async def test_clock_uses_beijing_days_not_utc(world):
    app = await eligible_application(world)
    await do_start_publicity(world.actor("station"), app.application_id, now=world.now)
    # 2026-11-22 17:00 UTC is already 2026-11-23 01:00 in Beijing: the window has passed.
    from datetime import UTC

    assert await do_close_due_notices(datetime(2026, 11, 22, 17, 0, tzinfo=UTC)) != []


async def test_objection_reinvestigation_republicity_end_and_approval(world):
    app = await eligible_application(world)
    station, center = world.actor("station"), world.actor("center")
    first_id = await do_start_publicity(station, app.application_id, now=world.now)

    filed = await file_objection(
        kind="objection",
        body="这户家里有一辆新车，收入不低。",
        notice_id=first_id,
        now=world.now + timedelta(days=3),
        channel="board",
    )
    assert filed.interrupted_notice
    assert await state_of(app.application_id) == AppState.REINVESTIGATING
    assert (await notices_of(app.application_id))[0]["status"] == "interrupted"
    objected = await AuditEvent.select().where(AuditEvent.action == "application.object").first()
    assert objected is not None and objected["actor"] is None and filed.tracking_code in objected["after"]

    # Nothing runs while the case is re-investigated, and the clock leaves it alone.
    assert await list_running(station, world.now + timedelta(days=3)) == []
    assert await do_close_due_notices(world.now + timedelta(days=30)) == []

    later = world.now + timedelta(days=6)
    await do_transition(
        station, app.application_id, "find_eligible", reason="复核：车辆为借用，收入属实", now=later
    )
    [candidate] = await list_candidates(station, later)
    assert (candidate.action, candidate.notice_round) == ("start_republicity", 2)

    second_id = await do_start_publicity(station, app.application_id, now=later)
    assert await state_of(app.application_id) == AppState.REPUBLICIZED
    second = (await notices_of(app.application_id))[1]
    assert second["id"] == second_id and second["notice_round"] == 2
    assert (second["ends_on"] - second["starts_on"]).days + 1 == 3

    assert await do_close_due_notices(at(second["ends_on"], 23, 0)) == []
    assert await do_close_due_notices(at(second["ends_on"] + timedelta(days=1), 0, 10)) == [second_id]
    assert await state_of(app.application_id) == AppState.READY_FOR_APPROVAL

    decided = at(second["ends_on"] + timedelta(days=2), 10)
    with pytest.raises(DomainError):  # written reasons are required
        await do_decide(center, app.application_id, "approve", reason="", now=decided, expected_version=None)
    await do_decide(
        center,
        app.application_id,
        "approve",
        reason="复核后符合条件，同意",
        now=decided,
        expected_version=None,
    )
    assert await state_of(app.application_id) == AppState.APPROVED


async def test_objection_after_the_window_does_not_reopen_the_case(world):
    app = await eligible_application(world)
    notice_id = await do_start_publicity(world.actor("station"), app.application_id, now=world.now)
    # Day 8, before the clock ran: the notice still says running, but the window is over.
    filed = await file_objection(
        kind="objection",
        body="公示结束后才看到，反映一下情况。",
        notice_id=notice_id,
        now=at(date(2026, 11, 23), 0, 1),
    )
    assert not filed.interrupted_notice
    assert await state_of(app.application_id) == AppState.PUBLICIZED
    assert await do_close_due_notices(at(date(2026, 11, 23), 0, 10)) == [notice_id]


async def test_rejection_records_reasons_for_the_applicant(world):
    app = await eligible_application(world)
    await do_start_publicity(world.actor("station"), app.application_id, now=world.now)
    await do_close_due_notices(world.now + timedelta(days=8))
    center = world.actor("center")
    await do_decide(
        center,
        app.application_id,
        "reject",
        reason="核实存款超过规定标准",
        now=world.now + timedelta(days=9),
        expected_version=None,
    )
    row = (
        await Application.select(Application.state, Application.reason)
        .where(Application.id == app.application_id)
        .first()
    )
    assert row == {"state": "rejected", "reason": "核实存款超过规定标准"}


async def test_batch_is_all_or_nothing(world):
    good = await eligible_application(world)
    other = await eligible_application(world, members=[member("李四")])
    not_ready = await eligible_application(world, members=[member("王五")])
    station = world.actor("station")
    await do_start_publicity(station, not_ready.application_id, now=world.now)

    with pytest.raises(ValidationFailed) as caught:
        await do_start_publicity_batch(
            station,
            [(good.application_id, None), (other.application_id, 40_000), (not_ready.application_id, None)],
            now=world.now,
        )
    assert set(caught.value.errors) == {f"app-{not_ready.application_id}"}
    assert await state_of(good.application_id) == AppState.VERIFIED_ELIGIBLE
    assert await notices_of(good.application_id) == []

    with pytest.raises(ValidationFailed) as caught:
        await do_start_publicity_batch(station, [(good.application_id, -5)], now=world.now)
    assert f"app-{good.application_id}" in caught.value.errors

    ids = await do_start_publicity_batch(
        station, [(good.application_id, None), (other.application_id, 40_000)], now=world.now
    )
    assert len(ids) == 2
    assert [
        n.proposed_amount_fen for n in await list_running(station, world.now) if n.notice_id == ids[1]
    ] == [40_000]


async def test_only_station_starts_and_only_in_its_scope(world):
    app = await eligible_application(world)
    for username in ("liaison", "investigator", "center", "city", "supervisor"):
        with pytest.raises(PermissionDenied):
            await do_start_publicity(world.actor(username), app.application_id, now=world.now)
    from relief_pwa.core.errors import NotFoundOrForbidden

    with pytest.raises(NotFoundOrForbidden):
        await do_start_publicity(world.actor("station_b"), app.application_id, now=world.now)
    assert await notices_of(app.application_id) == []


async def test_bare_transition_still_gets_its_notice(world):
    """Demo seeding and generic action buttons call do_transition directly."""
    app = await eligible_application(world)
    await do_transition(world.actor("station"), app.application_id, "start_publicity", now=world.now)
    [notice] = await notices_of(app.application_id)
    assert notice["status"] == "running" and notice["ends_on"] == date(2026, 11, 22)
    await do_transition(
        world.actor("station"), app.application_id, "object", reason="窗口收到书面异议", now=world.now
    )
    [notice] = await notices_of(app.application_id)
    assert notice["status"] == "interrupted"


async def test_minor_head_of_household_is_not_named(world):
    from tests.factories import new_id_number

    child = member(
        "刘小明",
        "head",
        id_number=new_id_number(born=date(2012, 3, 4)),
        schooling="junior",
        work_capacity="none",
    )
    app = await eligible_application(world, members=[child])
    await do_start_publicity(world.actor("station"), app.application_id, now=world.now)
    [notice] = await notices_of(app.application_id)
    assert "刘" not in notice["masked_name"] and "明" not in notice["masked_name"]
