"""Periodic reviews (复核) that decide, 渐退, and the annual re-certification list.

A review visit ends in one decision, recorded on the visit page
(docs/reviews-and-aid.md):

- continue: the review is completed, assistance goes on unchanged;
- adjust: the amount is re-drafted from the facts the review verified; the
  draft plan goes through ``plans.do_approve_plan`` (four eyes), which ends
  the running monthly line with the month of approval and starts the new
  amount the month after;
- exit (应退尽退): assistance ends with the current month, for one of the
  reasons the rules name;
- gradual exit (渐退): work income that lifts the household above the
  standard is disregarded for the rule ``taper_months``; the household stays
  a recipient until the window ends, then ``finish_gradual_exits`` exits it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from relief_pwa.clock import local_date
from relief_pwa.core.enums import AppState, AreaType, ExitReason
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.facts import select_standard
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.core.reviews import ReviewFacts, gradual_exit_applies, proposed_amount
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services import plans
from relief_pwa.services.access import access_visit_row, in_scope
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor, require
from relief_pwa.services.applications import do_transition
from relief_pwa.services.audit import record_event
from relief_pwa.services.followups import PERIODIC_CATEGORIES, WORK_INCOME_KINDS
from relief_pwa.services.prepared import Prepared, Read
from relief_pwa.services.rules import load_calendar
from relief_pwa.services.standards import load_standards
from relief_pwa.tables import (
    Application,
    Household,
    Member,
    MoneyItem,
    OrgUnit,
    ReviewDecision,
    Visit,
)

DECISIONS: dict[str, str] = {
    "continue": N_("Continue assistance unchanged"),
    "adjust": N_("Adjust the amount (re-draft the plan from the verified facts)"),
    "gradual_exit": N_("Gradual exit (渐退): work income lifts the household above the standard"),
    "exit": N_("Exit: stop assistance"),
}
_DECISION_CAPABILITY = {
    "continue": Capability.APP_COMPLETE_REVIEW,
    "adjust": Capability.APP_COMPLETE_REVIEW,
    "gradual_exit": Capability.APP_COMPLETE_REVIEW,
    "exit": Capability.APP_EXIT,
}
_REVIEWABLE = (AppState.ACTIVE.value, AppState.UNDER_REVIEW.value)


def _reason_error() -> ValidationFailed:
    return ValidationFailed(
        {"reason": DomainError(N_("Please give a written reason (at least 4 characters)."), field="reason")}
    )


def _next_month(month: str) -> str:
    return plans.month_name(plans.month_number(month) + 1)


def _first_day(month: str) -> date:
    return date.fromisoformat(f"{month}-01")


# --- the household's facts, as the review verified them ------------------------------


async def household_facts(household_id: int, today: date) -> ReviewFacts:
    household = (
        await Household.select(Household.org_path, Household.area_type)
        .where(Household.id == household_id)
        .first()
    )
    if household is None:
        raise NotFoundOrForbidden()
    size = await Member.count().where((Member.household == household_id) & Member.active.eq(True))
    income = work = 0
    for item in await MoneyItem.select(MoneyItem.kind, MoneyItem.declared_fen, MoneyItem.verified_fen).where(
        (MoneyItem.household == household_id) & (MoneyItem.section == "income") & MoneyItem.active.eq(True)
    ):
        value = int(item["verified_fen"] if item["verified_fen"] is not None else item["declared_fen"])
        income += value
        if item["kind"] in WORK_INCOME_KINDS:
            work += value
    parts = [p for p in household["org_path"].split("/") if p]
    district = parts[1] if len(parts) > 1 else ""
    standard = select_standard(await load_standards(), district, AreaType(household["area_type"]), today)
    return ReviewFacts(max(1, int(size)), income, work, standard.dibao_monthly_fen)


async def _lines_of(application_id: int, household_id: int, month: str) -> list[dict[str, Any]]:
    lines = await plans.running_monthly_lines(household_id, month)
    own = [line for line in lines if line["application"] == application_id]
    return own or lines


async def _reviewed_application(visit: dict[str, Any] | None) -> int | None:
    """The application a review visit reviews: its own, or (a review recorded without
    an appointment) the household's latest periodically reviewed one still running."""
    if visit is None or visit["kind"] != "review":
        return None
    if visit["application"] is not None:
        return int(visit["application"])
    decided = (
        await ReviewDecision.select(ReviewDecision.application)
        .where(ReviewDecision.visit == visit["id"])
        .first()
    )
    if decided is not None:
        return int(decided["application"])
    row = (
        await Application.select(Application.id)
        .where(
            (Application.household == visit["household"])
            & Application.state.is_in(list(_REVIEWABLE))
            & Application.category.is_in(list(PERIODIC_CATEGORIES))
        )
        .order_by(Application.id, ascending=False)
        .first()
    )
    return int(row["id"]) if row else None


