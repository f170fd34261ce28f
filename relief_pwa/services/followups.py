"""Follow-up visits after aid is implemented, periodic reviews, and alerts.

- When a plan line is first paid or handed over, a follow-up visit
  (实施回访) is put in the community liaison's diary after a configurable
  delay (SystemSetting ``followup_delay_days``, default 14).
- The liaison records the outcome on the field-work visit form; a "not
  received" (or "problem") outcome raises an alert for the district centre
  (an audited ``followup.alert`` event, until the centre resolves it).
- Periodic reviews are scheduled by category and household type
  (docs/reviews-and-aid.md): 特困 and 低保边缘 support by their own rules
  (yearly by default); 低保 by household type (domain_cn.md §1.3g, Chongqing
  Art. 26): monthly (urban) / quarterly (rural) where a working-age member
  able to work has no work income; yearly for households with a seriously ill
  or severely disabled member; half-yearly otherwise. One-off forms of aid
  (medical, education, temporary…) are not reviewed periodically.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from relief_pwa.clock import local_date
from relief_pwa.core.enums import AppState, AreaType, Category, Illness, WorkCapacity
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import (
    FIELD_ROLES_NEAREST_FIRST,
    Capability,
    field_rank,
    works_own_assignments_only,
)
from relief_pwa.core.rules import Calendar
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services import hooks
from relief_pwa.services.access import in_scope
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.rules import load_calendar
from relief_pwa.tables import (
    Application,
    AuditEvent,
    Household,
    Member,
    MoneyItem,
    PlanLine,
    Staff,
    SystemSetting,
    Visit,
)

DELAY_SETTING = "followup_delay_days"
DEFAULT_DELAY_DAYS = 14
ALERT_OUTCOMES = ("none", "problem")
WORK_INCOME_KINDS = ("wages", "business", "farming")
WORKING_AGE = (16, 60)  # [16, 60)
LIST_LIMIT = 300
# The forms of aid that run month after month and so are reviewed periodically.
PERIODIC_CATEGORIES = (Category.DIBAO.value, Category.TEKUN.value, Category.DIBAO_EDGE.value)
_CATEGORY_RULES = {
    Category.TEKUN.value: (
        "review_months_tekun",
        N_("特困 support is reviewed by its own rule (yearly by default)."),
    ),
    Category.DIBAO_EDGE.value: (
        "review_months_edge",
        N_("低保边缘 support is reviewed by its own rule (yearly by default)."),
    ),
}


# --- pure rules ------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewMember:
    birth_date: date | None
    work_capacity: str
    illness: str
    disability_grade: int | None
    has_work_income: bool


def review_interval_months(
    members: Sequence[ReviewMember],
    area_type: str,
    as_of: date,
    calendar: Calendar | None = None,
    *,
    category: str = Category.DIBAO.value,
) -> tuple[int, str]:
    """How often a recipient household is reviewed for one form of aid, and why (message id).

    特困 and 低保边缘 support follow their own rule. For 低保 the most frequent
    household-type rule that applies wins: an unemployed working-age member
    able to work → monthly (urban) / quarterly (rural); otherwise a seriously
    ill or severely disabled member (grade 1–2) → yearly; otherwise half-yearly.
    """
    calendar = calendar or Calendar()

    def months(key: str) -> int:
        return calendar.rule(key, as_of)

    if category in _CATEGORY_RULES:
        key, why = _CATEGORY_RULES[category]
        return months(key), why

    low, high = WORKING_AGE
    for member in members:
        if member.birth_date is None:
            continue
        born = member.birth_date
        age = as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))
        able = member.work_capacity in (WorkCapacity.FULL.value, WorkCapacity.PARTIAL.value)
        if low <= age < high and able and not member.has_work_income:
            if area_type == AreaType.RURAL.value:
                return months("review_months_able_unemployed_rural"), N_(
                    "A working-age member able to work has no work income (rural): quarterly."
                )
            return months("review_months_able_unemployed_urban"), N_(
                "A working-age member able to work has no work income (urban): monthly."
            )
    if any(
        m.illness == Illness.SERIOUS.value or (m.disability_grade is not None and m.disability_grade <= 2)
        for m in members
    ):
        return months("review_months_ill_or_disabled"), N_(
            "A member is seriously ill or severely disabled: yearly."
        )
    return months("review_months_stable"), N_("Members and income are stable: half-yearly.")


def add_months(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


# --- settings and assignment -------------------------------------------------------


async def followup_delay_days() -> int:
    row = await SystemSetting.select(SystemSetting.value).where(SystemSetting.key == DELAY_SETTING).first()
    if row is None:
        return DEFAULT_DELAY_DAYS
    raw = str(row["value"]).strip()
    return int(raw) if raw.isdecimal() and 0 < int(raw) <= 365 else DEFAULT_DELAY_DAYS


async def do_set_followup_delay(actor: Actor, days: str, *, now: datetime) -> int:
    require(actor, Capability.SETTINGS_MANAGE)
    raw = days.strip()
    if not raw.isdecimal() or not 1 <= int(raw) <= 365:
        raise ValidationFailed(
            {"days": DomainError(N_("Enter a number of days from 1 to 365."), field="days")}
        )
    async with write_transaction(SystemSetting._meta.db):
        before = await followup_delay_days()
        await SystemSetting.raw(
            "INSERT INTO system_setting (key, value, updated_at) VALUES ({}, {}, {}) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            DELAY_SETTING,
            str(int(raw)),
            now,
        )
        await record_event(
            actor,
            "setting.update",
            "system_setting",
            0,
            org_path=actor.org_path,
            now=now,
            before={DELAY_SETTING: before},
            after={DELAY_SETTING: int(raw)},
        )
    return int(raw)


async def liaison_for(org_path: str) -> int | None:
    """The community's liaison; failing that, the nearest field worker above it."""
    rows = (
        await Staff.select(Staff.id, Staff.role, Staff.org_path)
        .where(Staff.active.eq(True) & Staff.role.is_in(list(FIELD_ROLES_NEAREST_FIRST)))
        .order_by(Staff.id)
    )
    covering = [r for r in rows if org_path.startswith(r["org_path"])]
    covering.sort(key=lambda r: (-len(r["org_path"]), field_rank(r["role"]), r["id"]))
    return int(covering[0]["id"]) if covering else None


