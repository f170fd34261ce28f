"""A referral's steps reach an applicant without Telegram by SMS, each step once, even when
the gateway fails on the way (the same outbox as every other notice)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from relief_pwa.clock import SystemClock
from relief_pwa.core.ratelimit import SendPacer
from relief_pwa.services.outbox import OutboxWorker
from relief_pwa.services.referrals import do_accept, do_decide, do_refer, do_request_info, do_supply_info
from relief_pwa.tables import OrgUnit, OutboxMessage
from tests.factories import make_intake, member
from tests.helpers import found

PHONE = "13911110003"


async def _drain(gateway: Any) -> None:
    async def no_telegram(chat_id: int, text: str) -> None:
        raise AssertionError("no chat is bound: nothing may go to Telegram")

    worker = OutboxWorker(
        no_telegram,
        SystemClock(),
        SendPacer(200.0, 0.01),
        sms_send=gateway.send,
        poll_seconds=0.05,
        backoff_base=0.05,
    )
    worker.start()
    await worker.drain(timeout=20)
    await worker.stop()


async def test_each_referral_step_reaches_the_phone_once(
    world: Any, now: datetime, sms_settings: Any, gateway_stub: Any, gateway: Any
) -> None:
    intake = await make_intake(world, phone=PHONE, members=[member("赵一")])
    station = world.actor("station")
    education = world.actor("department")
    to_unit = int(found(await OrgUnit.select(OrgUnit.id).where(OrgUnit.code == "370102D01").first())["id"])

    referral_id = await do_refer(
        station, intake.household_id, to_unit=to_unit, category="education",
        request="孩子上学学费困难", application_id=intake.application_id, now=now,
    )  # fmt: skip
    later = now + timedelta(hours=1)
    await do_accept(education, referral_id, now=later)
    gateway_stub.fail_next("500", count=2)  # the gateway stumbles: retried, not doubled
    await _drain(gateway)
    await do_request_info(education, referral_id, question="请提供学籍证明", now=later)
    await do_supply_info(station, referral_id, answer="学籍证明已上传", now=later + timedelta(hours=1))
    gateway_stub.fail_next("429", retry_after=1)
    await do_decide(education, referral_id, decision="granted", reason="减免学费", amount="600", now=later)
    await _drain(gateway)

    rows = (
        await OutboxMessage.select(OutboxMessage.kind, OutboxMessage.channel, OutboxMessage.status)
        .where(OutboxMessage.kind.like("referral_%"))
        .order_by(OutboxMessage.id)
    )
    assert [(r["kind"], r["channel"], r["status"]) for r in rows] == [
        ("referral_created", "sms", "sent"),
        ("referral_accepted", "sms", "sent"),
        ("referral_info_requested", "sms", "sent"),
        ("referral_info_supplied", "sms", "sent"),
        ("referral_granted", "sms", "sent"),
    ]
    texts = gateway_stub.texts_to(PHONE)
    assert len(texts) == len(rows) == len(set(texts))  # each step once, none doubled by the retries
    assert "教育" in texts[0] and texts[-1].endswith("回TD退订")
