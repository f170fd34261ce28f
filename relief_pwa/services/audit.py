"""Append-only, HMAC-chained audit events, written in the caller's transaction.

The chain's key lives outside the database (``RELIEF_AUDIT_KEY`` or
``RELIEF_AUDIT_KEY_FILE``; generated into ``var/audit-key`` in demo mode).
Checkpoints of the chain head are published regularly into the
``audit_checkpoint`` table *and* appended to a file outside the database
(``RELIEF_AUDIT_CHECKPOINT_FILE``); they are shown on the public page
``/audit`` and in the monthly report. :func:`verify_chain` re-hashes every
event and compares the chain with every checkpoint, so a deleted tail or a
rewritten history is found and located. Payloads are redacted before they are
hashed (:mod:`relief_pwa.core.audit_redaction`): no full identifier is ever
written into the trail. See ``docs/audit-trail.md``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relief_pwa.core.audit_chain import (
    CHECKPOINT,
    GENESIS_HASH,
    REANCHOR,
    ChainBreak,
    ChainedEvent,
    Checkpoint,
    canonical_json,
    check_checkpoints,
    effective_checkpoints,
    event_hash,
    sign_checkpoint,
)
from relief_pwa.core.audit_chain import find_first_break as _find_first_break
from relief_pwa.core.audit_redaction import redact_payload
from relief_pwa.core.i18n import N_
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor
from relief_pwa.services.periodic import every
from relief_pwa.settings import get_settings
from relief_pwa.tables import AuditCheckpoint, AuditEvent

log = logging.getLogger(__name__)

_CHAIN_LOCK = "audit-chain"
CHECKPOINT_INTERVAL_SECONDS = 3600


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _key() -> bytes:
    return get_settings().audit_key_bytes


@dataclass(frozen=True)
class EventDraft:
    """One event of :func:`record_events` (the arguments of :func:`record_event`)."""

    action: str
    entity_type: str
    entity_id: int
    org_path: str
    household_id: int | None = None
    before: Any = None
    after: Any = None


async def record_event(
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: int,
    *,
    org_path: str,
    now: datetime,
    household_id: int | None = None,
    before: Any = None,
    after: Any = None,
) -> int:
    """Append one event to the chain and return its sequence number. Must run inside a
    write transaction.

    ``before``/``after`` are redacted first: ID numbers, phone numbers and bank
    accounts are stored masked (the row ids in the event lead to the full value).
    """
    draft = EventDraft(action, entity_type, entity_id, org_path, household_id, before, after)
    return await _append(actor, [draft], now=now, chunk=1)


async def record_events(actor: Actor, drafts: list[EventDraft], *, now: datetime, chunk: int = 500) -> int:
    """Append many events to the chain at once: the same events, hashes and order as
    ``record_event`` called for each in turn, with one look at the chain's head and a
    multi-row insert per ``chunk`` (a bulk import audits each household it changed).
    Must run inside a write transaction. Returns the number written."""
    if not drafts:
        return 0
    await _append(actor, drafts, now=now, chunk=chunk)
    return len(drafts)


async def _append(actor: Actor, drafts: list[EventDraft], *, now: datetime, chunk: int) -> int:
    """Chain ``drafts`` after the head under the chain's lock; returns the last sequence number."""
    engine = AuditEvent._meta.db
    if engine.current_transaction.get() is None:
        raise RuntimeError("audit events are written inside the state change's transaction")
    await advisory_xact_lock(engine, _CHAIN_LOCK)
    head = await (
        AuditEvent.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq, ascending=False).first()
    )
    seq = (head["seq"] + 1) if head else 1
    prev_hash = head["hash"] if head else GENESIS_HASH
    at = now.astimezone(UTC)
    at_text = _iso(at)
    actor_label = actor.label[:80]
    key = _key()
    rows: list[AuditEvent] = []
    for draft in drafts:
        before_text = canonical_json(redact_payload(draft.before))
        after_text = canonical_json(redact_payload(draft.after))
        digest = event_hash(
            key=key,
            prev_hash=prev_hash,
            seq=seq,
            at=at_text,
            actor_id=actor.staff_id,
            actor_label=actor_label,
            action=draft.action,
            entity_type=draft.entity_type,
            entity_id=draft.entity_id,
            household_id=draft.household_id,
            org_path=draft.org_path,
            before=before_text,
            after=after_text,
        )
        rows.append(
            AuditEvent(
                seq=seq,
                at=at,
                actor=actor.staff_id,
                actor_label=actor_label,
                action=draft.action,
                entity_type=draft.entity_type,
                entity_id=draft.entity_id,
                household_id=draft.household_id,
                org_path=draft.org_path,
                before=before_text,
                after=after_text,
                prev_hash=prev_hash,
                hash=digest,
            )
        )
        seq += 1
        prev_hash = digest
    for start in range(0, len(rows), chunk):
        await AuditEvent.insert(*rows[start : start + chunk])
    return seq - 1


