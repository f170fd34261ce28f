"""Which requests may read from the streaming replica (docs/scale.md).

A route opts in with ``opt={..., **REPLICA_READS}``: the heavy read-only pages
(dashboards, ranking, public boards, exports). Such a GET reads from the
replica unless the browser wrote recently: every unsafe request (POST, PUT,
PATCH, DELETE) that succeeds leaves a short-lived signed cookie, and while it
is valid the browser's reads stay on the primary, so a user sees their own
change at once even when the replica lags a little.

Without a replica configured this middleware only sets that cookie.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from relief_pwa.db import replica_reads
from relief_pwa.handlers.sessions import SAFE_METHODS, sign, unsign

REPLICA_READS: Final[dict[str, Any]] = {"read_replica": True}
WROTE_COOKIE: Final = "relief_wrote"
_PURPOSE: Final = "wrote"


def _cookie_value(scope: Scope, name: str) -> str:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                cookie_name, _, cookie_value = part.strip().partition("=")
                if cookie_name == name:
                    return cookie_value
    return ""


def wrote_recently(scope: Scope, *, secret: str, now: datetime, window_seconds: int) -> bool:
    """Whether this browser's last successful write is less than ``window_seconds`` old."""
    value = _cookie_value(scope, WROTE_COOKIE)
    return bool(value) and unsign(secret, _PURPOSE, value, now=now, max_age=window_seconds) is not None


def _wrote_cookie(secret: str, *, now: datetime, window_seconds: int, secure: bool) -> Cookie:
    return Cookie(
        key=WROTE_COOKIE,
        value=sign(secret, _PURPOSE, 1, now=now),
        max_age=window_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


class ReplicaMiddleware:
    """Routes a replica-eligible GET to the replica; marks a browser that just wrote."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        litestar_app = scope["litestar_app"]
        settings = litestar_app.state.settings
        window = settings.replica_after_write_seconds
        method = scope.get("method", "GET")
        if method not in SAFE_METHODS:
            await self.app(scope, receive, self._marking(send, settings, litestar_app.state.clock.now()))
            return
        opt = getattr(scope.get("route_handler"), "opt", None) or {}
        if not opt.get("read_replica") or wrote_recently(
            scope, secret=settings.secret_key, now=litestar_app.state.clock.now(), window_seconds=window
        ):
            await self.app(scope, receive, send)
            return
        with replica_reads():
            await self.app(scope, receive, send)

    @staticmethod
    def _marking(send: Send, settings: Any, now: datetime) -> Send:
        async def send_marked(message: Message) -> None:
            # Any success (a redirect after a form, an htmx fragment) may have written;
            # a refused request (4xx/5xx) wrote nothing.
            if message["type"] == "http.response.start" and message["status"] < 400:
                cookie = _wrote_cookie(
                    settings.secret_key,
                    now=now,
                    window_seconds=settings.replica_after_write_seconds,
                    secure=settings.cookie_secure,
                )
                message = {**message, "headers": [*message.get("headers", []), cookie.to_encoded_header()]}
            await send(message)

        return send_marked
