"""Property: payments follow the state. For any sequence of activations, suspensions,
reinstatements, reviews, exits and deaths over 24 months, with payment lines generated
(also a month ahead), batched, exported and reconciled in between, no payment exists
for a month in which the household was not a recipient, and every month in which it
was one (on at least one day) is paid exactly once.

The expected months come from a day-level model of the events, not from the
entitlement table: the test checks the rule, not the implementation's own bookkeeping.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.enums import RECIPIENT_STATES, AppState, ExitReason
from relief_pwa.core.workflow import TRANSITIONS
from relief_pwa.services import disbursement, plans
from relief_pwa.services.applications import do_transition
from relief_pwa.services.plans import DraftScope
from relief_pwa.tables import Application, DisbursementBatch, PaymentLine
from tests.helpers import found
from tests.services.lifecycle_support import REASON, taker
from tests.services.plans_support import pool, recipient

MONTHS = 24
FIRST = (2026, 11)  # the plan's first month; the world's clock starts on 2026-11-16
START_DAY = 17  # nothing happens in the first month before the set-up is done
ACTIONS = ("activate", "suspend", "reinstate", "exit", "death", "start_review", "complete_review")

EVENT = st.tuples(
    st.integers(0, MONTHS - 1),  # month offset
    st.integers(1, 28),  # day
    st.integers(0, 1),  # which household
    st.sampled_from(ACTIONS),
)


def month_at(offset: int) -> tuple[int, int]:
    index = FIRST[0] * 12 + FIRST[1] - 1 + offset
    return index // 12, index % 12 + 1


def day_at(offset: int, day: int) -> date:
    year, month = month_at(offset)
    return date(year, month, max(day, START_DAY) if offset == 0 else day)


def month_name(offset: int) -> str:
    year, month = month_at(offset)
    return f"{year:04d}-{month:02d}"


def at(day: date) -> datetime:
    return datetime.combine(day, time(10, 0), tzinfo=CHINA_TZ)


def recipient_months(intervals: list[tuple[date, date]]) -> set[str]:
    """Months with at least one day inside one of the half-open day intervals."""
    months = set()
    for offset in range(MONTHS):
        first = day_at(offset, 1) if offset else date(*FIRST, 1)
        after = date(*month_at(offset + 1), 1)
        if any(start < after and stop > first and start < stop for start, stop in intervals):
            months.add(month_name(offset))
    return months


async def _reset(database: Any, now: datetime) -> Any:
    """Each example starts from an empty database with a fresh world (fixtures are per test)."""
    from piccolo.querystring import QueryString

    from relief_pwa.db import write_transaction
    from tests.conftest import _tables
    from tests.factories import build_world

    tables = _tables()
    if database.engine_type == "postgres":
        await database.run_ddl(
            f"TRUNCATE {', '.join(t._meta.tablename for t in tables)} RESTART IDENTITY CASCADE"
        )
    else:
        async with write_transaction(database):
            await database.run_querystring(QueryString("PRAGMA defer_foreign_keys = ON"))
            for table in reversed(tables):
                await table.delete(force=True)
    return await build_world(now)


def _return_file(batch_no: str, lines: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["批次号", "行号", "金额(元)", "状态", "失败原因"])
    for line in lines:
        writer.writerow([batch_no, line["line_id"], f"{line['amount_fen'] / 100:.2f}", "成功", ""])
    return buffer.getvalue().encode()


async def _send_and_pay(world: Any, batch_id: int, now: datetime) -> None:
    """Export a draft batch (second clerk) and reconcile it as all paid (first clerk)."""
    batch = found(await DisbursementBatch.select().where(DisbursementBatch.id == batch_id).first())
    if batch["status"] != "draft":
        return
    await disbursement.do_export_batch(world.actor("center_2"), batch_id, "csv", now=now)
    lines = await PaymentLine.select().where(PaymentLine.batch == batch_id)
    if lines:
        await disbursement.do_reconcile_batch(
            world.actor("center"), batch_id, _return_file(batch["batch_no"], lines), "return.csv", now=now
        )


async def _batch(world: Any, fund: int, month: str, now: datetime) -> int | None:
    waiting = await PaymentLine.count().where((PaymentLine.fund == fund) & (PaymentLine.status == "queued"))
    if not waiting:
        return None
    return (await disbursement.do_create_batch(world.actor("center"), fund, month, now=now)).batch_id


async def _pay_run(world: Any, fund: int, offset: int, now: datetime, ahead: bool) -> None:
    center = world.actor("center")
    for draft in await DisbursementBatch.select(DisbursementBatch.id).where(
        DisbursementBatch.status == "draft"
    ):
        await _send_and_pay(world, draft["id"], now)  # last month's batch made ahead
    for month in range(max(0, offset - 1), min(offset, MONTHS - 1) + 1):
        await disbursement.do_generate_monthly_lines(center, month_name(month), now=now)
    batch_id = await _batch(world, fund, month_name(min(offset, MONTHS - 1)), now)
    if batch_id is not None:
        await _send_and_pay(world, batch_id, now)
    if ahead and offset + 1 < MONTHS:
        await disbursement.do_generate_monthly_lines(center, month_name(offset + 1), now=now)
        await _batch(world, fund, month_name(offset + 1), now)  # left unsent until next month


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    activations=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 28)), min_size=2, max_size=2),
    events=st.lists(EVENT, max_size=16),
    pay_days=st.lists(st.integers(1, 28), min_size=MONTHS + 1, max_size=MONTHS + 1),
    ahead=st.lists(st.booleans(), min_size=MONTHS, max_size=MONTHS),
)
async def test_payments_follow_the_recipient_months(db, now, activations, events, pay_days, ahead):
    world = await _reset(db, now)
    households = [await recipient(world, index=str(90 - n), stop_after="approve") for n in range(2)]
    applications = [
        found(await Application.select(Application.id).where(Application.household == h).first())["id"]
        for h in households
    ]
    _, fund, _ = await pool(
        world, fund_yuan="50000", periodicity="monthly", months=str(MONTHS), unit_amount="300"
    )
    for plan_id in await plans.do_save_drafts(world.actor("center"), DraftScope(), now=world.now):
        await plans.do_approve_plan(world.actor("center_2"), plan_id, now=world.now)

    # Everything that happens, in time order; on one day the case events come before the payment run.
    timeline: list[tuple[date, int, Any]] = []
    for n, (offset, day) in enumerate(activations):
        timeline.append((day_at(offset, day), 0, (n, "activate")))
    for offset, day, n, action in events:
        timeline.append((day_at(offset, day), 0, (n, action)))
    for offset in range(MONTHS + 1):
        timeline.append((day_at(offset, pay_days[offset]), 1, offset))
    timeline.sort(key=lambda item: (item[0], item[1]))

    states = [AppState.APPROVED, AppState.APPROVED]
    since: list[date | None] = [None, None]
    intervals: list[list[tuple[date, date]]] = [[], []]
    for day, kind, what in timeline:
        moment = at(day)
        if kind == 1:
            await _pay_run(world, fund, what, moment, ahead[what] if what < MONTHS else False)
            continue
        n, action = what
        transition = TRANSITIONS["exit" if action == "death" else action]
        if states[n] not in transition.sources:
            continue
        extra: dict[str, Any] = {}
        if transition.needs_exit_reason:
            extra["exit_reason"] = ExitReason.DEATH if action == "death" else ExitReason.INCOME_ABOVE_STANDARD
        await do_transition(
            taker(world, transition.action),
            applications[n],
            transition.action,
            reason=REASON,
            now=moment,
            **extra,
        )
        before, after = states[n] in RECIPIENT_STATES, transition.target in RECIPIENT_STATES
        if after and not before:
            since[n] = day
        if before and not after:
            start = since[n]
            assert start is not None
            # A death is dated by the day of death, still a day as a recipient.
            intervals[n].append((start, day + timedelta(days=1) if action == "death" else day))
        states[n] = transition.target
    end = date(*month_at(MONTHS), 1)
    for n in range(2):
        start = since[n]
        if states[n] in RECIPIENT_STATES and start is not None:
            intervals[n].append((start, end))

    for n, household in enumerate(households):
        paid = Counter(
            r["month"]
            for r in await PaymentLine.select(PaymentLine.month).where(
                (PaymentLine.household == household) & (PaymentLine.status == "paid")
            )
        )
        expected = recipient_months(intervals[n])
        assert set(paid) == expected, (n, sorted(set(paid) ^ expected), intervals[n])
        assert all(count == 1 for count in paid.values()), paid
