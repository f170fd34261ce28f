"""Referrals from one window (一门受理、分类转办, docs/departments.md).

The liaison, the service station or the centre takes a request once and refers
it to the department that owns it (the household file goes with it: the
department reads its field-level view, services/departments.py). The department
accepts, asks for more (back to the referrer, who supplies it), decides
(granted relief is recorded as in services/departments.py) or refers on, by a
deadline of ``referral_working_days`` working days (core/rules.py and the
holiday calendar). Overdue referrals are escalated to the district centre once
by the daily task ``escalate_overdue_referrals``. Every step is audited and
told to the applicant through the outbox (services/notices.py).

Status (core.enums.ReferralStatus): pending → accepted → decided; pending,
accepted or escalated → info_requested → (supplied) pending; pending, accepted
or escalated → referred_on (a new referral to the other department); pending or
accepted past the deadline → escalated (the department may still act).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from relief_pwa.clock import local_date
from relief_pwa.core.departments import CATEGORY_OWNER, DECISIONS, GRANTED
from relief_pwa.core.enums import Category, OrgLevel
from relief_pwa.core.enums import ReferralStatus as S
from relief_pwa.core.errors import Conflict, DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.core.rules import working_deadline
from relief_pwa.db import write_transaction
from relief_pwa.services import access, departments
from relief_pwa.services.access import (
    access_application,
    access_household,
    access_org_unit_by_code,
    in_scope,
    within_jurisdiction,
)
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.notices import queue_referral_step
from relief_pwa.services.org import org_path_for
from relief_pwa.services.rules import load_calendar
from relief_pwa.tables import Application, Household, OrgUnit, Referral

RULE = "referral_working_days"
TEXT_MAX = 2000
OPEN = (S.PENDING.value, S.ACCEPTED.value, S.INFO_REQUESTED.value, S.ESCALATED.value)
_ANSWERABLE = (S.PENDING.value, S.ACCEPTED.value, S.ESCALATED.value)
_OVERDUE_CAN_BE = (S.PENDING.value, S.ACCEPTED.value)
# An escalated referral still waits for the department: it stays past its deadline.
_PAST_DUE_CAN_BE = (*_OVERDUE_CAN_BE, S.ESCALATED.value)


def _clean(text: str) -> str:
    return " ".join(text.split())[:TEXT_MAX]


async def _due_on(today: date) -> date:
    return working_deadline(await load_calendar(), today, RULE)


# --- reading ---------------------------------------------------------------------------------


async def access_referral(actor: Actor, referral_id: int) -> Referral:
    """A referral the actor may see: a department sees those sent to it, others their area's."""
    require(actor, Capability.REFERRAL_READ)
    return await access.access_referral(actor, referral_id)


def _scope(actor: Actor) -> Any:
    if actor.department_kind:
        return Referral.to_unit == actor.org_unit_id
    return in_scope(actor, Referral.org_path)


async def _rows(where: Any, limit: int) -> list[dict[str, Any]]:
    rows = await (
        Referral.select(
            *Referral.all_columns(),
            Referral.household.file_no.as_alias("file_no"),
            Referral.to_unit.name.as_alias("to_name"),
            Referral.from_unit.name.as_alias("from_name"),
        )
        .where(where)
        .order_by(Referral.due_on)
        .order_by(Referral.id)
        .limit(limit)
    )
    return list(rows)


async def list_referrals(actor: Actor, *, open_only: bool = True, limit: int = 300) -> list[dict[str, Any]]:
    """The department's inbox, or the referrals of the actor's area (oldest deadline first)."""
    require(actor, Capability.REFERRAL_READ)
    where = _scope(actor)
    if open_only:
        where = where & Referral.status.is_in(list(OPEN))
    return await _rows(where, limit)


def _past_deadline(today: date) -> Any:
    """Still waiting for the department's answer, and its deadline has passed."""
    return Referral.status.is_in(list(_PAST_DUE_CAN_BE)) & (Referral.due_on < today)


