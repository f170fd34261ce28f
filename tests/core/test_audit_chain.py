from __future__ import annotations

import dataclasses
from typing import Any, TypedDict

import pytest

from relief_pwa.core.audit_chain import GENESIS_HASH, ChainedEvent, event_hash, find_first_break
from tests.helpers import found


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
        digest = event_hash(prev_hash=prev, **fields)
        events.append(ChainedEvent(prev_hash=prev, hash=digest, **fields))
        prev = digest
    return events


def test_an_intact_chain_verifies():
    assert find_first_break(make_chain(5)) is None


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
    broken = find_first_break(chain)
    assert broken is not None and broken.seq == 3


def test_a_removed_or_reordered_event_is_located():
    chain = make_chain(5)
    assert found(find_first_break(chain[:2] + chain[3:])).seq == 3
    assert found(find_first_break([chain[1], chain[0], *chain[2:]])).seq == 1


def test_rehashing_a_forged_event_still_breaks_the_next_link():
    chain = make_chain(4)
    forged = dataclasses.replace(chain[1], after='{"state":"forged"}')
    fields = {
        f.name: getattr(forged, f.name)
        for f in dataclasses.fields(forged)
        if f.name not in {"hash", "prev_hash"}
    }
    chain[1] = dataclasses.replace(forged, hash=event_hash(prev_hash=forged.prev_hash, **fields))
    assert found(find_first_break(chain)).seq == 3


def test_batches_continue_from_a_known_head():
    chain = make_chain(6)
    assert find_first_break(chain[3:], start_seq=4, start_prev_hash=chain[2].hash) is None
