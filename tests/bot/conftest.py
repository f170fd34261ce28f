"""Bot tests: the real python-telegram-bot stack against a local stub Bot API
(an HTTP server on 127.0.0.1 started here), never the network."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest_asyncio

from relief_pwa.bot.stubapi import StubBotAPI
from relief_pwa.settings import Settings, load_settings
from tests.conftest import Client

WEBHOOK_SECRET = "test-webhook-secret-0123456789"
_update_ids = itertools.count(1000)


@pytest_asyncio.fixture()
async def stub() -> AsyncIterator[StubBotAPI]:
    api = StubBotAPI()
    await api.start()
    yield api
    await api.stop()


@pytest_asyncio.fixture()
async def bot_settings(stub: StubBotAPI) -> Settings:
    return dataclasses.replace(
        load_settings(),
        bot_token=stub.token,
        bot_webhook_secret=WEBHOOK_SECRET,
        bot_api_base_url=stub.base_url,
        bot_username=stub.username,
    )


@asynccontextmanager
async def running_bot(settings: Settings, clock: Any) -> AsyncIterator[tuple[Any, Client]]:
    """The app with its bot started (the bot lifespan, entered and left in this task)."""
    from relief_pwa.app import create_app
    from relief_pwa.bot.app import bot_lifespan

    app = create_app(settings, clock)
    async with bot_lifespan(app):
        # Litestar's precise ASGI signature is not assignable to httpx's loose _ASGIApp alias.
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))  # type: ignore[arg-type]
        async with Client(
            transport=transport, base_url="http://testserver", follow_redirects=False
        ) as client:
            yield app, client


# --- Telegram-shaped updates (https://core.telegram.org/bots/api#update) ----------------------


def user(chat_id: int, first_name: str = "Li") -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": first_name, "language_code": "zh-hans"}


def text_update(chat_id: int, text: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": next(_update_ids),
        "from": user(chat_id),
        "chat": {"id": chat_id, "first_name": "Li", "type": "private"},
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    return {"update_id": next(_update_ids), "message": message}


def callback_update(chat_id: int, message_id: int, data: str) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": str(next(_update_ids)),
            "from": user(chat_id),
            "chat_instance": f"ci{chat_id}",
            "data": data,
            "message": {
                "message_id": message_id,
                "from": {
                    "id": 123456,
                    "is_bot": True,
                    "first_name": "Sunshine Relief",
                    "username": "SunshineTestBot",
                },
                "chat": {"id": chat_id, "first_name": "Li", "type": "private"},
                "date": int(time.time()),
                "text": "…",
            },
        },
    }


class Chat:
    """One applicant's Telegram chat, driven through the webhook."""

    def __init__(self, client: Client, stub: StubBotAPI, chat_id: int) -> None:
        self.client = client
        self.stub = stub
        self.chat_id = chat_id

    async def post(self, payload: dict[str, Any]) -> httpx.Response:
        response = await self.client.post(
            "/bot/webhook", json=payload, headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        )
        assert response.status_code == 200, response.text
        return response

    async def say(self, text: str) -> list[str]:
        before = len(self.stub.texts(self.chat_id))
        await self.post(text_update(self.chat_id, text))
        return self.stub.texts(self.chat_id)[before:]

    async def press(self, label_or_data: str) -> list[str]:
        message_id, buttons = self.stub.last_keyboard(self.chat_id)
        data = next((d for lbl, d in buttons if label_or_data in (lbl, d)), None)
        assert data is not None, f"no button {label_or_data!r} in {buttons}"
        before = len(self.stub.texts(self.chat_id))
        await self.post(callback_update(self.chat_id, message_id, data))
        return self.stub.texts(self.chat_id)[before:]

    def buttons(self) -> list[tuple[str, str]]:
        return self.stub.last_keyboard(self.chat_id)[1]


async def english_chat(chat_id: int, now: Any) -> None:
    """Tests read English replies; the default language (Chinese) has its own test."""
    from relief_pwa.services.bot import ensure_chat

    await ensure_chat(chat_id, now, default_language="en")
