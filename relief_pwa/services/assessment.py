"""The quarterly assessment (考核) of districts and streets (docs/assessment.md).

Every indicator is one aggregate query over a quarter, grouped by ``org_path``
(communities: a few hundred rows, never one per household) and summed into the
units ranked. Working-day deadlines (holidays skipped, 调休 workdays counted)
are computed once per calendar day of the window and joined in as a ``VALUES``
table, so the database compares dates and Python never walks the cases.
Reading is read-only and cached under the head of the audit chain, which moves
with every state change.

"""

# Raw SQL is built here, but every value goes through a placeholder (``_Sql.p``);
# the only text interpolated is our own column and table names and ISO dates.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from relief_pwa.core.assessment import (
    INDICATOR_SPECS,
    SPECS_BY_KEY,
    Figure,
    IndicatorSpec,
    Score,
    WeightChange,
    check_weight,
    rank,
    score_of,
    weights_in_force,
)
from relief_pwa.core.calendar import add_working_days
from relief_pwa.core.enums import AppState, OrgLevel
from relief_pwa.core.errors import NotFoundOrForbidden, PermissionDenied
from relief_pwa.core.i18n import N_
from relief_pwa.core.periods import Period
from relief_pwa.core.permissions import Capability
from relief_pwa.core.rules import Calendar, working_deadline
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services.access import in_scope
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.analytics import Unit, _audit_head, _int, _Sql, _start_ts, children_during
from relief_pwa.services.audit import record_event
from relief_pwa.services.rules import load_calendar
from relief_pwa.tables import AssessmentWeight, OrgUnit

# How far before the quarter a case may have started and still be judged in it
# (an approval decided in the quarter whose 公示 ended long before is late anyway).
LOOKBACK_DAYS = 400
_DONE_INTAKE_ACTION = "application.start_investigation"


@dataclass(frozen=True)
class _Window:
    """What every indicator query needs: the quarter, today and the deadlines per day."""

    actor: Actor
    unit: Unit
    period: Period
    today: date
    calendar: Calendar


# --- the deadlines table ---------------------------------------------------------------


def _due_days(q: _Sql, w: _Window) -> str:
    """``due_days(day, intake, investigation, approval, review)``: each rule's deadline for a
    case starting on ``day`` (the rule in force on that day), and a review's grace day (the next
    working day after its date, from which the scheduler calls it overdue)."""
    cal = w.calendar
    first = w.period.start - timedelta(days=LOOKBACK_DAYS)
    rows = []
    for offset in range((w.period.end - first).days + 1):
        day = first + timedelta(days=offset)
        values = (
            day,
            working_deadline(cal, day, "intake_working_days"),
            working_deadline(cal, day, "investigation_working_days"),
            working_deadline(cal, day, "approval_working_days"),
            add_working_days(day, 1, cal.holidays, cal.workdays),
        )
        rows.append("(" + ", ".join(q.date_literal(v) for v in values) + ")")
    columns = "day, intake_due, investigation_due, approval_due, review_due"
    return f"due_days({columns}) AS (VALUES {', '.join(rows)})"


def _grouped(inner: str) -> str:
    """Sum the per-case ``ok`` flags of ``inner`` by org_path."""
    return (
        "SELECT c.org_path AS org_path, SUM(c.ok) AS num, COUNT(*) AS den "
        f"FROM ({inner}) c GROUP BY c.org_path"
    )


# --- the indicators ------------------------------------------------------------------


def _intake_sql(q: _Sql, w: _Window) -> str:
    """Applications received in the quarter: the investigation started (the audited
    ``start_investigation``) by the intake deadline. Not counted: still within the deadline
    and not started, withdrawn before it started, or an imported recipient that never went
    through intake here (only a case still in ``received`` can be overdue)."""
    started = q.local_day("e.at")
    today = q.p(w.today)
    inner = (
        f"SELECT a.org_path AS org_path, "
        f"CASE WHEN s.started IS NOT NULL AND s.started <= d.intake_due THEN 1 ELSE 0 END AS ok "
        f"FROM application a JOIN due_days d ON d.day = a.received_on "
        f"LEFT JOIN (SELECT e.entity_id AS app, MIN({started}) AS started FROM audit_event e "
        f"WHERE e.action = {q.p(_DONE_INTAKE_ACTION)} AND e.entity_type = {q.p('application')} "
        f"AND e.at >= {q.p(_start_ts(w.period.start))} GROUP BY e.entity_id) s ON s.app = a.id "
        f"WHERE {q.scope(w.actor, w.unit, 'a')} "
        f"AND a.received_on >= {q.p(w.period.start)} AND a.received_on <= {q.p(w.period.end)} "
        f"AND (s.started IS NOT NULL OR (d.intake_due < {today} "
        f"AND a.state = {q.p(AppState.RECEIVED.value)}))"
    )
    return _grouped(inner)


