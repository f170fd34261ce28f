"""SMS rows in the outbox against the stub gateway: failures, timeouts and 429s
lose nothing and deliver nothing twice (the idempotency key is the row id), a
phone's messages keep their order, a crash mid-send is covered by the key, and
an opt-out stops what was already queued."""

from __future__ import annotations

import asyncio
from collections import Counter

from relief_pwa.adapters.sms import SmsGateway
from relief_pwa.clock import SystemClock
from relief_pwa.core.ratelimit import SendPacer
from relief_pwa.core.sms import lane_of
from relief_pwa.db import write_transaction
from relief_pwa.services import identifiers
from relief_pwa.services.outbox import OutboxWorker, enqueue_sms, outbox_counts
from relief_pwa.tables import OutboxMessage, SmsOptOut

CLOCK = SystemClock()  # retries wait real (short) seconds
PHONES = [f"1391234{n:04d}" for n in range(5)]


async def no_telegram(chat_id: int, text: str) -> None:
    raise AssertionError(f"an SMS row went to Telegram ({chat_id})")


def worker_for(gateway: SmsGateway, **kwargs) -> OutboxWorker:
    kwargs.setdefault("backoff_base", 0.05)
    kwargs.setdefault("poll_seconds", 0.05)
    return OutboxWorker(
        no_telegram,
        CLOCK,
        SendPacer(200.0, 0.05),
        sms_send=gateway.send,
        sms_pacer=SendPacer(200.0, 0.0),
        **kwargs,
    )


async def queue(messages: list[tuple[str, str]], kind: str = "test") -> None:
    now = CLOCK.now()
    async with write_transaction(OutboxMessage._meta.db):
        for phone, text in messages:
            sealed, index = identifiers.sealed(identifiers.PHONE, phone)
            assert await enqueue_sms(lane_of(index), kind, text, f"{kind}:{text}", now, phone_sealed=sealed)


async def test_failures_timeouts_and_429s_lose_nothing_and_duplicate_nothing(
    db, gateway_stub, gateway
) -> None:
    await queue([(phone, f"{phone}第{i}条") for i in range(3) for phone in PHONES])
    for kind in ("500", "accept_then_timeout", "drop", "timeout", "503"):
        gateway_stub.fail_next(kind)
    gateway_stub.fail_next("429", retry_after=1)
    gateway_stub.slow_seconds = 0.6
    worker = worker_for(gateway)
    worker.start()
    await worker.drain(timeout=30)
    await worker.stop()

    for phone in PHONES:
        assert gateway_stub.texts_to(phone) == [f"{phone}第{i}条" for i in range(3)]
    assert len(gateway_stub.delivered) == 15
    assert await outbox_counts() == {"sent": 15}
    # The message accepted before its answer was lost was sent again under the same key.
    tries = Counter(a["key"] for a in gateway_stub.attempts)
    assert sum(tries.values()) == 15 + 6
    assert max(tries.values()) >= 2
    assert worker.retried == 6
    assert all(d.sender == "阳光救助" for d in gateway_stub.delivered)


async def test_a_crash_after_the_gateway_accepted_does_not_send_twice(db, gateway_stub, sms_settings) -> None:
    patient = SmsGateway(gateway_stub.url, gateway_stub.key, "阳光救助", timeout_seconds=5.0)
    await queue([(PHONES[0], "只发一次"), (PHONES[0], "第二条")])
    gateway_stub.fail_next("accept_then_timeout")
    gateway_stub.slow_seconds = 3.0
    first = worker_for(patient, lease_seconds=0.5)
    first.start()
    while not gateway_stub.delivered:  # noqa: ASYNC110 - waiting for the stub to accept
        await asyncio.sleep(0.02)
    await first.kill()  # the process dies while the answer is on its way
    assert await outbox_counts() == {"sending": 1, "pending": 1}

    second = worker_for(patient, lease_seconds=0.5)
    second.start()
    await second.drain(timeout=10)
    await second.stop()
    await patient.aclose()
    assert gateway_stub.texts_to(PHONES[0]) == ["只发一次", "第二条"]
    assert [a["key"] for a in gateway_stub.attempts].count(gateway_stub.delivered[0].key) == 2


