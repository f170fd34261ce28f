"""The scheduler of daily work: a walk of 90 days over a small city, the lock, retries."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from relief_pwa.core.fieldwork import VisitKind
from relief_pwa.core.idnumber import make_id_number
from relief_pwa.services import scheduler
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.applications import do_transition
from relief_pwa.services.bot import current_bind_link, do_bind, ensure_chat
from relief_pwa.services.publicity import do_start_publicity
from relief_pwa.services.ranking import ranked_keys
from relief_pwa.services.scoring import (
    do_record_external_aid,
    do_record_shock,
    get_active_model,
    score_in_memory,
)
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.services.visits import ScheduleRequest, do_schedule_visit
from relief_pwa.tables import (
    AuditEvent,
    DeadlineAlert,
    Household,
    HouseholdRank,
    IndexRecord,
    OutboxMessage,
    PublicNotice,
    ScheduledRun,
    Visit,
)
from tests.factories import make_intake, member

CHAT = 555000111
WALK_DAYS = 90


def _person(name: str, born: date, sequence: int, relation: str = "head") -> Any:
    return member(name, relation, id_number=make_id_number("370102", born, sequence))


async def _time_records(household_id: int) -> int:
    return int(
        await IndexRecord.count().where(
            (IndexRecord.household == household_id) & (IndexRecord.trigger == "time")
        )
    )


async def _stale_indexes(now: datetime) -> dict[int, tuple[Decimal, Decimal | None]]:
    """Households whose stored index differs from the one computed for ``now``'s date."""
    [fresh], _ = await score_in_memory([await get_active_model(now=now)], now=now)
    stored = {
        r["id"]: r["current_index"] for r in await Household.select(Household.id, Household.current_index)
    }
    return {hid: (total, stored.get(hid)) for hid, total in fresh.items() if stored.get(hid) != total}


async def _small_city(world: Any, start: datetime) -> dict[str, Any]:
    """Households each with one thing that happens on time, and one with none."""
    await do_seed_standards(SYSTEM_ACTOR, now=start)
    station = world.actor("station")
    today = start.date()
    quiet = await make_intake(world, members=[_person("安静", date(1980, 1, 10), 11)])
    shocked = await make_intake(world, members=[_person("受灾", date(1981, 2, 11), 13)])
    await do_record_shock(
        station,
        shocked.household_id,
        kind="disaster",
        occurred_on=today - timedelta(days=170),
        note="火灾",
        now=start,
    )
    aided = await make_intake(world, members=[_person("受助", date(1982, 3, 12), 15)])
    await do_record_external_aid(
        station,
        aided.household_id,
        value_fen=300_000,
        received_on=today - timedelta(days=340),
        note="慈善慰问",
        now=start,
    )
    # Turns 60 on day 40 of the walk: an elderly dependant from then on.
    sixty = today + timedelta(days=40)
    ageing = await make_intake(world, members=[_person("将老", sixty.replace(year=sixty.year - 60), 17)])
    # On 公示 from today (ends after 7 days): the clock closes it.
    noticed = await make_intake(world, members=[_person("公示", date(1975, 4, 1), 19)])
    await do_transition(station, noticed.application_id, "start_investigation", now=start)
    await do_transition(
        station, noticed.application_id, "find_eligible", reason="人均收入低于标准", now=start
    )
    await do_start_publicity(station, noticed.application_id, now=start, proposed_amount_fen=50_000)
    # The applicant of ``quiet`` talks to the bot; a home visit on day 10, later moved to day 20.
    await ensure_chat(CHAT, start, default_language="en")
    link = await current_bind_link(quiet.application_id, start)
    assert link is not None
    await do_bind(CHAT, link.token, start)
    liaison = world.actor("liaison")
    visit_id = await do_schedule_visit(
        liaison,
        ScheduleRequest(
            household_id=quiet.household_id,
            kind=VisitKind.HOME,
            scheduled_for=today + timedelta(days=10),
            assigned_to=liaison.staff_id,
            application_id=quiet.application_id,
            time_window="09:00-11:00",
        ),
        now=start,
    )
    # A periodic review due on day 5 (a Saturday) that nobody does.
    review_id = await do_schedule_visit(
        liaison,
        ScheduleRequest(
            household_id=aided.household_id,
            kind=VisitKind.REVIEW,
            scheduled_for=today + timedelta(days=5),
            assigned_to=liaison.staff_id,
        ),
        now=start,
    )
    return {
        "quiet": quiet,
        "shocked": shocked,
        "aided": aided,
        "ageing": ageing,
        "noticed": noticed,
        "visit_id": visit_id,
        "review_id": review_id,
    }