async def list_overdue(
    actor: Actor, *, now: datetime, org_code: str = "", limit: int = 300
) -> list[dict[str, Any]]:
    """The referrals of the centre's area (or of one of its units, ``org_code``) past their
    deadline without an answer: the escalated ones, and those the daily task has not reached yet."""
    require(actor, Capability.REFERRALS_OVERDUE_READ)
    where = in_scope(actor, Referral.org_path) & _past_deadline(local_date(now))
    if org_code:
        unit = await access_org_unit_by_code(actor, org_code)
        where = where & Referral.org_path.like(f"{unit.path}%")
    return await _rows(where, limit)


@dataclass(frozen=True)
class ReferralCounts:
    """The referrals of an area a dashboard shows: still open, past their deadline, escalated."""

    open: int
    overdue: int
    escalated: int


async def count_referrals(actor: Actor, unit_path: str, today: date) -> ReferralCounts | None:
    """Counts for the dashboard of the unit at ``unit_path`` (within the actor's area); None
    for a reader who may not see referrals."""
    if not actor.can(Capability.REFERRAL_READ):
        return None
    if not within_jurisdiction(actor, unit_path):
        raise NotFoundOrForbidden()
    # One statement for the three figures (the dashboard's statement budget).
    rows = await Referral.raw(
        "SELECT status, CASE WHEN due_on < {} THEN 1 ELSE 0 END AS late, COUNT(*) AS n FROM referral "
        "WHERE org_path LIKE {} AND status IN ({}, {}, {}, {}) GROUP BY status, late",
        today,
        f"{unit_path}%",
        *OPEN,
    )
    counts = {(r["status"], int(r["late"])): int(r["n"]) for r in rows}
    return ReferralCounts(
        open=sum(counts.values()),
        overdue=sum(n for (status, late), n in counts.items() if late and status in _PAST_DUE_CAN_BE),
        escalated=sum(n for (status, _late), n in counts.items() if status == S.ESCALATED.value),
    )


async def list_for_household(actor: Actor, household_id: int) -> list[dict[str, Any]]:
    require(actor, Capability.REFERRAL_READ)
    return await _rows(_scope(actor) & (Referral.household == household_id), 100)


@dataclass(frozen=True)
class ReferralDetail:
    referral: dict[str, Any]
    view: departments.DepartmentView | None  # the department's view of the household (for the department)
    others: list[departments.Department]  # departments it may be referred on to
    history: list[dict[str, Any]]  # the chain: referred from / on
    resources: list[dict[str, Any]]  # the department's own resources its relief may draw on


async def get_referral(actor: Actor, referral_id: int, *, now: datetime) -> ReferralDetail:
    row = await access_referral(actor, referral_id)
    rows = await _rows(Referral.id == row.id, 1)
    view = None
    if actor.department_kind:
        view = await departments.department_view(actor, row.household, now=now, purpose="referral")
    others = [d for d in await departments.list_departments(covering=row.org_path) if d.id != row.to_unit]
    chain = await _rows((Referral.household == row.household) & _scope(actor) & (Referral.id != row.id), 20)
    return ReferralDetail(rows[0], view, others, chain, await departments.own_resources(actor))


@dataclass(frozen=True)
class DepartmentHouseholdPage:
    view: departments.DepartmentView
    resources: list[dict[str, Any]]
    referrals: list[dict[str, Any]]


async def get_department_household(
    actor: Actor, household_id: int, *, now: datetime
) -> DepartmentHouseholdPage:
    """A household as the department sees it, with its resources and the referrals of that household."""
    view = await departments.department_view(actor, household_id, now=now)
    return DepartmentHouseholdPage(
        view, await departments.own_resources(actor), await list_for_household(actor, household_id)
    )


# --- referring -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferForm:
    household_id: int
    file_no: str
    departments: list[departments.Department]
    applications: list[dict[str, Any]]
    categories: list[Category]
    suggested: dict[str, str]  # category → department kind that owns it


