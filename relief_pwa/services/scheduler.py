"""Work that happens on time: a registry of named daily tasks and the tick that runs them.

A task is ``async def task(now: datetime) -> int`` (how much it did) and is
idempotent. A tick runs each registered task that has not yet succeeded on
the local day of ``now`` (and whose ``not_before`` hour has come); its run is
recorded in ``scheduled_run`` (task, day, started/finished, count, error), so
the same day's task is not done twice and a failed one is tried again at the
next tick. Ticks come from the app (``scheduler_lifespan``, every
``RELIEF_SCHEDULER_INTERVAL_SECONDS``) and from ``relief-pwa tick`` (cron or a
systemd timer; docs/scheduler.md). Two ticks never run at once, in one process
or several: the tick holds the named lock ``tick`` (services/locks.py: a
PostgreSQL advisory lock, or an SQLite lease row). A tick that finds the lock
taken does nothing.

The time-driven tasks of the case system live here too: re-scoring the
households whose index changes with the date, closing 公示 whose window ended,
raising overdue reviews and investigations once each, and the bot's reminder
the day before a visit. Work that must stay per process (flushing the
access-log buffer, purging sessions every few minutes, the outbox sender)
keeps its own loop (services/periodic.py).
"""

# SQL text here is built from our own column names only; every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import logging
import time as wall
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from piccolo.engine.base import Engine

from relief_pwa.clock import CHINA_TZ, local_date
from relief_pwa.core.calendar import add_working_days
from relief_pwa.core.enums import AppState
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.core.rules import Calendar, working_deadline
from relief_pwa.core.scoring import ELDERLY_AGE, MINOR_AGE, ScoringModel, add_months
from relief_pwa.db import is_sqlite, write_transaction
from relief_pwa.services.access import in_scope
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.bulk_scoring import (
    Lookback,
    Query,
    assemble_city,
    bulk_allocation,
    fact_queries,
    households_query,
    previous_from_rows,
    previous_query,
    score_rows,
)
from relief_pwa.services.datacheck import queue_recipient_rechecks
from relief_pwa.services.followups import raise_due_reviews
from relief_pwa.services.locks import named_lock
from relief_pwa.services.periodic import every
from relief_pwa.services.reviews import finish_gradual_exits
from relief_pwa.services.rules import load_calendar
from relief_pwa.tables import (
    Application,
    DeadlineAlert,
    Household,
    ReliefStandard,
    ScheduledRun,
    Visit,
)

log = logging.getLogger("relief_pwa.scheduler")

LOCK_NAME = "tick"
MAX_CATCH_UP_DAYS = 400  # after a long stop, re-scoring looks back at most this far
RESCORE_SPAN = 2_000  # households re-scored per write transaction
ERROR_CHARS = 500
FIRST_TICK_AFTER_SECONDS = 5.0  # the app looks for due work this soon after start-up

TaskFn = Callable[[datetime], Awaitable[int]]


# --- the registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DailyTask:
    name: str
    run: TaskFn
    label: str  # an English message id, translated on the staff page
    not_before: time = time(0, 0)  # local (Beijing) time of day before which the task waits


_TASKS: dict[str, DailyTask] = {}


def register(name: str, run: TaskFn, *, label: str = "", not_before: time = time(0, 0)) -> None:
    """Add a daily task (tasks run in registration order; registering a name again replaces it)."""
    _TASKS[name] = DailyTask(name, run, label or name, not_before)


def registered_tasks() -> list[DailyTask]:
    return list(_TASKS.values())


# --- the lock -------------------------------------------------------------------------------------


@asynccontextmanager
async def tick_lock(engine: Engine[Any]) -> AsyncIterator[bool]:
    """Yield True when this caller holds the scheduler's lock (False: another tick runs)."""
    async with named_lock(engine, LOCK_NAME) as held:
        yield held


# --- the tick -------------------------------------------------------------------------------------


@dataclass
class TaskOutcome:
    task: str
    status: str  # done | failed | skipped (already done today) | waiting (before its hour)
    count: int = 0
    error: str = ""


