"""Relief plans: drafted by the core in index order, adjusted and approved by staff.

Drafting reads the households with an approved or active application in the
actor's jurisdiction, ranks them by their current relief index (tie-break:
earlier application, then file number), and asks ``core.plans.draft_plans``
which resources of the pool each should receive. Saving a draft writes Plan
and PlanLine rows (status draft); approval reserves the resource budget and
quantity and the fund, each with an atomic conditional UPDATE, so two
approvals can never together overspend anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from piccolo.columns.combination import WhereRaw

from relief_pwa.core import plans as core_plans
from relief_pwa.core.enums import AppState, AreaType, Category
from relief_pwa.core.errors import Conflict, DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.facts import Standard, select_standard
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import format_yuan, parse_yuan
from relief_pwa.core.permissions import Capability, FourEyes
from relief_pwa.core.ranking import RankEntry, rank
from relief_pwa.db import write_transaction
from relief_pwa.services import funds, identifiers
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.four_eyes import require_second_person
from relief_pwa.services.resources import core_resource, dotted
from relief_pwa.services.rules import local_today
from relief_pwa.tables import (
    AuditEvent,
    Household,
    OrgUnit,
    Payment,
    PaymentLine,
    Plan,
    PlanLine,
    Resource,
)

#: Application states whose households are candidates for resources.
RECIPIENT_STATES = (AppState.APPROVED.value, AppState.ACTIVE.value, AppState.UNDER_REVIEW.value)
#: Plan line states that hold a benefit (and its reservation).
HOLDING_STATES = ("approved", "implemented")
SHOWN_HOUSEHOLDS = 200
PLAN_PAGE = 50


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_number(month: str) -> int:
    """``"2026-11"`` → a running month number (for period arithmetic)."""
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1


def month_name(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def line_covers(start_month: str, months: int, month: str) -> bool:
    """Whether a line starting in ``start_month`` runs in ``month``."""
    if not start_month:
        return False
    start = month_number(start_month)
    return start <= month_number(month) < start + months


def parse_month(text: str, *, field_name: str = "month") -> str:
    raw = text.strip()
    try:
        year, mon = raw.split("-")
        if len(year) != 4 or not 1 <= int(mon) <= 12 or not 2000 <= int(year) <= 2100:
            raise ValueError(raw)
    except ValueError:
        raise DomainError(N_("Enter a month like 2026-11."), field=field_name) from None
    return f"{int(year):04d}-{int(mon):02d}"


# --- loading candidates -------------------------------------------------------


@dataclass(frozen=True)
class DraftScope:
    """Which households and resources a draft covers (inside the actor's jurisdiction)."""

    org_code: str = ""
    category: str = ""
    resource_ids: tuple[int, ...] = ()


@dataclass
class HouseholdInfo:
    household_id: int
    file_no: str
    head_name: str
    org_path: str
    application_id: int
    first_applied_on: date
    index: Decimal
    categories: set[str] = field(default_factory=set)


async def _scope_path(actor: Actor, scope: DraftScope) -> str:
    if not scope.org_code:
        return actor.org_path
    row = await OrgUnit.select(OrgUnit.path).where(OrgUnit.code == scope.org_code).first()
    if row is None or not row["path"].startswith(actor.org_path):
        raise DomainError(N_("Unknown org unit code."), field="org")
    return str(row["path"])


async def _standards() -> list[Standard]:
    """The standards city staff entered; no built-in fallback (a month none covers is refused)."""
    from relief_pwa.services.standards import load_standards

    return await load_standards()


async def load_candidates(
    actor: Actor, scope: DraftScope, *, now: datetime
) -> tuple[list[core_plans.Candidate], dict[int, HouseholdInfo]]:
    """Ranked candidates for drafting, and what the pages show about each household."""
    path = await _scope_path(actor, scope)
    like = f"{path}%"
    sql = (
        "SELECT a.id AS application_id, a.household AS household_id, a.category, a.received_on, "
        "h.file_no, h.head_name, h.org_path, h.area_type, h.current_index "
        "FROM application a JOIN household h ON h.id = a.household "
        "WHERE a.state IN ({}, {}, {}) AND a.org_path LIKE {}"
    )
    params: list[Any] = [*RECIPIENT_STATES, like]
    if scope.category:
        sql += " AND a.category = {}"
        params.append(scope.category)
    rows = await Household.raw(sql, *params)
    info: dict[int, HouseholdInfo] = {}
    area_of: dict[int, str] = {}
    for row in rows:
        household_id = int(row["household_id"])
        received = row["received_on"]
        if isinstance(received, str):
            received = date.fromisoformat(received)
        existing = info.get(household_id)
        if existing is None:
            index = row["current_index"]
            existing = info[household_id] = HouseholdInfo(
                household_id=household_id,
                file_no=row["file_no"],
                head_name=row["head_name"],
                org_path=row["org_path"],
                application_id=int(row["application_id"]),
                first_applied_on=received,
                index=Decimal(str(index)) if index is not None else Decimal(0),
            )
            area_of[household_id] = row["area_type"]
        elif received < existing.first_applied_on:
            existing.first_applied_on = received
        if int(row["application_id"]) > existing.application_id:
            existing.application_id = int(row["application_id"])  # the latest decision
        existing.categories.add(row["category"])
    if not info:
        return [], {}

    sizes = {
        int(r["household"]): int(r["n"])
        for r in await Household.raw(
            "SELECT household, COUNT(*) AS n FROM member WHERE active = {} AND org_path LIKE {} "
            "GROUP BY household",
            True,
            like,
        )
    }
    incomes = {
        int(r["household"]): int(r["total"] or 0)
        for r in await Household.raw(
            "SELECT household, SUM(COALESCE(verified_fen, declared_fen)) AS total FROM money_item "
            "WHERE section = 'income' AND active = {} AND org_path LIKE {} GROUP BY household",
            True,
            like,
        )
    }
    receiving = await _current_needs(like, month_of(local_today(now)))
    standards = await _standards()
    standard_cache: dict[tuple[str, str], int] = {}
    today = local_today(now)

    def standard_for(org_path: str, area: str) -> int:
        district = org_path.split("/")[1] if org_path.count("/") > 1 else ""
        key = (district, area)
        if key not in standard_cache:
            # No standard in force for this month: the draft is refused with the district and date.
            standard = select_standard(standards, district, AreaType(area), today)
            standard_cache[key] = standard.dibao_monthly_fen
        return standard_cache[key]

    ranked = rank(RankEntry(h.household_id, h.index, h.first_applied_on, h.file_no) for h in info.values())
    candidates: list[core_plans.Candidate] = []
    for entry in ranked:
        h = info[entry.entry.household_id]
        size = max(1, sizes.get(h.household_id, 1))
        candidates.append(
            core_plans.Candidate(
                household_id=h.household_id,
                file_no=h.file_no,
                index=h.index,
                rank=entry.rank,
                org_path=dotted(h.org_path),
                categories=frozenset(h.categories),
                household_size=size,
                per_capita_income_fen=max(0, incomes.get(h.household_id, 0)) // size,
                standard_fen=standard_for(h.org_path, area_of[h.household_id]),
                already_receiving=frozenset(receiving.get(h.household_id, ())),
            )
        )
    return candidates, info


async def _current_needs(org_like: str, month: str) -> dict[int, set[str]]:
    """Needs each household already holds a benefit for (no double benefit)."""
    rows = await PlanLine.raw(
        "SELECT pl.household, pl.status, pl.start_month, pl.months, r.need FROM plan_line pl "
        "JOIN resource r ON r.id = pl.resource "
        "WHERE pl.status IN ('approved', 'implemented') AND pl.org_path LIKE {}",
        org_like,
    )
    needs: dict[int, set[str]] = {}
    for row in rows:
        # An approved line not yet implemented is pending, so it always counts.
        if row["status"] == "approved" or line_covers(row["start_month"], int(row["months"]), month):
            needs.setdefault(int(row["household"]), set()).add(row["need"])
    return needs


async def load_pool(
    actor: Actor, scope: DraftScope, *, now: datetime
) -> tuple[list[core_plans.Resource], dict[int, dict[str, Any]]]:
    """Active resources in force today that the actor may draw on."""
    today = local_today(now)
    rows = (
        await Resource.select(*Resource.all_columns(), Resource.fund.code.as_alias("fund_code"))
        .where(Resource.active.eq(True))
        .order_by(Resource.priority)
        .order_by(Resource.id)
    )
    pool: list[core_plans.Resource] = []
    by_id: dict[int, dict[str, Any]] = {}
    wanted = set(scope.resource_ids)
    for row in rows:
        if not funds.visible_to(actor, row["org_path"]):
            continue
        if wanted and row["id"] not in wanted:
            continue
        if (row["period_start"] and row["period_start"] > today) or (
            row["period_end"] and row["period_end"] < today
        ):
            continue
        pool.append(core_resource(row))
        by_id[int(row["id"])] = row
    return pool, by_id


# --- drafts and what-if --------------------------------------------------------


@dataclass
class DraftView:
    draft: core_plans.Draft
    households: dict[int, HouseholdInfo]
    resources: dict[int, dict[str, Any]]
    candidates: int
    shown_lines: list[tuple[HouseholdInfo, int, list[core_plans.PlanLine]]]
    shown_passed: list[tuple[HouseholdInfo, core_plans.PassedOver]]
    scope: DraftScope


def _check_drafter(actor: Actor) -> None:
    require(actor, Capability.PLAN_READ)


async def get_draft(
    actor: Actor, scope: DraftScope, *, now: datetime, shown: int = SHOWN_HOUSEHOLDS
) -> DraftView:
    """The system's draft for the scope (read only: nothing is saved)."""
    _check_drafter(actor)
    candidates, info = await load_candidates(actor, scope, now=now)
    pool, resources = await load_pool(actor, scope, now=now)
    draft = core_plans.draft_plans(candidates, pool)
    ranks = {c.household_id: c.rank for c in candidates}
    grouped = draft.lines_by_household()
    shown_lines = [(info[hid], ranks[hid], lines) for hid, lines in list(grouped.items())[:shown]]
    shown_passed = [(info[p.household_id], p) for p in draft.passed_over[:shown]]
    return DraftView(draft, info, resources, len(candidates), shown_lines, shown_passed, scope)


@dataclass
class WhatIfView:
    result: core_plans.WhatIf
    households: dict[int, HouseholdInfo]
    resources: dict[int, dict[str, Any]]


async def get_what_if(
    actor: Actor, scope: DraftScope, budget_changes: Mapping[int, int], *, now: datetime
) -> WhatIfView:
    _check_drafter(actor)
    candidates, info = await load_candidates(actor, scope, now=now)
    pool, resources = await load_pool(actor, scope, now=now)
    result = core_plans.what_if(candidates, pool, budget_changes)
    return WhatIfView(result, info, resources)


def parse_budget_change(text: str, *, field_name: str) -> int:
    """A signed yuan amount typed by staff ("+5000", "-1,200.50") → fen."""
    raw = text.strip().replace("\u2212", "-")
    if not raw:
        return 0
    sign = -1 if raw.startswith("-") else 1
    return sign * parse_yuan(raw.lstrip("+-"), field=field_name)


# --- saving drafts -------------------------------------------------------------


def _reason_json(line: core_plans.PlanLine) -> str:
    return json.dumps(
        {
            "code": line.reason_code.value,
            "message": line.reason,
            "params": dict(line.params),
            "max_amount_fen": line.amount_fen,
            "max_quantity": line.quantity,
            "adjustments": [],
        },
        ensure_ascii=False,
    )


def reason_data(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        data = {"message": text, "params": {}}
    if not isinstance(data, dict):
        data = {"message": str(text), "params": {}}
    data.setdefault("params", {})
    data.setdefault("message", "")
    data.setdefault("adjustments", [])
    return data


async def do_save_drafts(
    actor: Actor, scope: DraftScope, *, now: datetime, household_ids: Iterable[int] | None = None
) -> list[int]:
    """Save the system's proposal as draft plans (one per household) for staff to adjust.

    A household's earlier draft plan, if any, is cancelled and replaced.
    """
    require(actor, Capability.PLAN_DRAFT)
    candidates, info = await load_candidates(actor, scope, now=now)
    pool, _ = await load_pool(actor, scope, now=now)
    draft = core_plans.draft_plans(candidates, pool)
    grouped = draft.lines_by_household()
    chosen = list(grouped) if household_ids is None else [h for h in household_ids if h in grouped]
    if household_ids is not None and not chosen:
        raise DomainError(
            N_("None of the chosen households receives anything in the draft."), field="households"
        )
    plan_ids: list[int] = []
    async with write_transaction(Plan._meta.db):
        old = await Plan.select(Plan.id).where(
            Plan.household.is_in(chosen or [-1]) & (Plan.status == "draft")
        )
        old_ids = [r["id"] for r in old]
        if old_ids:
            await PlanLine.update({PlanLine.status: "cancelled"}).where(PlanLine.plan.is_in(old_ids))
            await Plan.update({Plan.status: "cancelled", Plan.version: Plan.version + 1}).where(
                Plan.id.is_in(old_ids)
            )
        for household_id in chosen:
            h = info[household_id]
            plan = Plan(
                household=household_id,
                application=h.application_id,
                org_path=h.org_path,
                status="draft",
                created_by=actor.staff_id,
                created_at=now,
            )
            await plan.save()
            lines = grouped[household_id]
            await PlanLine.insert(
                *[
                    PlanLine(
                        plan=plan.id,
                        household=household_id,
                        resource=line.resource_id,
                        org_path=h.org_path,
                        amount_fen=line.amount_fen,
                        quantity=line.quantity,
                        months=line.months,
                        reason=_reason_json(line),
                        status="draft",
                    )
                    for line in lines
                ]
            )
            await record_event(
                actor,
                "plan.draft",
                "plan",
                plan.id,
                org_path=h.org_path,
                now=now,
                household_id=household_id,
                after={
                    "replaces": [i for i in old_ids],
                    "lines": [
                        {
                            "resource": line.resource_id,
                            "amount_fen": line.amount_fen,
                            "quantity": line.quantity,
                            "months": line.months,
                        }
                        for line in lines
                    ],
                },
            )
            plan_ids.append(int(plan.id))
    return plan_ids


# --- reading plans ---------------------------------------------------------------


async def access_plan(actor: Actor, plan_id: int) -> Plan:
    plan = await Plan.objects().where(Plan.id == plan_id).first()
    if plan is None or not actor.org_path or not plan.org_path.startswith(actor.org_path):
        raise NotFoundOrForbidden()
    return plan


@dataclass
class PlanDetail:
    plan: dict[str, Any]
    household: dict[str, Any]
    lines: list[dict[str, Any]]
    total_fen: int


async def get_plan(actor: Actor, plan_id: int) -> PlanDetail:
    plan = await access_plan(actor, plan_id)
    household = (
        await Household.select(
            Household.id,
            Household.file_no,
            Household.head_name,
            Household.current_index,
            Household.org_path,
            Household.account_sealed,
        )
        .where(Household.id == plan.household)
        .first()
    )
    if household is not None:
        household["onecard_account"] = identifiers.masked(
            identifiers.ACCOUNT, household.pop("account_sealed")
        )
    lines = (
        await PlanLine.select(
            *PlanLine.all_columns(),
            PlanLine.resource.name.as_alias("resource_name"),
            PlanLine.resource.kind.as_alias("resource_kind"),
            PlanLine.resource.need.as_alias("need"),
            PlanLine.resource.fund.code.as_alias("fund_code"),  # type: ignore[union-attr]
        )
        .where(PlanLine.plan == plan.id)
        .order_by(PlanLine.id)
    )
    total = 0
    for line in lines:
        line["reason_data"] = reason_data(line["reason"])
        line["total_fen"] = line["amount_fen"] * line["months"]
        if line["status"] != "cancelled" and line["resource_kind"] == "cash":
            total += line["total_fen"]
        line["paid_fen"] = 0
    if lines:
        paid = await PaymentLine.raw(
            "SELECT plan_line, SUM(amount_fen) AS total FROM payment_line WHERE status = 'paid' "
            "AND plan_line IN (SELECT id FROM plan_line WHERE plan = {}) GROUP BY plan_line",
            plan.id,
        )
        by_line = {int(r["plan_line"]): int(r["total"] or 0) for r in paid}
        for line in lines:
            line["paid_fen"] = by_line.get(int(line["id"]), 0)
    return PlanDetail(plan.to_dict(), household or {}, lines, total)


@dataclass
class PlanPage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    status: str


async def list_plans(actor: Actor, *, status: str = "", page: int = 1) -> PlanPage:
    where: Any = Plan.org_path.like(f"{actor.org_path}%")
    if status in ("draft", "approved", "cancelled"):
        where = where & (Plan.status == status)
    else:
        status = ""
    total = await Plan.count().where(where)
    pages = max(1, -(-total // PLAN_PAGE))
    page = max(1, min(page, pages))
    rows = await (
        Plan.select(
            *Plan.all_columns(),
            Plan.household.file_no.as_alias("file_no"),
            Plan.household.head_name.as_alias("head_name"),
            Plan.household.current_index.as_alias("current_index"),
        )
        .where(where)
        .order_by(Plan.id, ascending=False)
        .limit(PLAN_PAGE)
        .offset((page - 1) * PLAN_PAGE)
    )
    return PlanPage(list(rows), total, page, pages, status)


# --- adjusting and approving --------------------------------------------------------


async def _plan_for_change(actor: Actor, plan_id: int, expected_version: int | None) -> Plan:
    plan = await access_plan(actor, plan_id)
    if expected_version is not None and plan.version != expected_version:
        raise Conflict(N_("Someone else changed this plan meanwhile. Reload it and try again."))
    return plan


async def _bump(plan: Plan) -> None:
    updated = (
        await Plan.update({Plan.version: Plan.version + 1})
        .where((Plan.id == plan.id) & (Plan.version == plan.version))
        .returning(Plan.id)
    )
    if not updated:
        raise Conflict(N_("Someone else changed this plan meanwhile. Reload it and try again."))


async def do_adjust_line(
    actor: Actor,
    line_id: int,
    *,
    amount: str = "",
    quantity: str = "",
    remove: bool = False,
    reason: str,
    now: datetime,
    expected_version: int | None = None,
) -> None:
    """Staff adjust a draft line: remove it, or lower its amount / quantity
    (never above what the rule gives). A written reason is required."""
    require(actor, Capability.PLAN_DRAFT)
    reason = " ".join(reason.split())[:300]
    if len(reason) < 4:
        raise ValidationFailed(
            {
                "reason": DomainError(
                    N_("Please give a written reason (at least 4 characters)."), field="reason"
                )
            }
        )
    async with write_transaction(Plan._meta.db):
        line = await PlanLine.objects().where(PlanLine.id == line_id).first()
        if line is None:
            raise NotFoundOrForbidden()
        plan = await _plan_for_change(actor, line.plan, expected_version)
        if plan.status != "draft" or line.status != "draft":
            raise DomainError(N_("Only lines of a draft plan can be adjusted."), field="line")
        data = reason_data(line.reason)
        before = {"amount_fen": line.amount_fen, "quantity": line.quantity, "status": line.status}
        changes: dict[Any, Any] = {}
        if remove:
            changes[PlanLine.status] = "cancelled"
        else:
            if amount.strip():
                new_amount = parse_yuan(amount, field="amount")
                limit = int(data.get("max_amount_fen") or line.amount_fen)
                if new_amount <= 0 or new_amount > limit:
                    raise ValidationFailed(
                        {
                            "amount": DomainError(
                                N_("The amount must be above 0 and at most {limit} yuan."),
                                field="amount",
                                limit=format_yuan(limit),
                            )
                        }
                    )
                changes[PlanLine.amount_fen] = new_amount
            if quantity.strip():
                limit_q = int(data.get("max_quantity") or line.quantity)
                if not quantity.strip().isdecimal() or not 0 < int(quantity) <= limit_q:
                    raise ValidationFailed(
                        {
                            "quantity": DomainError(
                                N_("The quantity must be above 0 and at most {limit}."),
                                field="quantity",
                                limit=str(limit_q),
                            )
                        }
                    )
                changes[PlanLine.quantity] = int(quantity)
            if not changes:
                raise ValidationFailed(
                    {"amount": DomainError(N_("Enter the new amount or quantity."), field="amount")}
                )
        data["adjustments"].append(
            {
                "by": actor.username,
                "at": now.isoformat(),
                "reason": reason,
                "before": before,
                "remove": remove,
            }
        )
        changes[PlanLine.reason] = json.dumps(data, ensure_ascii=False)
        await PlanLine.update(changes).where(PlanLine.id == line.id)
        await _bump(plan)
        await record_event(
            actor,
            "plan.remove_line" if remove else "plan.adjust_line",
            "plan_line",
            line.id,
            org_path=plan.org_path,
            now=now,
            household_id=plan.household,
            before=before,
            after={
                "status": "cancelled" if remove else line.status,
                "amount_fen": changes.get(PlanLine.amount_fen, line.amount_fen),
                "quantity": changes.get(PlanLine.quantity, line.quantity),
                "reason": reason,
            },
        )


async def _reserve_resource(resource: dict[str, Any], total_fen: int, total_quantity: int) -> None:
    """Take a line's total from the resource, or refuse: atomic and conditional."""
    changes: dict[Any, Any] = {}
    guard = Resource.id == resource["id"]
    if resource["budget_total_fen"] is not None and total_fen:
        changes[Resource.budget_reserved_fen] = Resource.budget_reserved_fen + total_fen
        guard = guard & WhereRaw("budget_total_fen - budget_reserved_fen >= {}", total_fen)
    if resource["quantity_total"] is not None and total_quantity:
        changes[Resource.quantity_reserved] = Resource.quantity_reserved + total_quantity
        guard = guard & WhereRaw("quantity_total - quantity_reserved >= {}", total_quantity)
    if not changes:
        return
    updated = await Resource.update(changes).where(guard).returning(Resource.id)
    if not updated:
        fresh = await Resource.select().where(Resource.id == resource["id"]).first()
        assert fresh is not None
        if (
            fresh["budget_total_fen"] is not None
            and fresh["budget_total_fen"] - fresh["budget_reserved_fen"] < total_fen
        ):
            raise funds.Overspending(
                N_("{resource}: only {remaining} yuan of the budget remain; {needed} yuan are needed."),
                field="resource",
                resource=fresh["name"],
                remaining=format_yuan(fresh["budget_total_fen"] - fresh["budget_reserved_fen"]),
                needed=format_yuan(total_fen),
            )
        raise funds.Overspending(
            N_("{resource}: only {remaining} remain; {needed} are needed."),
            field="resource",
            resource=fresh["name"],
            remaining=str((fresh["quantity_total"] or 0) - fresh["quantity_reserved"]),
            needed=str(total_quantity),
        )


async def _release_resource(resource_id: int, total_fen: int, total_quantity: int) -> None:
    row = await Resource.select().where(Resource.id == resource_id).first()
    assert row is not None
    changes: dict[Any, Any] = {}
    if row["budget_total_fen"] is not None and total_fen:
        changes[Resource.budget_reserved_fen] = Resource.budget_reserved_fen - total_fen
    if row["quantity_total"] is not None and total_quantity:
        changes[Resource.quantity_reserved] = Resource.quantity_reserved - total_quantity
    if changes:
        await Resource.update(changes).where(Resource.id == resource_id)


async def _plan_authors(plan: Plan) -> list[int | None]:
    """Who drafted the plan and who adjusted or removed any of its lines."""
    line_ids = [row["id"] for row in await PlanLine.select(PlanLine.id).where(PlanLine.plan == plan.id)]
    editors = (
        await AuditEvent.select(AuditEvent.actor).where(
            (AuditEvent.entity_type == "plan_line")
            & AuditEvent.entity_id.is_in(line_ids)
            & AuditEvent.action.is_in(["plan.adjust_line", "plan.remove_line"])
        )
        if line_ids
        else []
    )
    return [plan.created_by, *(row["actor"] for row in editors)]


async def do_approve_plan(
    actor: Actor, plan_id: int, *, now: datetime, expected_version: int | None = None
) -> None:
    """Approve a draft plan: reserve every line's resource budget/quantity and
    (cash) its fund. All or nothing: one refused reservation refuses the plan.
    Four eyes: whoever drafted the plan or changed its lines cannot approve it."""
    require(actor, Capability.PLAN_APPROVE)
    month = month_of(local_today(now))
    async with write_transaction(Plan._meta.db):
        plan = await _plan_for_change(actor, plan_id, expected_version)
        await require_second_person(actor, FourEyes.PLAN_APPROVE, await _plan_authors(plan))
        if plan.status != "draft":
            raise DomainError(N_("Only a draft plan can be approved."), field="plan")
        lines = await PlanLine.select().where((PlanLine.plan == plan.id) & (PlanLine.status == "draft"))
        if not lines:
            raise DomainError(N_("The plan has no lines left to approve."), field="plan")
        resources = {
            r["id"]: r
            for r in await Resource.select().where(Resource.id.is_in([line["resource"] for line in lines]))
        }
        held = await _current_needs(plan.org_path, month)
        held_needs = held.get(int(plan.household), set())
        # A line re-drafted at a review replaces a running line: that one ends with this
        # month and the new amount starts next month (docs/reviews-and-aid.md).
        replacing = await _replacements(plan, lines, month)
        approved: list[dict[str, Any]] = []
        for line in lines:
            resource = resources[line["resource"]]
            if not resource["active"] or not funds.visible_to(actor, resource["org_path"]):
                raise DomainError(
                    N_("{resource} is no longer available."), field="plan", resource=resource["name"]
                )
            if line["id"] in replacing:
                old_line, new_months = replacing[line["id"]]
                line["months"] = new_months
                await end_line_with(actor, old_line, month, reason="复核调整金额", now=now)
                await PlanLine.update(
                    {PlanLine.months: new_months, PlanLine.start_month: month_name(month_number(month) + 1)}
                ).where(PlanLine.id == line["id"])
            elif resource["need"] in held_needs:
                raise DomainError(
                    N_("The household already receives help for this need ({need})."),
                    field="plan",
                    need=resource["need"],
                )
            held_needs.add(resource["need"])
            total_fen = int(line["amount_fen"]) * int(line["months"])
            total_quantity = int(line["quantity"]) * int(line["months"])
            await _reserve_resource(resource, total_fen, total_quantity)
            if resource["kind"] == "cash":
                if resource["fund"] is None:
                    raise DomainError(
                        N_("{resource} has no fund to pay from."), field="plan", resource=resource["name"]
                    )
                await funds.reserve(
                    resource["fund"],
                    total_fen,
                    reference=f"plan_line:{line['id']}",
                    staff_id=actor.staff_id,
                    now=now,
                )
            approved.append(
                {
                    "line": line["id"],
                    "resource": resource["id"],
                    "total_fen": total_fen,
                    "total_quantity": total_quantity,
                }
            )
        await PlanLine.update({PlanLine.status: "approved", PlanLine.start_month: month}).where(
            (PlanLine.plan == plan.id) & (PlanLine.status == "draft") & (PlanLine.start_month == "")
        )
        await PlanLine.update({PlanLine.status: "approved"}).where(
            (PlanLine.plan == plan.id) & (PlanLine.status == "draft")
        )
        await Plan.update(
            {
                Plan.status: "approved",
                Plan.approved_by: actor.staff_id,
                Plan.approved_at: now,
                Plan.version: Plan.version + 1,
            }
        ).where(Plan.id == plan.id)
        await record_event(
            actor,
            "plan.approve",
            "plan",
            plan.id,
            org_path=plan.org_path,
            now=now,
            household_id=plan.household,
            before={"status": "draft"},
            after={"status": "approved", "start_month": month, "reserved": approved},
        )


async def do_cancel_line(actor: Actor, line_id: int, *, reason: str, now: datetime) -> None:
    """Stop an approved line: what was not paid or handed over goes back to the
    resource and the fund. Refused while a payment of the line is at the bank."""
    require(actor, Capability.PLAN_DRAFT)
    reason = " ".join(reason.split())[:300]
    if len(reason) < 4:
        raise ValidationFailed(
            {
                "reason": DomainError(
                    N_("Please give a written reason (at least 4 characters)."), field="reason"
                )
            }
        )
    async with write_transaction(Plan._meta.db):
        line = await PlanLine.objects().where(PlanLine.id == line_id).first()
        if line is None:
            raise NotFoundOrForbidden()
        plan = await access_plan(actor, line.plan)
        if line.status not in HOLDING_STATES:
            raise DomainError(N_("Only an approved line can be stopped."), field="line")
        if await PaymentLine.exists().where(
            (PaymentLine.plan_line == line.id) & (PaymentLine.status == "batched")
        ):
            raise DomainError(
                N_("A payment of this line is at the bank; reconcile its batch first."), field="line"
            )
        resource = await Resource.select().where(Resource.id == line.resource).first()
        assert resource is not None
        paid = await Payment.raw(
            "SELECT COALESCE(SUM(p.amount_fen), 0) AS total FROM payment p "
            "JOIN payment_line l ON l.id = p.payment_line WHERE l.plan_line = {}",
            line.id,
        )
        paid_fen = int(paid[0]["total"] or 0)
        from relief_pwa.tables import Handover

        handed = await Handover.raw(
            "SELECT COALESCE(SUM(quantity), 0) AS total FROM handover WHERE plan_line = {}", line.id
        )
        handed_quantity = int(handed[0]["total"] or 0)
        total_fen = line.amount_fen * line.months
        total_quantity = line.quantity * line.months
        if resource["kind"] == "cash":
            unused_fen = total_fen - paid_fen
        else:
            # In-kind value is used in proportion to the units handed over.
            unused_fen = total_fen - (total_fen * handed_quantity // total_quantity if total_quantity else 0)
        unused_quantity = total_quantity - handed_quantity
        await _release_resource(line.resource, unused_fen, unused_quantity)
        if resource["kind"] == "cash" and resource["fund"] is not None and unused_fen > 0:
            await funds.release(
                resource["fund"],
                unused_fen,
                reference=f"plan_line:{line.id}",
                staff_id=actor.staff_id,
                now=now,
                note=reason,
            )
        await PaymentLine.update({PaymentLine.status: "cancelled"}).where(
            (PaymentLine.plan_line == line.id) & (PaymentLine.status == "queued")
        )
        await PlanLine.update({PlanLine.status: "cancelled"}).where(PlanLine.id == line.id)
        await record_event(
            actor,
            "plan.cancel_line",
            "plan_line",
            line.id,
            org_path=plan.org_path,
            now=now,
            household_id=plan.household,
            before={"status": line.status},
            after={
                "status": "cancelled",
                "released_fen": unused_fen,
                "released_quantity": unused_quantity,
                "reason": reason,
            },
        )


# --- lines that replace or end running lines (reviews), and one-off grants ---------------


async def _replacements(plan: Plan, lines: list[dict[str, Any]], month: str) -> dict[int, tuple[int, int]]:
    """New line id → (the running line it replaces, its months from next month on)."""
    wanted = {int(line["id"]): int(reason_data(line["reason"]).get("replaces_line") or 0) for line in lines}
    wanted = {new: old for new, old in wanted.items() if old}
    if not wanted:
        return {}
    old_rows = {
        int(r["id"]): r
        for r in await PlanLine.select().where(
            PlanLine.id.is_in(list(wanted.values())) & (PlanLine.household == plan.household)
        )
    }
    result: dict[int, tuple[int, int]] = {}
    for new_id, old_id in wanted.items():
        old = old_rows.get(old_id)
        if old is None or old["status"] not in HOLDING_STATES:
            raise DomainError(N_("The line this plan replaces is no longer running."), field="plan")
        last = month_number(old["start_month"]) + int(old["months"]) - 1
        remaining = last - month_number(month)
        if remaining < 1:
            raise DomainError(
                N_("The line this plan replaces ends this month; draft a new plan instead."), field="plan"
            )
        result[new_id] = (old_id, remaining)
    return result


async def end_line_with(actor: Actor, line_id: int, last_month: str, *, reason: str, now: datetime) -> bool:
    """Shorten a running line so that ``last_month`` is its last month: later
    queued payment lines are cancelled and what is no longer needed goes back
    to the resource and the fund. Inside the caller's transaction; a line that
    already ends by then is left alone (returns False)."""
    line = await PlanLine.objects().where(PlanLine.id == line_id).first()
    if line is None or line.status not in HOLDING_STATES or not line.start_month:
        return False
    keep = month_number(last_month) - month_number(line.start_month) + 1
    if keep >= line.months:
        return False
    keep = max(0, keep)
    if await PaymentLine.exists().where(
        (PaymentLine.plan_line == line.id)
        & (PaymentLine.status == "batched")
        & (PaymentLine.month > last_month)
    ):
        raise DomainError(
            N_("A payment of this line is at the bank; reconcile its batch first."), field="line"
        )
    resource = await Resource.select().where(Resource.id == line.resource).first()
    assert resource is not None
    dropped_fen = line.amount_fen * (line.months - keep)
    dropped_quantity = line.quantity * (line.months - keep)
    await _release_resource(line.resource, dropped_fen, dropped_quantity)
    if resource["kind"] == "cash" and resource["fund"] is not None and dropped_fen > 0:
        await funds.release(
            resource["fund"],
            dropped_fen,
            reference=f"plan_line:{line.id}",
            staff_id=actor.staff_id,
            now=now,
            note=reason,
        )
    await PaymentLine.update({PaymentLine.status: "cancelled"}).where(
        (PaymentLine.plan_line == line.id)
        & (PaymentLine.status == "queued")
        & (PaymentLine.month > last_month)
    )
    # A line that had not started yet is cancelled whole; otherwise it keeps its paid months.
    changes: dict[Any, Any] = {PlanLine.months: keep} if keep else {PlanLine.status: "cancelled"}
    await PlanLine.update(changes).where(PlanLine.id == line.id)
    await record_event(
        actor,
        "plan.end_line",
        "plan_line",
        line.id,
        org_path=line.org_path,
        now=now,
        household_id=line.household,
        before={"months": line.months, "status": line.status},
        after={
            "months": keep,
            "last_month": last_month,
            "released_fen": dropped_fen,
            "released_quantity": dropped_quantity,
            "reason": reason,
        },
    )
    return True


async def running_monthly_lines(household_id: int, month: str) -> list[dict[str, Any]]:
    """The household's approved monthly cash lines still running in ``month`` or later."""
    rows = await PlanLine.raw(
        "SELECT pl.id, pl.plan, pl.resource, pl.amount_fen, pl.quantity, pl.months, pl.start_month, "
        "pl.status, p.application, r.name AS resource_name, r.statutory, r.unit, r.unit_amount_fen "
        "FROM plan_line pl JOIN plan p ON p.id = pl.plan JOIN resource r ON r.id = pl.resource "
        "WHERE pl.household = {} AND pl.status IN ('approved', 'implemented') AND pl.start_month <> '' "
        "AND r.kind = 'cash' AND r.periodicity = 'monthly'",
        household_id,
    )
    target = month_number(month)
    return [r for r in rows if month_number(r["start_month"]) + int(r["months"]) - 1 >= target]


async def draft_replacement_plan(
    actor: Actor,
    household_id: int,
    application_id: int,
    replacements: list[tuple[dict[str, Any], int]],
    *,
    note: str,
    now: datetime,
) -> int:
    """A draft plan whose lines replace running lines with new monthly amounts
    (approved through ``do_approve_plan``: four eyes apply). Inside the caller's transaction."""
    household = await Household.select(Household.org_path).where(Household.id == household_id).first()
    assert household is not None
    plan = Plan(
        household=household_id,
        application=application_id,
        org_path=household["org_path"],
        status="draft",
        note=note[:2000],
        created_by=actor.staff_id,
        created_at=now,
    )
    await plan.save()
    for old, amount_fen in replacements:
        await PlanLine(
            plan=plan.id,
            household=household_id,
            resource=old["resource"],
            org_path=household["org_path"],
            amount_fen=amount_fen,
            quantity=0,
            months=int(old["months"]),
            reason=json.dumps(
                {
                    "message": N_("{resource}: amount re-drafted at review, {amount} yuan a month."),
                    "params": {"resource": old["resource_name"], "amount": format_yuan(amount_fen)},
                    "adjustments": [],
                    "replaces_line": int(old["id"]),
                    "max_amount_fen": amount_fen,
                },
                ensure_ascii=False,
            ),
            status="draft",
        ).save()
    await record_event(
        actor,
        "plan.draft",
        "plan",
        plan.id,
        org_path=household["org_path"],
        now=now,
        household_id=household_id,
        after={
            "review": True,
            "lines": [
                {"replaces_line": int(old["id"]), "amount_fen": amount, "before_fen": int(old["amount_fen"])}
                for old, amount in replacements
            ],
        },
    )
    return int(plan.id)


async def grant_one_off_line(
    actor: Actor,
    household_id: int,
    application_id: int,
    resource_id: int,
    amount_fen: int,
    *,
    reason: str,
    now: datetime,
) -> int:
    """An approved one-off cash line paid this month, reserved on its resource and fund
    (先行救助: one person grants within the rule's limit; docs/reviews-and-aid.md).
    Inside the caller's transaction. Returns the line id."""
    month = month_of(local_today(now))
    resource = await Resource.select().where(Resource.id == resource_id).first()
    if (
        resource is None
        or not resource["active"]
        or resource["kind"] != "cash"
        or not funds.visible_to(actor, resource["org_path"])
    ):
        raise DomainError(N_("Please choose a cash resource that pays temporary relief."), field="resource")
    if resource["fund"] is None:
        raise DomainError(
            N_("{resource} has no fund to pay from."), field="resource", resource=resource["name"]
        )
    household = await Household.select(Household.org_path).where(Household.id == household_id).first()
    assert household is not None
    await _reserve_resource(resource, amount_fen, 0)
    plan = Plan(
        household=household_id,
        application=application_id,
        org_path=household["org_path"],
        status="approved",
        note=reason[:2000],
        created_by=actor.staff_id,
        created_at=now,
        approved_by=actor.staff_id,
        approved_at=now,
    )
    await plan.save()
    line = PlanLine(
        plan=plan.id,
        household=household_id,
        resource=resource_id,
        org_path=household["org_path"],
        amount_fen=amount_fen,
        quantity=0,
        months=1,
        start_month=month,
        reason=json.dumps(
            {
                "message": N_("先行救助: {amount} yuan granted at once."),
                "params": {"amount": format_yuan(amount_fen)},
                "adjustments": [],
                "emergency": True,
            },
            ensure_ascii=False,
        ),
        status="approved",
    )
    await line.save()
    await funds.reserve(
        resource["fund"], amount_fen, reference=f"plan_line:{line.id}", staff_id=actor.staff_id, now=now
    )
    await record_event(
        actor,
        "plan.approve",
        "plan",
        plan.id,
        org_path=household["org_path"],
        now=now,
        household_id=household_id,
        before={"status": "none"},
        after={
            "status": "approved",
            "start_month": month,
            "emergency": True,
            "reserved": [{"line": line.id, "resource": resource_id, "total_fen": amount_fen}],
        },
    )
    return int(line.id)


def category_choices() -> list[Category]:
    return list(Category)
