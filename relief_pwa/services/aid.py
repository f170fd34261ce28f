"""Several forms of aid per household, and temporary relief granted first (先行救助).

One household file holds several applications at once (低保, 特困, medical,
education, housing, temporary, 边缘户 support…), each with its own lifecycle,
公示 and plan lines. A second application of a category is refused only while
one of that category is still open (docs/reviews-and-aid.md).

先行救助 (急难型临时救助): a station or centre grants up to the rule
``emergency_grant_limit_yuan`` at once. A temporary-relief application is
opened (or the open one used) and an approved one-off plan line is made
immediately by the one person who grants; the 公示 and the full review follow
through the normal lifecycle, where the four-eyes rule on the decision applies
(the grantor took the application's intake, so another colleague approves it).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from relief_pwa.clock import local_date
from relief_pwa.core.enums import OPEN_STATES, AppState, Category, Channel
from relief_pwa.core.errors import DomainError, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.materials import MATERIALS, Material, MemberNeeds, missing_materials, required_materials
from relief_pwa.core.money import format_yuan, parse_yuan
from relief_pwa.core.permissions import Capability
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services import entitlements, hooks, plans
from relief_pwa.services.access import access_household
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.bot import bind_new_application
from relief_pwa.services.funds import visible_to
from relief_pwa.services.numbers import application_number, next_value
from relief_pwa.services.prepared import Prepared, Read
from relief_pwa.services.reviews import review_history, review_history_reads
from relief_pwa.services.rules import load_calendar
from relief_pwa.tables import (
    Application,
    AuditEvent,
    EmergencyGrant,
    Household,
    Member,
    MoneyItem,
    Resource,
)

_OPEN = [s.value for s in OPEN_STATES]
DESCRIPTION_MAX = 2000


def _clean(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


async def _materials_for(household_id: int, category: str, housing: str) -> list[Material]:
    members = await Member.select(Member.id, Member.disability_grade, Member.illness, Member.schooling).where(
        (Member.household == household_id) & Member.active.eq(True)
    )
    items = await MoneyItem.select(MoneyItem.section, MoneyItem.member).where(
        (MoneyItem.household == household_id) & MoneyItem.active.eq(True)
    )
    earners = {i["member"] for i in items if i["section"] == "income"}
    needs = [
        MemberNeeds(m["disability_grade"], m["illness"], m["schooling"], has_income=m["id"] in earners)
        for m in members
    ]
    return required_materials(category, needs, housing, any(i["section"] == "expense" for i in items))


async def _open_application(household_id: int, category: str) -> dict[str, Any] | None:
    row = (
        await Application.select(Application.id, Application.number, Application.state)
        .where(
            (Application.household == household_id)
            & (Application.category == category)
            & Application.state.is_in(_OPEN)
        )
        .first()
    )
    return dict(row) if row else None


async def _new_application(
    actor: Actor,
    household: Household,
    *,
    category: str,
    description: str,
    materials: list[str],
    now: datetime,
) -> tuple[int, str, list[Material]]:
    """Insert one application in the caller's transaction (after the duplicate check)."""
    needed = await _materials_for(household.id, category, household.housing)
    missing = missing_materials(needed, materials)
    street_code = [c for c in household.org_path.split("/") if c][2]
    number = application_number(
        street_code, now.year, await next_value(f"application:{street_code}:{now.year}")
    )
    channel = Channel.WINDOW if actor.can(Capability.INTAKE_AT_WINDOW) else Channel.LIAISON
    application = Application(
        number=number,
        household=household.id,
        org_path=household.org_path,
        category=category,
        channel=channel,
        state=AppState.RECEIVED,
        description=description,
        missing_materials=[m.code for m in missing],
        received_on=local_date(now),
        state_changed_at=now,
        submitted_by=actor.staff_id,
        created_at=now,
    )
    await application.save()
    if not household.is_open:
        # A closed file is reopened by its new application rather than duplicated.
        await Household.update({Household.is_open: True, Household.updated_at: now}).where(
            Household.id == household.id
        )
        await record_event(
            actor,
            "household.reopen",
            "household",
            household.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            before={"is_open": False},
            after={"is_open": True},
        )
    await record_event(
        actor,
        "application.receive",
        "application",
        application.id,
        org_path=household.org_path,
        now=now,
        household_id=household.id,
        after={
            "number": number,
            "category": category,
            "channel": channel,
            "state": AppState.RECEIVED,
            "missing_materials": [m.code for m in missing],
            "additional": True,
        },
    )
    await hooks.household_changed(household.id, trigger="application.add", now=now)
    await bind_new_application(application.id, now)
    return int(application.id), number, missing


