"""The keyed audit chain, its published checkpoints and redacted payloads."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from relief_pwa.core.audit_chain import GENESIS_HASH, Checkpoint, event_hash
from relief_pwa.core.audit_redaction import contains_identifier, redact_payload
from relief_pwa.services import identifiers
from relief_pwa.services.applications import do_transition
from relief_pwa.services.audit import (
    _iso,
    checkpoint_file,
    publish_checkpoint,
    read_checkpoint_file,
    reanchor_redacted,
    verify_chain,
)
from relief_pwa.settings import get_settings
from relief_pwa.tables import AuditCheckpoint, AuditEvent, Member
from tests.factories import make_intake
from tests.helpers import found


async def _events() -> list[dict[str, Any]]:
    return await AuditEvent.select().order_by(AuditEvent.seq)


async def test_no_full_identifier_is_written_into_an_event(world, now):
    result = await make_intake(world)
    await do_transition(world.actor("station"), result.application_id, "start_investigation", now=now)
    numbers = [identifiers.opened("id_number", r["id_sealed"]) for r in await Member.select(Member.id_sealed)]
    assert numbers
    for event in await _events():
        for text in (event["before"], event["after"]):
            assert not contains_identifier(text), text
            assert not any(number in text for number in numbers)


def test_redaction_masks_keys_and_shapes():
    payload = {
        "members": [{"name": "张三", "id_number": "370102198001011234"}],
        "phone": "13812345678",
        "bank_account": "6222021234567890",
        "note": "身份证 370102198001011234，电话 13812345678",
        "amount_fen": 123456,
        "community": "370102001001",  # an org code is not an account
        "old_id": "370102800101123",
        "file_no": "370102-H000001",
        "number": "SQ370102001-2026-00001",
    }
    redacted = redact_payload(payload)
    text = json.dumps(redacted, ensure_ascii=False)
    assert "370102198001011234" not in text and "13812345678" not in text and "6222021234567890" not in text
    assert redacted["members"][0]["id_number"] == "370102********1234"
    assert redacted["phone"] == "138****5678"
    assert redacted["amount_fen"] == 123456
    assert redacted["community"] == "370102001001"
    assert redacted["old_id"] == "370102*****1123"
    assert redacted["file_no"] == "370102-H000001" and redacted["number"] == "SQ370102001-2026-00001"


async def _two_checkpoints(world: Any, now: datetime) -> tuple[Checkpoint, Checkpoint]:
    result = await make_intake(world)
    first = found(await publish_checkpoint(now=now))
    await do_transition(world.actor("station"), result.application_id, "start_investigation", now=now)
    second = found(await publish_checkpoint(now=now + timedelta(hours=1)))
    assert first.seq < second.seq
    assert await publish_checkpoint(now=now + timedelta(hours=2)) is None  # head has not moved
    return first, second


async def test_deleting_the_tail_is_found_even_with_the_checkpoint_table_emptied(world, now):
    first, _second = await _two_checkpoints(world, now)
    report = await verify_chain()
    assert report.ok and report.checkpoints_checked == 2
    await AuditEvent.raw("DELETE FROM audit_event WHERE seq > {}", first.seq)
    await AuditCheckpoint.delete(force=True)  # an intruder cleans up the table too; the file remains
    report = await verify_chain()
    broken = found(report.first_break)
    assert broken.seq == first.seq + 1 and "deleted" in broken.reason
    assert len(read_checkpoint_file().checkpoints) == 2 and checkpoint_file().exists()


async def test_history_rewritten_with_the_key_is_located_between_checkpoints(world, now):
    first, second = await _two_checkpoints(world, now)
    key = get_settings().audit_key_bytes
    target = first.seq + 1
    rows = await _events()
    prev = found(next(r for r in rows if r["seq"] == target - 1))["hash"]
    for row in rows:
        if row["seq"] < target:
            continue
        after = '{"forged":true}' if row["seq"] == target else row["after"]
        digest = event_hash(
            key=key,
            prev_hash=prev,
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
            after=after,
        )
        await AuditEvent.update(
            {AuditEvent.after: after, AuditEvent.prev_hash: prev, AuditEvent.hash: digest}
        ).where(AuditEvent.seq == row["seq"])
        prev = digest
    broken = found((await verify_chain()).first_break)
    assert broken.seq == second.seq
    assert f"between event {first.seq + 1} and event {second.seq}" in broken.message


async def test_a_forged_line_in_the_checkpoint_file_is_reported(world, now):
    await _two_checkpoints(world, now)
    with checkpoint_file().open("a") as handle:
        handle.write("not json\n")
    assert "checkpoint file" in found((await verify_chain()).first_break).reason


async def test_reanchor_masks_a_legacy_chain_and_declares_itself(world, now):
    # the legacy chain: plain SHA-256, a full ID number in the payload
    await AuditEvent.delete(force=True)
    prev = GENESIS_HASH
    for seq in (1, 2, 3):
        at = _iso(now)
        after = json.dumps(
            {"id_number": "370102198001011234", "seq": seq}, separators=(",", ":"), sort_keys=True
        )
        payload = json.dumps(
            [prev, seq, at, None, "system", "x.create", "x", seq, None, "370100/", "", after],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        digest = hashlib.sha256(payload.encode()).hexdigest()
        await AuditEvent.insert(
            AuditEvent(
                seq=seq, at=now, actor=None, actor_label="system", action="x.create", entity_type="x",
                entity_id=seq, household_id=None, org_path="370100/", before="", after=after,
                prev_hash=prev, hash=digest,
            )
        )  # fmt: skip
        prev = digest
    assert not (await verify_chain()).ok
    result = await reanchor_redacted(now=now)
    assert result.events_rewritten == 3 and result.old_head == prev and not result.refused
    report = await verify_chain()
    assert report.ok, report.first_break
    assert all("370102198001011234" not in e["after"] for e in await _events())
    reanchors = [c for c in read_checkpoint_file().checkpoints if c.kind == "reanchor"]
    assert reanchors and reanchors[0].old_head_hash == prev


async def test_reanchor_refuses_a_tampered_chain(world, now):
    await make_intake(world)
    await AuditEvent.raw("UPDATE audit_event SET after = {} WHERE seq = 1", '{"forged":1}')
    result = await reanchor_redacted(now=now)
    assert result.refused and result.events_rewritten == 0
