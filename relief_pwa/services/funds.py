"""Funds: ring-fenced ledgers (专户). Every movement is a FundEntry row plus one
atomic, conditional UPDATE of the fund's balances, so a fund never goes below
zero whatever runs concurrently.

Balances: ``available_fen`` (money in the account, not promised),
``reserved_fen`` (promised to approved plan lines, not yet paid) and
``paid_fen`` (paid out). Entry kinds:

- income:  available += x                      (donation, allocation)
- reserve: available -= x, reserved += x       (plan approval)
- release: reserved -= x, available += x       (line cancelled)
- pay:     reserved -= x, paid += x            (bank confirmed a payment)
- refund:  paid -= x, available += x           (money came back)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from relief_pwa.core.bounds import parse_id
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import format_yuan
from relief_pwa.core.permissions import Capability
from relief_pwa.db import write_transaction
from relief_pwa.services.access import in_scope, valid_id
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.tables import Fund, FundEntry, Provider

ENTRY_KINDS = ("income", "reserve", "release", "pay", "refund")
LEDGER_PAGE = 100


class Overspending(DomainError):
    """A movement would take a fund (or a resource) below zero."""


def visible_to(actor: Actor, org_path: str) -> bool:
    """Funds and resources of the actor's subtree, and of the units above it
    (a district centre draws on city-wide funds it cannot manage)."""
    return org_path.startswith(actor.org_path) or actor.org_path.startswith(org_path)


async def access_fund(actor: Actor, fund_id: int, *, manage: bool = False) -> Fund:
    fund = await Fund.objects().where(Fund.id == valid_id(fund_id)).first()
    if fund is None or not actor.org_path:
        raise NotFoundOrForbidden()
    allowed = fund.org_path.startswith(actor.org_path) if manage else visible_to(actor, fund.org_path)
    if not allowed:
        raise NotFoundOrForbidden()
    return fund


async def _move(
    fund_id: int,
    kind: str,
    amount_fen: int,
    *,
    reference: str,
    note: str,
    staff_id: int | None,
    now: datetime,
) -> None:
    """One ledger movement inside the caller's transaction (no audit: the caller audits)."""
    if amount_fen <= 0:
        raise DomainError(N_("The amount must be positive."), field="amount")
    changes: dict[Any, Any]
    guard: Any
    if kind == "income":
        changes, guard = {Fund.available_fen: Fund.available_fen + amount_fen}, None
    elif kind == "reserve":
        changes = {
            Fund.available_fen: Fund.available_fen - amount_fen,
            Fund.reserved_fen: Fund.reserved_fen + amount_fen,
        }
        guard = Fund.available_fen >= amount_fen
    elif kind == "release":
        changes = {
            Fund.reserved_fen: Fund.reserved_fen - amount_fen,
            Fund.available_fen: Fund.available_fen + amount_fen,
        }
        guard = Fund.reserved_fen >= amount_fen
    elif kind == "pay":
        changes = {
            Fund.reserved_fen: Fund.reserved_fen - amount_fen,
            Fund.paid_fen: Fund.paid_fen + amount_fen,
        }
        guard = Fund.reserved_fen >= amount_fen
    elif kind == "refund":
        changes = {
            Fund.paid_fen: Fund.paid_fen - amount_fen,
            Fund.available_fen: Fund.available_fen + amount_fen,
        }
        guard = Fund.paid_fen >= amount_fen
    else:  # pragma: no cover - programming error
        raise ValueError(kind)
    where = Fund.id == fund_id
    if guard is not None:
        where = where & guard
    updated = await Fund.update(changes).where(where).returning(Fund.id)
    if not updated:
        fund = (
            await Fund.select(Fund.name, Fund.available_fen, Fund.reserved_fen)
            .where(Fund.id == fund_id)
            .first()
        )
        if fund is None:
            raise NotFoundOrForbidden()
        if kind == "reserve":
            raise Overspending(
                N_("Fund {fund} has only {available} yuan available; {needed} yuan are needed."),
                field="fund",
                fund=fund["name"],
                available=format_yuan(fund["available_fen"]),
                needed=format_yuan(amount_fen),
            )
        raise Overspending(
            N_("Fund {fund}: the movement of {needed} yuan would take it below zero."),
            field="fund",
            fund=fund["name"],
            needed=format_yuan(amount_fen),
        )
    await FundEntry.insert(
        FundEntry(
            fund=fund_id,
            kind=kind,
            amount_fen=amount_fen,
            reference=reference[:80],
            note=note[:300],
            recorded_by=staff_id,
            recorded_at=now,
        )
    )


