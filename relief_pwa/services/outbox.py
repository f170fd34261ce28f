"""The transactional outbox: every message to an applicant is a row written in
the same transaction as the event that caused it, and a worker sends it.

Delivery guarantees
- Nothing is lost: a row stays ``pending``/``sending`` until Telegram accepted
  it (``sent``), refused it for good (``failed``) or the chat blocked the bot
  (``blocked``). A worker that dies leaves its rows ``sending`` with a lease
  (``next_attempt_at``); when the lease runs out any worker claims them again.
- Nothing is queued twice: ``dedupe_key`` is unique (event, entity, chat).
- Nothing is sent twice *by us*: a row is claimed by one worker (PostgreSQL
  ``FOR UPDATE SKIP LOCKED``; SQLite's ``BEGIN IMMEDIATE`` serialises the
  claim) and marked ``sent`` right after Telegram answers. The Bot API has no
  idempotency key, so one window remains at-least-once: the process dies (or
  the request times out) after Telegram accepted a message but before the row
  was marked. Such a message is sent again after the lease; we accept that
  rather than risk losing a notice.
- Order per chat: only the oldest open row of a chat is ever claimed
  ("head of line"), so a chat's messages go out in order, one at a time.

SMS (docs/sms.md): rows with ``channel = 'sms'`` live in a lane per phone
(``chat_id`` from :func:`relief_pwa.core.sms.lane_of`), so the same claim and
head-of-line order apply; :meth:`OutboxWorker._deliver_sms` sends them through
the SMS gateway with its own pacer, and the gateway's idempotency key (the row's
id) closes the at-least-once window above for SMS. Notices for an applicant
with neither a bound chat nor a reachable mobile are recorded with status
``unreachable`` (or ``opted_out``) and never sent.

Pacing: sends are spaced at the configured global rate (default 30/s) and
per-chat gap (default 1 s). On PostgreSQL every sender of every process (each
app process and each ``relief-pwa worker`` runs one) reserves its slot in the
database (:class:`SharedPacer`: one atomic ``UPDATE`` of a ``send_slot`` row
and an upsert of the chat's ``chat_send_slot``, timed by the database server's
clock), so any number of them together stay within Telegram's limits. SMS
have a slot row of their own (``sms``, the gateway's rate; a phone's lane is
its chat), so the fleet together stays within the gateway's rate too. On
SQLite there is one process, and a :class:`~relief_pwa.core.ratelimit.SendPacer`
paces each channel in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter

from relief_pwa.adapters.sms import SmsRefused, SmsRetryAfter, SmsTemporaryError
from relief_pwa.clock import Clock
from relief_pwa.core.ratelimit import SendPacer
from relief_pwa.core.sms import SMS_LANE_BASE, is_sms_lane
from relief_pwa.db import is_sqlite, write_transaction
from relief_pwa.services import identifiers
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.audit import record_event
from relief_pwa.services.bot import CONSOLE_CHAT_BASE
from relief_pwa.tables import BotChat, ChatSendSlot, OutboxMessage, SendSlot, SmsOptOut

log = logging.getLogger("relief_pwa.outbox")

LEASE_SECONDS = 60.0
MAX_NETWORK_ATTEMPTS = 12
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 600.0
LATE_REBOOKS = 5  # a sender that woke too late this many times in a row sends anyway

SendFn = Callable[[int, str], Awaitable[Any]]
# (outbox message id — the gateway's idempotency key —, phone digits, text)
SmsSendFn = Callable[[int, str, str], Awaitable[Any]]
SMS_UNCONDITIONAL_KINDS = frozenset({"sms_reply"})  # answers to the phone's own request (even "退订")


# --- writing ----------------------------------------------------------------------


async def enqueue(
    chat_id: int, kind: str, text: str, dedupe_key: str, now: datetime, *, blocked: bool = False
) -> bool:
    """Queue one message inside the caller's transaction; False if that key was already queued."""
    inserted = await (
        OutboxMessage.insert(
            OutboxMessage(
                chat_id=chat_id,
                kind=kind[:30],
                text=text,
                dedupe_key=dedupe_key[:120],
                status="blocked" if blocked else "pending",
                attempts=0,
                next_attempt_at=now,
                last_error="chat blocked the bot" if blocked else "",
                created_at=now,
            )
        )
        .on_conflict(target=OutboxMessage.dedupe_key, action="DO NOTHING")
        .returning(OutboxMessage.id)
    )
    return bool(inserted)