# --- apply for another form of aid -------------------------------------------------


@dataclass(frozen=True)
class AddApplicationForm:
    household: dict[str, Any]
    categories: list[Category]
    open_categories: set[str]
    materials: list[Material]


async def get_add_application_form(actor: Actor, household_id: int) -> AddApplicationForm:
    require(actor, Capability.APPLICATION_ADD)
    household = await access_household(actor, household_id)
    open_rows = await Application.select(Application.category).where(
        (Application.household == household.id) & Application.state.is_in(_OPEN)
    )
    return AddApplicationForm(
        household={"id": household.id, "file_no": household.file_no, "head_name": household.head_name},
        categories=list(Category),
        open_categories={r["category"] for r in open_rows},
        materials=list(MATERIALS.values()),
    )


@dataclass(frozen=True)
class AddApplicationResult:
    application_id: int
    number: str
    missing: tuple[Material, ...]


async def do_add_application(
    actor: Actor,
    household_id: int,
    *,
    category: str,
    description: str,
    materials: list[str],
    now: datetime,
) -> AddApplicationResult:
    """Open another application in an existing household file. Refused while an
    application of the same category is still open there."""
    require(actor, Capability.APPLICATION_ADD)
    errors: dict[str, DomainError] = {}
    if category not in {c.value for c in Category}:
        errors["category"] = DomainError(N_("Choose the form of aid."), field="category")
    description = _clean(description, DESCRIPTION_MAX)
    if len(description) < 4:
        errors["description"] = DomainError(
            N_("Describe the household's difficulty (at least 4 characters)."), field="description"
        )
    if errors:
        raise ValidationFailed(errors)
    chosen = [m for m in dict.fromkeys(materials) if m in MATERIALS]
    engine = Application._meta.db
    async with write_transaction(engine):
        household = await access_household(actor, household_id)
        await advisory_xact_lock(engine, f"application:{household.id}:{category}")
        existing = await _open_application(household.id, category)
        if existing is not None:
            raise ValidationFailed(
                {
                    "category": DomainError(
                        N_("Application {number} of this form of aid is still open in this household."),
                        field="category",
                        number=existing["number"],
                    )
                }
            )
        application_id, number, missing = await _new_application(
            actor, household, category=category, description=description, materials=chosen, now=now
        )
    return AddApplicationResult(application_id, number, tuple(missing))


# --- 先行救助 --------------------------------------------------------------------------


async def emergency_limit_fen(today: date) -> int:
    return (await load_calendar()).rule("emergency_grant_limit_yuan", today) * 100


async def emergency_resources(actor: Actor, today: date) -> list[dict[str, Any]]:
    """Active cash resources the actor may draw on that pay temporary relief."""
    rows = await Resource.select(
        Resource.id, Resource.name, Resource.org_path, Resource.rule, Resource.fund
    ).where(Resource.active.eq(True) & (Resource.kind == "cash") & Resource.fund.is_not_null())
    chosen = []
    for row in rows:
        if not visible_to(actor, row["org_path"]):
            continue
        try:
            categories = json.loads(row["rule"] or "{}").get("categories") or []
        except ValueError:
            categories = []
        if categories and Category.TEMPORARY.value not in categories:
            continue
        chosen.append({"id": row["id"], "name": row["name"]})
    return chosen


