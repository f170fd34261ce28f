"""Household QR cards (DESIGN §6): the QR carries only an opaque random token,
revocable and re-issuable. Resolving a token never tells an outsider anything:
unknown, revoked and out-of-scope tokens all look the same.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from relief_pwa.core.errors import DomainError, NotFoundOrForbidden
from relief_pwa.core.i18n import N_
from relief_pwa.core.masking import mask_name
from relief_pwa.core.permissions import Capability
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services.access import access_household, in_scope
from relief_pwa.services.access_log import note_read
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.tables import Household, HouseholdCard, OrgUnit

TOKEN_BYTES = 24  # 32 URL-safe characters: unguessable, short enough for a small QR
_TOKEN_MAX_LENGTH = 64


def card_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/q/{token}"


@dataclass(frozen=True)
class CardView:
    household_id: int
    file_no: str
    community: str
    masked_head: str
    card_id: int | None
    token: str | None
    issued_at: datetime | None


async def get_card(actor: Actor, household_id: int, *, now: datetime) -> CardView:
    """What the printed card shows: file number, community, masked head name, the token."""
    household = await access_household(actor, household_id)
    note_read(
        actor,
        "card.view",
        now=now,
        entity_id=household.id,
        household_id=household.id,
        org_path=household.org_path,
    )
    community = await OrgUnit.select(OrgUnit.name).where(OrgUnit.id == household.org_unit).first()
    card = (
        await HouseholdCard.select()
        .where((HouseholdCard.household == household.id) & HouseholdCard.revoked_at.is_null())
        .order_by(HouseholdCard.id, ascending=False)
        .first()
    )
    return CardView(
        household_id=household.id,
        file_no=household.file_no,
        community=community["name"] if community else "",
        masked_head=mask_name(household.head_name),
        card_id=card["id"] if card else None,
        token=card["token"] if card else None,
        issued_at=card["issued_at"] if card else None,
    )


async def do_issue_card(actor: Actor, household_id: int, *, now: datetime) -> str:
    """Issue a card; an existing card of the household is revoked first (re-issue)."""
    require(actor, Capability.CARD_ISSUE)
    household = await access_household(actor, household_id)
    engine = HouseholdCard._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, f"card:{household.id}")
        await _revoke_active(actor, household.id, household.org_path, reason="reissue", now=now)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        card = HouseholdCard(
            household=household.id,
            org_path=household.org_path,
            token=token,
            issued_by=actor.staff_id,
            issued_at=now,
        )
        await card.save()
        # The token itself stays out of the audit log: the log is read more widely than the card.
        await record_event(
            actor,
            "card.issue",
            "household_card",
            card.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            after={"card_id": card.id},
        )
    return token


async def do_revoke_card(actor: Actor, household_id: int, *, reason: str, now: datetime) -> None:
    require(actor, Capability.CARD_ISSUE)
    if len(reason.strip()) < 4:
        raise DomainError(N_("Please give a written reason (at least 4 characters)."), field="reason")
    household = await access_household(actor, household_id)
    engine = HouseholdCard._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, f"card:{household.id}")
        if not await _revoke_active(actor, household.id, household.org_path, reason=reason.strip(), now=now):
            raise DomainError(N_("This household has no valid card."), field="reason")


async def _revoke_active(
    actor: Actor, household_id: int, org_path: str, *, reason: str, now: datetime
) -> int:
    active = await HouseholdCard.select(HouseholdCard.id).where(
        (HouseholdCard.household == household_id) & HouseholdCard.revoked_at.is_null()
    )
    for card in active:
        await HouseholdCard.update({HouseholdCard.revoked_at: now}).where(HouseholdCard.id == card["id"])
        await record_event(
            actor,
            "card.revoke",
            "household_card",
            card["id"],
            org_path=org_path,
            now=now,
            household_id=household_id,
            before={"revoked": False},
            after={"revoked": True, "reason": reason[:300]},
        )
    return len(active)


async def resolve_card(actor: Actor | None, token: str) -> int | None:
    """The household a scanned card opens for this actor, or None.

    None for anyone not logged in, for staff outside the household's area, and
    for unknown or revoked tokens alike: the caller shows the same neutral page.
    """
    if actor is None or not actor.org_path or not token or len(token) > _TOKEN_MAX_LENGTH:
        return None
    row = (
        await HouseholdCard.select(HouseholdCard.household, HouseholdCard.org_path)
        .where((HouseholdCard.token == token) & HouseholdCard.revoked_at.is_null())
        .first()
    )
    if row is None or not actor.can_see(row["org_path"]):
        return None
    return int(row["household"])


async def find_by_file_no(actor: Actor, file_no: str) -> int:
    """The household with this file number in the actor's area (scanning fallback)."""
    number = "".join(file_no.split()).upper()[:24]
    if not number:
        raise DomainError(N_("Enter the file number printed on the card."), field="file_no")
    row = (
        await Household.select(Household.id)
        .where((Household.file_no == number) & in_scope(actor, Household.org_path))
        .first()
    )
    if row is None:
        raise NotFoundOrForbidden()
    return int(row["id"])