@dataclass
class TickReport:
    day: date
    locked_out: bool = False  # another tick held the lock: nothing was done
    outcomes: list[TaskOutcome] = field(default_factory=list)

    @property
    def ran(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status in {"done", "failed"}]


def _run_key(task: str, day: date) -> str:
    return f"{task}@{day.isoformat()}"


async def _done_today(day: date) -> set[str]:
    rows = await ScheduledRun.select(ScheduledRun.task).where(
        (ScheduledRun.day == day) & (ScheduledRun.status == "done")
    )
    return {r["task"] for r in rows}


async def _start_run(task: str, day: date, now: datetime) -> None:
    key = _run_key(task, day)
    async with write_transaction(ScheduledRun._meta.db):
        existing = (
            await ScheduledRun.select(ScheduledRun.id, ScheduledRun.attempts)
            .where(ScheduledRun.run_key == key)
            .first()
        )
        if existing is None:
            await ScheduledRun.insert(
                ScheduledRun(run_key=key, task=task, day=day, status="running", attempts=1, started_at=now)
            )
        else:
            await ScheduledRun.update(
                {
                    ScheduledRun.status: "running",
                    ScheduledRun.attempts: existing["attempts"] + 1,
                    ScheduledRun.started_at: now,
                    ScheduledRun.finished_at: None,
                    ScheduledRun.error: "",
                }
            ).where(ScheduledRun.id == existing["id"])


async def _finish_run(
    task: str, day: date, now: datetime, *, status: str, count: int, error: str, seconds: float
) -> None:
    async with write_transaction(ScheduledRun._meta.db):
        await ScheduledRun.update(
            {
                ScheduledRun.status: status,
                ScheduledRun.done_count: count,
                ScheduledRun.error: error[:ERROR_CHARS],
                ScheduledRun.finished_at: now + timedelta(seconds=seconds),
                ScheduledRun.duration_ms: int(seconds * 1000),
            }
        ).where(ScheduledRun.run_key == _run_key(task, day))
        await record_event(
            SYSTEM_ACTOR,
            f"scheduler.{status}",
            "scheduled_run",
            0,
            org_path=await city_path(),
            now=now,
            after={"task": task, "day": day.isoformat(), "count": count, "error": error[:200]},
        )


async def city_path() -> str:
    from relief_pwa.services.scoring import city_path as path

    return await path()


async def run_tick(now: datetime, *, only: Sequence[str] = ()) -> TickReport:
    """Run every due daily task once for the local day of ``now`` (``only``: just these names)."""
    day = local_date(now)
    report = TickReport(day)
    engine = ScheduledRun._meta.db
    async with tick_lock(engine) as held:
        if not held:
            report.locked_out = True
            return report
        done = await _done_today(day)
        local_now = now.astimezone(CHINA_TZ).time()
        for task in registered_tasks():
            if only and task.name not in only:
                continue
            if task.name in done:
                report.outcomes.append(TaskOutcome(task.name, "skipped"))
                continue
            if local_now < task.not_before:
                report.outcomes.append(TaskOutcome(task.name, "waiting"))
                continue
            report.outcomes.append(await _run_one(task, day, now))
    return report


async def _run_one(task: DailyTask, day: date, now: datetime) -> TaskOutcome:
    await _start_run(task.name, day, now)
    started = wall.perf_counter()
    try:
        count = int(await task.run(now))
    except Exception as exc:
        # The error's type and message (never a row's data: services raise DomainErrors
        # with message ids) so the staff page says what went wrong; the trace goes to the log.
        log.exception("scheduled task %s failed on %s; it runs again at the next tick", task.name, day)
        error = f"{type(exc).__name__}: {exc}"
        await _finish_run(
            task.name, day, now, status="failed", count=0, error=error, seconds=wall.perf_counter() - started
        )
        return TaskOutcome(task.name, "failed", 0, error)
    await _finish_run(
        task.name, day, now, status="done", count=count, error="", seconds=wall.perf_counter() - started
    )
    return TaskOutcome(task.name, "done", count)