# --- follow-ups ----------------------------------------------------------------------


async def schedule_followup(actor: Actor, plan_line_id: int, *, now: datetime) -> int | None:
    """Put one follow-up visit for an implemented plan line in the liaison's diary.
    Inside the caller's transaction; once per plan line."""
    engine = Visit._meta.db
    await advisory_xact_lock(engine, f"followup:{plan_line_id}")
    if await Visit.exists().where((Visit.plan_line_id == plan_line_id) & (Visit.kind == "follow_up")):
        return None
    line = (
        await PlanLine.select(
            PlanLine.household, PlanLine.org_path, PlanLine.plan.application.as_alias("application_id")
        )
        .where(PlanLine.id == plan_line_id)
        .first()
    )
    if line is None:
        raise NotFoundOrForbidden()
    delay = await followup_delay_days()
    scheduled_for = local_date(now) + timedelta(days=delay)
    assignee = await liaison_for(line["org_path"])
    visit = Visit(
        household=line["household"],
        application=line["application_id"],
        org_path=line["org_path"],
        kind="follow_up",
        scheduled_for=scheduled_for,
        assigned_to=assignee,
        status="scheduled",
        plan_line_id=plan_line_id,
        created_by=actor.staff_id,
        created_at=now,
    )
    await visit.save()
    await record_event(
        actor,
        "visit.schedule",
        "visit",
        visit.id,
        org_path=line["org_path"],
        now=now,
        household_id=line["household"],
        after={
            "kind": "follow_up",
            "scheduled_for": scheduled_for.isoformat(),
            "assigned_to": assignee,
            "plan_line_id": plan_line_id,
            "delay_days": delay,
        },
    )
    await hooks.emit(
        "followup.scheduled",
        household_id=line["household"],
        application_id=line["application_id"],
        visit_id=visit.id,
        kind="follow_up",
        plan_line_id=plan_line_id,
        assigned_to=assignee,
        scheduled_for=scheduled_for,
        now=now,
    )
    return int(visit.id)