async def enqueue_sms(
    lane: int, kind: str, text: str, dedupe_key: str, now: datetime, *, phone_sealed: str
) -> bool:
    """Queue one SMS inside the caller's transaction (``lane``: core.sms.lane_of of the phone)."""
    inserted = await (
        OutboxMessage.insert(
            OutboxMessage(
                chat_id=lane,
                kind=kind[:30],
                text=text,
                dedupe_key=dedupe_key[:120],
                status="pending",
                channel="sms",
                phone_sealed=phone_sealed,
                attempts=0,
                next_attempt_at=now,
                last_error="",
                created_at=now,
            )
        )
        .on_conflict(target=OutboxMessage.dedupe_key, action="DO NOTHING")
        .returning(OutboxMessage.id)
    )
    return bool(inserted)


async def record_undeliverable(
    kind: str, text: str, dedupe_key: str, now: datetime, *, status: str, why: str
) -> bool:
    """Record a notice that no channel can carry (``unreachable`` or ``opted_out``): kept, never sent."""
    inserted = await (
        OutboxMessage.insert(
            OutboxMessage(
                chat_id=0,
                kind=kind[:30],
                text=text,
                dedupe_key=dedupe_key[:120],
                status=status,
                channel="none",
                attempts=0,
                next_attempt_at=now,
                last_error=why[:300],
                created_at=now,
            )
        )
        .on_conflict(target=OutboxMessage.dedupe_key, action="DO NOTHING")
        .returning(OutboxMessage.id)
    )
    return bool(inserted)


def backoff_seconds(attempts: int, base: float = BACKOFF_BASE_SECONDS) -> float:
    """2 s, 4 s, 8 s … capped at 10 minutes."""
    return float(min(BACKOFF_MAX_SECONDS, base * 2 ** max(0, attempts - 1)))


def retry_after_seconds(exc: RetryAfter) -> float:
    value: Any = getattr(exc, "_retry_after", None)  # a timedelta; the public property warns
    if isinstance(value, timedelta):
        return max(0.0, value.total_seconds())
    return float(exc.retry_after)  # type: ignore[arg-type]


# --- claiming ----------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    id: int
    chat_id: int
    kind: str
    text: str
    attempts: int


_CLAIM_SQL = """
UPDATE outbox_message
SET status = 'sending', next_attempt_at = {{}}, attempts = attempts + 1
WHERE id IN (
    SELECT o.id FROM outbox_message o
    WHERE o.status IN ('pending', 'sending') AND o.next_attempt_at <= {{}} {scope}
      AND o.id IN (
        SELECT MIN(h.id) FROM outbox_message h
        WHERE h.status IN ('pending', 'sending') GROUP BY h.chat_id
      )
    ORDER BY o.next_attempt_at, o.id
    LIMIT {{}}
    {lock}
) AND status IN ('pending', 'sending') AND next_attempt_at <= {{}}
RETURNING id, chat_id, kind, text, attempts
"""


def _chat_range(console_only: bool, with_sms: bool, sms_only: bool = False) -> tuple[int | None, int | None]:
    """The chats a worker takes, ``[lowest, below)``: without Telegram only console chats, and
    SMS lanes when it can send SMS; an SMS-only sender (a worker process with no bot) only
    SMS lanes, leaving the console's chats to the web process that shows them."""
    if sms_only:
        return SMS_LANE_BASE, CONSOLE_CHAT_BASE
    if not console_only:
        return None, None
    return (SMS_LANE_BASE if with_sms else CONSOLE_CHAT_BASE), None