async def _stored_order() -> list[tuple[int, str, str, int]]:
    """The city's stored ranking rows, in their key order (what the ranking page walks)."""
    city = (HouseholdRank.scope == "370100/") & (HouseholdRank.category == "")
    rows = await HouseholdRank.select().where(city)
    return sorted((r["neg_centi"], r["first_applied"], r["file_no"], r["household"]) for r in rows)


async def test_a_walk_of_90_days_does_each_thing_once(world, now) -> None:
    city = await _small_city(world, now)
    quiet_before = await IndexRecord.count().where(IndexRecord.household == city["quiet"].household_id)
    rescored_on: dict[str, list[int]] = {"shocked": [], "aided": [], "ageing": []}
    for day in range(1, WALK_DAYS + 1):
        at = now + timedelta(days=day)  # 09:30, after the reminders' hour
        if day == 12:  # the visit is moved to day 20
            await Visit.update({Visit.scheduled_for: now.date() + timedelta(days=20)}).where(
                Visit.id == city["visit_id"]
            )
        counts = {name: await _time_records(city[name].household_id) for name in rescored_on}
        first, again = await asyncio.gather(scheduler.run_tick(at), scheduler.run_tick(at))
        assert not any(o.status == "failed" for o in first.outcomes + again.outcomes)
        assert len([r for r in (first, again) if r.ran]) == 1  # the other was locked out or found it done
        for name, before in counts.items():
            if await _time_records(city[name].household_id) > before:
                rescored_on[name].append(day)
        assert await _stale_indexes(at) == {}, f"an index went stale on day {day}"
        assert await _stored_order() == await ranked_keys("370100/"), f"stored ranks stale on day {day}"

    # The index followed the date: the shock decayed daily until its 6 months were up…
    assert rescored_on["shocked"] and max(rescored_on["shocked"]) <= 14
    # …the aid left its 12-month window once, and the member turned 60 on day 40.
    assert rescored_on["aided"] and 20 <= rescored_on["aided"][0] <= 30
    assert 40 in rescored_on["ageing"]
    # A household with nothing time-dependent was never touched.
    assert (
        await IndexRecord.count().where(IndexRecord.household == city["quiet"].household_id) == quiet_before
    )

    # The 公示 ended once, after its 7 days.
    notice = await PublicNotice.select(PublicNotice.status).where(
        PublicNotice.application == city["noticed"].application_id
    )
    assert [n["status"] for n in notice] == ["ended"]
    assert await AuditEvent.count().where(AuditEvent.action == "notice.end") == 1

    # One reminder the day before the visit, and one more for its new date.
    reminders = await OutboxMessage.select(OutboxMessage.dedupe_key, OutboxMessage.created_at).where(
        OutboxMessage.kind == "visit_reminder"
    )
    # (Only the moved visit's: the review visit's household has no chat and no mobile, so its
    # reminder on day 4 is recorded as unreachable.)
    days = sorted(
        (r["created_at"] - now).days for r in reminders if f"visit{city['visit_id']}@" in r["dedupe_key"]
    )
    assert days == [9, 19]

    # The overdue review and the overdue investigations were raised once each.
    alerts = await DeadlineAlert.select(DeadlineAlert.kind, DeadlineAlert.entity_id, DeadlineAlert.raised_on)
    reviews = [a for a in alerts if a["kind"] == "review"]
    assert [(a["entity_id"], a["raised_on"]) for a in reviews] == [
        (city["review_id"], now.date() + timedelta(days=7))  # Saturday's review: raised Monday
    ]
    investigations = {a["entity_id"] for a in alerts if a["kind"] == "investigation"}
    assert investigations == {city[n].application_id for n in ("quiet", "shocked", "aided", "ageing")}
    assert await AuditEvent.count().where(AuditEvent.action == "deadline.overdue") == len(alerts)
    # Received Monday 16 November: 15 working days end on 7 December; overdue from the 8th.
    assert {a["raised_on"] for a in alerts if a["kind"] == "investigation"} == {date(2026, 12, 8)}

    # Every task ran once a day, each day.
    runs = await ScheduledRun.select(ScheduledRun.task, ScheduledRun.attempts, ScheduledRun.status)
    assert len(runs) == WALK_DAYS * len(scheduler.registered_tasks())
    assert {(r["attempts"], r["status"]) for r in runs} == {(1, "done")}


