"""Entitlement periods: payments follow the application's state (docs/lifecycle.md).

``follow_transition`` runs inside ``do_transition``'s write transaction: a
transition into a paying state (activation, reinstatement) opens a period, a
transition out of one (suspension, exit, death) closes it and pulls the lines
of months no longer entitled out of the queue and out of unsent (draft)
batches, with the reason, batch totals recomputed and audited.

Which months are entitled: ``core.entitlement``. A plan line of a plan with an
application is paid in the months of that application's periods; a plan line
without one (a plan for the household as a whole) is paid in the months in
which the household holds any entitlement period.

The periods are one writer's business at a time: every change and every
reader that turns them into payment lines (generation, batch building) holds
the advisory lock ``ENTITLEMENT_LOCK`` in its transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from relief_pwa.clock import local_date
from relief_pwa.core import entitlement as rule
from relief_pwa.core.enums import RECIPIENT_STATES, AppState, ExitReason
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.db import advisory_xact_lock
from relief_pwa.services.actors import Actor
from relief_pwa.services.audit import record_event
from relief_pwa.tables import Application, DisbursementBatch, Entitlement, PaymentLine

ENTITLEMENT_LOCK = "entitlement-periods"
# How far from today a start or stop may be dated (a late death report, a planned exit).
MAX_EFFECTIVE_DAYS = 366
WITHDRAWN = "withdrawn"
CHUNK = 2000  # ids per IN (...) list


def check_effective_on(effective_on: date | None, now: datetime) -> date:
    """The effective date of a start or stop: today by default, within a year of today."""
    today = local_date(now)
    if effective_on is None:
        return today
    if abs((effective_on - today).days) > MAX_EFFECTIVE_DAYS:
        raise DomainError(N_("The effective date must be within a year of today."), field="effective_on")
    return effective_on


async def follow_transition(
    actor: Actor,
    application: Application,
    action: str,
    old_state: AppState,
    new_state: AppState,
    *,
    reason: str,
    effective_on: date | None,
    exit_reason: ExitReason | None,
    now: datetime,
) -> None:
    """Open or close the application's entitlement period as its state says."""
    paying_before, paying_after = old_state in RECIPIENT_STATES, new_state in RECIPIENT_STATES
    if paying_before == paying_after:
        return
    engine = Entitlement._meta.db
    await advisory_xact_lock(engine, ENTITLEMENT_LOCK)
    day = check_effective_on(effective_on, now)
    if paying_after:
        await _open(actor, application, action, day, reason, now)
    else:
        await _close(actor, application, action, day, reason, exit_reason, now)
        await pull_unentitled_lines(actor, [int(application.household)], now=now, why=f"application.{action}")


async def open_granted_first_month(
    actor: Actor, application: Application, day: date, reason: str, now: datetime
) -> None:
    """先行救助: aid granted before the decision is paid in the grant's month only (a closed
    one-month period), so money still follows an entitlement; a later approval opens the
    application's regular period from the next month."""
    engine = Entitlement._meta.db
    await advisory_xact_lock(engine, ENTITLEMENT_LOCK)
    month = rule.month_of(day)
    periods = await Entitlement.select().where(Entitlement.application == application.id)
    if any(rule.covers(p["from_month"], p["to_month"], month) for p in periods):
        return  # this month is already paid for this application
    row = Entitlement(
        application=application.id,
        household=application.household,
        org_path=application.org_path,
        category=application.category,
        from_month=month,
        to_month=rule.next_month(month),
        opened_on=day,
        closed_on=day,
        opened_by="granted_first",
        closed_by="granted_first",
        open_reason=reason.strip()[:2000],
        created_at=now,
    )
    await row.save()
    await record_event(
        actor,
        "entitlement.open",
        "entitlement",
        row.id,
        org_path=application.org_path,
        now=now,
        household_id=application.household,
        after={
            "application": application.id,
            "from_month": row.from_month,
            "to_month": row.to_month,
            "opened_on": day.isoformat(),
            "granted_first": True,
        },
    )


async def _open(
    actor: Actor, application: Application, action: str, day: date, reason: str, now: datetime
) -> None:
    periods = await Entitlement.select().where(Entitlement.application == application.id)
    if any(p["to_month"] is None for p in periods):
        return  # already open: a retried transition changes nothing
    covered_until = max((p["to_month"] for p in periods), default=None)
    row = Entitlement(
        application=application.id,
        household=application.household,
        org_path=application.org_path,
        category=application.category,
        from_month=rule.start_month(day, covered_until),
        to_month=None,
        opened_on=day,
        opened_by=action,
        open_reason=reason.strip()[:2000],
        created_at=now,
    )
    await row.save()
    await record_event(
        actor,
        "entitlement.open",
        "entitlement",
        row.id,
        org_path=application.org_path,
        now=now,
        household_id=application.household,
        after={"application": application.id, "from_month": row.from_month, "opened_on": day.isoformat()},
    )


