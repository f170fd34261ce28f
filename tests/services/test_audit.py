"""The audit trail: every change leaves a hash-chained event; tampering is located."""

from __future__ import annotations

import pytest

from relief_pwa.core.errors import Conflict, InvalidTransition, PermissionDenied
from relief_pwa.services import identifiers
from relief_pwa.services.applications import do_transition
from relief_pwa.services.audit import verify_chain
from relief_pwa.tables import Application, AuditEvent
from tests.factories import make_intake
from tests.helpers import found


async def test_chain_verifies_and_names_the_first_tampered_event(world, now):
    result = await make_intake(world)
    await do_transition(world.actor("station"), result.application_id, "start_investigation", now=now)
    report = await verify_chain()
    assert report.ok and report.events_checked == await AuditEvent.count()

    target = found(
        await AuditEvent.select(AuditEvent.seq).where(AuditEvent.action == "household.create").first()
    )
    await AuditEvent.raw(
        "UPDATE audit_event SET after = {} WHERE seq = {}", '{"file_no":"forged"}', target["seq"]
    )
    report = await verify_chain()
    assert not report.ok
    assert report.first_break is not None and report.first_break.seq == target["seq"]
    assert "changed" in report.first_break.reason


async def test_a_deleted_event_is_found(world, now):
    result = await make_intake(world)
    await do_transition(world.actor("station"), result.application_id, "start_investigation", now=now)
    last = found(await AuditEvent.select(AuditEvent.seq).order_by(AuditEvent.seq, ascending=False).first())
    middle = last["seq"] - 1
    await AuditEvent.raw("DELETE FROM audit_event WHERE seq = {}", middle)
    report = await verify_chain()
    assert report.first_break is not None and report.first_break.seq == middle


async def test_transition_is_audited_with_before_and_after(world, now):
    result = await make_intake(world)
    outcome = await do_transition(
        world.actor("station"), result.application_id, "start_investigation", now=now
    )
    assert (outcome.old_state, outcome.new_state) == ("received", "investigating")
    event = found(
        await AuditEvent.select().where(AuditEvent.action == "application.start_investigation").first()
    )
    assert event["entity_id"] == result.application_id
    assert '"received"' in event["before"] and '"investigating"' in event["after"]
    assert event["actor"] == world.actor("station").staff_id


async def test_transition_rules_roles_reasons_and_versions(world, now):
    result = await make_intake(world)
    station, center = world.actor("station"), world.actor("center")
    with pytest.raises(PermissionDenied):
        await do_transition(world.actor("supervisor"), result.application_id, "start_investigation", now=now)
    with pytest.raises(InvalidTransition):
        await do_transition(center, result.application_id, "approve", reason="looks fine", now=now)
    await do_transition(station, result.application_id, "start_investigation", now=now, expected_version=1)
    with pytest.raises(Conflict):
        await do_transition(
            station,
            result.application_id,
            "find_eligible",
            reason="人均收入低于当地标准",
            now=now,
            expected_version=1,
        )
    events_before = await AuditEvent.count()
    with pytest.raises(Exception, match="reason"):
        await do_transition(station, result.application_id, "find_eligible", reason="", now=now)
    assert await AuditEvent.count() == events_before
    application = found(await Application.objects().get(Application.id == result.application_id))
    assert application.state == "investigating" and application.version == 2


async def test_withdrawn_application_closes_the_file_and_frees_the_id(world, now):
    from relief_pwa.tables import Household, Member

    result = await make_intake(world)
    await do_transition(
        world.actor("station"), result.application_id, "withdraw", reason="申请人撤回申请", now=now
    )
    household = found(await Household.objects().get(Household.id == result.household_id))
    assert household.is_open is False
    head = found(await Member.select(Member.id_sealed).where(Member.household == result.household_id).first())
    from tests.factories import member

    head_id = identifiers.opened(identifiers.ID_NUMBER, head["id_sealed"])
    again = await make_intake(world, members=[member(id_number=head_id)])
    assert again.household_id != result.household_id


async def test_the_first_finding_keeps_its_local_day(world):
    """Dashboards count an investigation as done on the local (Beijing) day of the
    station's first finding; a reopened investigation does not move that day."""
    from datetime import UTC, datetime

    result = await make_intake(world)
    station = world.actor("station")
    evening_utc = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 01:30 on 2 March in Jinan
    await do_transition(station, result.application_id, "start_investigation", now=evening_utc)
    await do_transition(
        station, result.application_id, "find_eligible", reason="人均收入低于当地标准", now=evening_utc
    )
    later = datetime(2026, 3, 20, 3, 0, tzinfo=UTC)
    await do_transition(
        station, result.application_id, "reopen_investigation", reason="申请人补充了存款材料", now=later
    )
    await do_transition(
        station, result.application_id, "find_ineligible", reason="存款超过规定限额", now=later
    )
    row = found(
        await Application.select(Application.found_on).where(Application.id == result.application_id).first()
    )
    assert str(row["found_on"]) == "2026-03-02"
