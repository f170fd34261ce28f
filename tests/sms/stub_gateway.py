"""A local stand-in for an SMS gateway speaking the layout of docs/sms.md: an HTTP
server on 127.0.0.1 that the tests start. It delivers each idempotency key once,
records every attempt, and injects failures: 5xx, 429 with Retry-After, 400,
dropped connections and answers slower than the client's timeout (optionally
after accepting the message, as a real gateway may)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

KEY = "stub-gateway-key-0123456789"


@dataclass
class Delivered:
    key: str
    to: str
    sender: str
    text: str


@dataclass
class StubGateway:
    key: str = KEY
    slow_seconds: float = 2.0  # how long a "timeout" fault keeps the client waiting
    attempts: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[Delivered] = field(default_factory=list)
    faults: deque[tuple[str, int]] = field(default_factory=deque)  # (kind, retry_after)
    port: int = 0
    _server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/messages"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def fail_next(self, kind: str, *, count: int = 1, retry_after: int = 1) -> None:
        """kind: "500" | "503" | "429" | "400" | "drop" | "timeout" | "accept_then_timeout"."""
        for _ in range(count):
            self.faults.append((kind, retry_after))

    def texts_to(self, phone: str) -> list[str]:
        return [d.text for d in self.delivered if d.to == phone]

    # --- HTTP --------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    break
                headers: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                answer = await self._answer(headers, body)
                if answer is None:
                    break
                status, extra, payload = answer
                data = json.dumps(payload).encode()
                head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                head += f"Content-Length: {len(data)}\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
                writer.write((head + "\r\n").encode() + data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(
        self, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        payload = json.loads(body or b"{}")
        key = headers.get("idempotency-key", "")
        # "at": when the request arrived, on this process's monotonic clock (rate checks).
        self.attempts.append({"key": key, **payload, "at": time.monotonic()})
        if headers.get("authorization") != f"Bearer {self.key}":
            return 401, {}, {"error": "unauthorized"}
        if not key or key != payload.get("message_id"):
            return 400, {}, {"error": "idempotency_key_missing"}
        kind, retry_after = self.faults.popleft() if self.faults else ("", 0)
        if kind == "drop":
            return None
        if kind in {"timeout", "accept_then_timeout"}:
            if kind == "accept_then_timeout":
                self._accept(key, payload)
            await asyncio.sleep(self.slow_seconds)
            return 504, {}, {"error": "too_slow"}
        if kind == "429":
            return 429, {"Retry-After": str(retry_after)}, {"error": "rate_limited"}
        if kind in {"500", "503"}:
            return int(kind), {}, {"error": "upstream"}
        if kind == "400":
            return 400, {}, {"error": "invalid_number"}
        if not self._accept(key, payload):
            return 409, {}, {"error": "duplicate", "id": key}
        return 200, {}, {"id": key, "status": "accepted"}

    def _accept(self, key: str, payload: dict[str, Any]) -> bool:
        if any(d.key == key for d in self.delivered):
            return False
        self.delivered.append(
            Delivered(key, str(payload["to"]), str(payload["sender"]), str(payload["text"]))
        )
        return True