@dataclass(frozen=True)
class EmergencyForm:
    household: dict[str, Any]
    limit_fen: int
    resources: list[dict[str, Any]]
    open_application: dict[str, Any] | None


async def get_emergency_form(actor: Actor, household_id: int, *, now: datetime) -> EmergencyForm:
    require(actor, Capability.EMERGENCY_GRANT)
    household = await access_household(actor, household_id)
    today = local_date(now)
    return EmergencyForm(
        household={"id": household.id, "file_no": household.file_no, "head_name": household.head_name},
        limit_fen=await emergency_limit_fen(today),
        resources=await emergency_resources(actor, today),
        open_application=await _open_application(household.id, Category.TEMPORARY.value),
    )


@dataclass(frozen=True)
class EmergencyResult:
    grant_id: int
    application_id: int
    plan_line_id: int
    amount_fen: int
    duplicate: bool = False


async def do_grant_emergency(
    actor: Actor,
    household_id: int,
    *,
    amount: str,
    resource_id: str,
    reason: str,
    client_token: str = "",
    now: datetime,
) -> EmergencyResult:
    """Grant temporary relief at once (先行救助), up to the rule's limit; the
    application's 公示 and review follow. A retried form (same token) grants once."""
    require(actor, Capability.EMERGENCY_GRANT)
    today = local_date(now)
    errors: dict[str, DomainError] = {}
    amount_fen = 0
    try:
        amount_fen = parse_yuan(amount, field="amount")
    except DomainError as exc:
        errors["amount"] = exc
    limit = await emergency_limit_fen(today)
    if "amount" not in errors:
        if amount_fen <= 0:
            errors["amount"] = DomainError(N_("Enter an amount above 0."), field="amount")
        elif amount_fen > limit:
            errors["amount"] = DomainError(
                N_(
                    "先行救助 is limited to {limit} yuan; for more, take the application "
                    "through the normal review and approval."
                ),
                field="amount",
                limit=format_yuan(limit),
            )
    reason = _clean(reason, DESCRIPTION_MAX)
    if len(reason) < 4:
        errors["reason"] = DomainError(
            N_("Please give a written reason (at least 4 characters)."), field="reason"
        )
    resource = int(resource_id) if resource_id.strip().isdecimal() and len(resource_id) < 12 else 0
    if resource not in {r["id"] for r in await emergency_resources(actor, today)}:
        errors["resource"] = DomainError(
            N_("Please choose a cash resource that pays temporary relief."), field="resource"
        )
    if errors:
        raise ValidationFailed(errors)
    token = client_token.strip()[:40] or None
    engine = EmergencyGrant._meta.db
    async with write_transaction(engine):
        household = await access_household(actor, household_id)
        await advisory_xact_lock(engine, f"application:{household.id}:{Category.TEMPORARY.value}")
        if token:
            earlier = await EmergencyGrant.select().where(EmergencyGrant.client_token == token).first()
            if earlier is not None:
                return EmergencyResult(
                    int(earlier["id"]),
                    int(earlier["application"]),
                    int(earlier["plan_line"]),
                    int(earlier["amount_fen"]),
                    duplicate=True,
                )
        open_app = await _open_application(household.id, Category.TEMPORARY.value)
        if open_app is not None:
            application_id = int(open_app["id"])
        else:
            application_id, _number, _missing = await _new_application(
                actor,
                household,
                category=Category.TEMPORARY.value,
                description=reason,
                materials=[],
                now=now,
            )
        line_id = await plans.grant_one_off_line(
            actor, household.id, application_id, resource, amount_fen, reason=reason, now=now
        )
        granted_to = await Application.objects().where(Application.id == application_id).first()
        if granted_to is not None:
            await entitlements.open_granted_first_month(actor, granted_to, today, reason, now)
        grant = EmergencyGrant(
            application=application_id,
            household=household.id,
            plan_line=line_id,
            org_path=household.org_path,
            amount_fen=amount_fen,
            granted_on=today,
            reason=reason,
            client_token=token,
            granted_by=actor.staff_id,
            granted_at=now,
        )
        await grant.save()
        await record_event(
            actor,
            "emergency.grant",
            "emergency_grant",
            grant.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            after={
                "application": application_id,
                "plan_line": line_id,
                "amount_fen": amount_fen,
                "limit_fen": limit,
                "reason": reason,
            },
        )
    return EmergencyResult(int(grant.id), application_id, line_id, amount_fen)


