"""Shared set-up for the resource, plan, disbursement and follow-up tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from relief_pwa.core.intake import ItemDraft
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.applications import do_transition
from relief_pwa.services.funds import FundDraft, do_create_fund
from relief_pwa.services.resources import (
    DonationDraft,
    ProviderDraft,
    ResourceDraft,
    do_create_provider,
    do_create_resource,
    do_record_donation,
)
from relief_pwa.tables import Household
from tests.factories import make_intake, member

ACTIVE_PATH = (
    "start_investigation",
    "find_eligible",
    "start_publicity",
    "end_publicity",
    "approve",
    "activate",
)
REASON = "经核实符合救助条件"
STATIONS = {"370102001": "station", "370102002": "station_b"}


async def recipient(
    world: Any,
    *,
    community: str = "370102001001",
    income_yuan: str = "600",
    index: str | None = None,
    category: str = "dibao",
    members: int = 1,
    account: str = "6217000011112222333",
    stop_after: str = "activate",
) -> int:
    """A household with an application taken through the workflow (default: active recipient)."""
    people = [member("王一")] + [member(f"王{n}", relation="child") for n in range(2, members + 1)]
    result = await make_intake(
        world,
        username=STATIONS[community[:9]],
        community=community,
        category=category,
        members=people,
        onecard_account=account,
        items=[ItemDraft("income", "wages", "0", "", income_yuan)],
    )
    station = world.actor(STATIONS[community[:9]])
    for action in ACTIVE_PATH:
        actor = (
            SYSTEM_ACTOR
            if action == "end_publicity"
            else (world.actor("center") if action in ("approve", "activate") else station)
        )
        await do_transition(actor, result.application_id, action, reason=REASON, now=world.now)
        if action == stop_after:
            break
    if index is not None:
        await Household.update({Household.current_index: Decimal(index)}).where(
            Household.id == result.household_id
        )
    return result.household_id


async def pool(
    world: Any,
    *,
    username: str = "center",
    fund_yuan: str = "10000",
    fund_code: str = "DB-LX",
    **resource: Any,
) -> tuple[int, int, int]:
    """Jinan's standards, a provider, a fund credited by a donation, and one resource drawing on it.

    Plans need a standard in force (there is no built-in fallback), so the
    published standards are entered here as city staff would.
    """
    from relief_pwa.services.standards import do_seed_standards

    await do_seed_standards(SYSTEM_ACTOR, now=world.now)
    actor = world.actor(username)
    provider = await do_create_provider(actor, ProviderDraft("历下区民政局", "government"), now=world.now)
    fund = await do_create_fund(actor, FundDraft(fund_code, "低保资金专户", str(provider)), now=world.now)
    if fund_yuan:
        await do_record_donation(
            actor, DonationDraft(str(provider), fund_id=str(fund), amount=fund_yuan), now=world.now
        )
    values: dict[str, Any] = {
        "provider_id": str(provider),
        "fund_id": str(fund),
        "name": "临时生活补助",
        "kind": "cash",
        "need": "living",
        "unit": "per_household",
        "unit_amount": "500",
        "periodicity": "one_off",
    }
    values.update(resource)
    resource_id = await do_create_resource(actor, ResourceDraft(**values), now=world.now)
    return provider, fund, resource_id