async def get_refer_form(actor: Actor, household_id: int) -> ReferForm:
    require(actor, Capability.REFERRAL_CREATE)
    household = await access_household(actor, household_id)
    apps = await Application.select(Application.id, Application.number, Application.category).where(
        Application.household == household.id
    )
    return ReferForm(
        household.id,
        household.file_no,
        await departments.list_departments(covering=household.org_path),
        list(apps),
        list(Category),
        {str(c): str(k) for c, k in CATEGORY_OWNER.items()},
    )


async def _notify(row: Referral, step: str, now: datetime, *, reason: str = "", other: str = "") -> None:
    department = await OrgUnit.select(OrgUnit.name).where(OrgUnit.id == row.to_unit).first()
    await queue_referral_step(
        referral_id=row.id,
        version=row.version,
        step=step,
        household_id=row.household,
        application_id=row.application,
        department=department["name"] if department else "",
        reason=reason,
        due=row.due_on,
        other=other,
        now=now,
    )


async def _insert(
    actor: Actor,
    household: Household,
    *,
    from_unit: int,
    to_unit: int,
    category: str,
    application_id: int | None,
    request: str,
    referred_from: int | None,
    now: datetime,
) -> Referral:
    target = next(
        (d for d in await departments.list_departments(covering=household.org_path) if d.id == to_unit), None
    )
    if target is None:
        raise DomainError(N_("Choose a department serving this household's area."), field="to_unit")
    row = Referral(
        household=household.id,
        application=application_id,
        org_path=household.org_path,
        from_unit=from_unit,
        to_unit=target.id,
        category=category,
        status=S.PENDING.value,
        due_on=await _due_on(local_date(now)),
        request=request,
        created_by=actor.staff_id,
        created_at=now,
        referred_from=referred_from,
    )
    await row.save()
    await record_event(
        actor,
        "referral.create",
        "referral",
        row.id,
        org_path=household.org_path,
        now=now,
        household_id=household.id,
        after={
            "to": target.code,
            "category": category,
            "application_id": application_id,
            "due_on": row.due_on.isoformat(),
            "referred_from": referred_from,
            "request": request[:300],
        },
    )
    return row


async def do_refer(
    actor: Actor,
    household_id: int,
    *,
    to_unit: int,
    category: str,
    request: str,
    application_id: int | None = None,
    now: datetime,
) -> int:
    """Refer a request taken at the window to the department that owns it."""
    require(actor, Capability.REFERRAL_CREATE)
    errors: dict[str, DomainError] = {}
    if category not in Category._value2member_map_:
        errors["category"] = DomainError(N_("Choose the kind of relief asked for."), field="category")
    request = _clean(request)
    if not request:
        errors["request"] = DomainError(N_("Say what the applicant asks for."), field="request")
    if errors:
        raise ValidationFailed(errors)
    async with write_transaction(Referral._meta.db):
        household = await access_household(actor, household_id)
        if application_id is not None:
            application = await access_application(actor, application_id)
            if application.household != household.id:
                raise DomainError(
                    N_("That application belongs to another household."), field="application_id"
                )
        if await Referral.exists().where(
            (Referral.household == household.id)
            & (Referral.to_unit == to_unit)
            & (Referral.category == category)
            & Referral.status.is_in(list(OPEN))
        ):
            raise Conflict(N_("This request is already with that department."), field="to_unit")
        row = await _insert(
            actor,
            household,
            from_unit=actor.org_unit_id or 0,
            to_unit=to_unit,
            category=category,
            application_id=application_id,
            request=request,
            referred_from=None,
            now=now,
        )
        await _notify(row, "created", now)
    return int(row.id)


# --- the department's answers ----------------------------------------------------------------


async def _for_answer(
    actor: Actor, referral_id: int, version: int | None, allowed: tuple[str, ...]
) -> Referral:
    require(actor, Capability.REFERRAL_ANSWER)
    row = await access_referral(actor, referral_id)
    if not actor.department_kind:
        raise NotFoundOrForbidden()
    if version is not None and row.version != version:
        raise Conflict(N_("Someone else changed this referral; reload the page."))
    if row.status not in allowed:
        raise DomainError(N_("This referral cannot take that step now."))
    return row


