"""A provider-neutral SMS gateway over HTTP (request layouts: docs/sms.md).

Sending: ``POST RELIEF_SMS_GATEWAY_URL`` with a JSON body and the outbox
message's id as ``Idempotency-Key``, so a message we send again after a timeout
or a crash is delivered once by the gateway. The answer is mapped to three
outcomes the outbox acts on:

- 2xx, or 409 "already accepted under this key": sent;
- 429: :class:`SmsRetryAfter` (``Retry-After`` seconds, default 30);
- 5xx, 408, timeouts and broken connections: :class:`SmsTemporaryError` (backoff);
- any other 4xx: :class:`SmsRefused` (permanent: the row is failed).

Receiving: the gateway posts replies to ``/sms/inbound`` signed with
HMAC-SHA256 over ``"{timestamp}.{body}"`` with the shared secret;
:func:`verify_inbound` checks the signature and the timestamp's age.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

IDEMPOTENCY_PREFIX = "relief-outbox-"
DEFAULT_RETRY_AFTER_SECONDS = 30.0
MAX_RETRY_AFTER_SECONDS = 3600.0
INBOUND_MAX_AGE_SECONDS = 300
SIGNATURE_HEADER = "x-sms-signature"
TIMESTAMP_HEADER = "x-sms-timestamp"


class SmsError(Exception):
    """Base of every gateway outcome that is not "sent"."""


class SmsRefused(SmsError):
    """The gateway refused the message for good (bad number, bad request, bad credentials)."""


class SmsTemporaryError(SmsError):
    """Try again later: a server error, a timeout or a broken connection."""


class SmsRetryAfter(SmsError):
    """The gateway's rate limit: try again after ``seconds``."""

    def __init__(self, seconds: float, message: str = "") -> None:
        super().__init__(message or f"rate limited, retry after {seconds:g} s")
        self.seconds = seconds


def idempotency_key(outbox_message_id: int) -> str:
    return f"{IDEMPOTENCY_PREFIX}{outbox_message_id}"


def send_body(outbox_message_id: int, phone: str, text: str, sender_id: str) -> dict[str, Any]:
    """The JSON body of one message (docs/sms.md, "Sending")."""
    return {
        "message_id": idempotency_key(outbox_message_id),
        "to": phone,
        "sender": sender_id,
        "text": text,
    }


def parse_retry_after(value: str | None) -> float:
    """``Retry-After`` in seconds (only the delta form; an HTTP date falls back to the default)."""
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER_SECONDS
    except ValueError:
        seconds = DEFAULT_RETRY_AFTER_SECONDS
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, seconds))


@dataclass
class SmsGateway:
    """One gateway endpoint; ``send`` raises an :class:`SmsError` unless the message was accepted."""

    url: str
    key: str
    sender_id: str
    timeout_seconds: float = 10.0
    _client: httpx.AsyncClient | None = None

    async def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_seconds))
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(self, outbox_message_id: int, phone: str, text: str) -> None:
        client = await self._http()
        body = json.dumps(send_body(outbox_message_id, phone, text, self.sender_id), ensure_ascii=False)
        headers = {
            "Authorization": f"Bearer {self.key}",
            "Idempotency-Key": idempotency_key(outbox_message_id),
            "Content-Type": "application/json; charset=utf-8",
        }
        try:
            response = await client.post(self.url, content=body.encode(), headers=headers)
        except httpx.TimeoutException as exc:
            raise SmsTemporaryError(f"timeout: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise SmsTemporaryError(f"connection: {type(exc).__name__}") from exc
        status = response.status_code
        if 200 <= status < 300 or status == 409:  # 409: this key was already accepted
            return
        if status == 429:
            raise SmsRetryAfter(parse_retry_after(response.headers.get("retry-after")))
        detail = _error_detail(response)
        if status >= 500 or status == 408:
            raise SmsTemporaryError(f"HTTP {status}: {detail}")
        raise SmsRefused(f"HTTP {status}: {detail}")


def _error_detail(response: httpx.Response) -> str:
    """The gateway's short error code, never the request (which holds the phone)."""
    try:
        payload = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(payload, dict):
        return str(payload.get("error") or payload.get("code") or response.reason_phrase)[:100]
    return response.reason_phrase


def inbound_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"{timestamp}.{body}"`` (what the gateway sends in X-Sms-Signature)."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_inbound(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: datetime
) -> bool:
    """A fresh request signed with the shared secret; an unset secret refuses everything."""
    if not secret or not timestamp or not signature:
        return False
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - sent_at) > INBOUND_MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(inbound_signature(secret, timestamp, body), signature.strip().lower())


@dataclass(frozen=True)
class InboundMessage:
    message_id: str
    phone: str
    text: str


def parse_inbound(body: bytes) -> InboundMessage | None:
    """The gateway's inbound JSON (docs/sms.md, "Receiving"), or None when malformed."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    message_id, phone, text = payload.get("id"), payload.get("from"), payload.get("text")
    if not all(isinstance(v, str) for v in (message_id, phone, text)):
        return None
    assert isinstance(message_id, str) and isinstance(phone, str) and isinstance(text, str)
    if not message_id or len(message_id) > 80 or len(phone) > 20 or len(text) > 500:
        return None
    return InboundMessage(message_id, phone, text)