# --- the decision form ------------------------------------------------------------------


@dataclass
class ReviewDecisionView:
    visit_id: int
    visit_done: bool
    application: dict[str, Any]
    decided: dict[str, Any] | None
    options: list[tuple[str, str]]
    exit_reasons: list[ExitReason]
    lines: list[dict[str, Any]] = field(default_factory=list)  # each with "proposed_fen"
    facts: ReviewFacts | None = None
    facts_problem: str = ""
    taper_months: int = 0
    decision_labels: dict[str, str] = field(default_factory=lambda: dict(DECISIONS))


async def get_review_decision(actor: Actor, visit_id: int, *, now: datetime) -> ReviewDecisionView | None:
    """What the review visit page shows about the decision (None: not a review visit)."""
    try:
        visit = await access_visit_row(actor, visit_id)
    except NotFoundOrForbidden:
        return None
    application_id = await _reviewed_application(visit)
    if application_id is None:
        return None
    application = await Application.select().where(Application.id == application_id).first()
    assert application is not None
    decided = await ReviewDecision.select().where(ReviewDecision.visit == visit_id).first()
    today = local_date(now)
    month = plans.month_of(today)
    view = ReviewDecisionView(
        visit_id=visit_id,
        visit_done=visit["status"] == "done",
        application=application,
        decided=decided,
        options=[
            (code, label)
            for code, label in DECISIONS.items()
            if actor.can(_DECISION_CAPABILITY[code]) and application["state"] in _REVIEWABLE
        ],
        exit_reasons=list(ExitReason),
        taper_months=(await load_calendar()).rule("taper_months", today),
    )
    try:
        view.facts = await household_facts(int(visit["household"]), today)
    except DomainError as exc:
        view.facts_problem = exc.message
    for line in await _lines_of(int(application["id"]), int(visit["household"]), month):
        line["proposed_fen"] = proposed_amount(line, view.facts) if view.facts else None
        view.lines.append(line)
    return view


# --- deciding ----------------------------------------------------------------------------