def _investigation_sql(q: _Sql, w: _Window) -> str:
    """Applications received in the quarter: the station's finding (``found_on``) by the
    investigation deadline. Not counted: no finding yet and the deadline not passed, or
    withdrawn without a finding, or an imported recipient that never went through the
    investigation here (only a case still waiting for its finding can be overdue)."""
    today = q.p(w.today)
    waiting = ", ".join(
        q.p(s.value) for s in (AppState.RECEIVED, AppState.INVESTIGATING, AppState.REINVESTIGATING)
    )
    inner = (
        f"SELECT a.org_path AS org_path, "
        f"CASE WHEN a.found_on IS NOT NULL AND a.found_on <= d.investigation_due THEN 1 ELSE 0 END AS ok "
        f"FROM application a JOIN due_days d ON d.day = a.received_on "
        f"WHERE {q.scope(w.actor, w.unit, 'a')} "
        f"AND a.received_on >= {q.p(w.period.start)} AND a.received_on <= {q.p(w.period.end)} "
        f"AND (a.found_on IS NOT NULL OR (d.investigation_due < {today} AND a.state IN ({waiting})))"
    )
    return _grouped(inner)


def _approval_sql(q: _Sql, w: _Window) -> str:
    """Decisions due in the quarter: the clock starts when the last 公示 ended (or at the
    finding, for a rejection without 公示) and runs the approval rule's working days.
    Counted: decided in the quarter, or undecided with the deadline passed in the quarter."""
    waiting = ", ".join(q.p(s.value) for s in (AppState.READY_FOR_APPROVAL, AppState.VERIFIED_INELIGIBLE))
    start = (
        f"COALESCE((SELECT MAX(n.ends_on) FROM public_notice n WHERE n.application = a.id "
        f"AND n.status <> {q.p('interrupted')}), a.found_on)"
    )
    qs, qe, today = q.p(w.period.start), q.p(w.period.end), q.p(w.today)
    inner = (
        f"SELECT x.org_path AS org_path, "
        f"CASE WHEN x.decided_on IS NOT NULL AND d.approval_due IS NOT NULL "
        f"AND x.decided_on <= d.approval_due THEN 1 ELSE 0 END AS ok "
        f"FROM (SELECT a.org_path AS org_path, a.decided_on AS decided_on, {start} AS started "
        f"FROM application a WHERE {q.scope(w.actor, w.unit, 'a')} AND a.found_on IS NOT NULL "
        f"AND ((a.decided_on >= {qs} AND a.decided_on <= {qe}) "
        f"OR (a.decided_on IS NULL AND a.state IN ({waiting})))) x "
        f"LEFT JOIN due_days d ON d.day = x.started "
        f"WHERE x.decided_on IS NOT NULL OR (d.approval_due >= {qs} AND d.approval_due <= {qe} "
        f"AND d.approval_due < {today})"
    )
    return _grouped(inner)


def _review_sql(q: _Sql, w: _Window) -> str:
    """Periodic reviews scheduled in the quarter: done before the next working day after
    their date (when the scheduler would call them overdue). Not counted: not done and not
    yet overdue."""
    done_day = q.local_day("v.done_at")
    done = q.p("done")
    inner = (
        f"SELECT v.org_path AS org_path, "
        f"CASE WHEN v.status = {done} AND {done_day} < d.review_due THEN 1 ELSE 0 END AS ok "
        f"FROM visit v JOIN due_days d ON d.day = v.scheduled_for "
        f"WHERE {q.scope(w.actor, w.unit, 'v')} AND v.kind = {q.p('review')} "
        f"AND v.status <> {q.p('cancelled')} "
        f"AND v.scheduled_for >= {q.p(w.period.start)} AND v.scheduled_for <= {q.p(w.period.end)} "
        f"AND (v.status = {done} OR d.review_due <= {q.p(w.today)})"
    )
    return _grouped(inner)