async def test_a_refused_message_fails_and_the_phone_goes_on(db, gateway_stub, gateway) -> None:
    await queue([(PHONES[1], "坏的"), (PHONES[1], "好的")])
    gateway_stub.fail_next("400")
    worker = worker_for(gateway)
    worker.start()
    await worker.drain(timeout=10)
    await worker.stop()
    assert gateway_stub.texts_to(PHONES[1]) == ["好的"]
    assert await outbox_counts() == {"failed": 1, "sent": 1}
    failed = await OutboxMessage.select().where(OutboxMessage.status == "failed").first()
    assert (
        failed is not None
        and "invalid_number" in failed["last_error"]
        and PHONES[1] not in failed["last_error"]
    )


async def test_an_opt_out_stops_what_was_already_queued_but_not_its_own_reply(
    db, gateway_stub, gateway
) -> None:
    await queue([(PHONES[2], "通知")])
    await queue([(PHONES[2], "您已退订")], kind="sms_reply")
    await SmsOptOut.insert(
        SmsOptOut(
            phone_index=identifiers.index_of(identifiers.PHONE, PHONES[2]),
            opted_out=True,
            changed_at=CLOCK.now(),
        )
    )
    worker = worker_for(gateway)
    worker.start()
    await worker.drain(timeout=10)
    await worker.stop()
    assert gateway_stub.texts_to(PHONES[2]) == ["您已退订"]
    assert await outbox_counts() == {"opted_out": 1, "sent": 1}


async def test_without_a_gateway_sms_rows_wait(db, gateway_stub) -> None:
    await queue([(PHONES[3], "等待")])
    worker = OutboxWorker(no_telegram, CLOCK, SendPacer(200.0, 0.05), poll_seconds=0.05)
    assert await worker.run_once() == 1
    row = await OutboxMessage.select().first()
    assert (
        row is not None and row["status"] == "pending" and row["last_error"] == "SMS gateway not configured"
    )
    assert gateway_stub.attempts == []


async def test_without_telegram_a_worker_still_sends_sms_but_no_telegram(db, gateway_stub, gateway) -> None:
    from relief_pwa.services.outbox import enqueue

    await queue([(PHONES[4], "短信照发")])
    async with write_transaction(OutboxMessage._meta.db):
        await enqueue(123456, "test", "stays queued", "test:telegram", CLOCK.now())
    worker = worker_for(gateway, console_only=True)
    await worker.run_once()
    await worker.run_once()
    assert gateway_stub.texts_to(PHONES[4]) == ["短信照发"]
    assert await outbox_counts() == {"sent": 1, "pending": 1}


async def test_an_sms_only_sender_leaves_telegram_and_console_chats_alone(db, gateway_stub, gateway) -> None:
    """A worker process with an SMS gateway and no bot sends SMS lanes only: a Telegram chat
    waits for a process with the bot, a console chat for the web process that shows it."""
    from relief_pwa.services.bot import CONSOLE_CHAT_BASE
    from relief_pwa.services.outbox import enqueue

    await queue([(PHONES[0], "短信一条")])
    now = CLOCK.now()
    async with write_transaction(OutboxMessage._meta.db):
        assert await enqueue(4242, "test", "telegram", "test:telegram", now)
        assert await enqueue(CONSOLE_CHAT_BASE + 7, "test", "console", "test:console", now)
    worker = worker_for(gateway, console_only=True, sms_only=True)
    worker.start()
    await worker.drain(timeout=10)
    await worker.stop()
    assert gateway_stub.texts_to(PHONES[0]) == ["短信一条"]
    waiting = await OutboxMessage.select(OutboxMessage.chat_id).where(OutboxMessage.status == "pending")
    assert sorted(int(r["chat_id"]) for r in waiting) == [4242, CONSOLE_CHAT_BASE + 7]