async def test_a_done_review_clears_its_alert(world, now) -> None:
    city = await _small_city(world, now)
    await scheduler.run_tick(now + timedelta(days=7), only=["raise_overdue"])
    assert await DeadlineAlert.count().where(DeadlineAlert.cleared_on.is_null()) == 1
    await Visit.update({Visit.status: "done"}).where(Visit.id == city["review_id"])
    await scheduler.run_tick(now + timedelta(days=8), only=["raise_overdue"])
    assert await DeadlineAlert.count().where(DeadlineAlert.cleared_on.is_null()) == 0
    assert await AuditEvent.count().where(AuditEvent.action == "deadline.cleared") == 1


async def test_two_holders_never_hold_the_lock_at_once(db) -> None:
    engine = ScheduledRun._meta.db
    async with scheduler.tick_lock(engine) as first, scheduler.tick_lock(engine) as second:
        assert first and not second
    async with scheduler.tick_lock(engine) as again:
        assert again  # released


async def test_concurrent_ticks_run_a_task_once(db, now, monkeypatch) -> None:
    calls: list[datetime] = []

    async def slow(at: datetime) -> int:
        calls.append(at)
        await asyncio.sleep(0.2)
        return 1

    monkeypatch.setattr(scheduler, "_TASKS", {})
    scheduler.register("slow", slow)
    reports = await asyncio.gather(*(scheduler.run_tick(now) for _ in range(3)))
    assert len(calls) == 1
    assert sum(1 for r in reports if r.locked_out) == 2


async def test_a_failed_task_is_retried_at_the_next_tick(db, now, monkeypatch) -> None:
    attempts: list[int] = []

    async def flaky(at: datetime) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database went away")
        return 7

    monkeypatch.setattr(scheduler, "_TASKS", {})
    scheduler.register("flaky", flaky)
    first = await scheduler.run_tick(now)
    assert [(o.status, o.error) for o in first.outcomes] == [("failed", "RuntimeError: database went away")]
    second = await scheduler.run_tick(now + timedelta(minutes=10))
    assert [(o.status, o.count) for o in second.outcomes] == [("done", 7)]
    third = await scheduler.run_tick(now + timedelta(minutes=20))
    assert [o.status for o in third.outcomes] == ["skipped"]
    [run] = await ScheduledRun.select(ScheduledRun.attempts, ScheduledRun.status, ScheduledRun.done_count)
    assert run == {"attempts": 2, "status": "done", "done_count": 7}
    assert len(attempts) == 2


async def test_a_task_waits_for_its_hour(db, now, monkeypatch) -> None:
    from datetime import time

    ran: list[datetime] = []

    async def morning(at: datetime) -> int:
        ran.append(at)
        return 0

    monkeypatch.setattr(scheduler, "_TASKS", {})
    scheduler.register("morning", morning, not_before=time(10, 0))
    early = await scheduler.run_tick(now)  # 09:30
    assert [o.status for o in early.outcomes] == ["waiting"] and not ran
    await scheduler.run_tick(now + timedelta(hours=1))
    assert len(ran) == 1


@pytest.mark.parametrize("username, allowed", [("supervisor", True), ("city", True), ("station", False)])
async def test_the_runs_page_is_for_centre_city_and_supervision(
    world, make_client, username, allowed
) -> None:
    client = make_client()
    await client.login(username)
    response = await client.get("/system/scheduler")
    assert response.status_code == (200 if allowed else 403)


async def test_the_overdue_page_shows_the_area_s_alerts(world, now, make_client) -> None:
    city = await _small_city(world, now)
    await scheduler.run_tick(now + timedelta(days=7), only=["raise_overdue"])
    client = make_client()
    await client.login("liaison")
    page = await client.get("/deadlines")
    assert page.status_code == 200 and f"/visits/{city['review_id']}" in page.text
    other = make_client()
    await other.login("station_b")
    assert f"/visits/{city['review_id']}" not in (await other.get("/deadlines")).text


async def test_the_app_ticks_on_its_own_unless_turned_off(db, clock, monkeypatch) -> None:
    from dataclasses import replace

    from relief_pwa.app import create_app
    from relief_pwa.settings import load_settings

    ran: list[datetime] = []

    async def task(at: datetime) -> int:
        ran.append(at)
        return 1

    monkeypatch.setattr(scheduler, "_TASKS", {})
    monkeypatch.setattr(scheduler, "FIRST_TICK_AFTER_SECONDS", 0.0)
    scheduler.register("task", task)
    off = create_app(replace(load_settings(), scheduler_interval_seconds=0), clock)
    async with scheduler.scheduler_lifespan(off):
        await asyncio.sleep(0.3)
    assert ran == []
    on = create_app(replace(load_settings(), scheduler_interval_seconds=1), clock)
    async with scheduler.scheduler_lifespan(on):
        for _ in range(50):
            if ran:
                break
            await asyncio.sleep(0.1)
    assert ran == [clock.now()]