@asynccontextmanager
async def scheduler_lifespan(app: Any) -> AsyncIterator[None]:
    """App lifespan: look for due daily tasks now and every ``scheduler_interval_seconds``."""
    seconds = app.state.settings.scheduler_interval_seconds
    if seconds <= 0:
        yield
        return
    clock = app.state.clock
    async with every(
        seconds, lambda: run_tick(clock.now()), name="scheduler", first_after=FIRST_TICK_AFTER_SECONDS
    ):
        yield


# --- what staff see -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunView:
    task: str
    label: str
    day: date
    status: str
    attempts: int
    count: int
    error: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int


async def list_runs(actor: Actor, *, limit: int = 100) -> list[RunView]:
    """The latest runs of the daily tasks, newest first."""
    require(actor, Capability.SCHEDULER_READ)
    labels = {t.name: t.label for t in registered_tasks()}
    rows = (
        await ScheduledRun.select()
        .order_by(ScheduledRun.day, ascending=False)
        .order_by(ScheduledRun.id, ascending=False)
        .limit(limit)
    )
    return [
        RunView(
            r["task"],
            labels.get(r["task"], r["task"]),
            r["day"],
            r["status"],
            r["attempts"],
            r["done_count"],
            r["error"],
            r["started_at"],
            r["finished_at"],
            r["duration_ms"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class AlertView:
    id: int
    kind: str
    entity_type: str
    entity_id: int
    household_id: int
    file_no: str
    due_on: date
    raised_on: date


async def list_open_alerts(actor: Actor, *, limit: int = 300) -> list[AlertView]:
    """Overdue reviews and investigations still open in the actor's area, oldest deadline first."""
    require(actor, Capability.DEADLINE_ALERTS_READ)
    rows = (
        await DeadlineAlert.select()
        .where(DeadlineAlert.cleared_on.is_null() & in_scope(actor, DeadlineAlert.org_path))
        .order_by(DeadlineAlert.due_on)
        .limit(limit)
    )
    files = {
        r["id"]: r["file_no"]
        for r in await Household.select(Household.id, Household.file_no).where(
            Household.id.is_in([int(r["household_id"]) for r in rows] or [0])
        )
    }
    return [
        AlertView(
            r["id"],
            r["kind"],
            r["entity_type"],
            int(r["entity_id"]),
            int(r["household_id"]),
            files.get(int(r["household_id"]), ""),
            r["due_on"],
            r["raised_on"],
        )
        for r in rows
    ]


async def count_open_alerts(org_path: str) -> dict[str, int]:
    """Open overdue items under ``org_path`` by kind (for dashboards and the home page)."""
    rows = await DeadlineAlert.raw(
        "SELECT kind, COUNT(*) AS n FROM deadline_alert WHERE cleared_on IS NULL AND org_path LIKE {} "
        "GROUP BY kind",
        f"{org_path}%",
    )
    return {str(r["kind"]): int(r["n"]) for r in rows}


# --- task: close 公示 whose window ended ---------------------------------------------------------


async def close_due_notices(now: datetime) -> int:
    from relief_pwa.services.publicity import do_close_due_notices

    return len(await do_close_due_notices(now))


# --- task: overdue reviews and investigations -------------------------------------------------------

REVIEW = "review"
INVESTIGATION = "investigation"
ALERTS_PER_TRANSACTION = 300
_INVESTIGATING = (AppState.RECEIVED.value, AppState.INVESTIGATING.value)


@dataclass(frozen=True)
class _Overdue:
    kind: str
    entity_type: str
    entity_id: int
    household_id: int
    org_path: str
    due_on: date

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.entity_id}@{self.due_on.isoformat()}"


def review_overdue(scheduled_for: date, today: date, calendar: Calendar) -> bool:
    """A review not done on its day is overdue from the next working day on."""
    return add_working_days(scheduled_for, 1, calendar.holidays, calendar.workdays) <= today


async def _overdue_now(today: date, calendar: Calendar) -> list[_Overdue]:
    found: list[_Overdue] = []
    investigations = await Application.select(
        Application.id, Application.household, Application.org_path, Application.received_on
    ).where(
        Application.found_on.is_null()
        & Application.state.is_in(list(_INVESTIGATING))
        & (Application.received_on < today)
    )
    for row in investigations:
        due = working_deadline(calendar, row["received_on"], "investigation_working_days")
        if due < today:
            found.append(
                _Overdue(INVESTIGATION, "application", row["id"], row["household"], row["org_path"], due)
            )
    reviews = await Visit.select(Visit.id, Visit.household, Visit.org_path, Visit.scheduled_for).where(
        (Visit.kind == REVIEW) & (Visit.status == "scheduled") & (Visit.scheduled_for < today)
    )
    for row in reviews:
        if review_overdue(row["scheduled_for"], today, calendar):
            found.append(
                _Overdue(REVIEW, "visit", row["id"], row["household"], row["org_path"], row["scheduled_for"])
            )
    return found


async def _raise(item: _Overdue, today: date, now: datetime) -> int:
    inserted = (
        await DeadlineAlert.insert(
            DeadlineAlert(
                alert_key=item.key,
                kind=item.kind,
                entity_type=item.entity_type,
                entity_id=item.entity_id,
                household_id=item.household_id,
                org_path=item.org_path,
                due_on=item.due_on,
                raised_on=today,
            )
        )
        .on_conflict(target=DeadlineAlert.alert_key, action="DO NOTHING")
        .returning(DeadlineAlert.id)
    )
    if not inserted:  # raised before and cleared since: once per deadline
        return 0
    await record_event(
        SYSTEM_ACTOR,
        "deadline.overdue",
        item.entity_type,
        item.entity_id,
        org_path=item.org_path,
        now=now,
        household_id=item.household_id,
        after={"kind": item.kind, "due_on": item.due_on.isoformat()},
    )
    return 1


async def raise_overdue(now: datetime) -> int:
    """Mark each overdue review and investigation once (an alert row and an audited
    ``deadline.overdue`` event in its community, which the station and liaison see);
    clear the alerts whose work got done or moved. Returns how many were raised."""
    today = local_date(now)
    overdue = await _overdue_now(today, await load_calendar())
    keys = {item.key: item for item in overdue}
    engine = DeadlineAlert._meta.db
    open_rows = await DeadlineAlert.select(
        DeadlineAlert.id, DeadlineAlert.alert_key, DeadlineAlert.entity_type, DeadlineAlert.entity_id,
        DeadlineAlert.org_path, DeadlineAlert.household_id, DeadlineAlert.kind,
    ).where(DeadlineAlert.cleared_on.is_null())  # fmt: skip
    open_keys = {r["alert_key"] for r in open_rows}
    new_items = [item for key, item in keys.items() if key not in open_keys]
    gone = [row for row in open_rows if row["alert_key"] not in keys]
    raised = 0
    # Short transactions: after a long stop thousands may be due, and SQLite has one writer.
    for start in range(0, len(new_items), ALERTS_PER_TRANSACTION):
        async with write_transaction(engine):
            for item in new_items[start : start + ALERTS_PER_TRANSACTION]:
                raised += await _raise(item, today, now)
    for start in range(0, len(gone), ALERTS_PER_TRANSACTION):
        async with write_transaction(engine):
            for row in gone[start : start + ALERTS_PER_TRANSACTION]:
                await DeadlineAlert.update({DeadlineAlert.cleared_on: today}).where(
                    DeadlineAlert.id == row["id"]
                )
                await record_event(
                    SYSTEM_ACTOR,
                    "deadline.cleared",
                    row["entity_type"],
                    int(row["entity_id"]),
                    org_path=row["org_path"],
                    now=now,
                    household_id=int(row["household_id"]),
                    after={"kind": row["kind"]},
                )
    return raised


# --- task: the bot's reminder the day before a visit ----------------------------------------------


async def remind_visits(now: datetime) -> int:
    """Queue the reminder for tomorrow's visits in the outbox (one per visit and date)."""
    from relief_pwa.services.notices import queue_visit_reminders

    return await queue_visit_reminders(now)


# --- task: re-score the households whose index changes with the date ----------------------------


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _first_shock_still_decaying(since: date, decay_months: int) -> date:
    """The earliest day a shock may have happened and still score points after ``since``
    (its points reach 0 on ``add_months(occurred_on, decay)``; month ends make that uneven)."""
    day = add_months(since, -decay_months) - timedelta(days=4)
    while add_months(day, decay_months) <= since:
        day += timedelta(days=1)
    return day


async def time_driven_households(model: ScoringModel, since: date, today: date) -> list[int]:
    """Open households whose index on ``today`` may differ from the one on ``since``
    only because the date moved (their facts unchanged), by SQL:

    - a shock still decaying at some day in (since, today] (its points fall daily);
    - aid entering or leaving the aid window in (since, today];
    - a member reaching 16 or 60 (a dependant reason starts or ends);
    - a standard of the household's district taking effect in (since, today].
    """
    from relief_pwa.services.scoring import RawSql

    q = RawSql()
    decay = model.factors["shock"].decay_months or 0
    window = model.factors["aid"].window_months or 0
    sources: list[tuple[str, tuple[Any, ...]]] = [
        (
            "SELECT household FROM shock WHERE occurred_on >= {} AND occurred_on <= {} AND kind <> 'none'",
            (_first_shock_still_decaying(since, decay), today),
        ),
        ("SELECT household FROM aid_record WHERE received_on > {} AND received_on <= {}", (since, today)),
        (
            "SELECT household FROM aid_record WHERE received_on > {} AND received_on <= {}",
            (add_months(since, -window), add_months(today, -window)),
        ),
    ]
    for age in sorted({MINOR_AGE, ELDERLY_AGE}):
        sources.append(
            (
                "SELECT household FROM member WHERE active = {} AND birth_date > {} AND birth_date <= {}",
                (True, _years_before(since, age) - timedelta(days=1), _years_before(today, age)),
            )
        )
    changed_districts = await ReliefStandard.select(ReliefStandard.district_code).where(
        (ReliefStandard.effective_from > since) & (ReliefStandard.effective_from <= today)
    )
    for district in sorted({r["district_code"] for r in changed_districts}):
        sources.append(("SELECT id FROM household WHERE org_path LIKE {}", (f"%/{district}/%",)))
    union = " UNION ".join(sql for sql, _ in sources)
    args = [a for _, params in sources for a in params]
    rows = await q.fetch(
        f"SELECT {q.num('h.id')} FROM household h WHERE h.is_open = {{}} AND h.id IN ({union}) ORDER BY h.id",
        True,
        *args,
    )
    return [int(r[0]) for r in rows]


_SPAN_PREDICATE = "household >= {} AND household <= {}"


def _only_these(queries: list[Query], ids: list[int], sqlite: bool) -> list[Query]:
    """The fact queries of a span of households narrowed to ``ids``: the few households
    that changed, not every household between the first and the last of them (a query
    whose text is not the expected span is kept as it is; its rows are filtered after)."""
    value: Any = json.dumps(ids) if sqlite else ids
    predicate = (
        "household IN (SELECT value FROM json_each({}))" if sqlite else "household = ANY({}::integer[])"
    )
    narrowed: list[Query] = []
    for sql, args in queries:
        if sql.count(_SPAN_PREDICATE) == 1 and sql.index(_SPAN_PREDICATE) < sql.index("{}") + 1:
            narrowed.append((sql.replace(_SPAN_PREDICATE, predicate), (value, *args[2:])))
        else:
            narrowed.append((sql, args))
    return narrowed


def _spans(ids: list[int], size: int) -> list[list[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


async def _last_success(task: str, before: date) -> date | None:
    row = (
        await ScheduledRun.select(ScheduledRun.day)
        .where((ScheduledRun.task == task) & (ScheduledRun.status == "done") & (ScheduledRun.day < before))
        .order_by(ScheduledRun.day, ascending=False)
        .first()
    )
    return row["day"] if row else None


RESCORE_TASK = "rescore_time_driven"


async def rescore_time_driven(now: datetime) -> int:
    """Re-score, in bulk, the households whose index may have moved with the date since the
    last successful run (yesterday, or further back after a stop). Returns how many new index
    records were stored (a result the latest record already says stores none)."""
    from relief_pwa.services.rank_store import sync_households
    from relief_pwa.services.scoring import RawSql, _bulk_write, get_active_model
    from relief_pwa.services.standards import load_standards

    today = local_date(now)
    since = await _last_success(RESCORE_TASK, today) or today - timedelta(days=1)
    since = max(since, today - timedelta(days=MAX_CATCH_UP_DAYS))
    model = await get_active_model(now=now)
    candidates = await time_driven_households(model, since, today)
    if not candidates:
        return 0
    standards = await load_standards()
    q = RawSql()
    engine = Household._meta.db
    lookback = Lookback.for_models([model], today)
    scored = 0
    moved: list[int] = []
    for span in _spans(candidates, RESCORE_SPAN):
        wanted = set(span)
        async with write_transaction(engine):
            if not q.sqlite:
                # Lock the span's households first, as the single recompute locks its one: a
                # change committed while the span is read would otherwise be overwritten with
                # the index of the facts before it (SQLite's writer lock already serialises).
                await q.fetch(
                    "SELECT id FROM household WHERE id = ANY({}::integer[]) ORDER BY id FOR UPDATE", span
                )
            with bulk_allocation():
                sql, args = households_query(q, after_id=span[0] - 1, last_id=span[-1])
                households = [h for h in await q.fetch(sql, *args) if int(h[0]) in wanted]
                if not households:
                    continue
                facts = []
                for fsql, fargs in _only_these(
                    fact_queries(q, span[0], span[-1], today, lookback), span, q.sqlite
                ):
                    facts.append([r for r in await q.fetch(fsql, *fargs) if int(r[0]) in wanted])
                city = assemble_city(households, facts, as_of=today)
                # As the full re-score: a result the latest record already says stores no copy,
                # and only the households whose index moved take new places.
                psql, pargs = previous_query(q, span[0], span[-1], model.version, today, only=span)
                previous = previous_from_rows(await q.fetch(psql, *pargs))
                rows = score_rows(
                    city,
                    model,
                    standards,
                    now=now,
                    trigger="time",
                    sqlite=is_sqlite(engine),
                    previous=previous,
                )
            if rows.records or rows.updates:
                await _bulk_write(rows)
                scored += len(rows.records)
            moved += rows.moved
    if moved:
        async with write_transaction(engine):
            await sync_households(moved)  # the moved households take their new places
    return scored


# --- task: referrals to relief departments past their deadline ---------------------------------------


async def escalate_referrals(now: datetime) -> int:
    from relief_pwa.services.referrals import escalate_overdue_referrals

    return await escalate_overdue_referrals(now)


# --- the registry of the case system's daily work ---------------------------------------------------
# Order matters: state changes first (notices, reviews, exits), then what reads the state.

register("close_due_notices", close_due_notices, label=N_("Close 公示 whose window ended"))
register("raise_due_reviews", raise_due_reviews, label=N_("Start the periodic reviews that have come due"))
register(
    "finish_gradual_exits",
    finish_gradual_exits,
    label=N_("End assistance whose gradual-exit (渐退) window has run out"),
)
register(
    "queue_recipient_rechecks", queue_recipient_rechecks, label=N_("Queue recipients' periodic data checks")
)
register("raise_overdue", raise_overdue, label=N_("Raise overdue reviews and investigations"))
register("escalate_referrals", escalate_referrals, label=N_("Escalate referrals overdue at a department"))
register(RESCORE_TASK, rescore_time_driven, label=N_("Re-score households whose index changes with time"))
# Reminders go out in the morning, not at midnight.
register(
    "remind_visits", remind_visits, label=N_("Remind applicants of tomorrow's visits"), not_before=time(8, 0)
)