async def _close(
    actor: Actor,
    application: Application,
    action: str,
    day: date,
    reason: str,
    exit_reason: ExitReason | None,
    now: datetime,
) -> None:
    period = (
        await Entitlement.select()
        .where((Entitlement.application == application.id) & Entitlement.to_month.is_null())
        .first()
    )
    if period is None:
        return
    # A death found late (before assistance began here) still ends it, and the period then
    # covers no month; any other stop dated before the start is a typing error.
    if day < period["opened_on"] and exit_reason != ExitReason.DEATH:
        raise DomainError(
            N_("The effective date cannot be before assistance started ({date})."),
            field="effective_on",
            date=period["opened_on"].isoformat(),
        )
    # A death is dated by the day of death, on which the household still was a recipient.
    first_day_without = day + timedelta(days=1) if exit_reason == ExitReason.DEATH else day
    to_month = (
        rule.stop_month(first_day_without, period["from_month"])
        if first_day_without > period["opened_on"]
        else period["from_month"]  # stopped the day it started: covers no month
    )
    await Entitlement.update(
        {
            Entitlement.to_month: to_month,
            Entitlement.closed_on: day,
            Entitlement.closed_by: action,
            Entitlement.close_reason: reason.strip()[:2000],
            Entitlement.exit_reason: exit_reason.value if exit_reason else "",
        }
    ).where(Entitlement.id == period["id"])
    await record_event(
        actor,
        "entitlement.close",
        "entitlement",
        period["id"],
        org_path=application.org_path,
        now=now,
        household_id=application.household,
        before={"to_month": None},
        after={
            "application": application.id,
            "to_month": to_month,
            "closed_on": day.isoformat(),
            **({"exit_reason": exit_reason.value} if exit_reason else {}),
        },
    )


# --- which months are entitled ----------------------------------------------------------