def _range_sql(lowest: int | None, below: int | None) -> str:
    scope = f"AND o.chat_id >= {int(lowest)}" if lowest is not None else ""
    return scope + (f" AND o.chat_id < {int(below)}" if below is not None else "")


async def claim_due(
    now: datetime,
    limit: int,
    *,
    lease_seconds: float = LEASE_SECONDS,
    console_only: bool = False,
    with_sms: bool = False,
    sms_only: bool = False,
) -> list[Claimed]:
    """Take up to ``limit`` due head-of-line rows (and expired leases) for this worker."""
    engine = OutboxMessage._meta.db
    scope = _range_sql(*_chat_range(console_only, with_sms, sms_only))
    lock = "" if is_sqlite(engine) else "FOR UPDATE SKIP LOCKED"
    sql = _CLAIM_SQL.format(scope=scope, lock=lock)
    lease_until = now + timedelta(seconds=lease_seconds)
    async with write_transaction(engine):
        rows = await OutboxMessage.raw(sql, lease_until, now, limit, now)
    claimed = [
        Claimed(int(r["id"]), int(r["chat_id"]), r["kind"], r["text"], int(r["attempts"])) for r in rows
    ]
    claimed.sort(key=lambda c: c.id)
    return claimed


async def mark_sent(message_id: int, now: datetime) -> None:
    async with write_transaction(OutboxMessage._meta.db):
        await OutboxMessage.update(
            {OutboxMessage.status: "sent", OutboxMessage.sent_at: now, OutboxMessage.last_error: ""}
        ).where((OutboxMessage.id == message_id) & (OutboxMessage.status == "sending"))


async def reschedule(message_id: int, at: datetime, error: str) -> None:
    async with write_transaction(OutboxMessage._meta.db):
        await OutboxMessage.update(
            {
                OutboxMessage.status: "pending",
                OutboxMessage.next_attempt_at: at,
                OutboxMessage.last_error: error[:300],
            }
        ).where((OutboxMessage.id == message_id) & (OutboxMessage.status == "sending"))


async def mark_failed(message_id: int, error: str) -> None:
    async with write_transaction(OutboxMessage._meta.db):
        await OutboxMessage.update(
            {OutboxMessage.status: "failed", OutboxMessage.last_error: error[:300]}
        ).where((OutboxMessage.id == message_id) & (OutboxMessage.status == "sending"))


async def mark_chat_blocked(chat_id: int, message_id: int, error: str, now: datetime) -> None:
    """The user blocked the bot: stop sending to that chat until it writes again."""
    async with write_transaction(OutboxMessage._meta.db):
        await OutboxMessage.update(
            {OutboxMessage.status: "blocked", OutboxMessage.last_error: error[:300]}
        ).where(
            (OutboxMessage.chat_id == chat_id)
            & ((OutboxMessage.id == message_id) | OutboxMessage.status.is_in(["pending"]))
        )
        changed = (
            await BotChat.update({BotChat.blocked: True})
            .where((BotChat.chat_id == chat_id) & BotChat.blocked.eq(False))
            .returning(BotChat.id)
        )
        if changed:
            await record_event(
                SYSTEM_ACTOR,
                "bot.chat_blocked",
                "bot_chat",
                chat_id,
                org_path="",
                now=now,
                before={"blocked": False},
                after={"blocked": True, "error": error[:200]},
            )


async def mark_status(message_id: int, status: str, why: str) -> None:
    """End a claimed row without sending it (``opted_out``)."""
    async with write_transaction(OutboxMessage._meta.db):
        await OutboxMessage.update({OutboxMessage.status: status, OutboxMessage.last_error: why[:300]}).where(
            (OutboxMessage.id == message_id) & (OutboxMessage.status == "sending")
        )


