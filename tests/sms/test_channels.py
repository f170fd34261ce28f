"""The outbox chooses the channel per household: a bound chat gets Telegram and no
SMS; without one, the household's mobile gets the notice by SMS; with neither, the
notice is recorded as unreachable. Replies through the signed webhook: "退订"
(audited, honoured), "订阅", and "查询" answered only to a registered phone."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest_asyncio
from telegram import Bot

from relief_pwa.adapters.sms import inbound_signature
from relief_pwa.bot.stubapi import StubBotAPI
from relief_pwa.clock import SystemClock
from relief_pwa.core import sms as rules
from relief_pwa.core.fieldwork import VisitKind
from relief_pwa.core.ratelimit import SendPacer
from relief_pwa.services.bot import current_bind_link, do_bind, ensure_chat
from relief_pwa.services.outbox import OutboxWorker
from relief_pwa.services.visits import ScheduleRequest, do_schedule_visit
from relief_pwa.settings import load_settings
from relief_pwa.tables import AuditEvent, OutboxMessage, SmsOptOut
from tests.conftest import Client
from tests.factories import make_intake, member
from tests.sms.conftest import WEBHOOK_SECRET

CHAT = 777000222
BOUND_PHONE = "13911110001"
SMS_PHONE = "13911110002"
LANDLINE = "0531-88881234"


@pytest_asyncio.fixture()
async def telegram() -> AsyncIterator[StubBotAPI]:
    api = StubBotAPI()
    await api.start()
    yield api
    await api.stop()


async def _intake(world: Any, phone: str, name: str) -> Any:
    return await make_intake(world, phone=phone, members=[member(name)])


async def _schedule(world: Any, now: Any, intake: Any, days: int = 3) -> int:
    liaison = world.actor("liaison")
    return await do_schedule_visit(
        liaison,
        ScheduleRequest(
            household_id=intake.household_id,
            kind=VisitKind.HOME,
            scheduled_for=now.date() + timedelta(days=days),
            assigned_to=liaison.staff_id,
            application_id=intake.application_id,
            time_window="09:00-11:00",
        ),
        now=now,
    )


async def _rows(kind: str = "visit_scheduled") -> list[dict[str, Any]]:
    return await OutboxMessage.select().where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)


async def test_a_bound_chat_gets_telegram_others_sms_or_a_record(
    world, now, sms_settings, gateway_stub, gateway, telegram
) -> None:
    bound = await _intake(world, BOUND_PHONE, "王一")
    await ensure_chat(CHAT, now)
    link = await current_bind_link(bound.application_id, now)
    assert link is not None
    await do_bind(CHAT, link.token, now)
    by_sms = await _intake(world, SMS_PHONE, "王二")
    landline = await _intake(world, LANDLINE, "王三")
    for intake in (bound, by_sms, landline):
        await _schedule(world, now, intake)

    rows = await _rows()
    assert [(r["channel"], r["status"]) for r in rows] == [
        ("telegram", "pending"),
        ("sms", "pending"),
        ("none", "unreachable"),
    ]
    assert rows[0]["chat_id"] == CHAT and rows[0]["phone_sealed"] == ""
    assert rules.is_sms_lane(rows[1]["chat_id"])
    assert "入户调查" in rows[1]["text"] and rules.segments(rows[1]["text"], "阳光救助") <= 2
    assert rows[2]["last_error"] == "no chat bound; the phone is not a mobile"

    bot = Bot(telegram.token, base_url=telegram.base_url)
    async with bot:

        async def send(chat_id: int, text: str) -> None:
            await bot.send_message(chat_id, text)

        worker = OutboxWorker(
            send,
            SystemClock(),
            SendPacer(200.0, 0.05),
            sms_send=gateway.send,
            poll_seconds=0.05,
            backoff_base=0.05,
        )
        worker.start()
        await worker.drain(timeout=10)
        await worker.stop()
    assert len(telegram.texts(CHAT)) == 1
    assert [d.to for d in gateway_stub.delivered] == [SMS_PHONE]  # nothing to the bound household's phone
    assert gateway_stub.delivered[0].text == rows[1]["text"]


async def test_a_chat_that_blocked_the_bot_falls_back_to_sms(world, now, sms_settings) -> None:
    intake = await _intake(world, BOUND_PHONE, "王一")
    await ensure_chat(CHAT, now)
    link = await current_bind_link(intake.application_id, now)
    assert link is not None
    await do_bind(CHAT, link.token, now)
    from relief_pwa.tables import BotChat

    await BotChat.update({BotChat.blocked: True}).where(BotChat.chat_id == CHAT)
    await _schedule(world, now, intake)
    assert [(r["channel"], r["status"]) for r in await _rows()] == [
        ("telegram", "blocked"),
        ("sms", "pending"),
    ]


async def test_without_a_gateway_the_notice_is_recorded_unreachable(world, now) -> None:
    intake = await _intake(world, SMS_PHONE, "王二")
    await _schedule(world, now, intake)
    [row] = await _rows()
    assert (row["channel"], row["status"]) == ("none", "unreachable")
    assert "SMS is not configured" in row["last_error"]


async def test_the_same_event_twice_queues_one_sms(world, now, sms_settings) -> None:
    from relief_pwa.services.notices import queue_visit_reminders

    intake = await _intake(world, SMS_PHONE, "王二")
    await _schedule(world, now, intake, days=1)
    assert await queue_visit_reminders(now) == 1
    assert await queue_visit_reminders(now) == 0
    assert len(await _rows("visit_reminder")) == 1


# --- replies through the webhook ------------------------------------------------------------------


@pytest_asyncio.fixture()
async def sms_client(db, clock, sms_settings) -> AsyncIterator[Client]:
    from relief_pwa.app import create_app

    app = create_app(sms_settings, clock)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))  # type: ignore[arg-type]
    async with Client(transport=transport, base_url="http://testserver") as client:
        yield client


def _signed(body: bytes, now: Any, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    stamp = str(int(now.timestamp()))
    return {
        "content-type": "application/json",
        "x-sms-timestamp": stamp,
        "x-sms-signature": inbound_signature(secret, stamp, body),
    }


async def _reply(client: Client, now: Any, message_id: str, phone: str, text: str, **kwargs: Any) -> int:
    body = json.dumps({"id": message_id, "from": phone, "text": text}, ensure_ascii=False).encode()
    response = await client.post("/sms/inbound", content=body, headers=_signed(body, now, **kwargs))
    return response.status_code


async def _replies() -> list[str]:
    return [r["text"] for r in await _rows("sms_reply")]


async def test_opt_out_is_audited_and_honoured_and_opt_in_restores(world, now, sms_client) -> None:
    intake = await _intake(world, SMS_PHONE, "王二")
    assert await _reply(sms_client, now, "in-1", SMS_PHONE, "退订") == 200
    assert await _reply(sms_client, now, "in-1", SMS_PHONE, "退订") == 200  # the gateway delivers it again
    assert await SmsOptOut.exists().where(SmsOptOut.opted_out.eq(True))
    events = await AuditEvent.select().where(AuditEvent.action == "sms.opt_out")
    assert len(events) == 1 and events[0]["household_id"] == intake.household_id
    assert SMS_PHONE not in json.dumps(events[0], default=str)
    assert await _replies() == ["您已退订阳光救助短信，回复“订阅”可恢复接收。"]

    await _schedule(world, now, intake)
    [row] = await _rows()
    assert (row["channel"], row["status"]) == ("none", "opted_out")

    assert await _reply(sms_client, now, "in-2", "+86 139 1111 0002", "订阅") == 200
    assert await AuditEvent.exists().where(AuditEvent.action == "sms.opt_in")
    await _schedule(world, now, intake, days=4)  # a new date: a new notice
    assert [(r["channel"], r["status"]) for r in await _rows()][-1] == ("sms", "pending")


async def test_status_query_is_answered_only_to_a_registered_phone(world, now, sms_client) -> None:
    intake = await _intake(world, SMS_PHONE, "王二")
    number = (await OutboxMessage.raw("SELECT number FROM application WHERE id = {}", intake.application_id))[
        0
    ]["number"]
    assert await _reply(sms_client, now, "in-3", SMS_PHONE, "查询") == 200
    assert await _reply(sms_client, now, "in-3", SMS_PHONE, "查询") == 200  # delivered twice: one answer
    [answer] = await _replies()
    assert number in answer and "您的申请已受理" in answer, answer
    assert rules.segments(answer, "阳光救助") <= 2

    assert await _reply(sms_client, now, "in-4", "13999990000", "查询") == 200  # no household has it
    assert await _reply(sms_client, now, "in-5", SMS_PHONE, "请问什么时候来") == 200  # not a keyword
    assert len(await _replies()) == 1


async def test_unsigned_stale_or_malformed_inbound_is_refused(world, now, sms_client) -> None:
    await _intake(world, SMS_PHONE, "王二")
    assert await _reply(sms_client, now, "in-6", SMS_PHONE, "退订", secret="guessed") == 403
    assert await _reply(sms_client, now - timedelta(hours=1), "in-7", SMS_PHONE, "退订") == 403
    body = b'{"id": 7}'
    response = await sms_client.post("/sms/inbound", content=body, headers=_signed(body, now))
    assert response.status_code == 400
    assert not await SmsOptOut.exists()
    assert await _replies() == []


async def test_the_webhook_is_off_without_a_gateway(db, clock, now) -> None:
    from relief_pwa.app import create_app

    app = create_app(dataclasses.replace(load_settings(), sms_webhook_secret=WEBHOOK_SECRET), clock)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))  # type: ignore[arg-type]
    async with Client(transport=transport, base_url="http://testserver") as client:
        assert await _reply(client, now, "in-8", SMS_PHONE, "退订") == 404
