from __future__ import annotations

import dataclasses
from typing import Any, TypedDict

import pytest

from relief_pwa.core.audit_chain import (
    GENESIS_HASH,
    REANCHOR,
    ChainedEvent,
    Checkpoint,
    check_checkpoints,
    effective_checkpoints,
    event_hash,
    find_first_break,
    sign_checkpoint,
)
from tests.helpers import found

KEY = b"test-audit-key"


class _Fields(TypedDict):
    """The hashed fields of an event other than the two hashes."""

    seq: int
    at: str
    actor_id: int | None
    actor_label: str
    action: str
    entity_type: str
    entity_id: int
    household_id: int | None
    org_path: str
    before: str
    after: str


def make_chain(length: int) -> list[ChainedEvent]:
    events, prev = [], GENESIS_HASH
    for seq in range(1, length + 1):
        fields = _Fields(
            seq=seq,
            at=f"2026-11-16T09:{seq:02d}:00.000000+00:00",
            actor_id=7,
            actor_label="张红 (station)",
            action="application.approve",
            entity_type="application",
            entity_id=seq,
            household_id=seq,
            org_path="370100/370102/",
            before='{"state":"a"}',
            after='{"state":"b"}',
        )
        digest = event_hash(key=KEY, prev_hash=prev, **fields)
        events.append(ChainedEvent(prev_hash=prev, hash=digest, **fields))
        prev = digest
    return events


def test_an_intact_chain_verifies():
    assert find_first_break(make_chain(5), key=KEY) is None


@pytest.mark.parametrize(
    "field",
    [
        "at",
        "actor_id",
        "actor_label",
        "action",
        "entity_type",
        "entity_id",
        "household_id",
        "org_path",
        "before",
        "after",
    ],
)
def test_changing_any_field_is_located(field):
    chain = make_chain(5)
    original = getattr(chain[2], field)
    forged = (original + 1) if isinstance(original, int) else (original + "x")
    changes: dict[str, Any] = {field: forged}
    chain[2] = dataclasses.replace(chain[2], **changes)
    broken = find_first_break(chain, key=KEY)
    assert broken is not None and broken.seq == 3


def test_a_removed_or_reordered_event_is_located():
    chain = make_chain(5)
    assert found(find_first_break(chain[:2] + chain[3:], key=KEY)).seq == 3
    assert found(find_first_break([chain[1], chain[0], *chain[2:]], key=KEY)).seq == 1


def test_rehashing_a_forged_event_still_breaks_the_next_link():
    chain = make_chain(4)
    forged = dataclasses.replace(chain[1], after='{"state":"forged"}')
    fields = {
        f.name: getattr(forged, f.name)
        for f in dataclasses.fields(forged)
        if f.name not in {"hash", "prev_hash"}
    }
    chain[1] = dataclasses.replace(forged, hash=event_hash(key=KEY, prev_hash=forged.prev_hash, **fields))
    assert found(find_first_break(chain, key=KEY)).seq == 3


def test_batches_continue_from_a_known_head():
    chain = make_chain(6)
    assert find_first_break(chain[3:], start_seq=4, start_prev_hash=chain[2].hash, key=KEY) is None


def test_without_the_key_a_rehashed_history_does_not_verify():
    chain = make_chain(3)
    forged = dataclasses.replace(chain[2], after='{"state":"forged"}')
    fields = {
        f.name: getattr(forged, f.name)
        for f in dataclasses.fields(forged)
        if f.name not in {"hash", "prev_hash"}
    }
    chain[2] = dataclasses.replace(
        forged, hash=event_hash(key=b"guessed", prev_hash=forged.prev_hash, **fields)
    )
    assert found(find_first_break(chain, key=KEY)).seq == 3


def _checkpoint(chain: list[ChainedEvent], seq: int, at: str, **extra: Any) -> Checkpoint:
    return sign_checkpoint(KEY, Checkpoint(seq=seq, head_hash=chain[seq - 1].hash, at=at, **extra))


def _hashes(chain: list[ChainedEvent]) -> dict[int, str]:
    return {e.seq: e.hash for e in chain}


def test_checkpoints_find_a_deleted_tail_and_a_rewritten_history():
    chain = make_chain(6)
    points = [_checkpoint(chain, 2, "2026-11-16T10:00"), _checkpoint(chain, 5, "2026-11-16T11:00")]
    assert check_checkpoints(points, _hashes(chain), last_seq=6, key=KEY) is None
    # the last two events deleted: the chain still links up, the checkpoint does not
    tail = found(check_checkpoints(points, _hashes(chain[:4]), last_seq=4, key=KEY))
    assert tail.seq == 5 and "deleted" in tail.reason
    # history rewritten by someone holding the key: located between the checkpoints
    rewritten = {**_hashes(chain), 5: "e" * 64}
    located = found(check_checkpoints(points, rewritten, last_seq=6, key=KEY))
    assert located.seq == 5 and "between event 3 and event 5" in located.message


def test_a_forged_checkpoint_and_a_reanchor():
    chain = make_chain(4)
    forged = dataclasses.replace(_checkpoint(chain, 2, "2026-11-16T10:00"), head_hash="a" * 64)
    assert "not signed" in found(check_checkpoints([forged], _hashes(chain), last_seq=4, key=KEY)).reason
    old = _checkpoint(chain, 3, "2026-11-16T10:00")
    rehashed = {**_hashes(chain), 3: "b" * 64, 4: "c" * 64}
    assert found(check_checkpoints([old], rehashed, last_seq=4, key=KEY)).seq == 3
    reanchor = sign_checkpoint(
        KEY,
        Checkpoint(
            seq=4, head_hash="c" * 64, at="2026-11-17T00:00", kind=REANCHOR, old_head_hash=chain[3].hash
        ),
    )
    assert effective_checkpoints([old, reanchor]) == [reanchor]
    assert check_checkpoints([old, reanchor], rehashed, last_seq=4, key=KEY) is None
