"""Logs never carry the bot token or personal data; responses say how to cache.

* :func:`install_log_redaction` wraps the logging record factory, so every
  record that is emitted (by us, httpx, python-telegram-bot, uvicorn…) has the
  bot token and anything shaped like an ID number, mobile number or bank
  account masked before any handler formats it. httpx's request log (which
  contains the Bot API URL with the token) is also lowered to WARNING.
* :func:`access_log_middleware` replaces uvicorn's access log: it logs the
  route *template* (``/q/{token:str}``), the status and the time — never the
  raw path or the query string, which may hold card tokens, tracking codes or
  search terms.
* :func:`cache_and_transport_headers` sets ``Cache-Control: no-store`` on
  every response that did not choose its own caching (staff pages, exports,
  cards, photos) except static files, and HSTS in production.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from relief_pwa.core.audit_redaction import redact_text

ACCESS_LOG = logging.getLogger("relief_pwa.access")
_TOKEN_SHAPE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
_QUIET_LOGGERS = ("httpx", "httpcore")
_secrets: list[str] = []
_installed = False


def redact(text: str) -> str:
    """A log line with the bot token and personal identifiers masked."""
    for secret in _secrets:
        if secret and secret in text:
            text = text.replace(secret, "<redacted>")
    text = _TOKEN_SHAPE.sub("<redacted>", text)
    return redact_text(text)


def install_log_redaction(*secrets: str) -> None:
    """Mask ``secrets`` (the bot token, …) and personal identifiers in every log record."""
    global _installed
    for secret in secrets:
        if secret and secret not in _secrets:
            _secrets.append(secret)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)


def access_log_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, sending)
        except HTTPException as exc:  # answered by the exception handlers further out
            status = exc.status_code
            raise
        finally:
            ACCESS_LOG.info(
                "%s %s %s %.0fms",
                scope.get("method", "-"),
                scope.get("path_template") or "<unrouted>",
                status,
                (time.perf_counter() - started) * 1000,
            )

    return middleware


def cache_and_transport_headers(path: str, headers: Any, *, hsts: bool) -> None:
    """``no-store`` unless the response chose its caching (or is a static file); HSTS."""
    if not path.startswith("/static/") and "cache-control" not in headers:
        headers["cache-control"] = "no-store"
    if hsts:
        headers.setdefault("strict-transport-security", "max-age=31536000; includeSubDomains")
