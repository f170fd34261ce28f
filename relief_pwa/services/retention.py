"""Applying the retention rules (``relief-pwa retention``; docs/retention.md, core/retention.py).

A dry run (the default) counts, per rule, the rows whose period has passed. A
run deletes or anonymises them in batches, one write transaction per batch,
each batch with one audit event that holds the rule and the row count — never
a name or an identifier. Every rule selects only rows not yet handled (deleted
rows are gone, anonymised rows carry ``anonymised_at``), so a second run, or a
run after an interruption, does only what is left. Two runs at once would
still do the same batches twice (each one's audit event, each one's count), so
a run holds the named lock ``retention`` (services/locks.py, the scheduler's
mechanism) and a run that finds it taken does nothing and says so
(``RetentionReport.locked_out``). A dry run changes nothing and takes no lock.

Anonymising a household file destroys its sealed identifiers and their blind
indexes (ID numbers, phones, one-card account: nothing left to open or to
match), masks the names (张小明 → 张*明) and the address, blanks free text
about the family (application descriptions, visit findings, income and
verification notes, shock notes, near-relative notes) and deletes its
evidence photos. The row and its numbers
stay, so payments, statistics and the audit trail still add up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from relief_pwa.core.enums import AppState
from relief_pwa.core.masking import mask_address, mask_name
from relief_pwa.core.retention import RetentionAction, RetentionRule, rules_with
from relief_pwa.db import write_transaction
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.audit import record_event
from relief_pwa.services.locks import named_lock
from relief_pwa.services.photos import photo_store
from relief_pwa.settings import get_settings
from relief_pwa.tables import (
    AccessLogEntry,
    Application,
    BindToken,
    Household,
    HouseholdContact,
    LoginAttempt,
    Member,
    MoneyItem,
    NearRelativeFiling,
    Objection,
    OutboxMessage,
    Photo,
    PreApplication,
    Shock,
    Verification,
    Visit,
    WebSession,
)

DEFAULT_BATCH = 500
LOCK_NAME = "retention"

# An application in one of these states means the household was assisted (payment records exist).
ASSISTED_STATES = (AppState.APPROVED, AppState.ACTIVE, AppState.UNDER_REVIEW, AppState.EXITED)


@dataclass(frozen=True)
class RuleOutcome:
    rule: RetentionRule
    cutoff: datetime | None  # rows older than this are due (None: the class is kept)
    due: int  # rows due before the run (the dry run's answer)
    done: int  # rows deleted or anonymised by this run


@dataclass(frozen=True)
class RetentionReport:
    dry_run: bool
    outcomes: tuple[RuleOutcome, ...]
    photo_files_deleted: int
    locked_out: bool = False  # another run held the lock: nothing was done

    @property
    def total_done(self) -> int:
        return sum(o.done for o in self.outcomes)


def current_rules() -> tuple[RetentionRule, ...]:
    return rules_with(get_settings().retention_days)


# --- which rows are due ----------------------------------------------------------------------

_ENGINE = Household._meta.db


async def _ids(sql: str, *args: Any) -> list[int]:
    rows = await Household.raw(sql, *args)
    return [int(row["id"]) for row in rows]


def _closed_household_sql(*, assisted: bool) -> str:
    """Closed, not yet anonymised households with no change since the cutoff."""
    states = ", ".join(f"'{state.value}'" for state in ASSISTED_STATES)
    was_assisted = (  # states are enum constants, never input
        f"(EXISTS (SELECT 1 FROM application a2 WHERE a2.household = h.id AND a2.state IN ({states}))"  # noqa: S608
        " OR EXISTS (SELECT 1 FROM payment_line p WHERE p.household = h.id))"
    )
    return (
        "SELECT h.id FROM household h WHERE h.is_open = {} AND h.anonymised_at IS NULL"  # noqa: S608 - constants
        " AND h.updated_at < {}"
        " AND NOT EXISTS (SELECT 1 FROM application a WHERE a.household = h.id AND a.state_changed_at >= {})"
        f" AND {'' if assisted else 'NOT '}{was_assisted}"
        " AND h.id > {} ORDER BY h.id LIMIT {}"
    )


def _photo_sql() -> str:
    return (
        "SELECT ph.id FROM photo ph JOIN household h ON h.id = ph.household"
        " WHERE ph.purpose = 'evidence' AND h.is_open = {} AND h.updated_at < {}"
        " AND NOT EXISTS (SELECT 1 FROM application a WHERE a.household = h.id AND a.state_changed_at >= {})"
        " AND NOT EXISTS (SELECT 1 FROM handover ho WHERE ho.photo = ph.id)"
        " AND ph.id > {} ORDER BY ph.id LIMIT {}"
    )


async def _due_batch(rule: RetentionRule, cutoff: datetime, after_id: int, limit: int) -> list[int]:
    """The next ``limit`` ids due under ``rule`` with an id above ``after_id``."""
    key = rule.key
    if key in ("assisted_files", "refused_files"):
        return await _ids(
            _closed_household_sql(assisted=key == "assisted_files"), False, cutoff, cutoff, after_id, limit
        )
    if key == "photos":
        return await _ids(_photo_sql(), False, cutoff, cutoff, after_id, limit)
    where: Any
    table: Any
    if key == "pre_applications":
        table = PreApplication
        where = (
            PreApplication.status.is_in(["taken", "closed"])
            & (PreApplication.created_at < cutoff)
            & PreApplication.anonymised_at.is_null()
        )
    elif key == "objections":
        table = Objection
        where = (
            Objection.status.is_in(["answered", "closed"])
            & Objection.anonymised_at.is_null()
            & (
                (Objection.answered_at < cutoff)
                | (Objection.answered_at.is_null() & (Objection.received_at < cutoff))
            )
        )
    elif key == "outbox_messages":
        table = OutboxMessage
        where = OutboxMessage.status.is_in(["sent", "failed", "blocked", "opted_out", "unreachable"]) & (
            OutboxMessage.created_at < cutoff
        )
    elif key == "sessions":
        table, where = WebSession, WebSession.expires_at < cutoff
    elif key == "login_attempts":
        table, where = LoginAttempt, LoginAttempt.at < cutoff
    elif key == "bind_tokens":
        table, where = BindToken, BindToken.expires_at < cutoff
    elif key == "access_log":
        table, where = AccessLogEntry, AccessLogEntry.at < cutoff
    else:
        return []
    rows = await table.select(table.id).where(where & (table.id > after_id)).order_by(table.id).limit(limit)
    return [int(row["id"]) for row in rows]


# --- what happens to them --------------------------------------------------------------------


async def anonymise_households(ids: Sequence[int], *, now: datetime) -> list[str]:
    """Anonymise household files (inside the caller's transaction); returns photo keys to remove."""
    for row in await Household.select(Household.id, Household.head_name, Household.address).where(
        Household.id.is_in(list(ids))
    ):
        await Household.update(
            {
                Household.head_name: mask_name(row["head_name"]),
                Household.address: mask_address(row["address"]),
                Household.head_id_sealed: "",
                Household.head_id_index: "",
                Household.phone_sealed: "",
                Household.phone_index: "",
                Household.account_sealed: "",
                Household.account_index: "",
                Household.anonymised_at: now,
                Household.version: Household.version + 1,
            }
        ).where(Household.id == row["id"])
    # The phone and account of earlier dates go too (facts over time keeps them sealed, by date).
    await HouseholdContact.update(
        {HouseholdContact.phone_sealed: "", HouseholdContact.account_sealed: ""}
    ).where(HouseholdContact.household.is_in(list(ids)))
    for row in await Member.select(Member.id, Member.name).where(Member.household.is_in(list(ids))):
        await Member.update(
            {
                Member.name: mask_name(row["name"]),
                Member.id_sealed: "",
                Member.id_index: "",
                Member.phone_sealed: "",
                Member.phone_index: "",
            }
        ).where(Member.id == row["id"])
    await Application.update({Application.description: ""}).where(Application.household.is_in(list(ids)))
    await Visit.update({Visit.findings: ""}).where(Visit.household.is_in(list(ids)))
    await Shock.update({Shock.note: ""}).where(Shock.household.is_in(list(ids)))
    await MoneyItem.update({MoneyItem.description: "", MoneyItem.verified_note: ""}).where(
        MoneyItem.household.is_in(list(ids))
    )
    await Verification.update({Verification.note: ""}).where(Verification.household.is_in(list(ids)))
    for row in await NearRelativeFiling.select(NearRelativeFiling.id, NearRelativeFiling.relative_name).where(
        NearRelativeFiling.household.is_in(list(ids))
    ):
        await NearRelativeFiling.update(
            {NearRelativeFiling.relative_name: mask_name(row["relative_name"]), NearRelativeFiling.note: ""}
        ).where(NearRelativeFiling.id == row["id"])
    pre = await PreApplication.select(PreApplication.id).where(
        PreApplication.application.household.is_in(list(ids)) & PreApplication.anonymised_at.is_null()
    )
    await anonymise_pre_applications([int(r["id"]) for r in pre], now=now)
    photos = await Photo.select(Photo.id).where(
        Photo.household.is_in(list(ids)) & (Photo.purpose == "evidence")
    )
    handed = {
        int(r["photo"])
        for r in await Household.raw(
            "SELECT photo FROM handover WHERE photo IS NOT NULL AND household IN ("  # noqa: S608 - ints
            + ", ".join(str(int(i)) for i in ids)
            + ")"
        )
    }
    return await delete_photos([int(r["id"]) for r in photos if int(r["id"]) not in handed])


async def anonymise_pre_applications(ids: Sequence[int], *, now: datetime) -> None:
    if not ids:
        return
    for row in await PreApplication.select(PreApplication.id, PreApplication.name).where(
        PreApplication.id.is_in(list(ids))
    ):
        await PreApplication.update(
            {
                PreApplication.name: mask_name(row["name"]),
                PreApplication.phone_sealed: "",
                PreApplication.phone_index: "",
                PreApplication.description: "",
                PreApplication.anonymised_at: now,
            }
        ).where(PreApplication.id == row["id"])


async def anonymise_objections(ids: Sequence[int], *, now: datetime) -> None:
    if not ids:
        return
    for row in await Objection.select(Objection.id, Objection.contact_name).where(
        Objection.id.is_in(list(ids))
    ):
        await Objection.update(
            {
                Objection.contact_name: mask_name(row["contact_name"]),
                Objection.contact_phone_sealed: "",
                Objection.anonymised_at: now,
            }
        ).where(Objection.id == row["id"])


async def delete_photos(ids: Sequence[int]) -> list[str]:
    """Delete photo rows (inside the caller's transaction); returns their content keys."""
    if not ids:
        return []
    rows = await Photo.select(Photo.sha256).where(Photo.id.is_in(list(ids)))
    await Photo.delete().where(Photo.id.is_in(list(ids)))
    return sorted({str(r["sha256"]) for r in rows})


async def _remove_unreferenced_files(keys: Sequence[str]) -> int:
    """Remove stored photo files no remaining row refers to (after the rows' deletion committed)."""
    if not keys:
        return 0
    still_used = {
        str(r["sha256"]) for r in await Photo.select(Photo.sha256).where(Photo.sha256.is_in(list(keys)))
    } | {
        str(r["signature_key"])
        for r in await Visit.select(Visit.signature_key).where(Visit.signature_key.is_in(list(keys)))
    }
    store = photo_store()
    gone = [key for key in keys if key not in still_used]

    def remove() -> int:
        return sum(1 for key in gone if store.delete(key))

    return await asyncio.to_thread(remove)


_DELETE_TABLES: dict[str, Any] = {
    "outbox_messages": OutboxMessage,
    "sessions": WebSession,
    "login_attempts": LoginAttempt,
    "bind_tokens": BindToken,
    "access_log": AccessLogEntry,
}


async def _apply(rule: RetentionRule, ids: list[int], *, now: datetime) -> list[str]:
    """Delete or anonymise one batch (inside the caller's transaction); returns photo keys to remove."""
    if rule.key in ("assisted_files", "refused_files"):
        return await anonymise_households(ids, now=now)
    if rule.key == "photos":
        return await delete_photos(ids)
    if rule.key == "pre_applications":
        await anonymise_pre_applications(ids, now=now)
    elif rule.key == "objections":
        await anonymise_objections(ids, now=now)
    else:
        table = _DELETE_TABLES[rule.key]
        await table.delete().where(table.id.is_in(ids))
    return []


# --- the run ---------------------------------------------------------------------------------


async def _count_due(rule: RetentionRule, cutoff: datetime) -> int:
    total, after = 0, 0
    while True:
        ids = await _due_batch(rule, cutoff, after, 5000)
        total += len(ids)
        if len(ids) < 5000:
            return total
        after = ids[-1]


async def run_retention(
    *,
    now: datetime,
    dry_run: bool = True,
    batch: int = DEFAULT_BATCH,
    rules: Sequence[RetentionRule] | None = None,
    progress: Callable[[str, int], Awaitable[None] | None] | None = None,
) -> RetentionReport:
    """Count (dry run) or apply every rule whose period has passed; see the module docstring."""
    chosen = tuple(rules if rules is not None else current_rules())
    if dry_run:
        return await _run_rules(chosen, now=now, dry_run=True, batch=batch, progress=progress)
    async with named_lock(_ENGINE, LOCK_NAME) as held:
        if not held:
            return RetentionReport(False, (), 0, locked_out=True)
        return await _run_rules(chosen, now=now, dry_run=False, batch=batch, progress=progress)


async def _run_rules(
    rules: Sequence[RetentionRule],
    *,
    now: datetime,
    dry_run: bool,
    batch: int,
    progress: Callable[[str, int], Awaitable[None] | None] | None,
) -> RetentionReport:
    outcomes: list[RuleOutcome] = []
    files_deleted = 0
    for rule in rules:
        if rule.action == RetentionAction.KEEP or rule.keep_days is None:
            outcomes.append(RuleOutcome(rule, None, 0, 0))
            continue
        cutoff = now - timedelta(days=rule.keep_days)
        due = await _count_due(rule, cutoff)
        done = 0
        if not dry_run:
            while True:
                # Handled rows drop out of the selection: always take the first batch still due.
                ids = await _due_batch(rule, cutoff, 0, batch)
                if not ids:
                    break
                async with write_transaction(_ENGINE):
                    photo_keys = await _apply(rule, ids, now=now)
                    await record_event(
                        SYSTEM_ACTOR,
                        f"retention.{rule.action.value}",
                        "retention",
                        0,
                        org_path="",
                        now=now,
                        after={
                            "rule": rule.key,
                            "rows": len(ids),
                            "kept_days": rule.keep_days,
                            "photos": len(photo_keys),
                        },
                    )
                files_deleted += await _remove_unreferenced_files(photo_keys)
                done += len(ids)
                if progress is not None:
                    result = progress(rule.key, done)
                    if result is not None:
                        await result
        outcomes.append(RuleOutcome(rule, cutoff, due, done))
    return RetentionReport(dry_run, tuple(outcomes), files_deleted)
