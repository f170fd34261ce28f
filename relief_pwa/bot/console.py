"""Chatting with the bot without Telegram: the staff chat console and the
terminal console drive the *same* PTB application and handlers.

:class:`ConsoleAwareRequest` sits where PTB talks HTTP to the Bot API.
Calls about console chats (ids from ``CONSOLE_CHAT_BASE`` up) are answered
here and written to a transcript; every other call goes to the real Bot API
(or, without a token, fails as a network error so the outbox keeps it).
Updates for the console are built in Telegram's documented JSON shape and fed
to ``Application.process_update``.

Transcripts live in this process's memory (a demo and training tool): they
are lost on restart and not shared between server processes.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from telegram.error import NetworkError
from telegram.request import BaseRequest, RequestData

from relief_pwa.services.bot import CONSOLE_CHAT_BASE, is_console_chat

CONSOLE_BOT_ID = 7_000_000_001
TRANSCRIPT_LIMIT = 200


@dataclass
class ConsoleEntry:
    message_id: int
    sender: str  # "user" | "bot"
    text: str
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)  # rows of (label, callback data)
    at: float = 0.0


class ConsoleTranscripts:
    """What was said in each console chat, newest last."""

    def __init__(self) -> None:
        self._chats: dict[int, deque[ConsoleEntry]] = {}
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)

    def next_message_id(self) -> int:
        return next(self._ids)

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def add(
        self, chat_id: int, sender: str, text: str, buttons: list[list[tuple[str, str]]] | None = None
    ) -> ConsoleEntry:
        entry = ConsoleEntry(self.next_message_id(), sender, text, buttons or [], time.time())
        self._chats.setdefault(chat_id, deque(maxlen=TRANSCRIPT_LIMIT)).append(entry)
        return entry

    def edit(
        self, chat_id: int, message_id: int, text: str | None, buttons: list[list[tuple[str, str]]]
    ) -> None:
        for entry in self._chats.get(chat_id, ()):
            if entry.message_id == message_id:
                if text is not None:
                    entry.text = text
                entry.buttons = buttons
                return

    def entries(self, chat_id: int) -> list[ConsoleEntry]:
        return list(self._chats.get(chat_id, ()))

    def find(self, chat_id: int, message_id: int) -> ConsoleEntry | None:
        for entry in self._chats.get(chat_id, ()):
            if entry.message_id == message_id:
                return entry
        return None

    def clear(self, chat_id: int) -> None:
        self._chats.pop(chat_id, None)


def _buttons(markup: Any) -> list[list[tuple[str, str]]]:
    if isinstance(markup, str):
        markup = json.loads(markup)
    if not isinstance(markup, dict):
        return []
    rows = markup.get("inline_keyboard") or []
    return [[(str(b.get("text", "")), str(b.get("callback_data", ""))) for b in row] for row in rows]


def _bot_user(username: str) -> dict[str, Any]:
    return {"id": CONSOLE_BOT_ID, "is_bot": True, "first_name": "Sunshine Relief", "username": username}


class ConsoleAwareRequest(BaseRequest):
    """Answers console chats locally; forwards everything else to ``inner`` (if any)."""

    def __init__(self, inner: BaseRequest | None, transcripts: ConsoleTranscripts, bot_username: str) -> None:
        self._inner = inner
        self._transcripts = transcripts
        self._bot_username = bot_username

    @property
    def read_timeout(self) -> float | None:
        return self._inner.read_timeout if self._inner is not None else 5.0

    async def initialize(self) -> None:
        if self._inner is not None:
            await self._inner.initialize()

    async def shutdown(self) -> None:
        if self._inner is not None:
            await self._inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        result = self._answer_locally(endpoint, params)
        if result is not None:
            return 200, json.dumps({"ok": True, "result": result}).encode()
        if self._inner is None:
            raise NetworkError("no bot token configured: only console chats can be reached")
        return await self._inner.do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )

    def _answer_locally(self, endpoint: str, params: dict[str, Any]) -> Any:
        raw_chat = params.get("chat_id")
        chat_id = (
            int(raw_chat) if isinstance(raw_chat, (int, str)) and str(raw_chat).lstrip("-").isdecimal() else 0
        )
        if endpoint == "getMe" and self._inner is None:
            return _bot_user(self._bot_username)
        if endpoint == "answerCallbackQuery" and str(params.get("callback_query_id", "")).startswith(
            "console-"
        ):
            return True
        if not is_console_chat(chat_id):
            return None
        chat = {"id": chat_id, "type": "private", "first_name": "Console"}
        now = int(time.time())
        if endpoint == "sendMessage":
            entry = self._transcripts.add(
                chat_id, "bot", str(params.get("text", "")), _buttons(params.get("reply_markup"))
            )
            message = {
                "message_id": entry.message_id,
                "date": now,
                "chat": chat,
                "text": entry.text,
                "from": _bot_user(self._bot_username),
            }
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            return message
        if endpoint in {"editMessageText", "editMessageReplyMarkup"}:
            message_id = int(params.get("message_id", 0))
            text = params.get("text") if endpoint == "editMessageText" else None
            self._transcripts.edit(chat_id, message_id, text, _buttons(params.get("reply_markup")))
            edited = self._transcripts.find(chat_id, message_id)
            return {
                "message_id": message_id,
                "date": now,
                "chat": chat,
                "text": edited.text if edited else "",
                "from": _bot_user(self._bot_username),
            }
        if endpoint == "sendChatAction":
            return True
        return True


# --- updates in Telegram's JSON shape -------------------------------------------------------


def console_user(chat_id: int, name: str) -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": name[:60] or "Console", "language_code": "zh-hans"}


def message_update(transcripts: ConsoleTranscripts, chat_id: int, name: str, text: str) -> dict[str, Any]:
    """A text message as Telegram would deliver it (commands carry a bot_command entity)."""
    entry = transcripts.add(chat_id, "user", text)
    message: dict[str, Any] = {
        "message_id": entry.message_id,
        "from": console_user(chat_id, name),
        "chat": {"id": chat_id, "type": "private", "first_name": name[:60] or "Console"},
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": transcripts.next_update_id(), "message": message}


def callback_update(
    transcripts: ConsoleTranscripts, chat_id: int, name: str, message_id: int, data: str
) -> dict[str, Any] | None:
    """A press on an inline button of a bot message in the transcript (None if no such button)."""
    entry = transcripts.find(chat_id, message_id)
    if entry is None or not any(data == d for row in entry.buttons for _, d in row):
        return None
    label = next(lbl for row in entry.buttons for lbl, d in row if d == data)
    transcripts.add(chat_id, "user", f"[{label}]")
    update_id = transcripts.next_update_id()
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"console-{update_id}",
            "from": console_user(chat_id, name),
            "chat_instance": str(chat_id),
            "data": data,
            "message": {
                "message_id": message_id,
                "from": _bot_user("console"),
                "chat": {"id": chat_id, "type": "private", "first_name": name[:60] or "Console"},
                "date": int(entry.at),
                "text": entry.text,
            },
        },
    }


__all__ = [
    "CONSOLE_CHAT_BASE",
    "ConsoleAwareRequest",
    "ConsoleEntry",
    "ConsoleTranscripts",
    "callback_update",
    "message_update",
]