def _objection_sql(q: _Sql, w: _Window) -> str:
    """Objections and complaints whose answer deadline falls in the quarter: answered by it.
    Not counted: unanswered and the deadline not yet passed."""
    answered_day = q.local_day("o.answered_at")
    inner = (
        f"SELECT o.org_path AS org_path, "
        f"CASE WHEN o.answered_at IS NOT NULL AND {answered_day} <= o.deadline THEN 1 ELSE 0 END AS ok "
        f"FROM objection o WHERE {q.scope(w.actor, w.unit, 'o')} "
        f"AND o.deadline >= {q.p(w.period.start)} AND o.deadline <= {q.p(w.period.end)} "
        f"AND (o.answered_at IS NOT NULL OR o.deadline < {q.p(w.today)})"
    )
    return _grouped(inner)


def _payment_sql(q: _Sql, w: _Window) -> str:
    """First-attempt payment lines of the quarter's months that went to the bank: paid
    (reconciled from the return file) at once. A failed line, even re-paid later, and a
    line exported but never reconciled count against."""
    months = w.period.months()
    inner = (
        f"SELECT p.org_path AS org_path, CASE WHEN p.status = {q.p('paid')} THEN 1 ELSE 0 END AS ok "
        f"FROM payment_line p WHERE {q.scope(w.actor, w.unit, 'p')} AND p.attempt = 1 "
        f"AND p.month >= {q.p(months[0])} AND p.month <= {q.p(months[-1])} "
        f"AND p.status IN ({q.p('batched')}, {q.p('paid')}, {q.p('failed')})"
    )
    return _grouped(inner)


def _targeting_sql(q: _Sql, w: _Window) -> str:
    """Re-verification findings (the targeting monitor) of samples drawn in the quarter:
    a sampled recipient found eligible, or a sampled rejected applicant found ineligible."""
    inner = (
        f"SELECT i.org_path AS org_path, CASE WHEN (i.sample_group = {q.p('active')} "
        f"AND i.finding = {q.p('eligible')}) OR (i.sample_group = {q.p('rejected')} "
        f"AND i.finding = {q.p('ineligible')}) THEN 1 ELSE 0 END AS ok "
        f"FROM sample_item i JOIN reverification_sample s ON s.id = i.sample "
        f"WHERE {q.scope(w.actor, w.unit, 'i')} AND i.finding <> {q.p('')} "
        f"AND s.drawn_at >= {q.p(_start_ts(w.period.start))} "
        f"AND s.drawn_at < {q.p(_start_ts(w.period.end_exclusive))}"
    )
    return _grouped(inner)


def _referral_sql(q: _Sql, w: _Window) -> str:
    """Referrals due in the quarter answered (accepted, asked for more, decided or referred
    on) by their due day."""
    answered = f"COALESCE({q.local_day('r.answered_at')}, {q.local_day('r.decided_at')})"
    inner = (
        f"SELECT r.org_path AS org_path, "
        f"CASE WHEN {answered} IS NOT NULL AND {answered} <= r.due_on THEN 1 ELSE 0 END AS ok "
        f"FROM referral r WHERE {q.scope(w.actor, w.unit, 'r')} "
        f"AND r.due_on >= {q.p(w.period.start)} AND r.due_on <= {q.p(w.period.end)} "
        f"AND (r.answered_at IS NOT NULL OR r.decided_at IS NOT NULL OR r.due_on < {q.p(w.today)})"
    )
    return _grouped(inner)


