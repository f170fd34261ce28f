"""Retention: a dry run changes nothing; a run anonymises closed files past their period (no
identifier left to open or match, names masked, evidence photos gone), deletes expired sessions,
login attempts, bot messages and old access-log rows, audits counts only, and is idempotent."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest

from relief_pwa.adapters.storage import PhotoKind
from relief_pwa.core.intake import ItemDraft
from relief_pwa.core.retention import (
    RULES_BY_KEY,
    RetentionAction,
    RetentionConfigError,
    parse_overrides,
    rules_with,
)
from relief_pwa.services import scheduler
from relief_pwa.services.applications import do_transition
from relief_pwa.services.locks import named_lock
from relief_pwa.services.photos import photo_store
from relief_pwa.services.retention import LOCK_NAME as RETENTION_LOCK
from relief_pwa.services.retention import run_retention
from relief_pwa.tables import (
    AccessLogEntry,
    Application,
    AuditEvent,
    Household,
    LoginAttempt,
    Member,
    MoneyItem,
    OutboxMessage,
    Photo,
    WebSession,
)
from tests.factories import make_intake, member
from tests.helpers import found

HEAD_ID = "370102197005170011"
YEARS = timedelta(days=365)


async def _closed_household(world, name: str, *, id_number: str, assisted: bool) -> int:
    result = await make_intake(
        world,
        members=[member(name, id_number=id_number)],
        phone="13911112222",
        items=[ItemDraft("income", "wages", "0", "在解放路饭店打工", "600")],
    )
    await do_transition(
        world.actor("station"), result.application_id, "withdraw", reason="moved to relatives", now=world.now
    )
    if assisted:
        # An application that was paid and later ended: its history is all that matters here.
        await Application.update({Application.state: "exited"}).where(Application.id == result.application_id)
    household = found(await Household.objects().where(Household.id == result.household_id).first())
    assert not household.is_open
    return result.household_id


async def _evidence_photo(household_id: int, world, content: bytes) -> str:
    key = hashlib.sha256(content).hexdigest()
    photo_store().put(key, content, PhotoKind.IMAGE)
    await Photo.insert(
        Photo(
            household=household_id,
            org_path=found(
                await Household.select(Household.org_path).where(Household.id == household_id).first()
            )["org_path"],
            sha256=key,
            purpose="evidence",
            width=1,
            height=1,
            uploaded_at=world.now,
        )
    )
    return key


async def test_a_dry_run_counts_and_a_run_anonymises_closed_files_once(world) -> None:
    refused = await _closed_household(world, "张小明", id_number=HEAD_ID, assisted=False)
    assisted = await _closed_household(world, "李大华", id_number="370102198001010015", assisted=True)
    still_open = (await make_intake(world, members=[member("王芳")], phone="13933334444")).household_id
    key = await _evidence_photo(refused, world, b"photo of the kitchen")
    assert photo_store().exists(key, PhotoKind.IMAGE)

    later = world.now + 4 * YEARS  # past the refused files' 3 years, before the assisted files' 5
    dry = await run_retention(now=later)
    due = {o.rule.key: o.due for o in dry.outcomes}
    assert due["refused_files"] == 1 and due["assisted_files"] == 0 and due["photos"] == 1
    assert all(o.done == 0 for o in dry.outcomes)
    untouched = found(await Household.objects().where(Household.id == refused).first())
    assert untouched.head_name == "张小明" and untouched.head_id_sealed and untouched.anonymised_at is None
    assert photo_store().exists(key, PhotoKind.IMAGE)
    assert await MoneyItem.exists().where(
        (MoneyItem.household == refused) & (MoneyItem.description == "在解放路饭店打工")
    )

    events_before = await AuditEvent.count()
    report = await run_retention(now=later, dry_run=False, batch=1)
    done = {o.rule.key: o.done for o in report.outcomes}
    assert done["refused_files"] == 1 and done["assisted_files"] == 0
    gone = found(await Household.objects().where(Household.id == refused).first())
    assert gone.head_name == "张*明" and gone.anonymised_at == later
    assert (gone.head_id_sealed, gone.head_id_index, gone.phone_sealed, gone.phone_index) == ("", "", "", "")
    people = await Member.select(Member.name, Member.id_sealed, Member.id_index).where(
        Member.household == refused
    )
    assert people == [{"name": "张*明", "id_sealed": "", "id_index": ""}]
    assert await Photo.count().where(Photo.household == refused) == 0
    descriptions = await MoneyItem.select(MoneyItem.description).where(MoneyItem.household == refused)
    assert descriptions and all(r["description"] == "" for r in descriptions)
    assert not photo_store().exists(key, PhotoKind.IMAGE) and report.photo_files_deleted == 1
    for other in (assisted, still_open):
        kept = found(await Household.objects().where(Household.id == other).first())
        assert kept.head_id_sealed and kept.anonymised_at is None

    # Audited by rule and count, never with a name or a number.
    events = await AuditEvent.select(AuditEvent.action, AuditEvent.after).where(
        AuditEvent.action.like("retention.%")
    )
    assert len(events) == (await AuditEvent.count()) - events_before >= 2
    payload = json.dumps([e["after"] for e in events], ensure_ascii=False)
    assert "张" not in payload and HEAD_ID not in payload and "13911112222" not in payload
    by_rule = {json.loads(e["after"])["rule"]: json.loads(e["after"]) for e in events}
    assert by_rule["refused_files"]["rows"] == 1 and by_rule["refused_files"]["photos"] == 1

    # Idempotent: nothing left to do, nothing audited.
    count = await AuditEvent.count()
    again = await run_retention(now=later, dry_run=False)
    assert again.total_done == 0 and await AuditEvent.count() == count

    # Five years on, the assisted file follows; the open one never does.
    await run_retention(now=world.now + 6 * YEARS, dry_run=False)
    follows = found(await Household.objects().where(Household.id == assisted).first())
    assert follows.anonymised_at is not None and follows.head_name == "李*华" and follows.head_id_sealed == ""
    open_one = found(await Household.objects().where(Household.id == still_open).first())
    assert open_one.anonymised_at is None and open_one.head_name == "王芳"


async def test_a_run_deletes_expired_sessions_attempts_messages_and_old_reads(world) -> None:
    now = world.now
    old, recent = now - 4 * YEARS, now - timedelta(days=1)
    for at in (old, recent):
        await LoginAttempt.insert(LoginAttempt(username="x", client="1.2.3.4", at=at))
        await WebSession.insert(
            WebSession(key=f"k{at.timestamp()}", data="{}", expires_at=at, created_at=at, last_seen_at=at)
        )
        await OutboxMessage.insert(
            OutboxMessage(
                chat_id=1,
                kind="notice",
                text="您的申请已受理",
                dedupe_key=f"d{at.timestamp()}",
                status="sent",
                next_attempt_at=at,
                created_at=at,
            )
        )
        await AccessLogEntry.insert(
            AccessLogEntry(
                at=at, actor_label="station", action="household.view", entity_type="household", org_path=""
            )
        )
    # A message still waiting to be sent is never removed, however old.
    await OutboxMessage.insert(
        OutboxMessage(
            chat_id=1,
            kind="notice",
            text="待发送",
            dedupe_key="pending",
            status="pending",
            next_attempt_at=old,
            created_at=old,
        )
    )
    report = await run_retention(now=now, dry_run=False)
    done = {o.rule.key: o.done for o in report.outcomes}
    assert done["login_attempts"] == 1 and done["outbox_messages"] == 1 and done["access_log"] == 1
    assert done["sessions"] == 2  # the "recent" one expired yesterday: an expired session is useless
    assert await LoginAttempt.count() == 1 and await AccessLogEntry.count() == 1
    assert {r["status"] for r in await OutboxMessage.select(OutboxMessage.status)} == {"sent", "pending"}
    # Kept classes are reported, never acted on.
    kept = {o.rule.key for o in report.outcomes if o.cutoff is None}
    assert kept == {"audit_trail", "payment_records"}


async def test_a_run_refuses_while_another_holds_the_retention_lock(world) -> None:
    """The lock is the scheduler's mechanism under a name of its own: a held tick does not block
    a retention run, a held retention lock does (and a dry run, which writes nothing, still counts)."""
    now = world.now
    await LoginAttempt.insert(LoginAttempt(username="x", client="1.2.3.4", at=now - 4 * YEARS))
    engine = LoginAttempt._meta.db
    async with named_lock(engine, RETENTION_LOCK) as held:
        assert held
        refused = await run_retention(now=now, dry_run=False)
        assert refused.locked_out and refused.outcomes == () and refused.total_done == 0
        dry = await run_retention(now=now)
        assert not dry.locked_out and {o.rule.key: o.due for o in dry.outcomes}["login_attempts"] == 1
    assert await LoginAttempt.count() == 1
    assert await AuditEvent.count().where(AuditEvent.action.like("retention.%")) == 0
    async with scheduler.tick_lock(engine) as ticking:
        assert ticking
        report = await run_retention(now=now, dry_run=False)
    assert not report.locked_out and report.total_done == 1 and await LoginAttempt.count() == 0
    async with named_lock(engine, RETENTION_LOCK) as again:
        assert again  # the finished run let go of it


def test_periods_can_be_changed_but_not_below_the_legal_minimum() -> None:
    assert parse_overrides("photos=1095, access_log=730") == {"photos": 1095, "access_log": 730}
    changed = {r.key: r.keep_days for r in rules_with({"photos": 1095})}
    assert changed["photos"] == 1095 and changed["access_log"] == RULES_BY_KEY["access_log"].keep_days
    for bad in ("access_log=30", "audit_trail=10", "payment_records=100", "nonsense=5", "photos=soon"):
        with pytest.raises(RetentionConfigError):
            parse_overrides(bad)


def test_the_documented_table_matches_the_rules() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "retention.md").read_text()
    rows = {line.split("|")[1].strip(" `"): line for line in doc.splitlines() if line.startswith("| `")}
    for rule in RULES_BY_KEY.values():
        assert rule.key in rows, rule.key
        if rule.action != RetentionAction.KEEP:
            assert f"| {rule.keep_days}" in rows[rule.key], rule.key
            assert rule.action.value in rows[rule.key], rule.key
