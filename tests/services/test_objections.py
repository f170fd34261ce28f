"""Objections and complaints: filing (anonymous or with contact), tracking codes,
deadlines in working days, the staff inbox, investigation and answer."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from relief_pwa.core.calendar import add_working_days
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, PermissionDenied, ValidationFailed
from relief_pwa.services import identifiers
from relief_pwa.services.objections import (
    CODE_ALPHABET,
    do_answer,
    do_close,
    do_record_investigation,
    file_objection,
    get_public_status,
    list_inbox,
    normalise_tracking_code,
)
from relief_pwa.services.publicity import do_start_publicity
from relief_pwa.tables import AuditEvent, Objection
from tests.factories import member
from tests.helpers import found
from tests.services.publicity_support import (  # noqa: F401
    active_application,
    eligible_application,
    fresh_public_state,
)


async def test_anonymous_complaint_gets_an_unguessable_code_and_a_deadline(world):
    filed = await file_objection(
        kind="complaint",
        body="服务站工作人员办理时态度恶劣，还索要好处。",
        board_code="370102001001",
        about="解放路街道服务站窗口",
        now=world.now,
    )
    assert len(filed.tracking_code) == 10 and set(filed.tracking_code) <= set(CODE_ALPHABET)
    # 15 working days from Monday 2026-11-16: weekends skipped.
    assert filed.deadline == add_working_days(date(2026, 11, 16), 15) == date(2026, 12, 7)
    assert not filed.interrupted_notice
    row = found(await Objection.select().where(Objection.id == filed.objection_id).first())
    assert row["org_path"] == "370100/370102/370102001/370102001001/"
    assert row["contact_name"] == "" and row["contact_phone_sealed"] == "" and row["channel"] == "web"
    event = found(await AuditEvent.select().where(AuditEvent.action == "objection.file").first())
    assert event["actor"] is None
    assert '"channel":"web"' in event["after"] and '"anonymous":true' in event["after"]
    assert "态度恶劣" not in event["after"]  # what the filer wrote stays out of the audit trail

    codes = {
        (
            await file_objection(
                kind="complaint", body="另一个投诉内容很具体。", board_code="370102001001", now=world.now
            )
        ).tracking_code
        for _ in range(5)
    }
    assert len(codes) == 5


async def test_bad_input_is_refused_field_by_field_and_stores_nothing(world):
    with pytest.raises(ValidationFailed) as caught:
        await file_objection(
            kind="complaint", body="短", board_code="370102001001", contact_phone="12345", now=world.now
        )
    assert set(caught.value.errors) == {"body", "contact_phone"}
    with pytest.raises(ValidationFailed) as caught:
        await file_objection(kind="gossip", body="这是一条足够长的内容。", board_code="999999", now=world.now)
    assert set(caught.value.errors) == {"kind", "board"}
    with pytest.raises(ValidationFailed) as caught:
        await file_objection(kind="objection", body="这是一条足够长的内容。", notice_id=987654, now=world.now)
    assert "notice" in caught.value.errors
    assert await Objection.count() == 0
    assert not await AuditEvent.exists().where(AuditEvent.action == "objection.file")


async def test_contact_phone_is_normalised(world):
    filed = await file_objection(
        kind="complaint",
        body="请联系我核实，我知道具体情况。",
        board_code="370102001",
        contact_name=" 王 先生 ",
        contact_phone="+86 139-1234-5678",
        now=world.now,
        channel="bot",
    )
    row = found(await Objection.select().where(Objection.id == filed.objection_id).first())
    phone = identifiers.opened("phone", row["contact_phone_sealed"])
    assert (row["contact_name"], phone, row["channel"]) == ("王 先生", "13912345678", "bot")


async def test_objection_about_a_current_recipient(world):
    app = await active_application(world)
    filed = await file_objection(
        kind="objection",
        body="这户已经在外地工作，收入很高。",
        recipient_application_id=app.application_id,
        now=world.now + timedelta(days=10),
    )
    row = found(await Objection.select().where(Objection.id == filed.objection_id).first())
    assert row["application"] == app.application_id and not filed.interrupted_notice
    pending = await eligible_application(world, members=[member("赵六")])
    with pytest.raises(ValidationFailed) as caught:
        await file_objection(
            kind="objection",
            body="这户不该给。这户不该给。",
            recipient_application_id=pending.application_id,
            now=world.now,
        )
    assert "recipient" in caught.value.errors


async def test_status_by_tracking_code_through_investigation_and_answer(world):
    app = await eligible_application(world)
    notice_id = await do_start_publicity(world.actor("station"), app.application_id, now=world.now)
    filed = await file_objection(
        kind="objection",
        body="该户隐瞒了经营收入，请核实。",
        notice_id=notice_id,
        contact_phone="13700001111",
        now=world.now,
    )
    messy = filed.tracking_code.lower()[:5] + "-" + filed.tracking_code.lower()[5:]
    assert normalise_tracking_code(messy) == filed.tracking_code
    status = await get_public_status(messy)
    assert (status.status, status.answer, status.interrupted_notice) == ("received", "", True)

    station = world.actor("station")
    with pytest.raises(DomainError):  # no answer before any investigation is on record
        await do_answer(station, filed.objection_id, "经核实情况属实，已重新调查。", now=world.now)
    await do_record_investigation(station, filed.objection_id, "入户走访，邻里访问两户。", now=world.now)
    status = await get_public_status(filed.tracking_code)
    assert status.status == "investigating" and status.answer == ""

    await do_answer(
        station,
        filed.objection_id,
        "经核实，该户有个体经营收入，已重新核定。",
        now=world.now + timedelta(days=2),
    )
    status = await get_public_status(filed.tracking_code)
    assert status.status == "answered" and "重新核定" in status.answer
    await do_close(station, filed.objection_id, now=world.now + timedelta(days=3))
    assert (await get_public_status(filed.tracking_code)).status == "closed"
    actions = [
        r["action"]
        for r in await AuditEvent.select(AuditEvent.action)
        .where(AuditEvent.entity_type == "objection")
        .order_by(AuditEvent.seq)
    ]
    assert actions == ["objection.file", "objection.investigate", "objection.answer", "objection.close"]

    for bad in ("", "ABC", "0000000000"):
        with pytest.raises(DomainError):
            await get_public_status(bad)


async def test_inbox_scope_deadlines_and_roles(world):
    filed = await file_objection(
        kind="complaint", body="窗口人员迟到早退，经常不在岗。", board_code="370102001001", now=world.now
    )
    elsewhere = await file_objection(
        kind="complaint", body="大观园街道窗口人员态度不好。", board_code="370103002001", now=world.now
    )
    station = world.actor("station")
    inbox = await list_inbox(station, now=world.now)
    assert [r.id for r in inbox.rows] == [filed.objection_id]
    assert inbox.open_count == 1 and inbox.overdue_count == 0 and inbox.rows[0].days_left == 15
    assert [r.id for r in (await list_inbox(world.actor("station_b"), now=world.now)).rows] == []
    assert {r.id for r in (await list_inbox(world.actor("city"), now=world.now)).rows} == {
        filed.objection_id,
        elsewhere.objection_id,
    }

    late = world.now + timedelta(days=30)
    inbox = await list_inbox(station, now=late)
    assert inbox.overdue_count == 1 and inbox.rows[0].overdue and inbox.rows[0].days_left < 0

    for username in ("supervisor", "liaison", "investigator"):
        with pytest.raises(PermissionDenied):
            await do_record_investigation(
                world.actor(username), filed.objection_id, "查看记录", now=world.now
            )
    with pytest.raises(NotFoundOrForbidden):
        await do_record_investigation(world.actor("station_b"), filed.objection_id, "查看记录", now=world.now)
    row = (
        await Objection.select(Objection.status, Objection.investigation)
        .where(Objection.id == filed.objection_id)
        .first()
    )
    assert row == {"status": "received", "investigation": ""}