# --- checkpoints ---------------------------------------------------------------------


def checkpoint_file() -> Path:
    return get_settings().audit_checkpoint_file


def _append_to_file(checkpoint: Checkpoint, path: Path | None = None) -> None:
    """Append one line to the checkpoint file (created 0644: it is meant to be published)."""
    path = path or checkpoint_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(checkpoint), ensure_ascii=False, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class CheckpointFile:
    checkpoints: list[Checkpoint]
    unreadable_lines: list[int]


def read_checkpoint_file(path: Path | None = None) -> CheckpointFile:
    path = path or checkpoint_file()
    found: list[Checkpoint] = []
    bad: list[int] = []
    if not path.exists():
        return CheckpointFile(found, bad)
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            found.append(
                Checkpoint(
                    seq=int(data["seq"]),
                    head_hash=str(data["head_hash"]),
                    at=str(data["at"]),
                    kind=str(data.get("kind", CHECKPOINT)),
                    note=str(data.get("note", "")),
                    old_head_hash=str(data.get("old_head_hash", "")),
                    mac=str(data.get("mac", "")),
                )
            )
        except (ValueError, KeyError, TypeError):
            bad.append(number)
    return CheckpointFile(found, bad)


def _from_row(row: dict[str, Any]) -> Checkpoint:
    return Checkpoint(
        seq=row["seq"],
        head_hash=row["head_hash"],
        at=_iso(row["at"]),
        kind=row["kind"],
        note=row["note"],
        old_head_hash=row["old_head_hash"],
        mac=row["mac"],
    )


async def stored_checkpoints() -> list[Checkpoint]:
    rows = await AuditCheckpoint.select().order_by(AuditCheckpoint.at)
    return [_from_row(row) for row in rows]


@dataclass(frozen=True)
class PublishedCheckpoint:
    seq: int
    head_hash: str
    at_local: datetime
    kind: str
    note: str
    mac: str


async def recent_checkpoints(limit: int = 30) -> list[PublishedCheckpoint]:
    """The newest published checkpoints, newest first (for the public page and reports)."""
    from relief_pwa.clock import CHINA_TZ

    rows = await AuditCheckpoint.select().order_by(AuditCheckpoint.at, ascending=False).limit(limit)
    return [
        PublishedCheckpoint(
            seq=row["seq"],
            head_hash=row["head_hash"],
            at_local=row["at"].astimezone(CHINA_TZ),
            kind=row["kind"],
            note=row["note"],
            mac=row["mac"],
        )
        for row in rows
    ]


async def latest_checkpoint() -> Checkpoint | None:
    row = await AuditCheckpoint.select().order_by(AuditCheckpoint.at, ascending=False).first()
    return _from_row(row) if row else None


async def _save_checkpoint(checkpoint: Checkpoint) -> None:
    await AuditCheckpoint.insert(
        AuditCheckpoint(
            seq=checkpoint.seq,
            head_hash=checkpoint.head_hash,
            at=datetime.fromisoformat(checkpoint.at),
            kind=checkpoint.kind,
            note=checkpoint.note,
            old_head_hash=checkpoint.old_head_hash,
            mac=checkpoint.mac,
        )
    )