def _datacheck_sql(q: _Sql, w: _Window) -> str:
    """Station findings of the quarter made with a data-check result already in (a check
    request for the application answered by the finding's day)."""
    inner = (
        f"SELECT a.org_path AS org_path, CASE WHEN EXISTS (SELECT 1 FROM datacheck_request k "
        f"WHERE k.application = a.id AND k.answered_at IS NOT NULL "
        f"AND {q.local_day('k.answered_at')} <= a.found_on) THEN 1 ELSE 0 END AS ok "
        f"FROM application a WHERE {q.scope(w.actor, w.unit, 'a')} "
        f"AND a.found_on >= {q.p(w.period.start)} AND a.found_on <= {q.p(w.period.end)}"
    )
    return _grouped(inner)


_BUILDERS: dict[str, Callable[[_Sql, _Window], str]] = {
    "intake": _intake_sql,
    "investigation": _investigation_sql,
    "approval": _approval_sql,
    "review": _review_sql,
    "objection": _objection_sql,
    "payment": _payment_sql,
    "targeting": _targeting_sql,
    "referral": _referral_sql,
    "datacheck": _datacheck_sql,
}


def measured_indicators() -> dict[str, Callable[[_Sql, _Window], str]]:
    """Every indicator's query, by key."""
    return dict(_BUILDERS)


def _uses_due_days(builder: Callable[[_Sql, _Window], str]) -> bool:
    return builder in (_intake_sql, _investigation_sql, _approval_sql, _review_sql)


# --- weights ----------------------------------------------------------------------------


async def weight_changes() -> list[WeightChange]:
    rows = await AssessmentWeight.select(
        AssessmentWeight.key, AssessmentWeight.weight, AssessmentWeight.effective_from
    )
    return [WeightChange(r["key"], int(r["weight"]), r["effective_from"]) for r in rows]


@dataclass(frozen=True)
class WeightRow:
    spec: IndicatorSpec
    in_force: int
    measured: bool
    changes: list[dict[str, Any]]  # newest first


async def list_weights(actor: Actor, *, today: date) -> list[WeightRow]:
    require(actor, Capability.ASSESSMENT_READ)
    rows = await AssessmentWeight.select().order_by(AssessmentWeight.effective_from, ascending=False)
    changes = [WeightChange(r["key"], int(r["weight"]), r["effective_from"]) for r in rows]
    in_force = weights_in_force(changes, today, SPECS_BY_KEY)
    measured = measured_indicators()
    return [
        WeightRow(spec, in_force[spec.key], spec.key in measured, [r for r in rows if r["key"] == spec.key])
        for spec in INDICATOR_SPECS
    ]


async def do_set_weight(
    actor: Actor, key: str, weight: int, *, effective_from: date, note: str = "", now: datetime
) -> int:
    """Set an indicator's weight from a date on (replacing one set for that same date), audited."""
    require(actor, Capability.ASSESSMENT_WEIGHTS_MANAGE)
    check_weight(key, weight)
    engine = AssessmentWeight._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, "relief-assessment-weights")
        existing = (
            await AssessmentWeight.select()
            .where((AssessmentWeight.key == key) & (AssessmentWeight.effective_from == effective_from))
            .first()
        )
        before = None
        if existing is not None:
            before = {"key": key, "weight": existing["weight"], "effective_from": effective_from.isoformat()}
            await AssessmentWeight.update(
                {AssessmentWeight.weight: weight, AssessmentWeight.note: note[:500]}
            ).where(AssessmentWeight.id == existing["id"])
            row_id = int(existing["id"])
        else:
            row = AssessmentWeight(
                key=key,
                weight=weight,
                effective_from=effective_from,
                note=note[:500],
                created_by=actor.staff_id,
                created_at=now,
            )
            await row.save()
            row_id = int(row.id)
        city = await OrgUnit.select(OrgUnit.path).where(OrgUnit.level == OrgLevel.CITY).first()
        await record_event(
            actor,
            "assessment.weight_set",
            "assessment_weight",
            row_id,
            org_path=str(city["path"]) if city else actor.org_path,
            now=now,
            before=before,
            after={"key": key, "weight": weight, "effective_from": effective_from.isoformat(), "note": note},
        )
    return row_id


# --- the assessment --------------------------------------------------------------------


@dataclass(frozen=True)
class UnitResult:
    unit: Unit
    figures: dict[str, Figure]
    score: Score
    rank: int | None = None