@dataclass
class Periods:
    """Entitlement periods of some households, by application and by household."""

    by_application: dict[int, list[tuple[str, str | None]]] = field(default_factory=lambda: defaultdict(list))
    by_household: dict[int, list[tuple[str, str | None]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, row: dict[str, Any]) -> None:
        span = (row["from_month"], row["to_month"])
        self.by_application[int(row["application"])].append(span)
        self.by_household[int(row["household"])].append(span)

    def entitled(self, household_id: int, application_id: int | None, month: str) -> bool:
        """Whether a plan line of this household (of this application, if its plan has one)
        is paid in ``month``."""
        if application_id is not None:
            return rule.covered(self.by_application.get(int(application_id), []), month)
        return rule.covered(self.by_household.get(int(household_id), []), month)


async def periods_for_month(org_path: str, month: str) -> Periods:
    """Every period in the jurisdiction covering ``month``."""
    periods = Periods()
    rows = await Entitlement.select(
        Entitlement.application, Entitlement.household, Entitlement.from_month, Entitlement.to_month
    ).where(
        Entitlement.org_path.like(f"{org_path}%")
        & (Entitlement.from_month <= month)
        & (Entitlement.to_month.is_null() | (Entitlement.to_month > month))
    )
    for row in rows:
        periods.add(row)
    return periods


async def periods_selected(
    households: str,
    args: Sequence[Any],
    *,
    applications: str = "",
    org_path: str | None = None,
    month: str | None = None,
) -> Periods:
    """The periods of the households (and of the applications) that subqueries select,
    e.g. those of one window of the monthly run: the database joins them through its
    indexes, and no id list travels. ``households`` and ``applications`` are SQL
    subqueries with the same ``{}`` parameters ``args``; ``org_path`` and ``month``
    narrow to the periods of a jurisdiction covering a month (as ``periods_for_month``)."""
    narrow, narrow_args = "", []
    if org_path is not None:
        narrow += " AND e.org_path LIKE {}"
        narrow_args.append(f"{org_path}%")
    if month is not None:
        narrow += " AND e.from_month <= {} AND (e.to_month IS NULL OR e.to_month > {})"
        narrow_args += [month, month]
    select = "SELECT e.application, e.household, e.from_month, e.to_month FROM entitlement e WHERE "
    sql = f"{select}e.household IN ({households}){narrow}"
    values = [*args, *narrow_args]
    if applications:
        # Two index lookups joined by UNION ALL: an OR of two IN lists reads the whole table.
        sql += f" UNION ALL {select}e.application IN ({applications}){narrow}"
        values += [*args, *narrow_args]
    periods = Periods()
    for row in await Entitlement.raw(sql, *values):
        periods.add(row)
    return periods


async def periods_of_households(household_ids: list[int]) -> Periods:
    periods = Periods()
    for start in range(0, len(household_ids), CHUNK):
        chunk = household_ids[start : start + CHUNK]
        for row in await Entitlement.select(
            Entitlement.application, Entitlement.household, Entitlement.from_month, Entitlement.to_month
        ).where(Entitlement.household.is_in(chunk)):
            periods.add(row)
    return periods


async def list_periods(application_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The periods of each application, oldest first (for the household file)."""
    result: dict[int, list[dict[str, Any]]] = {}
    if not application_ids:
        return result
    rows = (
        await Entitlement.select()
        .where(Entitlement.application.is_in(application_ids))
        .order_by(Entitlement.id)
    )
    for row in rows:
        result.setdefault(int(row["application"]), []).append(row)
    return result


# --- pulling lines out ---------------------------------------------------------------------


async def pull_unentitled_lines(
    actor: Actor, household_ids: list[int], *, now: datetime, why: str, line_ids: list[int] | None = None
) -> list[int]:
    """Withdraw the unsent lines (queued, or in a draft batch) of months no longer entitled.

    Runs in the caller's transaction; recomputes the totals of the batches touched
    (an emptied draft batch is cancelled) and audits every line pulled out.
    Returns the ids of the lines withdrawn."""
    if not household_ids:
        return []
    unsent = (PaymentLine.status == "queued") | (
        (PaymentLine.status == "batched") & (PaymentLine.batch.status == "draft")
    )
    columns = (
        PaymentLine.id,
        PaymentLine.line_id,
        PaymentLine.household,
        PaymentLine.month,
        PaymentLine.org_path,
        PaymentLine.batch,
        PaymentLine.amount_fen,
        # The plan line's foreign key is declared without its table type: typed by hand.
        cast("Any", PaymentLine.plan_line).plan.application.as_alias("application_id"),
    )
    lines: list[dict[str, Any]] = []
    if line_ids is not None:
        for start in range(0, len(line_ids), CHUNK):
            chunk = line_ids[start : start + CHUNK]
            lines += await PaymentLine.select(*columns).where(unsent & PaymentLine.id.is_in(chunk))
    else:
        for start in range(0, len(household_ids), CHUNK):
            chunk = household_ids[start : start + CHUNK]
            lines += await PaymentLine.select(*columns).where(unsent & PaymentLine.household.is_in(chunk))
    if not lines:
        return []
    periods = await periods_of_households(sorted({int(r["household"]) for r in lines}))
    pulled = [r for r in lines if not periods.entitled(int(r["household"]), r["application_id"], r["month"])]
    if not pulled:
        return []
    ids = [int(r["id"]) for r in pulled]
    reason = f"not entitled: {why}"[:200]
    for start in range(0, len(ids), CHUNK):
        await PaymentLine.update(
            {PaymentLine.status: WITHDRAWN, PaymentLine.batch: None, PaymentLine.failure_reason: reason}
        ).where(
            PaymentLine.id.is_in(ids[start : start + CHUNK]) & PaymentLine.status.is_in(["queued", "batched"])
        )
    batches = sorted({int(r["batch"]) for r in pulled if r["batch"] is not None})
    for batch_id in batches:
        await _recount_batch(actor, batch_id, now)
    by_household: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in pulled:
        by_household[int(r["household"])].append(r)
    for household_id, rows in by_household.items():
        await record_event(
            actor,
            "payment.withdraw",
            "household",
            household_id,
            org_path=rows[0]["org_path"],
            now=now,
            household_id=household_id,
            after={
                "why": why,
                "lines": [r["line_id"] for r in rows],
                "months": sorted({r["month"] for r in rows}),
                "batches": sorted({int(r["batch"]) for r in rows if r["batch"] is not None}),
            },
        )
    return ids


async def _recount_batch(actor: Actor, batch_id: int, now: datetime) -> None:
    batch = await DisbursementBatch.select().where(DisbursementBatch.id == batch_id).first()
    if batch is None:
        return
    rows = await PaymentLine.select(PaymentLine.amount_fen).where(PaymentLine.batch == batch_id)
    count, total = len(rows), sum(int(r["amount_fen"]) for r in rows)
    status = batch["status"] if count else "cancelled"
    await DisbursementBatch.update(
        {
            DisbursementBatch.line_count: count,
            DisbursementBatch.total_fen: total,
            DisbursementBatch.status: status,
        }
    ).where(DisbursementBatch.id == batch_id)
    await record_event(
        actor,
        "batch.recount",
        "disbursement_batch",
        batch_id,
        org_path=batch["org_path"],
        now=now,
        before={"lines": batch["line_count"], "total_fen": batch["total_fen"], "status": batch["status"]},
        after={"lines": count, "total_fen": total, "status": status},
    )


__all__ = [
    "ENTITLEMENT_LOCK",
    "Periods",
    "check_effective_on",
    "follow_transition",
    "list_periods",
    "periods_for_month",
    "periods_of_households",
    "periods_selected",
    "pull_unentitled_lines",
]
