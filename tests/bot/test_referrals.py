"""A referral's round trip (一门受理、分类转办): refer, accept, ask for more, supply, refer on,
escalate past the working-day deadline, decide; the applicant hears each step once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from telegram import Bot

from relief_pwa.clock import SystemClock, local_date
from relief_pwa.core.calendar import add_working_days
from relief_pwa.core.enums import Role
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden
from relief_pwa.core.ratelimit import SendPacer
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.bot import current_bind_link, do_bind, ensure_chat
from relief_pwa.services.departments import do_create_department
from relief_pwa.services.outbox import OutboxWorker
from relief_pwa.services.referrals import (
    access_referral,
    do_accept,
    do_decide,
    do_refer,
    do_refer_on,
    do_request_info,
    do_supply_info,
    escalate_overdue_referrals,
    list_overdue,
)
from relief_pwa.services.scheduler import registered_tasks
from relief_pwa.tables import AidRecord, AuditEvent, OrgUnit, OutboxMessage, Referral
from tests.factories import add_staff, make_intake
from tests.helpers import found

CHAT = 777000222


@pytest_asyncio.fixture()
async def bot(stub: Any) -> AsyncIterator[Bot]:
    telegram_bot = Bot(stub.token, base_url=stub.base_url)
    async with telegram_bot:
        yield telegram_bot


async def _deliver(bot: Bot) -> None:
    async def send(chat_id: int, text: str) -> None:
        await bot.send_message(chat_id, text)

    worker = OutboxWorker(send, SystemClock(), SendPacer(200.0, 0.01), backoff_base=0.05, poll_seconds=0.05)
    worker.start()
    await worker.drain(timeout=20)
    await worker.stop()


async def _unit(code: str) -> int:
    return int(found(await OrgUnit.select(OrgUnit.id).where(OrgUnit.code == code).first())["id"])


async def test_round_trip_with_escalation_tells_the_applicant_each_step_once(
    world: Any, stub: Any, bot: Bot, now: datetime
) -> None:
    await do_create_department(
        SYSTEM_ACTOR, kind="medical_insurance", parent_code="370102", name="历下区医保局", now=now
    )
    medical = await add_staff(world, "medical", Role.DEPARTMENT, "370102D02")
    education = world.actor("department")
    station = world.actor("station")
    intake = await make_intake(world)
    await ensure_chat(CHAT, now, default_language="zh_Hans")
    link = found(await current_bind_link(intake.application_id, now))
    await do_bind(CHAT, link.token, now)

    referral_id = await do_refer(
        station, intake.household_id, to_unit=await _unit("370102D01"), category="education",
        request="孩子上学学费困难", application_id=intake.application_id, now=now,
    )  # fmt: skip
    row = await Referral.objects().where(Referral.id == referral_id).first()
    assert row is not None and row.status == "pending" and row.org_path.startswith("370100/370102/")
    # Ten working days, counted with the holiday calendar.
    assert row.due_on == add_working_days(local_date(now), 10)
    with pytest.raises(DomainError):  # the same request twice
        await do_refer(
            station, intake.household_id, to_unit=await _unit("370102D01"), category="education",
            request="again", now=now,
        )  # fmt: skip
    # Another department neither sees nor answers it.
    with pytest.raises(NotFoundOrForbidden):
        await access_referral(medical, referral_id)

    later = now + timedelta(hours=1)
    await do_accept(education, referral_id, now=later)
    await do_request_info(education, referral_id, question="请提供学籍证明", now=later)
    await do_supply_info(station, referral_id, answer="学籍证明已上传", now=later + timedelta(hours=1))
    new_id = await do_refer_on(
        education,
        referral_id,
        to_unit=await _unit("370102D02"),
        reason="属医疗救助",
        now=later + timedelta(hours=2),
    )
    old = found(await Referral.objects().where(Referral.id == referral_id).first())
    assert old.status == "referred_on" and old.answered_at == later
    new = found(await Referral.objects().where(Referral.id == new_id).first())
    assert new.status == "pending" and new.referred_from == referral_id

    # Nothing is overdue on the deadline day itself; the next day it is escalated, once.
    on_due = datetime.combine(new.due_on, now.timetz())
    assert await escalate_overdue_referrals(on_due) == 0
    after_due = on_due + timedelta(days=1)
    assert await escalate_overdue_referrals(after_due) == 1
    assert await escalate_overdue_referrals(after_due + timedelta(days=1)) == 0
    new = found(await Referral.objects().where(Referral.id == new_id).first())
    assert new.status == "escalated" and new.escalated_to == world.units["370102"]
    assert [r["id"] for r in await list_overdue(world.actor("center"), now=after_due)] == [new_id]
    assert await list_overdue(world.actor("center_b"), now=after_due) == []
    assert "escalate_referrals" in {t.name for t in registered_tasks()}

    # The department takes it up late: still past its deadline, but the centre was told once.
    await do_accept(medical, new_id, now=after_due)
    assert await escalate_overdue_referrals(after_due + timedelta(days=2)) == 0
    assert [r["id"] for r in await list_overdue(world.actor("center"), now=after_due)] == [new_id]

    # The department still decides; granted relief is recorded as aid.
    await do_decide(medical, new_id, decision="granted", reason="纳入医疗救助", amount="800", now=after_due)
    new = found(await Referral.objects().where(Referral.id == new_id).first())
    assert new.status == "decided" and new.decision == "granted" and new.decided_at == after_due
    aid = found(await AidRecord.objects().where(AidRecord.reference == f"referral:{new_id}").first())
    assert aid.value_fen == 80_000 and Decimal(aid.value_fen) > 0

    actions = [
        r["action"]
        for r in await AuditEvent.select(AuditEvent.action)
        .where(AuditEvent.entity_type == "referral")
        .order_by(AuditEvent.seq)
    ]
    assert actions == [
        "referral.create",
        "referral.accept",
        "referral.request_info",
        "referral.supply_info",
        "referral.create",
        "referral.refer_on",
        "referral.escalate",
        "referral.accept",
        "referral.decide",
    ]

    await _deliver(bot)
    texts = stub.texts(CHAT)
    kinds = [
        r["kind"]
        for r in await OutboxMessage.select(OutboxMessage.kind)
        .where(OutboxMessage.chat_id == CHAT)
        .order_by(OutboxMessage.id)
    ]
    referral_kinds = [k for k in kinds if k.startswith("referral_")]
    assert referral_kinds == [
        "referral_created",
        "referral_accepted",
        "referral_info_requested",
        "referral_info_supplied",
        "referral_referred_on",
        "referral_escalated",
        "referral_accepted",
        "referral_granted",
    ]
    referral_texts = texts[-len(referral_kinds) :]
    assert len(set(referral_texts)) == len(referral_texts)  # each step once
    assert "历下区教育局" in referral_texts[0] and "请提供学籍证明" in referral_texts[2]
    assert "历下区医保局" in referral_texts[4]


async def test_escalation_is_once_per_deadline(world: Any, now: datetime) -> None:
    """Accepting an escalated referral does not escalate it again; a deadline that restarts
    (the information asked for was supplied) is escalated again once it has passed."""
    education, station = world.actor("department"), world.actor("station")
    intake = await make_intake(world)
    referral_id = await do_refer(
        station, intake.household_id, to_unit=await _unit("370102D01"), category="education",
        request="学费困难", now=now,
    )  # fmt: skip
    due = found(await Referral.objects().where(Referral.id == referral_id).first()).due_on
    late = datetime.combine(due + timedelta(days=1), now.timetz())
    assert await escalate_overdue_referrals(late) == 1
    await do_accept(education, referral_id, now=late)
    assert await escalate_overdue_referrals(late + timedelta(days=1)) == 0
    await do_request_info(education, referral_id, question="请提供学籍证明", now=late)
    await do_supply_info(station, referral_id, answer="已提供", now=late + timedelta(hours=1))
    row = found(await Referral.objects().where(Referral.id == referral_id).first())
    assert row.status == "pending" and row.due_on > due
    on_new_due = datetime.combine(row.due_on, now.timetz())
    assert await escalate_overdue_referrals(on_new_due) == 0
    assert await escalate_overdue_referrals(on_new_due + timedelta(days=1)) == 1
