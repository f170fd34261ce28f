"""The access log: who looked at whose personal data, when, and why (exports).

Separate from the audit chain: the chain records changes, this records reads
(a household file, its ledger, a photo, a card, an index explanation, an
ID-number search, an export). A read must not write in its request path, so
``note_read`` only appends to an in-process buffer; ``flush_access_log``
writes the buffer in one transaction, from a background task every few
seconds (``access_log_lifespan``) and once more at shutdown.

Nothing in an entry identifies a resident beyond the row it points to: an
ID-number search is logged with the number masked.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.db import write_transaction
from relief_pwa.services.access import in_scope
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.periodic import every
from relief_pwa.tables import AccessLogEntry

log = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 2.0
FLUSH_CHUNK = 500
PAGE_SIZE = 100
EXPORT_LIMIT = 50_000

# What was read (English message ids, shown on the supervisors' page).
READ_ACTIONS: dict[str, str] = {
    "household.view": N_("Household file viewed"),
    "ledger.view": N_("Declared-vs-verified ledger viewed"),
    "photo.view": N_("Photo evidence viewed"),
    "card.view": N_("Household card viewed"),
    "index.view": N_("Relief index explanation viewed"),
    "search.id_number": N_("Search by ID number"),
    "identifiers.reveal": N_("Full ID numbers, phones and account shown"),
    "export": N_("Export"),
    "subject.export": N_("Everything held on one person exported (at their request)"),
}


@dataclass(frozen=True)
class ReadNote:
    at: datetime
    staff_id: int | None
    actor_label: str
    action: str
    entity_type: str
    entity_id: int | None
    household_id: int | None
    org_path: str
    purpose: str
    detail: str


_buffer: list[ReadNote] = []


def note_read(
    actor: Actor,
    action: str,
    *,
    now: datetime,
    entity_type: str = "household",
    entity_id: int | None = None,
    household_id: int | None = None,
    org_path: str = "",
    purpose: str = "",
    detail: str = "",
) -> None:
    """Remember one read of personal data (written by the next flush, not now)."""
    if actor.is_system:
        return
    _buffer.append(
        ReadNote(
            at=now,
            staff_id=actor.staff_id,
            actor_label=actor.label[:80],
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            household_id=household_id,
            org_path=org_path or actor.org_path,
            purpose=purpose[:200],
            detail=detail[:200],
        )
    )


def pending_reads() -> int:
    return len(_buffer)


def discard_pending_reads() -> None:
    """Forget unwritten reads (tests empty the database between cases)."""
    _buffer.clear()


async def flush_access_log() -> int:
    """Write every buffered read in one transaction; returns how many were written."""
    if not _buffer:
        return 0
    taken = _buffer[:]
    del _buffer[: len(taken)]
    try:
        async with write_transaction(AccessLogEntry._meta.db):
            for start in range(0, len(taken), FLUSH_CHUNK):
                await AccessLogEntry.insert(
                    *[
                        AccessLogEntry(
                            at=note.at,
                            staff=note.staff_id,
                            actor_label=note.actor_label,
                            action=note.action,
                            entity_type=note.entity_type,
                            entity_id=note.entity_id,
                            household_id=note.household_id,
                            org_path=note.org_path,
                            purpose=note.purpose,
                            detail=note.detail,
                        )
                        for note in taken[start : start + FLUSH_CHUNK]
                    ]
                )
    except Exception:
        # Keep what could not be written for the next flush: reads are never dropped.
        _buffer[:0] = taken
        raise
    return len(taken)


@asynccontextmanager
async def access_log_lifespan(app: Any) -> AsyncIterator[None]:
    """App lifespan: flush the read buffer every few seconds and at shutdown."""
    async with every(
        FLUSH_INTERVAL_SECONDS,
        flush_access_log,
        name="access-log",
        first_after=FLUSH_INTERVAL_SECONDS,
        finally_=flush_access_log,
    ):
        yield


# --- reading the log (supervision) --------------------------------------------------


@dataclass(frozen=True)
class AccessQuery:
    username: str = ""
    staff_id: int | None = None
    action: str = ""
    household_id: int | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None  # exclusive
    before_id: int | None = None  # keyset paging: entries older than this


@dataclass(frozen=True)
class AccessPage:
    rows: list[dict[str, Any]]
    next_before: int | None


async def list_access_log(actor: Actor, query: AccessQuery, *, limit: int = PAGE_SIZE) -> AccessPage:
    """Reads in the actor's scope, newest first (supervisors and city staff)."""
    require(actor, Capability.AUDIT_READ)
    where = in_scope(actor, AccessLogEntry.org_path)
    if query.username:
        where &= AccessLogEntry.staff.username == query.username
    if query.staff_id is not None:
        where &= AccessLogEntry.staff == query.staff_id
    if query.action in READ_ACTIONS:
        where &= AccessLogEntry.action == query.action
    if query.household_id is not None:
        where &= AccessLogEntry.household_id == query.household_id
    if query.date_from is not None:
        where &= AccessLogEntry.at >= query.date_from
    if query.date_to is not None:
        where &= AccessLogEntry.at < query.date_to
    if query.before_id is not None:
        where &= AccessLogEntry.id < query.before_id
    rows = (
        await AccessLogEntry.select(
            AccessLogEntry.id,
            AccessLogEntry.at,
            AccessLogEntry.actor_label,
            AccessLogEntry.staff.username.as_alias("username"),
            AccessLogEntry.action,
            AccessLogEntry.entity_type,
            AccessLogEntry.entity_id,
            AccessLogEntry.household_id,
            AccessLogEntry.purpose,
            AccessLogEntry.detail,
        )
        .where(where)
        .order_by(AccessLogEntry.id, ascending=False)
        .limit(limit + 1)
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return AccessPage(rows, int(rows[-1]["id"]) if more and rows else None)


# --- bursts of reads (an integrity flag) ---------------------------------------------


@dataclass(frozen=True)
class ReadBurst:
    staff_id: int
    actor_label: str
    started_at: datetime
    reads: int


async def find_read_bursts(
    actor: Actor, *, now: datetime, per_hour: int, look_back: timedelta = timedelta(days=30)
) -> list[ReadBurst]:
    """Accounts that opened more than ``per_hour`` household files within one hour.

    One burst per account: the first hour in the look-back window where the
    sliding count passed the limit, with the largest count seen in any hour.
    """
    require(actor, Capability.AUDIT_READ)
    rows = (
        await AccessLogEntry.select(AccessLogEntry.staff, AccessLogEntry.actor_label, AccessLogEntry.at)
        .where(
            in_scope(actor, AccessLogEntry.org_path)
            & AccessLogEntry.action.is_in(["household.view", "ledger.view", "index.view"])
            & (AccessLogEntry.at >= now - look_back)
            & AccessLogEntry.staff.is_not_null()
        )
        .order_by(AccessLogEntry.staff)
        .order_by(AccessLogEntry.at)
    )
    by_staff: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_staff.setdefault(int(row["staff"]), []).append(row)
    bursts: list[ReadBurst] = []
    hour = timedelta(hours=1)
    for staff_id, reads in by_staff.items():
        start = 0
        first_start: datetime | None = None
        most = 0
        for end, row in enumerate(reads):
            while row["at"] - reads[start]["at"] >= hour:
                start += 1
            count = end - start + 1
            if count > per_hour:
                first_start = first_start or reads[start]["at"]
                most = max(most, count)
        if first_start is not None:
            bursts.append(ReadBurst(staff_id, str(reads[-1]["actor_label"]), first_start, most))
    return bursts
