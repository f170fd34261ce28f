"""The outbox worker against the stub Bot API: pacing, 429 retry_after, dropped
connections, blocked chats, and restarts without loss or duplicates."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest_asyncio
from telegram import Bot

from relief_pwa.clock import SystemClock
from relief_pwa.core.ratelimit import SendPacer
from relief_pwa.db import write_transaction
from relief_pwa.services.bot import do_mark_chat_reachable, ensure_chat
from relief_pwa.services.outbox import OutboxWorker, enqueue, outbox_counts
from relief_pwa.tables import AuditEvent, BotChat, OutboxMessage
from tests.helpers import found

CLOCK = SystemClock()  # retries wait real seconds


@pytest_asyncio.fixture()
async def bot(stub) -> AsyncIterator[Bot]:
    telegram_bot = Bot(stub.token, base_url=stub.base_url)
    async with telegram_bot:
        yield telegram_bot


def worker_for(bot: Bot, *, rate: float = 200.0, per_chat: float = 0.05, **kwargs) -> OutboxWorker:
    async def send(chat_id: int, text: str) -> None:
        await bot.send_message(chat_id, text)

    kwargs.setdefault("backoff_base", 0.05)
    kwargs.setdefault("poll_seconds", 0.05)
    return OutboxWorker(send, CLOCK, SendPacer(rate, per_chat), **kwargs)


async def queue(messages: list[tuple[int, str]]) -> None:
    now = CLOCK.now()
    async with write_transaction(OutboxMessage._meta.db):
        for chat_id, text in messages:
            assert await enqueue(chat_id, "test", text, f"test:{chat_id}:{text}", now)


async def test_each_message_once_in_order_and_paced_per_chat(db, stub, bot) -> None:
    await queue([(chat, f"m{i}") for i in range(3) for chat in range(1, 11)])
    worker = worker_for(bot, per_chat=0.3)
    worker.start()
    await worker.drain(timeout=20)
    await worker.stop()
    assert len(stub.sent()) == 30
    for chat in range(1, 11):
        assert stub.texts(chat) == ["m0", "m1", "m2"]
        times = [c.at for c in stub.calls if c.method == "sendMessage" and int(c.params["chat_id"]) == chat]
        assert all(b - a >= 0.28 for a, b in itertools.pairwise(times)), times
    assert await outbox_counts() == {"sent": 30}


async def test_global_rate_is_respected(db, stub, bot) -> None:
    await queue([(chat, "hello") for chat in range(100, 160)])
    worker = worker_for(bot, rate=30.0, per_chat=1.0)
    started = time.monotonic()
    worker.start()
    await worker.drain(timeout=20)
    await worker.stop()
    times = sorted(stub.send_times())
    assert len(times) == 60
    # 60 messages at 30/s need at least 59/30 s; no one-second window holds more than 31.
    assert times[-1] - times[0] >= 59 / 30 - 0.05
    assert max(sum(1 for t in times if s <= t < s + 1.0) for s in times) <= 31
    assert time.monotonic() - started < 10  # not throttled far below the rate (2 s at best)


async def test_retry_after_is_honoured(db, stub, bot) -> None:
    stub.fail_next("429", retry_after=1)
    await queue([(42, "after flood")])
    worker = worker_for(bot)
    started = time.monotonic()
    worker.start()
    await worker.drain(timeout=10)
    await worker.stop()
    assert stub.texts(42) == ["after flood"]
    assert stub.send_times()[0] - started >= 1.0
    row = found(await OutboxMessage.select().first())
    assert row["status"] == "sent" and row["attempts"] == 2 and row["last_error"] == ""


async def test_dropped_connections_are_retried_with_backoff(db, stub, bot) -> None:
    stub.fail_next("drop", count=2)
    await queue([(43, "through a bad line")])
    worker = worker_for(bot)
    worker.start()
    await worker.drain(timeout=10)
    await worker.stop()
    assert stub.texts(43) == ["through a bad line"]
    row = found(await OutboxMessage.select().first())
    assert row["status"] == "sent" and row["attempts"] == 3
    assert worker.retried == 2


async def test_blocked_chat_is_marked_and_not_retried(db, stub, bot) -> None:
    now = CLOCK.now()
    await ensure_chat(44, now)
    stub.blocked_chats.add(44)
    await queue([(44, "one"), (44, "two"), (45, "other chat")])
    worker = worker_for(bot)
    worker.start()
    await worker.drain(timeout=10)
    await worker.stop()
    assert stub.texts(45) == ["other chat"]
    statuses = Counter(r["status"] for r in await OutboxMessage.select().where(OutboxMessage.chat_id == 44))
    assert statuses == {"blocked": 2}
    chat = found(await BotChat.select().where(BotChat.chat_id == 44).first())
    assert chat["blocked"] is True
    assert await AuditEvent.exists().where(AuditEvent.action == "bot.chat_blocked")
    # The user unblocks the bot and writes again: the chat is reachable again.
    await do_mark_chat_reachable(44, CLOCK.now())
    assert found(await BotChat.select().where(BotChat.chat_id == 44).first())["blocked"] is False


async def test_bad_request_fails_for_good(db, stub, bot) -> None:
    stub.fail_next("400")
    await queue([(46, "to a chat that does not exist")])
    worker = worker_for(bot)
    worker.start()
    await worker.drain(timeout=10)
    await worker.stop()
    row = found(await OutboxMessage.select().first())
    assert row["status"] == "failed" and "chat not found" in row["last_error"].lower()


async def test_graceful_restart_loses_nothing_and_sends_nothing_twice(db, stub, bot) -> None:
    await queue([(chat, f"notice {chat}") for chat in range(200, 260)])
    first = worker_for(bot, rate=40.0)
    first.start()
    while len(stub.sent()) < 15:  # noqa: ASYNC110 - watching another server
        await asyncio.sleep(0.02)
    await first.stop()  # mid-way: in-flight sends finish and are marked
    sent_before = len(stub.sent())
    counts = await outbox_counts()
    assert counts.get("sent") == sent_before and counts.get("pending", 0) == 60 - sent_before
    assert counts.get("sending", 0) == 0
    second = worker_for(bot, rate=40.0)
    second.start()
    await second.drain(timeout=20)
    await second.stop()
    per_chat = Counter(int(p["chat_id"]) for p in stub.sent())
    assert set(per_chat) == set(range(200, 260)) and set(per_chat.values()) == {1}
    assert await outbox_counts() == {"sent": 60}


async def test_crash_mid_send_is_recovered_after_the_lease(db, stub, bot) -> None:
    stub.latency = 0.3  # requests are in flight when the process "dies"
    await queue([(chat, f"notice {chat}") for chat in range(300, 320)])
    first = worker_for(bot, lease_seconds=1.0)
    first.start()
    await asyncio.sleep(0.15)
    await first.kill()
    in_flight = (await outbox_counts()).get("sending", 0)
    assert in_flight > 0
    second = worker_for(bot, lease_seconds=1.0)
    started = time.monotonic()
    second.start()
    await second.drain(timeout=20)
    await second.stop()
    await asyncio.sleep(0.4)  # let the stub finish answering the dead worker's requests
    assert time.monotonic() - started >= 0.9  # nothing was re-claimed before the lease ran out
    per_chat = Counter(int(p["chat_id"]) for p in stub.sent())
    assert set(per_chat) == set(range(300, 320))  # nothing lost
    # At-least-once only for what Telegram had already accepted when the process died.
    assert sum(per_chat.values()) - 20 <= in_flight
    assert await outbox_counts() == {"sent": 20}


async def test_a_chats_gap_counts_from_the_end_of_a_slow_send(db) -> None:
    """A send that takes 0.2 s (slow on its way): the chat's next message starts at least the
    chat's gap after it ended, so the two cannot reach Telegram closer than that."""
    spans: list[tuple[float, float]] = []

    async def slow_send(chat_id: int, text: str) -> None:
        began = time.monotonic()
        await asyncio.sleep(0.2)
        spans.append((began, time.monotonic()))

    await queue([(5, "m0"), (5, "m1")])
    worker = OutboxWorker(slow_send, CLOCK, SendPacer(200.0, 0.3), backoff_base=0.05, poll_seconds=0.05)
    worker.start()
    await worker.drain(timeout=20)
    await worker.stop()
    assert len(spans) == 2
    (_first_start, first_end), (second_start, _second_end) = spans
    assert second_start - first_end >= 0.28, spans  # counted from the start alone: about 0.1 s