async def sms_destination(message_id: int, kind: str) -> str | None:
    """The phone of a claimed SMS row, or None when it opted out since the row was queued."""
    row = await OutboxMessage.select(OutboxMessage.phone_sealed).where(OutboxMessage.id == message_id).first()
    phone = identifiers.opened(identifiers.PHONE, row["phone_sealed"]) if row else ""
    if not phone:
        return None
    if kind not in SMS_UNCONDITIONAL_KINDS:
        opted_out = await SmsOptOut.exists().where(
            (SmsOptOut.phone_index == identifiers.index_of(identifiers.PHONE, phone))
            & SmsOptOut.opted_out.eq(True)
        )
        if opted_out:
            return None
    return phone


async def outbox_counts() -> dict[str, int]:
    rows = await OutboxMessage.raw("SELECT status, COUNT(*) AS n FROM outbox_message GROUP BY status")
    return {r["status"]: int(r["n"]) for r in rows}


# --- pacing shared by every process (PostgreSQL) ----------------------------------------

_RESERVE_SQL = """
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
chat AS (
    SELECT CASE WHEN {} THEN COALESCE((SELECT next_at FROM chat_send_slot WHERE chat_id = {}), 0)
           ELSE 0 END::float8 AS next_at
),
slot AS (
    UPDATE send_slot
    SET next_at = GREATEST(send_slot.next_at, (SELECT now FROM clock), (SELECT next_at FROM chat)) + {}
    WHERE name = {}
    RETURNING next_at - {} AS at
),
booked AS (
    INSERT INTO chat_send_slot (chat_id, next_at) SELECT {}, at + {} FROM slot
    ON CONFLICT (chat_id) DO UPDATE SET next_at = GREATEST(chat_send_slot.next_at, EXCLUDED.next_at)
)
SELECT at - (SELECT now FROM clock) AS delay_seconds FROM slot
"""


class SharedPacer:
    """Send slots reserved in the database, so every sender of every process shares one
    global rate and one gap per chat. A reservation is one statement: the global row is
    locked for its duration, which orders the senders; times are the server's epoch seconds."""

    def __init__(self, name: str, per_second: float, per_chat_interval: float) -> None:
        if per_second <= 0 or per_chat_interval < 0:
            raise ValueError("per_second must be positive and per_chat_interval not negative")
        self.name = name[:40]
        self.interval = 1.0 / per_second
        self.per_chat_interval = per_chat_interval
        self._ready = False

    async def _ensure_row(self) -> None:
        if not self._ready:
            await SendSlot.insert(SendSlot(name=self.name, next_at=0.0)).on_conflict(
                target=SendSlot.name, action="DO NOTHING"
            )
            self._ready = True

    async def reserve(self, chat_id: int, *, rebook: bool = False) -> float:
        """Book the next slot free for both the fleet and ``chat_id``; seconds to wait for it.

        ``rebook``: the chat's slot booked before was given up unused; the new global slot is
        later than it, so it is already past the chat's gap and the chat's booking only moves on.
        """
        await self._ensure_row()
        rows = await SendSlot.raw(
            _RESERVE_SQL,
            not rebook,
            chat_id,
            self.interval,
            self.name,
            self.interval,
            chat_id,
            self.per_chat_interval,
        )
        return max(0.0, float(rows[0]["delay_seconds"])) if rows else 0.0

    async def pause(self, seconds: float) -> None:
        """Telegram said "retry after": no sender of any process sends before that."""
        await self._ensure_row()
        await SendSlot.raw(
            "UPDATE send_slot SET next_at = GREATEST(next_at, extract(epoch FROM clock_timestamp()) + {}) "
            "WHERE name = {}",
            seconds,
            self.name,
        )

    async def delay_chat(self, chat_id: int, seconds: float) -> None:
        await ChatSendSlot.raw(
            "INSERT INTO chat_send_slot (chat_id, next_at) "
            "VALUES ({}, extract(epoch FROM clock_timestamp()) + {}) "
            "ON CONFLICT (chat_id) DO UPDATE "
            "SET next_at = GREATEST(chat_send_slot.next_at, EXCLUDED.next_at)",
            chat_id,
            seconds,
        )

    async def forget_idle(self) -> None:
        """Chats whose gap passed long ago need no row."""
        await ChatSendSlot.raw(
            "DELETE FROM chat_send_slot WHERE next_at < extract(epoch FROM clock_timestamp()) - 60"
        )