@dataclass
class Assessment:
    unit: Unit  # the unit whose children are ranked (the city: districts; a district: streets)
    period: Period
    today: date
    weights: dict[str, int]
    measured: tuple[str, ...]
    total: UnitResult | None = None  # the unit itself (its children summed)
    rows: list[UnitResult] = field(default_factory=list)  # ranked, best first

    @property
    def specs(self) -> tuple[IndicatorSpec, ...]:
        return INDICATOR_SPECS


async def resolve_assessed_unit(actor: Actor, code: str | None = None) -> Unit:
    """The unit whose children are ranked: the actor's own, or a district below it."""
    require(actor, Capability.ASSESSMENT_READ)
    if not actor.org_path:
        raise PermissionDenied(N_("Your role may not take this action."))
    columns = (OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.level, OrgUnit.path)
    query = OrgUnit.select(*columns)
    if code is None:
        row = await query.where(OrgUnit.path == actor.org_path).first()
    elif code.isdecimal() and len(code) <= 12:
        row = await query.where((OrgUnit.code == code) & in_scope(actor, OrgUnit.path)).first()
    else:
        row = None
    if row is None or row["level"] not in (OrgLevel.CITY.value, OrgLevel.DISTRICT.value):
        raise NotFoundOrForbidden()
    return Unit(int(row["id"]), str(row["code"]), str(row["name"]), str(row["level"]), str(row["path"]))


_CACHE: dict[tuple[Any, ...], Assessment] = {}
_CACHE_SIZE = 16


def clear_cache() -> None:
    _CACHE.clear()


async def get_assessment(actor: Actor, unit: Unit, period: Period, *, today: date) -> Assessment:
    """The assessment of ``unit``'s children over ``period`` (cached until the data changes)."""
    require(actor, Capability.ASSESSMENT_READ)
    if not unit.path.startswith(actor.org_path) or not actor.org_path:
        raise NotFoundOrForbidden()
    changes = await weight_changes()
    key = (actor.org_path, unit.path, period, today, tuple(sorted(map(repr, changes))), await _audit_head())
    if key in _CACHE:
        return _CACHE[key]
    result = await _compute(actor, unit, period, today, changes)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = result
    return result


async def _counts_by_path(
    actor: Actor, unit: Unit, period: Period, today: date, builders: dict[str, Callable[[_Sql, _Window], str]]
) -> dict[str, dict[str, tuple[int, int]]]:
    window = _Window(actor, unit, period, today, await load_calendar())

    async def one(build: Callable[[_Sql, _Window], str]) -> dict[str, tuple[int, int]]:
        q = _Sql()
        sql = build(q, window)
        if _uses_due_days(build):
            sql = f"WITH {_due_days(q, window)} {sql}"
        return {str(r["org_path"]): (_int(r["num"]), _int(r["den"])) for r in await q.rows(sql)}

    keys = list(builders)
    results = await asyncio.gather(*(one(builders[k]) for k in keys))
    return dict(zip(keys, results, strict=True))


async def _compute(
    actor: Actor, unit: Unit, period: Period, today: date, changes: list[WeightChange]
) -> Assessment:
    builders = measured_indicators()
    weights = weights_in_force(changes, period.end, SPECS_BY_KEY)
    measured_weights = {k: w for k, w in weights.items() if k in builders}
    counts = await _counts_by_path(actor, unit, period, today, builders)
    children = await children_during(unit, period)
    result = Assessment(unit, period, today, weights, tuple(builders))

    def figures_under(prefix: str) -> dict[str, Figure]:
        out: dict[str, Figure] = {}
        for key, by_path in counts.items():
            num = den = 0
            for path, (n, d) in by_path.items():
                if path.startswith(prefix):
                    num, den = num + n, den + d
            out[key] = Figure(num, den)
        return out

    rows = [UnitResult(c, f := figures_under(c.path), score_of(f, measured_weights)) for c in children]
    places = rank([(r.unit.path, r.score.score) for r in rows])
    rows = [UnitResult(r.unit, r.figures, r.score, places.get(r.unit.path)) for r in rows]
    rows.sort(key=lambda r: (r.rank is None, r.rank or 0, r.unit.code))
    total = figures_under(unit.path)
    result.total = UnitResult(unit, total, score_of(total, measured_weights))
    result.rows = rows
    return result