async def credit(
    fund_id: int, amount_fen: int, *, reference: str, note: str, staff_id: int | None, now: datetime
) -> None:
    await _move(fund_id, "income", amount_fen, reference=reference, note=note, staff_id=staff_id, now=now)


async def reserve(
    fund_id: int, amount_fen: int, *, reference: str, staff_id: int | None, now: datetime, note: str = ""
) -> None:
    await _move(fund_id, "reserve", amount_fen, reference=reference, note=note, staff_id=staff_id, now=now)


async def release(
    fund_id: int, amount_fen: int, *, reference: str, staff_id: int | None, now: datetime, note: str = ""
) -> None:
    await _move(fund_id, "release", amount_fen, reference=reference, note=note, staff_id=staff_id, now=now)


async def pay(
    fund_id: int, amount_fen: int, *, reference: str, staff_id: int | None, now: datetime, note: str = ""
) -> None:
    await _move(fund_id, "pay", amount_fen, reference=reference, note=note, staff_id=staff_id, now=now)


# --- use cases ---------------------------------------------------------------


@dataclass(frozen=True)
class FundDraft:
    code: str
    name: str
    provider_id: str = ""


async def do_create_fund(actor: Actor, draft: FundDraft, *, now: datetime) -> int:
    """Open a ring-fenced fund owned by the actor's unit (district or city)."""
    require(actor, Capability.FUNDS_MANAGE)
    code = draft.code.strip().upper()
    name = " ".join(draft.name.split())
    errors: dict[str, DomainError] = {}
    if not code or len(code) > 30 or not all(ch.isalnum() or ch in "-_" for ch in code):
        errors["code"] = DomainError(
            N_("Enter a code of letters, digits, - or _ (at most 30)."), field="code"
        )
    if not name or len(name) > 120:
        errors["name"] = DomainError(N_("Enter a name (at most 120 characters)."), field="name")
    provider_id: int | None = None
    if draft.provider_id.strip():
        provider = await _provider_in_scope(actor, draft.provider_id)
        if provider is None:
            errors["provider_id"] = DomainError(N_("Choose a provider of your area."), field="provider_id")
        else:
            provider_id = provider
    if errors:
        raise ValidationFailed(errors)
    async with write_transaction(Fund._meta.db):
        if await Fund.exists().where(Fund.code == code):
            raise ValidationFailed({"code": DomainError(N_("This fund code is already used."), field="code")})
        fund = Fund(code=code, name=name, provider=provider_id, org_path=actor.org_path, created_at=now)
        await fund.save()
        await record_event(
            actor,
            "fund.create",
            "fund",
            fund.id,
            org_path=actor.org_path,
            now=now,
            after={"code": code, "name": name, "provider": provider_id},
        )
    return int(fund.id)


async def _provider_in_scope(actor: Actor, raw_id: str) -> int | None:
    provider_id = parse_id(raw_id)
    if provider_id is None:
        return None
    row = await Provider.select(Provider.id, Provider.org_path).where(Provider.id == provider_id).first()
    if row is None or not visible_to(actor, row["org_path"]):
        return None
    return int(row["id"])


async def list_funds(actor: Actor) -> list[dict[str, Any]]:
    """Funds the actor manages or draws on, with their balances."""
    rows = await Fund.select(*Fund.all_columns(), Fund.provider.name.as_alias("provider_name")).order_by(
        Fund.code
    )
    return [row for row in rows if visible_to(actor, row["org_path"])]


@dataclass(frozen=True)
class Ledger:
    fund: dict[str, Any]
    entries: list[dict[str, Any]]
    totals: dict[str, int]
    page: int
    pages: int


async def get_ledger(actor: Actor, fund_id: int, page: int = 1) -> Ledger:
    fund = await access_fund(actor, fund_id)
    totals = {kind: 0 for kind in ENTRY_KINDS}
    for row in await FundEntry.raw(
        "SELECT kind, SUM(amount_fen) AS total FROM fund_entry WHERE fund = {} GROUP BY kind", fund.id
    ):
        totals[row["kind"]] = int(row["total"] or 0)
    count = await FundEntry.count().where(FundEntry.fund == fund.id)
    pages = max(1, -(-count // LEDGER_PAGE))
    page = max(1, min(page, pages))
    entries = await (
        FundEntry.select(*FundEntry.all_columns(), FundEntry.recorded_by.display_name.as_alias("staff_name"))
        .where(FundEntry.fund == fund.id)
        .order_by(FundEntry.id, ascending=False)
        .limit(LEDGER_PAGE)
        .offset((page - 1) * LEDGER_PAGE)
    )
    return Ledger(fund=fund.to_dict(), entries=entries, totals=totals, page=page, pages=pages)


def funds_in_scope_clause(actor: Actor) -> Any:
    return in_scope(actor, Fund.org_path)