@hooks.on("visit.done")
async def _on_visit_done(**data: Any) -> None:
    visit_id = data.get("visit_id")
    now = data.get("now")
    if not isinstance(visit_id, int) or not isinstance(now, datetime):
        return
    visit = await Visit.select().where(Visit.id == visit_id).first()
    if visit is None:
        return
    if visit["kind"] == "follow_up" and visit["outcome"] in ALERT_OUTCOMES:
        await _raise_alert(visit, now)
    elif visit["kind"] == "review":
        await schedule_review(int(visit["household"]), now=now)


async def _raise_alert(visit: dict[str, Any], now: datetime) -> None:
    # A corrected record with the same outcome must not raise a second alert.
    if await AuditEvent.exists().where(
        (AuditEvent.action == "followup.alert")
        & (AuditEvent.entity_id == visit["id"])
        & (AuditEvent.entity_type == "visit")
    ):
        return
    await record_event(
        SYSTEM_ACTOR,
        "followup.alert",
        "visit",
        visit["id"],
        org_path=visit["org_path"],
        now=now,
        household_id=visit["household"],
        after={
            "outcome": visit["outcome"],
            "plan_line_id": visit["plan_line_id"],
            "findings": (visit["findings"] or "")[:300],
        },
    )


@dataclass(frozen=True)
class Alert:
    visit_id: int
    household_id: int
    file_no: str
    head_name: str
    outcome: str
    findings: str
    plan_line_id: int | None
    raised_at: datetime


async def list_alerts(actor: Actor) -> list[Alert]:
    """Open "not received" / "problem" follow-up alerts in the actor's area."""
    raised = (
        await AuditEvent.select(
            AuditEvent.entity_id, AuditEvent.household_id, AuditEvent.at, AuditEvent.after
        )
        .where((AuditEvent.action == "followup.alert") & in_scope(actor, AuditEvent.org_path))
        .order_by(AuditEvent.seq, ascending=False)
        .limit(LIST_LIMIT)
    )
    if not raised:
        return []
    ids = [int(r["entity_id"]) for r in raised]
    resolved = {
        int(r["entity_id"])
        for r in await AuditEvent.select(AuditEvent.entity_id).where(
            (AuditEvent.action == "followup.resolve") & AuditEvent.entity_id.is_in(ids)
        )
    }
    households = {
        r["id"]: r
        for r in await Household.select(Household.id, Household.file_no, Household.head_name).where(
            Household.id.is_in([int(r["household_id"]) for r in raised])
        )
    }
    import json

    alerts = []
    for row in raised:
        if int(row["entity_id"]) in resolved:
            continue
        after = json.loads(row["after"] or "{}")
        household = households.get(row["household_id"], {})
        alerts.append(
            Alert(
                visit_id=int(row["entity_id"]),
                household_id=int(row["household_id"]),
                file_no=household.get("file_no", ""),
                head_name=household.get("head_name", ""),
                outcome=after.get("outcome", ""),
                findings=after.get("findings", ""),
                plan_line_id=after.get("plan_line_id"),
                raised_at=row["at"],
            )
        )
    return alerts


async def do_resolve_alert(actor: Actor, visit_id: int, *, note: str, now: datetime) -> None:
    """The centre closes an alert with what it did about it."""
    require(actor, Capability.FOLLOWUP_ALERT_RESOLVE)
    note = " ".join(note.split())[:300]
    if len(note) < 4:
        raise ValidationFailed(
            {"note": DomainError(N_("Please give a written reason (at least 4 characters)."), field="note")}
        )
    async with write_transaction(Visit._meta.db):
        visit = (
            await Visit.select(Visit.id, Visit.org_path, Visit.household)
            .where((Visit.id == visit_id) & in_scope(actor, Visit.org_path))
            .first()
        )
        if visit is None or not await AuditEvent.exists().where(
            (AuditEvent.action == "followup.alert") & (AuditEvent.entity_id == visit_id)
        ):
            raise NotFoundOrForbidden()
        if await AuditEvent.exists().where(
            (AuditEvent.action == "followup.resolve") & (AuditEvent.entity_id == visit_id)
        ):
            raise DomainError(N_("This alert was already resolved."), field="note")
        await record_event(
            actor,
            "followup.resolve",
            "visit",
            visit_id,
            org_path=visit["org_path"],
            now=now,
            household_id=visit["household"],
            after={"note": note},
        )