def shared_pacer_for(name: str, per_second: float, per_chat_interval: float) -> SharedPacer | None:
    """A database-shared pacer on PostgreSQL; None on SQLite (one process paces in memory)."""
    if is_sqlite(OutboxMessage._meta.db):
        return None
    return SharedPacer(name, per_second, per_chat_interval)


# --- the worker ------------------------------------------------------------------------


class OutboxWorker:
    """Claims due rows and sends them, paced, with retries; one per process, any number of
    processes (claims skip each other's rows; ``shared_pacer`` paces them together)."""

    def __init__(
        self,
        send: SendFn,
        clock: Clock,
        pacer: SendPacer,
        *,
        console_only: bool = False,
        sms_only: bool = False,
        concurrency: int = 40,
        lease_seconds: float = LEASE_SECONDS,
        poll_seconds: float = 0.25,
        backoff_base: float = BACKOFF_BASE_SECONDS,
        sms_send: SmsSendFn | None = None,
        sms_pacer: SendPacer | None = None,
        shared_pacer: SharedPacer | None = None,
        sms_shared_pacer: SharedPacer | None = None,
    ) -> None:
        self._backoff_base = backoff_base
        self._sms_send = sms_send
        self._sms_pacer = sms_pacer or SendPacer(20.0, 1.0)
        self._sms_shared = sms_shared_pacer
        self._sms_pace_lock = asyncio.Lock()
        self._shared = shared_pacer
        self._pace_lock = asyncio.Lock()
        self._send = send
        self._clock = clock
        self._pacer = pacer
        self._console_only = console_only
        self._sms_only = sms_only
        self._concurrency = concurrency
        self._lease_seconds = lease_seconds
        self._poll_seconds = poll_seconds
        self._inflight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self.sent = 0
        self.retried = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="outbox-worker")

    def wake(self) -> None:
        """New rows were committed: look now instead of at the next poll."""
        self._wake.set()

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop claiming; let messages already on their way finish (then cancel the rest).

        A cancelled send leaves its row ``sending``: it is retried when its lease ends.
        """
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._inflight:
            _done, pending = await asyncio.wait(set(self._inflight), timeout=grace_seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        self._inflight.clear()

    async def kill(self) -> None:
        """Stop at once, as a crash would (for tests): rows in flight stay ``sending``."""
        self._stopping.set()
        tasks = [t for t in [self._task, *self._inflight] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._inflight.clear()

    async def _run(self) -> None:
        last_forget = time.monotonic()
        while not self._stopping.is_set():
            free = self._concurrency - len(self._inflight)
            claimed: list[Claimed] = []
            if free > 0:
                try:
                    claimed = await claim_due(
                        self._clock.now(),
                        free,
                        lease_seconds=self._lease_seconds,
                        console_only=self._console_only,
                        with_sms=self._sms_send is not None,
                        sms_only=self._sms_only,
                    )
                except Exception:  # the database may be briefly unavailable; keep the worker alive
                    log.exception("outbox: claiming failed")
            for row in claimed:
                task = asyncio.create_task(self._deliver(row))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            if claimed and len(claimed) == free:
                # A full batch: wait for some room before claiming more.
                await asyncio.wait(set(self._inflight), return_when=asyncio.FIRST_COMPLETED)
                continue
            self._wake.clear()
            waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait())}
            if self._inflight:
                waiters |= set(self._inflight)
            _done, pending = await asyncio.wait(
                waiters, timeout=self._poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                if waiter not in self._inflight:
                    waiter.cancel()
            if time.monotonic() - last_forget > 60:
                self._pacer.forget_idle(time.monotonic())
                last_forget = time.monotonic()
                shared = self._shared or self._sms_shared  # both keep their gaps in chat_send_slot
                if shared is not None:
                    try:
                        await shared.forget_idle()
                    except Exception:
                        log.warning("outbox: could not forget idle chats", exc_info=True)

    @staticmethod
    async def _wait_shared(shared: SharedPacer, chat_id: int) -> None:
        # The slot is booked in the database for every process; wait for it here. A sender
        # that wakes well after its slot (a stalled process) gives it up and books again
        # rather than send into the slots of the senders that woke on time.
        for attempt in range(LATE_REBOOKS + 1):
            delay = await shared.reserve(chat_id, rebook=attempt > 0)
            planned = time.monotonic() + max(0.0, delay)
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() - planned <= shared.interval:
                return

    async def _wait_turn(self, chat_id: int) -> None:
        if self._shared is not None:
            await self._wait_shared(self._shared, chat_id)
            return
        # Wait for the chat's own gap first, without holding up other chats…
        while (wait := self._pacer.chat_wait(chat_id, time.monotonic())) > 0:  # noqa: ASYNC110 - a timed gap
            await asyncio.sleep(wait)
        # …then take global slots one sender at a time, counted from the real start.
        async with self._pace_lock:
            delay = self._pacer.reserve(chat_id, time.monotonic())
            if delay > 0:
                await asyncio.sleep(delay)
            self._pacer.started(chat_id, time.monotonic())

    async def _hold_back(self, chat_id: int, seconds: float) -> None:
        # Telegram does not say whether the limit was per chat or global: pause both.
        until = time.monotonic() + seconds
        self._pacer.pause(until)
        self._pacer.delay_chat(chat_id, until)
        if self._shared is not None:
            try:
                await self._shared.pause(seconds)
                await self._shared.delay_chat(chat_id, seconds)
            except Exception:
                log.warning("outbox: could not share a pause", exc_info=True)

    async def _deliver(self, row: Claimed) -> None:
        if is_sms_lane(row.chat_id):
            await self._deliver_sms(row)
            return
        try:
            await self._wait_turn(row.chat_id)
        except Exception:  # the slot could not be booked: the lease brings the row back later
            log.exception("outbox: could not book a send slot for message %s", row.id)
            return
        try:
            await self._send_paced(row.chat_id, row.text)
        except RetryAfter as exc:
            seconds = retry_after_seconds(exc)
            await self._hold_back(row.chat_id, seconds)
            self.retried += 1
            await reschedule(row.id, self._clock.now() + timedelta(seconds=seconds), str(exc))
        except Forbidden as exc:
            log.info("outbox: chat %s blocked the bot", row.chat_id)
            await mark_chat_blocked(row.chat_id, row.id, str(exc), self._clock.now())
        except (ChatMigrated, BadRequest) as exc:
            log.warning("outbox: message %s refused for good: %s", row.id, exc)
            await mark_failed(row.id, f"{type(exc).__name__}: {exc}")
        except (NetworkError, InvalidToken) as exc:  # TimedOut is a NetworkError
            await self._retry_or_give_up(row, f"{type(exc).__name__}: {exc}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("outbox: unexpected error sending message %s", row.id)
            await self._back_off(row, f"{type(exc).__name__}: {exc}")
        else:
            await mark_sent(row.id, self._clock.now())
            self.sent += 1

    async def _send_paced(self, chat_id: int, text: str) -> None:
        try:
            await self._send(chat_id, text)
        finally:
            if self._shared is None:
                # The chat's gap also counts from the send's end (core/ratelimit.py, finished).
                self._pacer.finished(chat_id, time.monotonic())

    async def _back_off(self, row: Claimed, error: str) -> None:
        """Try the row again later, each attempt waiting longer."""
        at = self._clock.now() + timedelta(seconds=backoff_seconds(row.attempts, self._backoff_base))
        await reschedule(row.id, at, error)

    async def _retry_or_give_up(self, row: Claimed, error: str) -> None:
        """A temporary failure (network, gateway): back off, or fail after MAX_NETWORK_ATTEMPTS."""
        self.retried += 1
        if row.attempts >= MAX_NETWORK_ATTEMPTS:
            log.error("outbox: message %s gave up after %s attempts: %s", row.id, row.attempts, error)
            await mark_failed(row.id, error)
        else:
            await self._back_off(row, error)

    async def _wait_sms_turn(self, lane: int) -> None:
        if self._sms_shared is not None:
            await self._wait_shared(self._sms_shared, lane)
            return
        while (wait := self._sms_pacer.chat_wait(lane, time.monotonic())) > 0:  # noqa: ASYNC110 - a timed gap
            await asyncio.sleep(wait)
        async with self._sms_pace_lock:
            delay = self._sms_pacer.reserve(lane, time.monotonic())
            if delay > 0:
                await asyncio.sleep(delay)
            self._sms_pacer.started(lane, time.monotonic())

    async def _hold_back_sms(self, seconds: float) -> None:
        """The gateway said "retry after": no SMS sender (of any process, on PostgreSQL) sends before."""
        self._sms_pacer.pause(time.monotonic() + seconds)
        if self._sms_shared is not None:
            try:
                await self._sms_shared.pause(seconds)
            except Exception:
                log.warning("outbox: could not share an SMS pause", exc_info=True)

    async def _deliver_sms(self, row: Claimed) -> None:
        """One SMS row through the gateway: its own pacing, Retry-After, backoff; never Telegram's slots."""
        now = self._clock.now()
        if self._sms_send is None:
            await reschedule(
                row.id, now + timedelta(seconds=BACKOFF_MAX_SECONDS), "SMS gateway not configured"
            )
            return
        target = await sms_destination(row.id, row.kind)
        if target is None:
            await mark_status(row.id, "opted_out", "the phone opted out of SMS")
            return
        try:
            await self._wait_sms_turn(row.chat_id)
        except Exception:  # the slot could not be booked: the lease brings the row back later
            log.exception("outbox: could not book an SMS send slot for message %s", row.id)
            return
        try:
            await self._sms_send(row.id, target, row.text)
        except SmsRetryAfter as exc:
            await self._hold_back_sms(exc.seconds)
            self.retried += 1
            await reschedule(row.id, self._clock.now() + timedelta(seconds=exc.seconds), str(exc))
        except SmsRefused as exc:
            log.warning("outbox: SMS %s refused for good: %s", row.id, exc)
            await mark_failed(row.id, f"SmsRefused: {exc}")
        except SmsTemporaryError as exc:
            await self._retry_or_give_up(row, f"SmsTemporaryError: {exc}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("outbox: unexpected error sending SMS %s", row.id)
            await self._back_off(row, f"{type(exc).__name__}")
        else:
            await mark_sent(row.id, self._clock.now())
            self.sent += 1

    async def run_once(self, limit: int = 50) -> int:
        """Claim and deliver one batch now, without the background loop (console page, tests)."""
        claimed = await claim_due(
            self._clock.now(),
            limit,
            lease_seconds=self._lease_seconds,
            console_only=self._console_only,
            with_sms=self._sms_send is not None,
            sms_only=self._sms_only,
        )
        await asyncio.gather(*(self._deliver(row) for row in claimed))
        return len(claimed)

    async def drain(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - polls the database
        """Wait until every row is sent, failed or blocked (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._inflight:
                counts = await _open_count(
                    *_chat_range(self._console_only, self._sms_send is not None, self._sms_only)
                )
                if counts == 0:
                    return
            await asyncio.sleep(0.05)
        raise TimeoutError("outbox did not drain in time")


async def _open_count(lowest_chat: int | None, below_chat: int | None) -> int:
    query = OutboxMessage.count().where(OutboxMessage.status.is_in(["pending", "sending"]))
    if lowest_chat is not None:
        query = query.where(OutboxMessage.chat_id >= lowest_chat)
    if below_chat is not None:
        query = query.where(OutboxMessage.chat_id < below_chat)
    return int(await query)