async def do_decide_review(
    actor: Actor,
    visit_id: int,
    decision: str,
    *,
    reason: str,
    exit_reason: str = "",
    now: datetime,
) -> int:
    """Record what a done review visit decided, and act on it. Returns the decision's id.

    Sending the same decision again (a retried form) changes nothing."""
    if decision not in DECISIONS:
        raise ValidationFailed({"decision": DomainError(N_("Choose a decision."), field="decision")})
    require(actor, _DECISION_CAPABILITY[decision])
    reason = " ".join(reason.split())[:2000]
    if len(reason) < 4:
        raise _reason_error()
    chosen_exit: ExitReason | None = None
    if decision == "exit":
        try:
            chosen_exit = ExitReason(exit_reason)
        except ValueError:
            raise ValidationFailed(
                {"exit_reason": DomainError(N_("Choose why assistance ends."), field="exit_reason")}
            ) from None
    today = local_date(now)
    month = plans.month_of(today)
    engine = ReviewDecision._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, f"review-decision:{visit_id}")
        visit = await access_visit_row(actor, visit_id)
        reviewed = await _reviewed_application(visit)
        if reviewed is None:
            raise NotFoundOrForbidden()
        earlier = await ReviewDecision.select().where(ReviewDecision.visit == visit_id).first()
        if earlier is not None:
            if earlier["decision"] == decision:
                return int(earlier["id"])
            raise DomainError(N_("This review was already decided."), field="decision")
        if visit["status"] != "done":
            raise DomainError(N_("Record the review visit first; then decide."), field="decision")
        application_id = reviewed
        household_id = int(visit["household"])
        application = await Application.select().where(Application.id == application_id).first()
        assert application is not None
        if application["state"] not in _REVIEWABLE:
            raise DomainError(N_("This application is not receiving assistance."), field="decision")
        lines = await _lines_of(application_id, household_id, month)
        old_amount = sum(int(line["amount_fen"]) for line in lines)
        new_amount = old_amount
        plan_id: int | None = None
        taper_until = ""
        after: dict[str, Any] = {}

        if decision == "exit":
            assert chosen_exit is not None
            await do_transition(
                actor,
                application_id,
                "exit",
                reason=reason,
                now=now,
                exit_reason=chosen_exit,
                effective_on=_first_day(_next_month(month)),
            )
            new_amount = 0
            after["ended_lines"] = await _end_lines(actor, lines, month, now)
            after["cancelled_visits"] = await _cancel_reviews(household_id, application_id)
        else:
            if application["state"] == AppState.ACTIVE.value:
                # The review came due before the daily job raised it: start it now.
                starter = actor if actor.can(Capability.APP_START_REVIEW) else SYSTEM_ACTOR
                await do_transition(starter, application_id, "start_review", reason=reason, now=now)
            if decision in ("adjust", "gradual_exit"):
                facts = await household_facts(household_id, today)
                after["facts"] = {
                    "size": facts.size,
                    "income_fen": facts.income_fen,
                    "work_income_fen": facts.work_income_fen,
                    "standard_fen": facts.standard_fen,
                }
            if decision == "adjust":
                if not lines:
                    raise DomainError(N_("No monthly payment is running to adjust."), field="decision")
                replacements = [(line, proposed_amount(line, facts)) for line in lines]
                if any(amount <= 0 for _line, amount in replacements):
                    raise DomainError(
                        N_(
                            "By the verified facts nothing is due any more: "
                            "choose exit or, for work income, gradual exit."
                        ),
                        field="decision",
                    )
                changed = [(line, amount) for line, amount in replacements if amount != line["amount_fen"]]
                if not changed:
                    raise DomainError(
                        N_("The verified facts give the same amount: choose continue."), field="decision"
                    )
                plan_id = await plans.draft_replacement_plan(
                    actor, household_id, application_id, changed, note=reason, now=now
                )
                new_amount = sum(amount for _line, amount in replacements)
            elif decision == "gradual_exit":
                if not gradual_exit_applies(facts):
                    raise DomainError(
                        N_(
                            "Gradual exit applies when work income lifts the household "
                            "above the standard; otherwise choose continue, adjust or exit."
                        ),
                        field="decision",
                    )
                window = (await load_calendar()).rule("taper_months", today)
                if window < 1:
                    raise DomainError(
                        N_("The 渐退 window is set to 0 months: choose exit."), field="decision"
                    )
                taper_until = plans.month_name(plans.month_number(month) + window)
                after["taper_months"] = window
            await do_transition(actor, application_id, "complete_review", reason=reason, now=now)

        row = ReviewDecision(
            visit=visit_id,
            application=application_id,
            household=household_id,
            org_path=visit["org_path"],
            decision=decision,
            exit_reason=chosen_exit.value if chosen_exit else "",
            reason=reason,
            old_amount_fen=old_amount,
            new_amount_fen=new_amount,
            plan=plan_id,
            taper_until=taper_until,
            decided_on=today,
            decided_by=actor.staff_id,
            decided_at=now,
        )
        await row.save()
        await record_event(
            actor,
            "review.decide",
            "review_decision",
            row.id,
            org_path=visit["org_path"],
            now=now,
            household_id=household_id,
            after={
                "visit": visit_id,
                "application": application_id,
                "decision": decision,
                "reason": reason,
                "old_amount_fen": old_amount,
                "new_amount_fen": new_amount,
                "plan": plan_id,
                **({"exit_reason": chosen_exit.value} if chosen_exit else {}),
                **({"taper_until": taper_until} if taper_until else {}),
                **after,
            },
        )
    return int(row.id)


async def _end_lines(actor: Actor, lines: list[dict[str, Any]], last_month: str, now: datetime) -> list[int]:
    ended = []
    for line in lines:
        if await plans.end_line_with(actor, int(line["id"]), last_month, reason="退出救助", now=now):
            ended.append(int(line["id"]))
    return ended


async def _cancel_reviews(household_id: int, application_id: int) -> list[int]:
    """Scheduled reviews of an application that ended (recorded in the caller's audit event)."""
    rows = await Visit.select(Visit.id).where(
        (Visit.household == household_id)
        & (Visit.application == application_id)
        & (Visit.kind == "review")
        & (Visit.status == "scheduled")
    )
    ids = [int(r["id"]) for r in rows]
    if ids:
        await Visit.update({Visit.status: "cancelled", Visit.version: Visit.version + 1}).where(
            Visit.id.is_in(ids)
        )
    return ids