async def test_a_lease_left_by_a_dead_tick_expires(db) -> None:
    import time as wall

    from relief_pwa.db import is_sqlite
    from relief_pwa.tables import SchedulerLease

    engine = ScheduledRun._meta.db
    if not is_sqlite(engine):
        pytest.skip("SQLite only: PostgreSQL's advisory lock goes with its connection")
    held_until = int(wall.time()) + 60
    await SchedulerLease.insert(
        SchedulerLease(name=scheduler.LOCK_NAME, holder="gone", expires_epoch=held_until)
    )
    async with scheduler.tick_lock(engine) as taken:
        assert not taken  # still within its lease
    await SchedulerLease.update({SchedulerLease.expires_epoch: int(wall.time()) - 1}).where(
        SchedulerLease.name == scheduler.LOCK_NAME
    )
    async with scheduler.tick_lock(engine) as taken:
        assert taken


async def test_the_time_driven_rescore_stores_no_copy_of_an_unchanged_result(world, now) -> None:
    """A member turning 16 makes the household a candidate, but a child with a severe
    disability stays a dependant: the result is the latest record's, so no record is stored
    (as in the full re-score) and only the days the index holds move; a member turning 16
    without one moves the index, gets a record and takes a new place."""
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    today = now.date()
    turns_on = today + timedelta(days=2)
    born = turns_on.replace(year=turns_on.year - 16)

    async def household_with(head: int, child: Any) -> int:
        made = await make_intake(world, members=[_person("户主", date(1980, 1, 10), head), child])
        return made.household_id

    unchanged = await household_with(
        21, member("李小", "child", id_number=make_id_number("370102", born, 23), disability_grade="2")
    )
    moving = await household_with(27, _person("王小", born, 25, relation="child"))
    at = now + timedelta(days=2)
    assert set(
        await scheduler.time_driven_households(
            await get_active_model(now=at), today + timedelta(days=1), turns_on
        )
    ) >= {unchanged, moving}
    records = {
        hid: await IndexRecord.count().where(IndexRecord.household == hid) for hid in (unchanged, moving)
    }
    stored = await scheduler.rescore_time_driven(at)
    assert stored == 1
    assert await IndexRecord.count().where(IndexRecord.household == unchanged) == records[unchanged]
    assert await IndexRecord.count().where(IndexRecord.household == moving) == records[moving] + 1
    rows = {
        r["id"]: r
        for r in await Household.select(Household.id, Household.index_holds_from).where(
            Household.id.is_in([unchanged, moving])
        )
    }
    assert rows[unchanged]["index_holds_from"] == rows[moving]["index_holds_from"] == turns_on
    assert await _stored_order() == await ranked_keys("370100/")


async def test_the_time_driven_rescore_waits_for_a_change_to_its_household(world, now) -> None:
    """PostgreSQL: a change to a candidate household in a transaction still open when the
    daily re-score starts is waited for and scored, not overwritten with the index of the
    facts before it (SQLite's writer lock serialises the two anyway)."""
    from relief_pwa.db import is_sqlite

    engine = Household._meta.db
    if is_sqlite(engine):
        pytest.skip("PostgreSQL's row locks (SQLite runs one writer at a time)")
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    turns_on = now.date() + timedelta(days=2)
    born = turns_on.replace(year=turns_on.year - 16)
    made = await make_intake(
        world, members=[_person("户主", date(1980, 1, 10), 31), _person("赵小", born, 33, relation="child")]
    )
    at = now + timedelta(days=2)
    other = await engine.get_new_connection()  # type: ignore[attr-defined]  # PostgresEngine
    try:
        changing = other.transaction()
        await changing.start()
        await other.execute("SELECT id FROM household WHERE id = $1 FOR UPDATE", made.household_id)
        await other.execute(
            "UPDATE money_item SET declared_fen = 0, verified_fen = 0"
            " WHERE household = $1 AND section = 'income'",
            made.household_id,
        )
        rescoring = asyncio.ensure_future(scheduler.rescore_time_driven(at))
        await asyncio.sleep(0.5)
        assert not rescoring.done()  # waiting for the household
        await changing.commit()
        await rescoring
    finally:
        await other.close()
    [fresh], _ = await score_in_memory([await get_active_model(now=at)], now=at)
    row = await Household.select(Household.current_index).where(Household.id == made.household_id).first()
    assert row is not None and Decimal(row["current_index"]) == fresh[made.household_id]