# --- periodic reviews ------------------------------------------------------------------


async def _review_members(household_ids: Iterable[int]) -> dict[int, list[ReviewMember]]:
    ids = list(household_ids)
    members: dict[int, list[ReviewMember]] = {}
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        working = {
            int(r["member"])
            for r in await MoneyItem.select(MoneyItem.member).where(
                MoneyItem.household.is_in(chunk)
                & (MoneyItem.section == "income")
                & MoneyItem.kind.is_in(list(WORK_INCOME_KINDS))
                & MoneyItem.active.eq(True)
                & MoneyItem.member.is_not_null()
                & (
                    (MoneyItem.verified_fen > 0)
                    | (MoneyItem.verified_fen.is_null() & (MoneyItem.declared_fen > 0))
                )
            )
        }
        for row in await Member.select(
            Member.id,
            Member.household,
            Member.birth_date,
            Member.work_capacity,
            Member.illness,
            Member.disability_grade,
        ).where(Member.household.is_in(chunk) & Member.active.eq(True)):
            members.setdefault(int(row["household"]), []).append(
                ReviewMember(
                    birth_date=row["birth_date"],
                    work_capacity=row["work_capacity"],
                    illness=row["illness"],
                    disability_grade=row["disability_grade"],
                    has_work_income=int(row["id"]) in working,
                )
            )
    return members


async def schedule_review(household_id: int, *, now: datetime, actor: Actor = SYSTEM_ACTOR) -> int | None:
    """Schedule the household's next periodic review, if it is an active
    recipient without one. Inside the caller's transaction."""
    engine = Visit._meta.db
    await advisory_xact_lock(engine, f"review:{household_id}")
    if await Visit.exists().where(
        (Visit.household == household_id) & (Visit.kind == "review") & (Visit.status == "scheduled")
    ):
        return None
    applications = (
        await Application.select(
            Application.id, Application.category, Application.state_changed_at, Application.decided_on
        )
        .where(
            (Application.household == household_id)
            & Application.state.is_in([AppState.ACTIVE.value, AppState.UNDER_REVIEW.value])
            & Application.category.is_in(list(PERIODIC_CATEGORIES))
        )
        .order_by(Application.id, ascending=False)
    )
    if not applications:
        return None
    household = (
        await Household.select(Household.org_path, Household.area_type)
        .where(Household.id == household_id)
        .first()
    )
    assert household is not None
    members = (await _review_members([household_id])).get(household_id, [])
    calendar = await load_calendar()
    # The form of aid reviewed most often sets the date (one review visit covers the household).
    application, months, why = min(
        (
            (
                app,
                *review_interval_months(
                    members, household["area_type"], local_date(now), calendar, category=app["category"]
                ),
            )
            for app in applications
        ),
        key=lambda choice: choice[1],
    )
    last_done = (
        await Visit.select(Visit.done_at)
        .where((Visit.household == household_id) & (Visit.kind == "review") & (Visit.status == "done"))
        .order_by(Visit.done_at, ascending=False)
        .first()
    )
    if last_done and last_done["done_at"]:
        base = local_date(last_done["done_at"])
    else:
        base = application["decided_on"] or local_date(application["state_changed_at"])
    due = add_months(base, months)
    assignee = await liaison_for(household["org_path"])
    visit = Visit(
        household=household_id,
        application=application["id"],
        org_path=household["org_path"],
        kind="review",
        scheduled_for=due,
        assigned_to=assignee,
        status="scheduled",
        created_by=actor.staff_id,
        created_at=now,
    )
    await visit.save()
    await record_event(
        actor,
        "visit.schedule",
        "visit",
        visit.id,
        org_path=household["org_path"],
        now=now,
        household_id=household_id,
        after={
            "kind": "review",
            "scheduled_for": due.isoformat(),
            "assigned_to": assignee,
            "interval_months": months,
            "why": why,
            "category": application["category"],
        },
    )
    await hooks.emit(
        "followup.scheduled",
        household_id=household_id,
        application_id=application["id"],
        visit_id=visit.id,
        kind="review",
        plan_line_id=None,
        assigned_to=assignee,
        scheduled_for=due,
        now=now,
    )
    return int(visit.id)