async def finish_gradual_exits(now: datetime) -> int:
    """Exit the households whose 渐退 window ended before this month (income above
    the standard), ending their monthly lines with the window's last month.
    Idempotent; a later review decision of the same application supersedes the
    window. Returns how many households exited."""
    month = plans.month_of(local_date(now))
    due = await ReviewDecision.select(ReviewDecision.id).where(
        (ReviewDecision.decision == "gradual_exit")
        & ReviewDecision.taper_finished_at.is_null()
        & (ReviewDecision.taper_until < month)
    )
    exited = 0
    engine = ReviewDecision._meta.db
    for row_id in sorted(int(r["id"]) for r in due):
        async with write_transaction(engine):
            await advisory_xact_lock(engine, f"gradual-exit:{row_id}")
            row = await ReviewDecision.select().where(ReviewDecision.id == row_id).first()
            if row is None or row["taper_finished_at"] is not None:
                continue
            superseded = await ReviewDecision.exists().where(
                (ReviewDecision.application == row["application"]) & (ReviewDecision.id > row_id)
            )
            application = (
                await Application.select(Application.state)
                .where(Application.id == row["application"])
                .first()
            )
            outcome = "superseded" if superseded else "already_ended"
            ended: list[int] = []
            if not superseded and application is not None and application["state"] in _REVIEWABLE:
                await do_transition(
                    SYSTEM_ACTOR,
                    int(row["application"]),
                    "exit",
                    reason="渐退期满，收入高于保障标准",
                    now=now,
                    exit_reason=ExitReason.INCOME_ABOVE_STANDARD,
                    effective_on=_first_day(_next_month(row["taper_until"])),
                )
                lines = await _lines_of(int(row["application"]), int(row["household"]), row["taper_until"])
                ended = await _end_lines(SYSTEM_ACTOR, lines, row["taper_until"], now)
                await _cancel_reviews(int(row["household"]), int(row["application"]))
                outcome = "exited"
                exited += 1
            await ReviewDecision.update({ReviewDecision.taper_finished_at: now}).where(
                ReviewDecision.id == row_id
            )
            await record_event(
                SYSTEM_ACTOR,
                "review.gradual_exit_end",
                "review_decision",
                row_id,
                org_path=row["org_path"],
                now=now,
                household_id=row["household"],
                after={"taper_until": row["taper_until"], "outcome": outcome, "ended_lines": ended},
            )
    return exited


_REVIEW_HISTORY: Prepared[dict[str, Any]] = Prepared(
    lambda household: (
        ReviewDecision.select(
            ReviewDecision.id,
            ReviewDecision.application,
            ReviewDecision.visit,
            ReviewDecision.decision,
            ReviewDecision.exit_reason,
            ReviewDecision.reason,
            ReviewDecision.old_amount_fen,
            ReviewDecision.new_amount_fen,
            ReviewDecision.plan,
            ReviewDecision.taper_until,
            ReviewDecision.taper_finished_at,
            ReviewDecision.decided_on,
        )
        .where(ReviewDecision.household == household)
        .order_by(ReviewDecision.id, ascending=False)
    )
)


def review_history_reads(household_id: int) -> list[Read]:
    return [(_REVIEW_HISTORY, (household_id,))]


async def review_history(household_id: int) -> list[dict[str, Any]]:
    """Every review decision of the household, newest first."""
    return await _REVIEW_HISTORY.rows(household_id)


# --- the annual re-certification list --------------------------------------------------------


@dataclass
class RecertificationRow:
    station_path: str
    station_name: str
    due: int = 0
    reviewed: int = 0
    outstanding: int = 0
    overdue: int = 0
    # The outstanding households (overdue first, at most OUTSTANDING_SHOWN): file no, head, review date.
    waiting: list[dict[str, Any]] = field(default_factory=list)

    @property
    def percent_done(self) -> int:
        return self.reviewed * 100 // self.due if self.due else 100


@dataclass
class Recertification:
    year: int
    today: date
    rows: list[RecertificationRow]
    total: RecertificationRow


OUTSTANDING_SHOWN = 100


def _station_of(org_path: str) -> str:
    parts = [p for p in org_path.split("/") if p]
    return "/".join(parts[:3]) + "/" if len(parts) >= 3 else org_path


