"""A local stand-in for the Telegram Bot API: an HTTP server on 127.0.0.1.

Tests and the benchmark point ``settings.bot_api_base_url`` at it, so the
real python-telegram-bot stack (httpx, request encoding, error mapping) runs
without the network. It records every call and can inject Telegram's
failures: 429 with ``retry_after``, 403 "bot was blocked by the user", and
connections dropped without an answer.

HTTP/1.1 with keep-alive, on asyncio streams: the little PTB needs, nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when answered
    result: Any = None


@dataclass
class Fault:
    kind: str  # "429" | "drop" | "403" | "400"
    retry_after: int = 1
    chat_id: int | None = None  # None: the next sendMessage to any chat
    method: str = "sendMessage"


@dataclass
class StubBotAPI:
    token: str = "123456:TEST-TOKEN"  # noqa: S105 - the stub's own fake token
    username: str = "SunshineTestBot"
    latency: float = 0.0
    calls: list[Call] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    blocked_chats: set[int] = field(default_factory=set)
    pending_updates: list[dict[str, Any]] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    _server: asyncio.base_events.Server | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    # --- what the tests look at ----------------------------------------------------------

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Accepted sendMessage calls (those answered with ok)."""
        return [
            c.params
            for c in self.calls
            if c.method == "sendMessage" and (chat_id is None or int(c.params["chat_id"]) == chat_id)
        ]

    def last_keyboard(self, chat_id: int) -> tuple[int, list[tuple[str, str]]]:
        """The newest message with inline buttons: its id and its (label, data) buttons."""
        for call in reversed(self.calls):
            if call.method == "sendMessage" and int(call.params["chat_id"]) == chat_id:
                markup = call.params.get("reply_markup")
                if markup:
                    buttons = [
                        (b["text"], b.get("callback_data", ""))
                        for row in markup["inline_keyboard"]
                        for b in row
                    ]
                    return int(call.result["message_id"]), buttons
        raise LookupError(f"no keyboard sent to {chat_id}")

    def texts(self, chat_id: int) -> list[str]:
        return [str(p.get("text", "")) for p in self.sent(chat_id)]

    def send_times(self) -> list[float]:
        return [c.at for c in self.calls if c.method == "sendMessage"]

    def fail_next(
        self, kind: str, *, count: int = 1, retry_after: int = 1, chat_id: int | None = None
    ) -> None:
        for _ in range(count):
            self.faults.append(Fault(kind, retry_after, chat_id))

    # --- HTTP ------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    break
                _verb, path, _version = request_line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                if self.latency:
                    await asyncio.sleep(self.latency)
                answer = self._answer(path, headers.get("content-type", ""), body)
                if answer is None:  # a dropped connection: no response at all
                    break
                status, payload = answer
                data = json.dumps(payload).encode()
                reason = {
                    200: "OK",
                    400: "Bad Request",
                    401: "Unauthorized",
                    403: "Forbidden",
                    404: "Not Found",
                    429: "Too Many Requests",
                }.get(status, "OK")
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\nConnection: keep-alive\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _params(self, content_type: str, body: bytes) -> dict[str, Any]:
        if "json" in content_type:
            parsed: dict[str, Any] = json.loads(body or b"{}")
            return parsed
        params: dict[str, Any] = {}
        for key, value in parse_qsl(body.decode(), keep_blank_values=True):
            params[key] = value
            if value[:1] in "{[":
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return params

    def _answer(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]] | None:
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path[len(prefix) :].split("?", 1)[0]
        params = self._params(content_type, body)
        chat_id = int(params["chat_id"]) if "chat_id" in params else None
        fault = self._take_fault(method, chat_id)
        if fault is not None:
            if fault.kind == "drop":
                return None
            if fault.kind == "429":
                return 429, {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {fault.retry_after}",
                    "parameters": {"retry_after": fault.retry_after},
                }
            if fault.kind == "403":
                return 403, {
                    "ok": False,
                    "error_code": 403,
                    "description": "Forbidden: bot was blocked by the user",
                }
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        if chat_id is not None and chat_id in self.blocked_chats:
            return 403, {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            }
        result = self._result(method, params, chat_id)
        if result is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        self.calls.append(Call(method, params, time.monotonic(), result))
        return 200, {"ok": True, "result": result}

    def _take_fault(self, method: str, chat_id: int | None) -> Fault | None:
        for fault in list(self.faults):
            if fault.method == method and (fault.chat_id is None or fault.chat_id == chat_id):
                self.faults.remove(fault)
                return fault
        return None

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": int(self.token.split(":")[0]),
            "is_bot": True,
            "first_name": "Sunshine Relief",
            "username": self.username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _message(
        self, chat_id: int, text: str, markup: Any = None, message_id: int | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id or next(self._ids),
            "from": self._bot_user(),
            "chat": {"id": chat_id, "type": "private", "first_name": "Applicant"},
            "date": int(time.time()),
            "text": text,
        }
        if markup:
            message["reply_markup"] = markup
        return message

    def _result(self, method: str, params: dict[str, Any], chat_id: int | None) -> Any:
        if method == "getMe":
            return self._bot_user()
        if method == "sendMessage" and chat_id is not None:
            return self._message(chat_id, str(params.get("text", "")), params.get("reply_markup"))
        if method == "editMessageText" and chat_id is not None:
            return self._message(
                chat_id,
                str(params.get("text", "")),
                params.get("reply_markup"),
                int(params.get("message_id", 0)),
            )
        if method == "editMessageReplyMarkup" and chat_id is not None:
            return self._message(chat_id, "", params.get("reply_markup"), int(params.get("message_id", 0)))
        if method in {"answerCallbackQuery", "sendChatAction", "deleteMessage", "setMyCommands"}:
            return True
        if method == "setWebhook":
            self.webhook = dict(params)
            return True
        if method == "deleteWebhook":
            self.webhook = {}
            return True
        if method == "getWebhookInfo":
            return {
                "url": self.webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": 0,
            }
        if method == "getUpdates":
            offset = int(params.get("offset", 0) or 0)
            updates = [u for u in self.pending_updates if u["update_id"] >= offset]
            self.pending_updates = updates
            return updates
        return None
