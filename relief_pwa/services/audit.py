"""Append-only, hash-chained audit events, written in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relief_pwa.core.audit_chain import GENESIS_HASH, ChainBreak, ChainedEvent, canonical_json, event_hash
from relief_pwa.core.audit_chain import find_first_break as _find_first_break
from relief_pwa.db import advisory_xact_lock
from relief_pwa.services.actors import Actor
from relief_pwa.tables import AuditEvent

_CHAIN_LOCK = "audit-chain"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


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
    """Append one event to the chain. Must run inside a write transaction."""
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
    before_text, after_text = canonical_json(before), canonical_json(after)
    actor_label = actor.label[:80]
    digest = event_hash(
        prev_hash=prev_hash,
        seq=seq,
        at=_iso(at),
        actor_id=actor.staff_id,
        actor_label=actor_label,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        household_id=household_id,
        org_path=org_path,
        before=before_text,
        after=after_text,
    )
    await AuditEvent.insert(
        AuditEvent(
            seq=seq,
            at=at,
            actor=actor.staff_id,
            actor_label=actor_label,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            household_id=household_id,
            org_path=org_path,
            before=before_text,
            after=after_text,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    return seq


@dataclass(frozen=True)
class ChainReport:
    events_checked: int
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


async def verify_chain(batch_size: int = 5000) -> ChainReport:
    """Re-hash every event in order; name the first that no longer fits."""
    checked = 0
    last_seq = 0
    prev_hash = GENESIS_HASH
    expected_seq = 1
    while True:
        rows = await (
            AuditEvent.select().where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(batch_size)
        )
        if not rows:
            return ChainReport(checked, None)
        events = [
            ChainedEvent(
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
            for row in rows
        ]
        broken = _find_first_break(events, start_seq=expected_seq, start_prev_hash=prev_hash)
        if broken is not None:
            return ChainReport(checked + (broken.seq - expected_seq), broken)
        checked += len(events)
        last_seq = events[-1].seq
        prev_hash = events[-1].hash
        expected_seq = last_seq + 1