async def _save(actor: Actor, row: Referral, action: str, now: datetime, after: dict[str, Any]) -> None:
    before_status = after.pop("_before", None)
    row.version += 1
    await row.save()
    await record_event(
        actor,
        f"referral.{action}",
        "referral",
        row.id,
        org_path=row.org_path,
        now=now,
        household_id=row.household,
        before={"status": before_status} if before_status else None,
        after={"status": row.status, **after},
    )


async def do_accept(actor: Actor, referral_id: int, *, version: int | None = None, now: datetime) -> None:
    async with write_transaction(Referral._meta.db):
        row = await _for_answer(actor, referral_id, version, (S.PENDING.value, S.ESCALATED.value))
        before = row.status
        row.status = S.ACCEPTED.value
        row.answered_at = row.answered_at or now
        await _save(actor, row, "accept", now, {"_before": before})
        await _notify(row, "accepted", now)


async def do_request_info(
    actor: Actor, referral_id: int, *, question: str, version: int | None = None, now: datetime
) -> None:
    question = _clean(question)
    if not question:
        raise DomainError(N_("Say what information is missing."), field="question")
    async with write_transaction(Referral._meta.db):
        row = await _for_answer(actor, referral_id, version, _ANSWERABLE)
        before = row.status
        row.status = S.INFO_REQUESTED.value
        row.info_request = question
        row.answered_at = row.answered_at or now
        await _save(actor, row, "request_info", now, {"_before": before, "question": question[:300]})
        await _notify(row, "info_requested", now, reason=question)


async def do_supply_info(
    actor: Actor, referral_id: int, *, answer: str, version: int | None = None, now: datetime
) -> None:
    """The referrer sends what was asked for; the department's deadline starts again."""
    require(actor, Capability.REFERRAL_CREATE)
    answer = _clean(answer)
    if not answer:
        raise DomainError(N_("Give the information asked for."), field="answer")
    async with write_transaction(Referral._meta.db):
        row = await access_referral(actor, referral_id)
        if version is not None and row.version != version:
            raise Conflict(N_("Someone else changed this referral; reload the page."))
        if row.status != S.INFO_REQUESTED.value:
            raise DomainError(N_("This referral cannot take that step now."))
        row.status = S.PENDING.value
        row.request = f"{row.request}\n— {answer}"[: TEXT_MAX * 2]
        row.due_on = await _due_on(local_date(now))
        await _save(
            actor,
            row,
            "supply_info",
            now,
            {"_before": S.INFO_REQUESTED.value, "answer": answer[:300], "due_on": row.due_on.isoformat()},
        )
        await _notify(row, "info_supplied", now)


async def do_decide(
    actor: Actor,
    referral_id: int,
    *,
    decision: str,
    reason: str,
    amount: str = "",
    resource_id: str = "",
    version: int | None = None,
    now: datetime,
) -> None:
    """Grant (relief recorded as an AidRecord when an amount is given) or refuse, with reasons."""
    reason = _clean(reason)
    errors: dict[str, DomainError] = {}
    if decision not in DECISIONS:
        errors["decision"] = DomainError(N_("Choose granted or refused."), field="decision")
    if not reason:
        errors["reason"] = DomainError(N_("Give the reasons for the decision."), field="reason")
    value_fen = 0
    resource: int | None = None
    if decision == GRANTED and amount.strip():
        try:
            value_fen, _, _, resource = departments.parse_aid(
                departments.DepartmentAid(
                    amount=amount, received_on="", note=reason or "-", resource_id=resource_id
                ),
                now=now,
            )
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    async with write_transaction(Referral._meta.db):
        row = await _for_answer(actor, referral_id, version, _ANSWERABLE)
        before = row.status
        aid_id = None
        if value_fen:
            household = await access_household(actor, row.household)
            aid_id = await departments.record_relief(
                actor,
                household,
                value_fen=value_fen,
                received_on=local_date(now),
                note=reason,
                reference=f"referral:{row.id}",
                resource_id=resource,
                now=now,
            )
        row.status = S.DECIDED.value
        row.decision = decision
        row.reason = reason
        row.granted_fen = value_fen
        row.aid_record = aid_id
        row.answered_at = row.answered_at or now
        row.decided_at = now
        await _save(
            actor,
            row,
            "decide",
            now,
            {"_before": before, "decision": decision, "reason": reason[:300], "granted_fen": value_fen},
        )
        await _notify(row, decision, now, reason=reason)


