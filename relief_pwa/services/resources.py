"""The pool of resources: providers of every kind, their resources, donations.

District centres manage their district's providers and resources; the city
bureau manages city-wide ones. A resource's ``org_path`` is its owner's unit,
which is also the widest area it may serve.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from relief_pwa.clock import local_date
from relief_pwa.core import plans as core_plans
from relief_pwa.core.bounds import parse_day
from relief_pwa.core.enums import Category
from relief_pwa.core.errors import Conflict, DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import format_yuan, parse_yuan
from relief_pwa.core.permissions import Capability
from relief_pwa.db import write_transaction
from relief_pwa.services import funds
from relief_pwa.services.access import valid_id
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.tables import Donation, Fund, OrgUnit, Provider, Resource

PROVIDER_KINDS = ("government", "enterprise", "social_org", "individual")
PROVIDER_KIND_LABELS = {
    "government": N_("Government department"),
    "enterprise": N_("Enterprise"),
    "social_org": N_("Social organisation"),
    "individual": N_("Individual donor"),
}
RESOURCE_KIND_LABELS = {
    "cash": N_("Cash"),
    "in_kind": N_("In kind"),
    "service": N_("Service"),
}
UNIT_LABELS = {"per_person": N_("per person"), "per_household": N_("per household")}
PERIODICITY_LABELS = {"one_off": N_("one-off"), "monthly": N_("monthly")}
MAX_MONTHS = 36


def _clean(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


# --- providers ---------------------------------------------------------------


@dataclass(frozen=True)
class ProviderDraft:
    name: str
    kind: str
    contact: str = ""


async def do_create_provider(actor: Actor, draft: ProviderDraft, *, now: datetime) -> int:
    require(actor, Capability.RESOURCES_MANAGE)
    name = _clean(draft.name, 121)
    errors: dict[str, DomainError] = {}
    if not name or len(name) > 120:
        errors["name"] = DomainError(N_("Enter a name (at most 120 characters)."), field="name")
    if draft.kind not in PROVIDER_KINDS:
        errors["kind"] = DomainError(N_("Choose the kind of provider."), field="kind")
    if errors:
        raise ValidationFailed(errors)
    async with write_transaction(Provider._meta.db):
        provider = Provider(
            name=name,
            kind=draft.kind,
            contact=_clean(draft.contact, 120),
            org_path=actor.owner_path,
            created_at=now,
        )
        await provider.save()
        await record_event(
            actor,
            "provider.create",
            "provider",
            provider.id,
            org_path=actor.owner_path,
            now=now,
            after={"name": name, "kind": draft.kind, "contact": provider.contact},
        )
    return int(provider.id)


async def list_providers(actor: Actor) -> list[dict[str, Any]]:
    rows = await Provider.select().order_by(Provider.name)
    return [row for row in rows if funds.visible_to(actor, row["org_path"])]


# --- resources ---------------------------------------------------------------


@dataclass
class ResourceDraft:
    """A resource as typed in the form (all text)."""

    provider_id: str = ""
    fund_id: str = ""
    name: str = ""
    kind: str = "cash"
    need: str = ""
    unit: str = "per_household"
    unit_amount: str = ""
    unit_quantity: str = ""
    periodicity: str = "one_off"
    months: str = "1"
    budget_total: str = ""
    quantity_total: str = ""
    categories: list[str] = field(default_factory=list)
    min_index: str = ""
    area_codes: str = ""
    statutory: str = ""
    priority: str = "100"
    period_start: str = ""
    period_end: str = ""


@dataclass(frozen=True)
class Rule:
    categories: tuple[str, ...]
    min_index: Decimal | None
    area_prefixes: tuple[str, ...]  # org paths ("370100/370102/")

    def to_json(self) -> str:
        return json.dumps(
            {
                "categories": list(self.categories),
                "min_index": None if self.min_index is None else str(self.min_index),
                "area_prefixes": list(self.area_prefixes),
            },
            ensure_ascii=False,
        )


def parse_rule(text: str) -> Rule:
    """The stored JSON rule; tolerant of missing keys (``{}`` = anyone in the owner's area)."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    min_index = data.get("min_index")
    try:
        threshold = None if min_index in (None, "") else Decimal(str(min_index))
    except InvalidOperation:
        threshold = None  # a hand-edited rule row: treat as "no threshold" rather than fail every draft
    return Rule(
        categories=tuple(str(c) for c in data.get("categories") or ()),
        min_index=threshold,
        area_prefixes=tuple(str(p) for p in data.get("area_prefixes") or ()),
    )


def _int(text: str, name: str, errors: dict[str, DomainError], *, low: int, high: int) -> int | None:
    raw = text.strip()
    if not raw:
        return None
    if not raw.isdecimal() or not low <= int(raw) <= high:
        errors[name] = DomainError(
            N_("Enter a whole number from {low} to {high}."), field=name, low=low, high=high
        )
        return None
    return int(raw)


def _yuan(text: str, name: str, errors: dict[str, DomainError]) -> int | None:
    if not text.strip():
        return None
    try:
        return parse_yuan(text, field=name)
    except DomainError as exc:
        errors[name] = exc
        return None


def _date(text: str, name: str, errors: dict[str, DomainError]) -> date | None:
    if not text.strip():
        return None
    try:
        return parse_day(text, name)
    except DomainError:
        errors[name] = DomainError(N_("Enter a date like 2026-12-31."), field=name)
        return None


async def _area_paths(actor: Actor, codes_text: str, errors: dict[str, DomainError]) -> tuple[str, ...]:
    codes = [c for c in codes_text.replace("，", ",").replace(",", " ").split() if c]
    if not codes:
        return ()
    if len(codes) > 50 or not all(c.isdecimal() and len(c) <= 12 for c in codes):
        errors["area_codes"] = DomainError(
            N_("Enter org unit codes separated by spaces."), field="area_codes"
        )
        return ()
    rows = await OrgUnit.select(OrgUnit.code, OrgUnit.path).where(OrgUnit.code.is_in(codes))
    paths = {r["code"]: r["path"] for r in rows}
    unknown = [c for c in codes if c not in paths or not paths[c].startswith(actor.org_path)]
    if unknown:
        errors["area_codes"] = DomainError(
            N_("Unknown or outside your area: {codes}."), field="area_codes", codes=", ".join(unknown)
        )
        return ()
    return tuple(sorted({paths[c] for c in codes}))


def dotted(org_path: str) -> str:
    """Database org path ``370100/370102/`` → the core's ``370100.370102``."""
    return org_path.strip("/").replace("/", ".")


async def check_resource_draft(actor: Actor, draft: ResourceDraft) -> dict[str, Any]:
    """Validate a resource form; returns the column values (raises ValidationFailed)."""
    errors: dict[str, DomainError] = {}
    name = _clean(draft.name, 121)
    if not name or len(name) > 120:
        errors["name"] = DomainError(N_("Enter a name (at most 120 characters)."), field="name")
    need = _clean(draft.need, 31)
    if not need or len(need) > 30:
        errors["need"] = DomainError(
            N_("Name the need this resource meets (e.g. living, medical, heating)."), field="need"
        )
    provider_id = await funds._provider_in_scope(actor, draft.provider_id)
    if provider_id is None:
        errors["provider_id"] = DomainError(N_("Choose a provider of your area."), field="provider_id")
    fund_id: int | None = None
    if draft.fund_id.strip():
        try:
            fund = await funds.access_fund(actor, int(draft.fund_id)) if draft.fund_id.isdecimal() else None
        except NotFoundOrForbidden:
            fund = None
        if fund is None:
            errors["fund_id"] = DomainError(N_("Choose a fund of your area."), field="fund_id")
        else:
            fund_id = int(fund.id)
    if draft.kind == "cash" and fund_id is None and "fund_id" not in errors:
        errors["fund_id"] = DomainError(N_("A cash resource must draw on a fund."), field="fund_id")
    categories = tuple(sorted(set(draft.categories)))
    valid = {c.value for c in Category}
    if any(c not in valid for c in categories):
        errors["categories"] = DomainError(N_("Unknown category."), field="categories")
    min_index: Decimal | None = None
    if draft.min_index.strip():
        try:
            min_index = Decimal(draft.min_index.strip())
            if (
                not min_index.is_finite()
                or not 0 <= min_index <= 100
                or min_index != min_index.quantize(Decimal("0.01"))
            ):
                raise InvalidOperation
        except InvalidOperation:
            errors["min_index"] = DomainError(
                N_("Enter an index threshold from 0 to 100 (at most two decimals)."), field="min_index"
            )
            min_index = None
    areas = await _area_paths(actor, draft.area_codes, errors)
    unit_amount = _yuan(draft.unit_amount, "unit_amount", errors) or 0
    unit_quantity = _int(draft.unit_quantity, "unit_quantity", errors, low=0, high=1_000_000) or 0
    months = _int(draft.months, "months", errors, low=1, high=MAX_MONTHS) or 1
    budget_total = _yuan(draft.budget_total, "budget_total", errors)
    quantity_total = _int(draft.quantity_total, "quantity_total", errors, low=0, high=100_000_000)
    priority = _int(draft.priority, "priority", errors, low=0, high=10_000)
    period_start = _date(draft.period_start, "period_start", errors)
    period_end = _date(draft.period_end, "period_end", errors)
    if period_start and period_end and period_end < period_start:
        errors["period_end"] = DomainError(N_("The period ends before it starts."), field="period_end")
    statutory = draft.statutory.strip()
    if draft.kind not in RESOURCE_KIND_LABELS:
        errors["kind"] = DomainError(N_("Choose cash, in kind or service."), field="kind")
    if draft.unit not in UNIT_LABELS:
        errors["unit"] = DomainError(N_("Choose per person or per household."), field="unit")
    if draft.periodicity not in PERIODICITY_LABELS:
        errors["periodicity"] = DomainError(N_("Choose one-off or monthly."), field="periodicity")
    if errors:
        raise ValidationFailed(errors)
    if draft.periodicity == "one_off":
        months = 1
    values: dict[str, Any] = {
        "provider": provider_id,
        "fund": fund_id,
        "org_path": actor.owner_path,
        "name": name,
        "kind": draft.kind,
        "need": need,
        "unit": draft.unit,
        "unit_amount_fen": unit_amount,
        "unit_quantity": unit_quantity,
        "periodicity": draft.periodicity,
        "months": months,
        "budget_total_fen": budget_total,
        "quantity_total": quantity_total,
        "rule": Rule(categories, min_index, areas).to_json(),
        "statutory": statutory,
        "priority": 100 if priority is None else priority,
        "period_start": period_start,
        "period_end": period_end,
    }
    # The core's own checks (cash needs an amount, in-kind a quantity, ...).
    try:
        core_resource(values | {"id": 0, "budget_reserved_fen": 0, "quantity_reserved": 0})
    except DomainError as exc:
        raise ValidationFailed({exc.field or "": exc}) from exc
    return values


def core_resource(row: dict[str, Any]) -> core_plans.Resource:
    """A resource row (with what is left of it) as the drafting core sees it."""
    rule = parse_rule(row["rule"])
    budget = row["budget_total_fen"]
    quantity = row["quantity_total"]
    return core_plans.Resource(
        resource_id=int(row["id"]),
        name=row["name"],
        kind=row["kind"],
        need=row["need"],
        unit=row["unit"],
        unit_amount_fen=int(row["unit_amount_fen"]),
        unit_quantity=int(row["unit_quantity"]),
        periodicity=row["periodicity"],
        months=int(row["months"]),
        budget_remaining_fen=None
        if budget is None
        else max(0, int(budget) - int(row["budget_reserved_fen"])),
        quantity_remaining=None
        if quantity is None
        else max(0, int(quantity) - int(row["quantity_reserved"])),
        rule=core_plans.EligibilityRule(
            categories=frozenset(rule.categories),
            min_index=rule.min_index,
            # A resource never serves outside its owner's area.
            area_prefixes=tuple(dotted(p) for p in (rule.area_prefixes or (row["org_path"],))),
        ),
        fund_id=row["fund"],
        statutory=row["statutory"] or None,
        priority=int(row["priority"]),
    )


async def do_create_resource(actor: Actor, draft: ResourceDraft, *, now: datetime) -> int:
    require(actor, Capability.RESOURCES_MANAGE)
    values = await check_resource_draft(actor, draft)
    async with write_transaction(Resource._meta.db):
        resource = Resource(**values, created_at=now)
        await resource.save()
        await record_event(
            actor,
            "resource.create",
            "resource",
            resource.id,
            org_path=actor.owner_path,
            now=now,
            after={k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()},
        )
    return int(resource.id)


async def access_resource(actor: Actor, resource_id: int, *, manage: bool = False) -> Resource:
    row = await Resource.objects().where(Resource.id == valid_id(resource_id)).first()
    if row is None or not actor.org_path:
        raise NotFoundOrForbidden()
    allowed = row.org_path.startswith(actor.owner_path) if manage else funds.visible_to(actor, row.org_path)
    if not allowed:
        raise NotFoundOrForbidden()
    return row


async def do_update_resource(
    actor: Actor, resource_id: int, *, budget_total: str, quantity_total: str, active: bool, now: datetime
) -> None:
    """Change a resource's limits or switch it off; never below what is already reserved."""
    require(actor, Capability.RESOURCES_MANAGE)
    errors: dict[str, DomainError] = {}
    budget = _yuan(budget_total, "budget_total", errors)
    quantity = _int(quantity_total, "quantity_total", errors, low=0, high=100_000_000)
    if errors:
        raise ValidationFailed(errors)
    async with write_transaction(Resource._meta.db):
        resource = await access_resource(actor, resource_id, manage=True)
        if budget is not None and budget < resource.budget_reserved_fen:
            raise ValidationFailed(
                {
                    "budget_total": DomainError(
                        N_("The budget cannot be less than the {reserved} yuan already reserved."),
                        field="budget_total",
                        reserved=format_yuan(resource.budget_reserved_fen),
                    )
                }
            )
        if quantity is not None and quantity < resource.quantity_reserved:
            raise ValidationFailed(
                {
                    "quantity_total": DomainError(
                        N_("The quantity cannot be less than the {reserved} already reserved."),
                        field="quantity_total",
                        reserved=str(resource.quantity_reserved),
                    )
                }
            )
        before = {
            "budget_total_fen": resource.budget_total_fen,
            "quantity_total": resource.quantity_total,
            "active": resource.active,
        }
        # Conditional on the reservations read above: a concurrent approval wins, we refuse.
        guard = (
            (Resource.id == resource.id)
            & (Resource.budget_reserved_fen == resource.budget_reserved_fen)
            & (Resource.quantity_reserved == resource.quantity_reserved)
        )
        updated = (
            await Resource.update(
                {
                    Resource.budget_total_fen: budget,
                    Resource.quantity_total: quantity,
                    Resource.active: active,
                }
            )
            .where(guard)
            .returning(Resource.id)
        )
        if not updated:
            raise Conflict(N_("The resource changed meanwhile. Reload it and try again."))
        await record_event(
            actor,
            "resource.update",
            "resource",
            resource.id,
            org_path=resource.org_path,
            now=now,
            before=before,
            after={"budget_total_fen": budget, "quantity_total": quantity, "active": active},
        )


async def list_resources(actor: Actor, *, include_inactive: bool = True) -> list[dict[str, Any]]:
    """Resources the actor manages or draws on, with provider and fund names and what is left."""
    query = (
        Resource.select(
            *Resource.all_columns(),
            Resource.provider.name.as_alias("provider_name"),
            Resource.fund.code.as_alias("fund_code"),
        )
        .order_by(Resource.priority)
        .order_by(Resource.id)
    )
    if not include_inactive:
        query = query.where(Resource.active.eq(True))
    rows = [row for row in await query if funds.visible_to(actor, row["org_path"])]
    for row in rows:
        rule = parse_rule(row["rule"])
        row["rule_data"] = rule
        row["manageable"] = row["org_path"].startswith(actor.owner_path)
        total, reserved = row["budget_total_fen"], row["budget_reserved_fen"]
        row["budget_left_fen"] = None if total is None else total - reserved
        qtotal, qreserved = row["quantity_total"], row["quantity_reserved"]
        row["quantity_left"] = None if qtotal is None else qtotal - qreserved
    return rows


# --- donations ---------------------------------------------------------------


@dataclass(frozen=True)
class DonationDraft:
    provider_id: str
    fund_id: str = ""
    resource_id: str = ""
    amount: str = ""
    quantity: str = ""
    received_on: str = ""
    note: str = ""


async def do_record_donation(actor: Actor, draft: DonationDraft, *, now: datetime) -> int:
    """Record a donation as it arrives: money credits the fund (income entry),
    goods add to the resource's quantity, money given to a budgeted resource
    also raises its budget."""
    require(actor, Capability.RESOURCES_MANAGE)
    errors: dict[str, DomainError] = {}
    provider_id = await funds._provider_in_scope(actor, draft.provider_id)
    if provider_id is None:
        errors["provider_id"] = DomainError(N_("Choose a provider of your area."), field="provider_id")
    amount = _yuan(draft.amount, "amount", errors) or 0
    quantity = _int(draft.quantity, "quantity", errors, low=0, high=100_000_000) or 0
    received_on = _date(draft.received_on, "received_on", errors) or local_date(now)
    if received_on > local_date(now):
        errors["received_on"] = DomainError(N_("The date cannot be in the future."), field="received_on")
    resource: Resource | None = None
    if draft.resource_id.strip():
        try:
            resource = (
                await access_resource(actor, int(draft.resource_id), manage=True)
                if (draft.resource_id.isdecimal())
                else None
            )
        except NotFoundOrForbidden:
            resource = None
        if resource is None:
            errors["resource_id"] = DomainError(N_("Choose a resource of your area."), field="resource_id")
    fund_id: int | None = None
    if draft.fund_id.strip():
        try:
            fund = (
                await funds.access_fund(actor, int(draft.fund_id), manage=True)
                if draft.fund_id.isdecimal()
                else None
            )
        except NotFoundOrForbidden:
            fund = None
        if fund is None:
            errors["fund_id"] = DomainError(N_("Choose a fund of your area."), field="fund_id")
        else:
            fund_id = int(fund.id)
    elif resource is not None and resource.fund is not None:
        fund_id = int(resource.fund)
    if not errors:
        if amount == 0 and quantity == 0:
            errors["amount"] = DomainError(N_("Enter an amount or a quantity."), field="amount")
        elif amount and fund_id is None:
            errors["fund_id"] = DomainError(N_("Money must be credited to a fund."), field="fund_id")
        elif quantity and resource is None:
            errors["resource_id"] = DomainError(N_("Goods must be added to a resource."), field="resource_id")
    if errors:
        raise ValidationFailed(errors)
    async with write_transaction(Donation._meta.db):
        donation = Donation(
            provider=provider_id,
            fund=fund_id,
            resource=resource.id if resource else None,
            amount_fen=amount,
            quantity=quantity,
            received_on=received_on,
            note=_clean(draft.note, 300),
            recorded_by=actor.staff_id,
            recorded_at=now,
        )
        await donation.save()
        if amount and fund_id is not None:
            await funds.credit(
                fund_id,
                amount,
                reference=f"donation:{donation.id}",
                note=donation.note,
                staff_id=actor.staff_id,
                now=now,
            )
        if resource is not None:
            changes: dict[Any, Any] = {}
            if quantity:
                changes[Resource.quantity_total] = (
                    Resource.quantity_total + quantity if resource.quantity_total is not None else quantity
                )
            if amount and resource.budget_total_fen is not None:
                changes[Resource.budget_total_fen] = Resource.budget_total_fen + amount
            if changes:
                await Resource.update(changes).where(Resource.id == resource.id)
        await record_event(
            actor,
            "donation.record",
            "donation",
            donation.id,
            org_path=actor.owner_path,
            now=now,
            after={
                "provider": provider_id,
                "fund": fund_id,
                "resource": resource.id if resource else None,
                "amount_fen": amount,
                "quantity": quantity,
                "received_on": received_on.isoformat(),
            },
        )
    return int(donation.id)


async def list_donations(actor: Actor, limit: int = 100) -> list[dict[str, Any]]:
    rows = await (
        Donation.select(
            *Donation.all_columns(),
            Donation.provider.name.as_alias("provider_name"),
            Donation.provider.org_path.as_alias("provider_path"),
            Donation.fund.code.as_alias("fund_code"),
            Donation.resource.name.as_alias("resource_name"),
        )
        .where(Donation.provider.org_path.like(f"{actor.org_path}%"))
        .order_by(Donation.id, ascending=False)
        .limit(limit)
    )
    return list(rows)


async def fund_choices(actor: Actor) -> list[dict[str, Any]]:
    rows = await Fund.select(Fund.id, Fund.code, Fund.name, Fund.org_path).order_by(Fund.code)
    return [r for r in rows if funds.visible_to(actor, r["org_path"])]
