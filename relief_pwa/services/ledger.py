"""The declared-vs-verified ledger: every declared income item, asset and
expense beside its verified value, source and evidence, with discrepancies
over a configurable threshold flagged (DESIGN §3 step 2).

Verified values are written only by visit records (``services.visits``), so
every value has a visit, and the visit has its photos: the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from relief_pwa.core.errors import DomainError, ValidationFailed
from relief_pwa.core.fieldwork import (
    DEFAULT_DISCREPANCY_THRESHOLD_PCT,
    NOTE_MAX_LENGTH,
    Discrepancy,
    VerificationSource,
    discrepancy,
)
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.db import write_transaction
from relief_pwa.services import hooks
from relief_pwa.services.access import access_household
from relief_pwa.services.access_log import note_read
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.photos import PhotoView, photo_view
from relief_pwa.services.system_settings import store_setting
from relief_pwa.tables import Member, MoneyItem, Photo, Staff, SystemSetting, Verification, Visit

THRESHOLD_KEY = "discrepancy_threshold_pct"
SECTIONS = ("income", "asset", "expense")


async def discrepancy_threshold_pct() -> int:
    """The configured threshold (SystemSetting), or the default when unset or unreadable."""
    row = await SystemSetting.select(SystemSetting.value).where(SystemSetting.key == THRESHOLD_KEY).first()
    if row is None:
        return DEFAULT_DISCREPANCY_THRESHOLD_PCT
    try:
        value = int(str(row["value"]).strip())
    except ValueError:
        return DEFAULT_DISCREPANCY_THRESHOLD_PCT
    return value if value > 0 else DEFAULT_DISCREPANCY_THRESHOLD_PCT


async def do_set_discrepancy_threshold(actor: Actor, pct: int, *, now: datetime) -> None:
    """City administrators tune the threshold; audited with the old value."""
    require(actor, Capability.SETTINGS_MANAGE)
    async with write_transaction(SystemSetting._meta.db):
        before = await discrepancy_threshold_pct()
        await store_setting(actor, THRESHOLD_KEY, str(pct), before=before, after=pct, now=now)


@dataclass(frozen=True)
class VerifiedValue:
    """One verified amount from a visit record (fen) with an optional note."""

    money_item_id: int
    verified_fen: int
    note: str = ""


@dataclass(frozen=True)
class VerificationEntry:
    id: int
    verified_fen: int
    source: VerificationSource
    note: str
    visit_id: int | None
    recorded_by: str
    recorded_at: datetime


@dataclass
class LedgerLine:
    money_item_id: int
    section: str
    kind: str
    description: str
    member_name: str
    declared_fen: int
    verified_fen: int | None
    source: VerificationSource | None
    note: str
    verified_at: datetime | None
    discrepancy: Discrepancy | None
    history: list[VerificationEntry] = field(default_factory=list)
    evidence: list[PhotoView] = field(default_factory=list)


@dataclass(frozen=True)
class Ledger:
    household_id: int
    threshold_pct: int
    sections: dict[str, list[LedgerLine]]
    flagged: int
    unverified: int

    @property
    def lines(self) -> list[LedgerLine]:
        return [line for section in SECTIONS for line in self.sections.get(section, [])]


def _source(raw: str) -> VerificationSource | None:
    try:
        return VerificationSource(raw) if raw else None
    except ValueError:
        return None


async def get_ledger(actor: Actor, household_id: int, *, now: datetime) -> Ledger:
    """Declared and verified side by side, with history and evidence per item."""
    household = await access_household(actor, household_id)
    note_read(
        actor,
        "ledger.view",
        now=now,
        entity_id=household.id,
        household_id=household.id,
        org_path=household.org_path,
    )
    threshold = await discrepancy_threshold_pct()
    items = (
        await MoneyItem.select()
        .where((MoneyItem.household == household.id) & MoneyItem.active.eq(True))
        .order_by(MoneyItem.id)
    )
    names = {
        r["id"]: r["name"]
        for r in await Member.select(Member.id, Member.name).where(Member.household == household.id)
    }
    verifications = (
        await Verification.select(
            Verification.id,
            Verification.money_item,
            Verification.verified_fen,
            Verification.source,
            Verification.note,
            Verification.visit,
            Verification.recorded_at,
            Verification.recorded_by.display_name,
        )
        .where(Verification.household == household.id)
        .order_by(Verification.id, ascending=False)
    )
    visit_ids = sorted({v["visit"] for v in verifications if v["visit"] is not None})
    photos_by_visit: dict[int, list[PhotoView]] = {}
    if visit_ids:
        for row in await Photo.select().where(Photo.visit.is_in(visit_ids)).order_by(Photo.id):
            photos_by_visit.setdefault(row["visit"], []).append(photo_view(row))
    history: dict[int, list[VerificationEntry]] = {}
    for v in verifications:
        history.setdefault(v["money_item"], []).append(
            VerificationEntry(
                id=v["id"],
                verified_fen=v["verified_fen"],
                source=_source(v["source"]) or VerificationSource.HOME_VISIT,
                note=v["note"],
                visit_id=v["visit"],
                recorded_by=v["recorded_by.display_name"] or "",
                recorded_at=v["recorded_at"],
            )
        )
    sections: dict[str, list[LedgerLine]] = {section: [] for section in SECTIONS}
    flagged = unverified = 0
    for item in items:
        entries = history.get(item["id"], [])
        gap = discrepancy(item["declared_fen"], item["verified_fen"], threshold)
        flagged += 1 if gap is not None and gap.flagged else 0
        unverified += 1 if item["verified_fen"] is None else 0
        evidence = photos_by_visit.get(entries[0].visit_id, []) if entries and entries[0].visit_id else []
        sections.setdefault(item["section"], []).append(
            LedgerLine(
                money_item_id=item["id"],
                section=item["section"],
                kind=item["kind"],
                description=item["description"],
                member_name=names.get(item["member"], ""),
                declared_fen=item["declared_fen"],
                verified_fen=item["verified_fen"],
                source=_source(item["verified_source"]),
                note=item["verified_note"],
                verified_at=item["verified_at"],
                discrepancy=gap,
                history=entries,
                evidence=[p for p in evidence if p.purpose != "signature"],
            )
        )
    return Ledger(household.id, threshold, sections, flagged, unverified)


async def record_verifications(
    actor: Actor,
    household: dict[str, Any],
    values: list[VerifiedValue],
    *,
    visit_id: int,
    source: VerificationSource,
    now: datetime,
) -> int:
    """Write verified values inside the caller's write transaction.

    One Verification row per value (the history) and the MoneyItem's current
    verified value; each audited; then the household's listeners (relief index)
    run once. Returns the number of values that changed something.
    """
    if SystemSetting._meta.db.current_transaction.get() is None:
        raise RuntimeError("record_verifications runs inside a write transaction")
    if not values:
        return 0
    ids = [v.money_item_id for v in values]
    if len(set(ids)) != len(ids):
        raise DomainError(N_("An item was verified twice in one record."), field="verifications")
    items = {
        r["id"]: r
        for r in await MoneyItem.select().where(
            MoneyItem.id.is_in(ids) & (MoneyItem.household == household["id"]) & MoneyItem.active.eq(True)
        )
    }
    errors: dict[str, DomainError] = {}
    for value in values:
        if value.money_item_id not in items:
            errors[f"verified-{value.money_item_id}"] = DomainError(
                N_("This item does not belong to the household."), field=f"verified-{value.money_item_id}"
            )
        elif value.verified_fen < 0:
            errors[f"verified-{value.money_item_id}"] = DomainError(
                N_("The amount cannot be negative."), field=f"verified-{value.money_item_id}"
            )
    if errors:
        raise ValidationFailed(errors)
    for value in values:
        item = items[value.money_item_id]
        note = value.note.strip()[:NOTE_MAX_LENGTH]
        row = Verification(
            money_item=item["id"],
            household=household["id"],
            visit=visit_id,
            org_path=household["org_path"],
            verified_fen=value.verified_fen,
            source=source,
            note=note,
            recorded_by=actor.staff_id,
            recorded_at=now,
        )
        await row.save()
        await MoneyItem.update(
            {
                MoneyItem.verified_fen: value.verified_fen,
                MoneyItem.verified_source: source.value,
                MoneyItem.verified_note: note,
                MoneyItem.verified_at: now,
            }
        ).where(MoneyItem.id == item["id"])
        await record_event(
            actor,
            "verification.record",
            "money_item",
            item["id"],
            org_path=household["org_path"],
            now=now,
            household_id=household["id"],
            before={"verified_fen": item["verified_fen"], "source": item["verified_source"]},
            after={
                "verified_fen": value.verified_fen,
                "source": source.value,
                "note": note,
                "visit_id": visit_id,
                "declared_fen": item["declared_fen"],
            },
        )
    await hooks.household_changed(household["id"], trigger="verification", now=now)
    return len(values)


async def visit_verifications(visit_id: int) -> dict[int, tuple[int, str]]:
    """The latest value and note per item recorded by one visit."""
    rows = (
        await Verification.select(Verification.money_item, Verification.verified_fen, Verification.note)
        .where(Verification.visit == visit_id)
        .order_by(Verification.id)
    )
    return {r["money_item"]: (r["verified_fen"], r["note"]) for r in rows}


async def staff_names(ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await Staff.select(Staff.id, Staff.display_name).where(Staff.id.is_in(ids))
    return {r["id"]: r["display_name"] for r in rows}


async def visit_ids_of_household(household_id: int) -> list[int]:
    rows = await Visit.select(Visit.id).where(Visit.household == household_id)
    return [r["id"] for r in rows]
