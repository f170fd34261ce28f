"""Bot commands of ``relief-pwa``: bot-set-webhook, bot-poll, bot-console."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from relief_pwa.settings import Settings, get_settings

ALLOWED_UPDATES = ["message", "callback_query"]
TERMINAL_CHAT_OFFSET = 10**12  # far above staff ids: the terminal's own console chat


def _require_token(settings: Settings) -> None:
    if not settings.bot_token:
        raise SystemExit("RELIEF_BOT_TOKEN is not set: there is no bot to talk to Telegram")


async def _set_webhook(settings: Settings, url: str, delete: bool, drop_pending: bool) -> str:
    from relief_pwa.bot.app import BotRuntime
    from relief_pwa.clock import SystemClock

    runtime = BotRuntime(settings, SystemClock())
    await runtime.initialize()
    try:
        bot = runtime.application.bot
        if delete:
            await bot.delete_webhook(drop_pending_updates=drop_pending)
            return "webhook deleted"
        if not settings.bot_webhook_secret:
            raise SystemExit("RELIEF_BOT_WEBHOOK_SECRET is not set: the webhook would refuse every update")
        await bot.set_webhook(
            url,
            secret_token=settings.bot_webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=drop_pending,
        )
        return f"webhook set to {url}"
    finally:
        await runtime.stop()


def cmd_set_webhook(args: argparse.Namespace) -> None:
    from relief_pwa.cli import run_async

    settings = get_settings()
    _require_token(settings)
    if not (args.url or settings.public_base_url):
        raise SystemExit("set RELIEF_PUBLIC_BASE_URL (or pass --url): Telegram must know the public address")
    url = args.url or f"{settings.public_base_url}/bot/webhook"
    print(run_async(_set_webhook(settings, url, args.delete, args.drop_pending)))


async def _poll(settings: Settings) -> None:
    from relief_pwa.bot.app import BotRuntime
    from relief_pwa.clock import SystemClock

    runtime = BotRuntime(settings, SystemClock(), polling=True)
    await runtime.initialize()
    # Telegram refuses getUpdates while a webhook is set.
    await runtime.application.bot.delete_webhook()
    await runtime.start()
    updater = runtime.application.updater
    assert updater is not None
    await updater.start_polling(allowed_updates=ALLOWED_UPDATES)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"polling Telegram as @{runtime.application.bot.username}; Ctrl-C stops")
    try:
        await stop.wait()
    finally:
        await updater.stop()
        await runtime.stop()


def cmd_poll(_: argparse.Namespace) -> None:
    from relief_pwa.cli import run_async

    settings = get_settings()
    _require_token(settings)
    run_async(_poll(settings))


def _print_entries(entries: list[Any], out: Any) -> None:
    for entry in entries:
        if entry.sender != "bot":
            continue
        print(f"bot> {entry.text}", file=out)
        number = 1
        for row in entry.buttons:
            labels = []
            for label, _data in row:
                labels.append(f"[{number}] {label}")
                number += 1
            print("     " + "  ".join(labels), file=out)


async def _console(settings: Settings, chat_id: int, name: str) -> None:
    from relief_pwa.bot.app import BotRuntime
    from relief_pwa.bot.console import callback_update, message_update
    from relief_pwa.clock import SystemClock

    runtime = BotRuntime(settings, SystemClock())
    await runtime.start()
    transcripts = runtime.transcripts
    seen = len(transcripts.entries(chat_id))
    print("Sunshine Relief bot console. Type messages or commands (/help); !N presses button N; !q quits.")
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                break
            line = line.strip()
            if line in {"!q", "!quit"}:
                break
            if line.startswith("!") and line[1:].isdecimal():
                payload = _press(transcripts, chat_id, name, int(line[1:]), callback_update)
                if payload is None:
                    print("(no such button)")
                    continue
                await runtime.process(payload)
            elif line:
                await runtime.process(message_update(transcripts, chat_id, name, line))
            await asyncio.sleep(0.3)  # let the outbox deliver notices for this chat
            entries = transcripts.entries(chat_id)
            _print_entries(entries[seen:], sys.stdout)
            seen = len(entries)
    finally:
        await runtime.stop()


def _press(transcripts: Any, chat_id: int, name: str, number: int, callback_update: Any) -> Any:
    """Button N of the newest bot message that has buttons."""
    for entry in reversed(transcripts.entries(chat_id)):
        if entry.sender == "bot" and entry.buttons:
            flat = [data for row in entry.buttons for _label, data in row]
            if 1 <= number <= len(flat):
                return callback_update(transcripts, chat_id, name, entry.message_id, flat[number - 1])
            return None
    return None


def cmd_console(args: argparse.Namespace) -> None:
    from relief_pwa.cli import run_async
    from relief_pwa.services.bot import CONSOLE_CHAT_BASE

    run_async(_console(get_settings(), CONSOLE_CHAT_BASE + TERMINAL_CHAT_OFFSET + args.chat, args.name))


def add_bot_commands(sub: Any) -> None:
    hook = sub.add_parser("bot-set-webhook", help="register this server's webhook with Telegram")
    hook.add_argument("--url", default="", help="default: RELIEF_PUBLIC_BASE_URL + /bot/webhook")
    hook.add_argument("--delete", action="store_true", help="remove the webhook instead")
    hook.add_argument("--drop-pending", action="store_true", help="discard updates waiting at Telegram")
    hook.set_defaults(func=cmd_set_webhook)
    sub.add_parser("bot-poll", help="run the bot by polling Telegram (local development)").set_defaults(
        func=cmd_poll
    )
    console = sub.add_parser("bot-console", help="chat with the bot in this terminal (no Telegram needed)")
    console.add_argument("--chat", type=int, default=1, help="which simulated chat (1, 2, …)")
    console.add_argument("--name", default="Console", help="the simulated applicant's first name")
    console.set_defaults(func=cmd_console)
