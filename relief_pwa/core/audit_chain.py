"""The audit hash chain: each event's MAC covers its content and the previous MAC.

Each link is an HMAC-SHA256 under a key kept outside the database, so someone
who can write to the database but does not hold the key cannot re-hash a
forged history. Changing, deleting or reordering any stored event breaks
every link after it, and :func:`find_first_break` names the first event that
no longer fits. Deleting the *tail* leaves a shorter chain that still links
up: published checkpoints (:class:`Checkpoint`, :func:`check_checkpoints`)
catch that, and they also catch a history rewritten by someone who holds the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relief_pwa.core.i18n import N_

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
    key: bytes,
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
    """HMAC-SHA256 (under ``key``) over the previous hash and every stored field, unambiguously framed."""
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
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str  # English message id with {placeholders}
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """The reason in English with its values filled in (for the command line)."""
        return self.reason.format(**self.params) if self.params else self.reason


def find_first_break(
    events: Iterable[ChainedEvent],
    *,
    key: bytes,
    start_seq: int = 1,
    start_prev_hash: str = GENESIS_HASH,
) -> ChainBreak | None:
    """Walk events in ``seq`` order and return the first that does not verify.

    ``start_seq``/``start_prev_hash`` let a caller verify a long chain in batches.
    """
    expected_prev = start_prev_hash
    expected_seq = start_seq
    for event in events:
        if event.seq != expected_seq:
            return ChainBreak(expected_seq, N_("An event is missing or out of order before this position."))
        if event.prev_hash != expected_prev:
            return ChainBreak(event.seq, N_("The event does not point at the previous event's hash."))
        recomputed = event_hash(
            key=key,
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
        if not hmac.compare_digest(recomputed, event.hash):
            return ChainBreak(event.seq, N_("The event's content was changed after it was written."))
        expected_prev = event.hash
        expected_seq += 1
    return None


# --- checkpoints -------------------------------------------------------------------

CHECKPOINT = "checkpoint"
REANCHOR = "reanchor"


@dataclass(frozen=True)
class Checkpoint:
    """A published head of the chain: event ``seq`` had MAC ``head_hash`` at ``at``.

    ``kind`` is ``checkpoint`` (regular publication) or ``reanchor`` (a
    documented, deliberate rewrite of events ``1..seq``, e.g. masking old
    payloads; ``note`` says why and ``old_head_hash`` keeps the head it replaced).
    Checkpoints published before a re-anchor that cover rewritten events are
    superseded by it; everything else must still match.
    """

    seq: int
    head_hash: str
    at: str
    kind: str = CHECKPOINT
    note: str = ""
    old_head_hash: str = ""
    mac: str = ""


def checkpoint_mac(key: bytes, checkpoint: Checkpoint) -> str:
    """The MAC that makes a checkpoint in a public file unforgeable without the key."""
    payload = json.dumps(
        [
            "relief-audit-checkpoint",
            checkpoint.seq,
            checkpoint.head_hash,
            checkpoint.at,
            checkpoint.kind,
            checkpoint.note,
            checkpoint.old_head_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_checkpoint(key: bytes, checkpoint: Checkpoint) -> Checkpoint:
    return Checkpoint(
        seq=checkpoint.seq,
        head_hash=checkpoint.head_hash,
        at=checkpoint.at,
        kind=checkpoint.kind,
        note=checkpoint.note,
        old_head_hash=checkpoint.old_head_hash,
        mac=checkpoint_mac(key, checkpoint),
    )


def effective_checkpoints(checkpoints: Sequence[Checkpoint]) -> list[Checkpoint]:
    """The checkpoints that still bind the chain, in ``seq`` order.

    A re-anchor supersedes every checkpoint published before it (by time)
    whose ``seq`` it covers; duplicates (the same checkpoint in the table and
    in the file) count once.
    """
    reanchors = [c for c in checkpoints if c.kind == REANCHOR]
    kept: dict[tuple[int, str, str], Checkpoint] = {}
    for c in checkpoints:
        superseded = any(r is not c and c.seq <= r.seq and c.at < r.at for r in reanchors)
        if not superseded:
            kept[(c.seq, c.head_hash, c.kind)] = c
    return sorted(kept.values(), key=lambda c: (c.seq, c.at))


def check_checkpoints(
    checkpoints: Sequence[Checkpoint],
    head_hashes: Mapping[int, str],
    *,
    last_seq: int,
    key: bytes,
) -> ChainBreak | None:
    """Compare published checkpoints with the stored chain.

    ``head_hashes`` maps each checkpoint's ``seq`` to the stored event's MAC
    (missing when the event is gone); ``last_seq`` is the stored chain's head.
    Returns the first checkpoint that does not hold: a forged checkpoint, a
    deleted tail (the chain ends before a published head), or a rewritten
    history (the stored event at a published position has another MAC; the
    change lies between the last checkpoint that held and this one).
    """
    last_good = 0
    for c in effective_checkpoints(checkpoints):
        if not hmac.compare_digest(c.mac, checkpoint_mac(key, c)):
            return ChainBreak(
                c.seq, N_("The checkpoint published at {at} is not signed with the audit key."), {"at": c.at}
            )
        if c.seq > last_seq:
            return ChainBreak(
                last_seq + 1,
                N_(
                    "Events were deleted from the end: the checkpoint published at {at} "
                    "saw event {seq}, the chain now ends at event {last}."
                ),
                {"at": c.at, "seq": c.seq, "last": last_seq},
            )
        stored = head_hashes.get(c.seq)
        if stored is None or not hmac.compare_digest(stored, c.head_hash):
            return ChainBreak(
                c.seq,
                N_(
                    "History was rewritten: the chain no longer matches the checkpoint published at {at}; "
                    "the change lies between event {first} and event {seq}."
                ),
                {"at": c.at, "first": last_good + 1, "seq": c.seq},
            )
        last_good = c.seq
    return None