async def get_recertification(actor: Actor, *, year: int | None, now: datetime) -> Recertification:
    """Per station: households due for re-certification in ``year`` (every recipient of a
    periodically reviewed form of aid, and every household a review decided on that
    year), how many were reviewed, how many are outstanding, and how many of those
    are overdue (their scheduled review date has passed)."""
    require(actor, Capability.RECERTIFICATION_READ)
    today = local_date(now)
    year = year if year and 2000 <= year <= 2100 else today.year
    start, end = date(year, 1, 1), date(year, 12, 31)
    recipients = await Application.select(Application.household, Application.org_path).where(
        Application.state.is_in(list(_REVIEWABLE))
        & Application.category.is_in(list(PERIODIC_CATEGORIES))
        & in_scope(actor, Application.org_path)
    )
    decided = await ReviewDecision.select(ReviewDecision.household, ReviewDecision.org_path).where(
        (ReviewDecision.decided_on >= start)
        & (ReviewDecision.decided_on <= end)
        & in_scope(actor, ReviewDecision.org_path)
    )
    path_of: dict[int, str] = {}
    for r in [*recipients, *decided]:
        path_of[int(r["household"])] = r["org_path"]
    reviewed = {int(r["household"]) for r in decided}
    outstanding = set(path_of) - reviewed
    late: set[int] = set()
    if year < today.year:
        late = set(outstanding)  # a past year: every review it missed is late
    elif year == today.year and outstanding:
        late_rows = await Visit.select(Visit.household).where(
            (Visit.kind == "review")
            & (Visit.status == "scheduled")
            & (Visit.scheduled_for < today)
            & in_scope(actor, Visit.org_path)
        )
        late = {int(r["household"]) for r in late_rows} & outstanding
    stations: dict[str, RecertificationRow] = {}
    for household_id, path in path_of.items():
        key = _station_of(path)
        row = stations.setdefault(key, RecertificationRow(key, ""))
        row.due += 1
        if household_id in reviewed:
            row.reviewed += 1
        else:
            row.outstanding += 1
            if household_id in late:
                row.overdue += 1
    if stations:
        for unit in await OrgUnit.select(OrgUnit.path, OrgUnit.name).where(
            OrgUnit.path.is_in(list(stations))
        ):
            stations[unit["path"]].station_name = unit["name"]
    await _fill_waiting(actor, stations, outstanding, late)
    rows = sorted(stations.values(), key=lambda r: r.station_path)
    total = RecertificationRow("", "")
    for row in rows:
        total.due += row.due
        total.reviewed += row.reviewed
        total.outstanding += row.outstanding
        total.overdue += row.overdue
    return Recertification(year, today, rows, total)


async def _fill_waiting(
    actor: Actor, stations: dict[str, RecertificationRow], outstanding: set[int], late: set[int]
) -> None:
    """Name the outstanding households of each station (overdue first), so the list can be worked."""
    if not outstanding:
        return
    ids = sorted(outstanding)
    due_on: dict[int, date] = {}
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        for visit in await Visit.select(Visit.household, Visit.scheduled_for).where(
            Visit.household.is_in(chunk) & (Visit.kind == "review") & (Visit.status == "scheduled")
        ):
            household_id = int(visit["household"])
            if household_id not in due_on or visit["scheduled_for"] < due_on[household_id]:
                due_on[household_id] = visit["scheduled_for"]
    ordered = sorted(ids, key=lambda h: (h not in late, due_on.get(h, date.max), h))
    chosen: dict[str, list[int]] = {}
    households = {
        int(r["id"]): r
        for start in range(0, len(ids), 2000)
        for r in await Household.select(
            Household.id, Household.file_no, Household.head_name, Household.org_path
        ).where(Household.id.is_in(ids[start : start + 2000]) & in_scope(actor, Household.org_path))
    }
    for household_id in ordered:
        household = households.get(household_id)
        if household is None:
            continue
        key = _station_of(household["org_path"])
        if key in stations and len(chosen.setdefault(key, [])) < OUTSTANDING_SHOWN:
            chosen[key].append(household_id)
            stations[key].waiting.append(
                {
                    "id": household_id,
                    "file_no": household["file_no"],
                    "head_name": household["head_name"],
                    "review_on": due_on.get(household_id),
                    "overdue": household_id in late,
                }
            )