async def publish_checkpoint(*, now: datetime, force: bool = False) -> Checkpoint | None:
    """Publish the chain's current head (table and file). Nothing to do when the
    head has not moved since the last checkpoint, unless ``force``."""
    engine = AuditEvent._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, _CHAIN_LOCK)
        head = await (
            AuditEvent.select(AuditEvent.seq, AuditEvent.hash)
            .order_by(AuditEvent.seq, ascending=False)
            .first()
        )
        if head is None:
            return None
        last = await latest_checkpoint()
        if last is not None and last.seq == head["seq"] and last.head_hash == head["hash"] and not force:
            return None
        checkpoint = sign_checkpoint(
            _key(), Checkpoint(seq=head["seq"], head_hash=head["hash"], at=_iso(now))
        )
        await _save_checkpoint(checkpoint)
    _append_to_file(checkpoint)
    return checkpoint


@asynccontextmanager
async def audit_checkpoint_lifespan(app: Any) -> AsyncIterator[None]:
    """App lifespan: publish a checkpoint of the chain head now and every hour."""
    clock = app.state.clock
    async with every(
        CHECKPOINT_INTERVAL_SECONDS, lambda: publish_checkpoint(now=clock.now()), name="audit-checkpoints"
    ):
        yield


# --- verification -----------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    events_checked: int
    first_break: ChainBreak | None
    checkpoints_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.first_break is None


