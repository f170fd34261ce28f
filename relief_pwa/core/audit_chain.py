"""The audit hash chain: each event's hash covers its content and the previous hash.

Changing, deleting or reordering any stored event breaks every hash after it,
and :func:`find_first_break` names the first event that no longer fits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class ChainedEvent:
    """The hashed content of one audit event, as stored."""

    seq: int
    at: str  # ISO 8601 with offset
    actor_id: int | None
    actor_label: str
    action: str
    entity_type: str
    entity_id: int
    household_id: int | None
    org_path: str
    before: str  # canonical JSON
    after: str  # canonical JSON
    prev_hash: str
    hash: str


def canonical_json(value: Any) -> str:
    """Stable JSON text: sorted keys, no spacing variations, non-ASCII kept readable."""
    if value is None or value == "":
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def event_hash(
    *,
    prev_hash: str,
    seq: int,
    at: str,
    actor_id: int | None,
    actor_label: str,
    action: str,
    entity_type: str,
    entity_id: int,
    household_id: int | None,
    org_path: str,
    before: str,
    after: str,
) -> str:
    """SHA-256 over the previous hash and every stored field, unambiguously framed."""
    payload = json.dumps(
        [
            prev_hash,
            seq,
            at,
            actor_id,
            actor_label,
            action,
            entity_type,
            entity_id,
            household_id,
            org_path,
            before,
            after,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str  # English message id


def find_first_break(
    events: Iterable[ChainedEvent], *, start_seq: int = 1, start_prev_hash: str = GENESIS_HASH
) -> ChainBreak | None:
    """Walk events in ``seq`` order and return the first that does not verify.

    ``start_seq``/``start_prev_hash`` let a caller verify a long chain in batches.
    """
    expected_prev = start_prev_hash
    expected_seq = start_seq
    for event in events:
        if event.seq != expected_seq:
            return ChainBreak(expected_seq, "An event is missing or out of order before this position.")
        if event.prev_hash != expected_prev:
            return ChainBreak(event.seq, "The event does not point at the previous event's hash.")
        recomputed = event_hash(
            prev_hash=event.prev_hash,
            seq=event.seq,
            at=event.at,
            actor_id=event.actor_id,
            actor_label=event.actor_label,
            action=event.action,
            entity_type=event.entity_type,
            entity_id=event.entity_id,
            household_id=event.household_id,
            org_path=event.org_path,
            before=event.before,
            after=event.after,
        )
        if recomputed != event.hash:
            return ChainBreak(event.seq, "The event's content was changed after it was written.")
        expected_prev = event.hash
        expected_seq += 1
    return None