# --- what the household file shows ---------------------------------------------------------


@dataclass
class HouseholdAid:
    """Every application of the household with its own history, 先行救助 and 渐退."""

    applications: list[dict[str, Any]]
    history: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    grants: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    tapers: dict[int, str] = field(default_factory=dict)  # application → 渐退 until YYYY-MM
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


# The audit events of the household's applications, oldest first (a household has a few).
_APPLICATION_EVENTS: Prepared[dict[str, Any]] = Prepared(
    lambda household: (
        AuditEvent.select(
            AuditEvent.entity_id,
            AuditEvent.at,
            AuditEvent.action,
            AuditEvent.actor_label,
            AuditEvent.after,
        )
        .where(
            (AuditEvent.entity_type == "application")
            & AuditEvent.entity_id.is_in(
                Application.select(Application.id).where(Application.household == household)
            )
        )
        .order_by(AuditEvent.seq)
    )
)


_GRANTS: Prepared[dict[str, Any]] = Prepared(
    lambda household: (
        EmergencyGrant.select(
            EmergencyGrant.application,
            EmergencyGrant.amount_fen,
            EmergencyGrant.granted_on,
            EmergencyGrant.reason,
        )
        .where(EmergencyGrant.household == household)
        .order_by(EmergencyGrant.id)
    )
)


def household_aid_reads(household_id: int) -> list[Read]:
    """The reads ``household_aid`` sends, for a page to send them together (``prefetched``)."""
    return [
        (_APPLICATION_EVENTS, (household_id,)),
        (_GRANTS, (household_id,)),
        *review_history_reads(household_id),
    ]


async def household_aid(household_id: int, applications: list[dict[str, Any]] | None = None) -> HouseholdAid:
    """Every form of aid with its history; ``applications``: the household's applications,
    newest first, when the caller has loaded them already (the household file)."""
    if applications is None:
        applications = list(
            await Application.select()
            .where(Application.household == household_id)
            .order_by(Application.id, ascending=False)
        )
    aid = HouseholdAid(applications)
    if not applications:
        return aid
    events = await _APPLICATION_EVENTS.rows(household_id)
    history: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        after = json.loads(event["after"]) if event["after"] else {}
        history[int(event["entity_id"])].append(
            {
                "at": event["at"],
                "action": event["action"],
                "actor_label": event["actor_label"],
                "reason": after.get("reason", "") if isinstance(after, dict) else "",
                "exit_reason": after.get("exit_reason", "") if isinstance(after, dict) else "",
            }
        )
    aid.history = dict(history)
    for grant in await _GRANTS.rows(household_id):
        aid.grants.setdefault(int(grant["application"]), []).append(grant)
    reviews = await review_history(household_id)  # newest first
    for review in reviews:
        aid.reviews.setdefault(int(review["application"]), []).append(review)
    # The running 渐退 windows (a gradual exit not yet finished), from the same rows: the
    # newest decision of an application wins.
    for review in reversed(reviews):
        if review["decision"] == "gradual_exit" and review["taper_finished_at"] is None:
            aid.tapers[int(review["application"])] = review["taper_until"]
    return aid