def _chained(row: dict[str, Any]) -> ChainedEvent:
    return ChainedEvent(
        seq=row["seq"],
        at=_iso(row["at"]),
        actor_id=row["actor"],
        actor_label=row["actor_label"],
        action=row["action"],
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        household_id=row["household_id"],
        org_path=row["org_path"],
        before=row["before"],
        after=row["after"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


async def verify_chain(batch_size: int = 5000, *, checkpoint_path: Path | None = None) -> ChainReport:
    """Re-hash every event in order and compare the chain with every published
    checkpoint (table and file); name the first event that no longer fits."""
    key = _key()
    from_file = read_checkpoint_file(checkpoint_path)
    checkpoints = [*await stored_checkpoints(), *from_file.checkpoints]
    wanted = {c.seq for c in effective_checkpoints(checkpoints)}
    head_hashes: dict[int, str] = {}
    checked = 0
    last_seq = 0
    prev_hash = GENESIS_HASH
    expected_seq = 1
    while True:
        rows = await (
            AuditEvent.select().where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(batch_size)
        )
        if not rows:
            break
        events = [_chained(row) for row in rows]
        broken = _find_first_break(events, key=key, start_seq=expected_seq, start_prev_hash=prev_hash)
        if broken is not None:
            return ChainReport(checked + (broken.seq - expected_seq), broken)
        head_hashes.update({e.seq: e.hash for e in events if e.seq in wanted})
        checked += len(events)
        last_seq = events[-1].seq
        prev_hash = events[-1].hash
        expected_seq = last_seq + 1
    if from_file.unreadable_lines:
        return ChainReport(
            checked,
            ChainBreak(
                0,
                N_("The checkpoint file was altered: lines {lines} cannot be read."),
                {"lines": ", ".join(str(n) for n in from_file.unreadable_lines[:10])},
            ),
        )
    broken = check_checkpoints(checkpoints, head_hashes, last_seq=last_seq, key=key)
    return ChainReport(checked, broken, len(effective_checkpoints(checkpoints)))


# --- re-anchoring: masking payloads written before redaction ----------------------------


@dataclass(frozen=True)
class ReanchorResult:
    events_rewritten: int
    old_head: str
    new_head: str
    checkpoint: Checkpoint | None
    refused: str = ""


async def reanchor_redacted(*, now: datetime, legacy_key: bytes | None = None) -> ReanchorResult:
    """Mask identifiers in stored payloads and re-hash the chain under the audit key.

    Only an intact chain is rewritten: it is verified first (under
    ``legacy_key`` — ``None`` means the original unkeyed SHA-256 chain — or
    the current key), so the rewrite can never launder earlier tampering. The
    rewrite is declared in a signed ``reanchor`` checkpoint (table and file)
    that keeps the old head hash, and is itself the next audit event.
    """
    key = _key()
    engine = AuditEvent._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, _CHAIN_LOCK)
        rows = await AuditEvent.select().order_by(AuditEvent.seq)
        if not rows:
            return ReanchorResult(0, "", "", None)
        events = [_chained(row) for row in rows]
        broken = _find_first_break(events, key=key)
        if broken is not None:
            broken = _find_legacy_break(events, legacy_key)
            if broken is not None:
                return ReanchorResult(
                    0, events[-1].hash, events[-1].hash, None, refused=f"event {broken.seq}: {broken.message}"
                )
        old_head = events[-1].hash
        prev = GENESIS_HASH
        rewritten = masked = 0
        for event in events:
            before = _redacted_text(event.before)
            after = _redacted_text(event.after)
            masked += (before, after) != (event.before, event.after)
            digest = event_hash(
                key=key,
                prev_hash=prev,
                seq=event.seq,
                at=event.at,
                actor_id=event.actor_id,
                actor_label=event.actor_label,
                action=event.action,
                entity_type=event.entity_type,
                entity_id=event.entity_id,
                household_id=event.household_id,
                org_path=event.org_path,
                before=before,
                after=after,
            )
            if (before, after, prev, digest) != (event.before, event.after, event.prev_hash, event.hash):
                rewritten += 1
                await AuditEvent.update(
                    {
                        AuditEvent.before: before,
                        AuditEvent.after: after,
                        AuditEvent.prev_hash: prev,
                        AuditEvent.hash: digest,
                    }
                ).where(AuditEvent.seq == event.seq)
            prev = digest
        if rewritten == 0:
            return ReanchorResult(0, old_head, old_head, None)
        last_seq = events[-1].seq
        checkpoint = sign_checkpoint(
            key,
            Checkpoint(
                seq=last_seq,
                head_hash=prev,
                at=_iso(now),
                kind=REANCHOR,
                note=(
                    f"identifiers masked in {masked} stored events; "
                    f"{rewritten} events re-hashed under the audit key"
                ),
                old_head_hash=old_head,
            ),
        )
        await _save_checkpoint(checkpoint)
        await record_event(
            SYSTEM_ACTOR,
            "audit.reanchor",
            "audit_event",
            last_seq,
            org_path="",
            now=now,
            after={
                "events_rewritten": rewritten,
                "events_masked": masked,
                "old_head": old_head,
                "new_head": prev,
            },
        )
    _append_to_file(checkpoint)
    return ReanchorResult(rewritten, old_head, prev, checkpoint)


def _redacted_text(text: str) -> str:
    if not text:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return canonical_json(redact_payload(value))


def _find_legacy_break(events: list[ChainedEvent], legacy_key: bytes | None) -> ChainBreak | None:
    if legacy_key is not None:
        return _find_first_break(events, key=legacy_key)
    import hashlib

    prev = GENESIS_HASH
    for expected, event in enumerate(events, 1):
        if event.seq != expected or event.prev_hash != prev:
            return ChainBreak(event.seq, N_("The event does not point at the previous event's hash."))
        payload = json.dumps(
            [
                event.prev_hash,
                event.seq,
                event.at,
                event.actor_id,
                event.actor_label,
                event.action,
                event.entity_type,
                event.entity_id,
                event.household_id,
                event.org_path,
                event.before,
                event.after,
            ],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        if hashlib.sha256(payload.encode("utf-8")).hexdigest() != event.hash:
            return ChainBreak(event.seq, N_("The event's content was changed after it was written."))
        prev = event.hash
    return None