@hooks.on("application.activate")
async def _on_activate(**data: Any) -> None:
    household_id, now = data.get("household_id"), data.get("now")
    if isinstance(household_id, int) and isinstance(now, datetime):
        await schedule_review(household_id, now=now)


async def do_schedule_reviews(actor: Actor, *, now: datetime) -> int:
    """Schedule the missing periodic reviews of every active recipient in the actor's area."""
    require(actor, Capability.REVIEWS_SCHEDULE)
    rows = await Application.select(Application.household).where(
        Application.state.is_in([AppState.ACTIVE.value, AppState.UNDER_REVIEW.value])
        & Application.category.is_in(list(PERIODIC_CATEGORIES))
        & in_scope(actor, Application.org_path)
    )
    household_ids = sorted({int(r["household"]) for r in rows})
    created = 0
    async with write_transaction(Visit._meta.db):
        for household_id in household_ids:
            if await schedule_review(household_id, now=now, actor=actor) is not None:
                created += 1
    return created


# --- lists ------------------------------------------------------------------------------


@dataclass
class FollowupLists:
    today: date
    overdue: list[dict[str, Any]]
    upcoming: list[dict[str, Any]]
    alerts: list[Alert]
    delay_days: int


async def get_followup_lists(actor: Actor, *, now: datetime, kind: str = "") -> FollowupLists:
    """Scheduled follow-ups and reviews in the actor's area: overdue first, then the next weeks."""
    today = local_date(now)
    kinds = [kind] if kind in ("follow_up", "review") else ["follow_up", "review"]
    base = in_scope(actor, Visit.org_path) & (Visit.status == "scheduled") & Visit.kind.is_in(kinds)
    if works_own_assignments_only(actor.role):
        base = base & (Visit.assigned_to == actor.staff_id)
    columns = (
        Visit.id,
        Visit.kind,
        Visit.scheduled_for,
        Visit.plan_line_id,
        Visit.household,
        Visit.household.file_no.as_alias("file_no"),
        Visit.household.head_name.as_alias("head_name"),
        Visit.assigned_to.display_name.as_alias("assignee"),
    )
    overdue = (
        await Visit.select(*columns)
        .where(base & (Visit.scheduled_for < today))
        .order_by(Visit.scheduled_for)
        .order_by(Visit.id)
        .limit(LIST_LIMIT)
    )
    upcoming = (
        await Visit.select(*columns)
        .where(base & (Visit.scheduled_for >= today) & (Visit.scheduled_for <= today + timedelta(days=62)))
        .order_by(Visit.scheduled_for)
        .order_by(Visit.id)
        .limit(LIST_LIMIT)
    )
    for row in [*overdue, *upcoming]:
        row["days_late"] = (today - row["scheduled_for"]).days
    alerts = await list_alerts(actor) if actor.can(Capability.FOLLOWUP_ALERTS_READ) else []
    return FollowupLists(today, list(overdue), list(upcoming), alerts, await followup_delay_days())


# --- time-driven review work (the scheduler calls these once a day) -----------------


async def raise_due_reviews(now: datetime) -> int:
    """Start the periodic review (active → under review) of every application whose
    scheduled review visit has come. Idempotent: an application already under
    review is left alone. Returns how many reviews were started."""
    from relief_pwa.services.applications import do_transition

    today = local_date(now)
    rows = await Visit.select(Visit.application).where(
        (Visit.kind == "review")
        & (Visit.status == "scheduled")
        & (Visit.scheduled_for <= today)
        & Visit.application.is_not_null()
        & (Visit.application.state == AppState.ACTIVE.value)
    )
    started = 0
    for application_id in sorted({int(r["application"]) for r in rows}):
        try:
            await do_transition(
                SYSTEM_ACTOR,
                application_id,
                "start_review",
                reason="复核日期已到",
                now=now,
            )
        except DomainError:
            continue  # changed meanwhile (exited, already under review): nothing to start
        started += 1
    return started