async def do_refer_on(
    actor: Actor,
    referral_id: int,
    *,
    to_unit: int,
    reason: str,
    version: int | None = None,
    now: datetime,
) -> int:
    """Pass a referral on to another department (this one ends as referred_on)."""
    reason = _clean(reason)
    if not reason:
        # Its own field: the decision's reasons stand on the same page.
        raise DomainError(N_("Say why another department should handle it."), field="refer_on_reason")
    async with write_transaction(Referral._meta.db):
        row = await _for_answer(actor, referral_id, version, _ANSWERABLE)
        if to_unit == row.to_unit:
            raise DomainError(N_("Choose another department."), field="to_unit")
        household = await access_household(actor, row.household)
        new = await _insert(
            actor,
            household,
            from_unit=row.to_unit,
            to_unit=to_unit,
            category=row.category,
            application_id=row.application,
            request=row.request,
            referred_from=row.id,
            now=now,
        )
        before = row.status
        row.status = S.REFERRED_ON.value
        row.reason = reason
        row.answered_at = row.answered_at or now
        row.decided_at = now
        await _save(
            actor, row, "refer_on", now, {"_before": before, "to_referral": new.id, "reason": reason[:300]}
        )
        other = await OrgUnit.select(OrgUnit.name).where(OrgUnit.id == new.to_unit).first()
        await queue_referral_step(
            referral_id=row.id,
            version=row.version,
            step="referred_on",
            household_id=row.household,
            application_id=row.application,
            department=actor.org_name,
            other=other["name"] if other else "",
            due=new.due_on,
            now=now,
        )
    return int(new.id)


# --- escalation (a daily task, services/scheduler.py) ------------------------------------------


async def _centre_of(org_path: str) -> int | None:
    codes = [c for c in org_path.split("/") if c]
    if len(codes) < 2:
        return None
    row = (
        await OrgUnit.select(OrgUnit.id)
        .where(
            (OrgUnit.path == org_path_for(org_path_for("", codes[0]), codes[1]))
            & (OrgUnit.level == OrgLevel.DISTRICT)
        )
        .first()
    )
    return int(row["id"]) if row else None


async def escalate_overdue_referrals(now: datetime) -> int:
    """Escalate, once per deadline, every referral not answered by it: status escalated, the
    district centre named (its overdue list), audited, and the applicant told. A referral the
    department accepted after its escalation is not escalated again; one whose deadline
    restarted (information supplied) may be, after the new deadline."""
    today = local_date(now)
    ids = [
        r["id"]
        for r in await Referral.select(Referral.id).where(
            Referral.status.is_in(list(_OVERDUE_CAN_BE)) & (Referral.due_on < today)
        )
    ]
    escalated = 0
    for start in range(0, len(ids), 200):
        async with write_transaction(Referral._meta.db):
            for row in await Referral.objects().where(
                Referral.id.is_in(ids[start : start + 200]) & Referral.status.is_in(list(_OVERDUE_CAN_BE))
            ):
                if row.escalated_at is not None and local_date(row.escalated_at) > row.due_on:
                    # Escalated for this deadline already, then accepted: the centre knows.
                    continue
                before = row.status
                row.status = S.ESCALATED.value
                row.escalated_at = now
                row.escalated_to = await _centre_of(row.org_path)
                await _save(
                    SYSTEM_ACTOR,
                    row,
                    "escalate",
                    now,
                    {"_before": before, "due_on": row.due_on.isoformat(), "centre": row.escalated_to},
                )
                await _notify(row, "escalated", now)
                escalated += 1
    return escalated
