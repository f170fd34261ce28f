"""The python-telegram-bot application inside the Litestar process.

Webhook mode (production): no Updater; the route /bot/webhook feeds updates
to ``process_update``. Polling mode (``relief-pwa bot-poll``) for local
development. Without a token the bot is off for Telegram, and the chat
console still drives the same handlers (see bot/console.py).

The runtime also owns the outbox worker (which sends SMS too when a gateway
is configured: docs/sms.md) and the daily visit reminders; the app lifespan
starts and stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder
from telegram.request import HTTPXRequest

from relief_pwa.adapters.sms import SmsGateway
from relief_pwa.bot.console import ConsoleAwareRequest, ConsoleTranscripts
from relief_pwa.bot.handlers import register
from relief_pwa.clock import Clock
from relief_pwa.core.ratelimit import SendPacer
from relief_pwa.services.outbox import OutboxWorker, shared_pacer_for
from relief_pwa.settings import Settings

log = logging.getLogger("relief_pwa.bot")

# PTB needs some token to build a Bot; without a real one nothing leaves the process.
CONSOLE_ONLY_TOKEN = "0:console-only"  # noqa: S105 - a placeholder, not a secret
REMINDER_CHECK_SECONDS = 15 * 60
REMINDER_HOURS = range(8, 20)  # local time: nobody is woken by a reminder

PTBApplication = Application[Any, Any, Any, Any, Any, Any]


def build_application(
    settings: Settings,
    *,
    clock: Clock,
    transcripts: ConsoleTranscripts | None = None,
    polling: bool = False,
) -> PTBApplication:
    """The PTB application with every handler registered, pointed at ``settings.bot_api_base_url``."""
    transcripts = transcripts or ConsoleTranscripts()
    inner = (
        HTTPXRequest(
            connection_pool_size=64,
            read_timeout=10.0,
            write_timeout=10.0,
            connect_timeout=5.0,
            pool_timeout=5.0,
        )
        if settings.bot_token
        else None
    )
    builder = (
        ApplicationBuilder()
        .token(settings.bot_token or CONSOLE_ONLY_TOKEN)
        .base_url(settings.bot_api_base_url)
        .request(ConsoleAwareRequest(inner, transcripts, settings.bot_username))
    )
    if polling:
        builder = builder.get_updates_request(HTTPXRequest(read_timeout=40.0, connection_pool_size=2))
    else:
        builder = builder.updater(None)
    application: PTBApplication = builder.build()
    application.bot_data.update(clock=clock, settings=settings, transcripts=transcripts)
    register(application)
    return application


SMS_PHONE_GAP_SECONDS = 2.0


class BotRuntime:
    """One process's bot: the PTB application, the console transcripts, the outbox worker."""

    def __init__(
        self, settings: Settings, clock: Clock, *, polling: bool = False, sms_only: bool = False
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.telegram_enabled = bool(settings.bot_token)
        self.transcripts = ConsoleTranscripts()
        self.application = build_application(
            settings, clock=clock, transcripts=self.transcripts, polling=polling
        )
        self.sms_gateway = (
            SmsGateway(
                settings.sms_gateway_url,
                settings.sms_gateway_key,
                settings.sms_sender_id,
                timeout_seconds=settings.sms_timeout_seconds,
            )
            if settings.sms_gateway_url
            else None
        )
        self.worker = OutboxWorker(
            self.send,
            clock,
            SendPacer(settings.bot_rate_global_per_second, settings.bot_rate_per_chat_seconds),
            console_only=not self.telegram_enabled,
            sms_only=sms_only,
            sms_send=self.sms_gateway.send if self.sms_gateway else None,
            # One SMS per phone every few seconds keeps a phone's messages in order on the handset.
            sms_pacer=SendPacer(settings.sms_rate_per_second, SMS_PHONE_GAP_SECONDS),
            # …and the gateway's rate holds for the whole fleet, not per process (PostgreSQL).
            sms_shared_pacer=shared_pacer_for("sms", settings.sms_rate_per_second, SMS_PHONE_GAP_SECONDS)
            if self.sms_gateway
            else None,
            # Every process's sender shares Telegram's limits through the database (PostgreSQL).
            shared_pacer=shared_pacer_for(
                "telegram", settings.bot_rate_global_per_second, settings.bot_rate_per_chat_seconds
            )
            if self.telegram_enabled
            else None,
        )
        self._reminders: asyncio.Task[None] | None = None
        self._initialized = False

    async def send(self, chat_id: int, text: str) -> None:
        await self.application.bot.send_message(chat_id, text)

    async def initialize(self) -> None:
        if not self._initialized:
            await self.application.initialize()
            self._initialized = True

    async def start(self, *, worker: bool = True) -> None:
        await self.initialize()
        await self.application.start()
        if worker:
            self.worker.start()
            self._reminders = asyncio.create_task(self._remind_loop(), name="visit-reminders")

    async def stop(self) -> None:
        if self._reminders is not None:
            self._reminders.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reminders
            self._reminders = None
        await self.worker.stop()
        if self.sms_gateway is not None:
            await self.sms_gateway.aclose()
        if self.application.running:
            await self.application.stop()
        if self._initialized:
            await self.application.shutdown()
            self._initialized = False

    async def process(self, payload: dict[str, Any]) -> None:
        """Handle one update given as Telegram's JSON (webhook body or console)."""
        await self.initialize()
        update = Update.de_json(payload, self.application.bot)
        await self.application.process_update(update)
        self.worker.wake()  # a handler may have queued a message

    async def _remind_loop(self) -> None:
        from relief_pwa.services.notices import queue_visit_reminders

        while True:
            now = self.clock.now()
            if now.hour in REMINDER_HOURS:
                try:
                    if await queue_visit_reminders(now):
                        self.worker.wake()
                except Exception:
                    log.exception("visit reminders failed; trying again later")
            await asyncio.sleep(REMINDER_CHECK_SECONDS)


@asynccontextmanager
async def bot_lifespan(app: Any) -> AsyncIterator[None]:
    """Litestar lifespan: start the bot (or the console-only bot) and its outbox worker."""
    settings: Settings = app.state.settings
    runtime = BotRuntime(settings, app.state.clock)
    if runtime.telegram_enabled:
        log.info("Telegram bot on (%s mode, API %s)", settings.bot_mode, settings.bot_api_base_url)
    else:
        log.warning(
            "RELIEF_BOT_TOKEN is not set: the Telegram bot is off. "
            "The chat console (/bot/console) still works."
        )
    await runtime.start()
    app.state.bot = runtime
    try:
        yield
    finally:
        await runtime.stop()
        app.state.bot = None


async def runtime_of(state: Any) -> BotRuntime:
    """The running bot, or (when the lifespan did not run, e.g. a bare ASGI test client)
    a console-only runtime without the worker, created on first use."""
    runtime: BotRuntime | None = getattr(state, "bot", None)
    if runtime is None:
        runtime = BotRuntime(state.settings, state.clock)
        await runtime.initialize()
        state.bot = runtime
    return runtime
