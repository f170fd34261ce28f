"""Sessions, CSRF tokens and flash messages at the edge: one small ASGI middleware.

* A session exists only for a logged-in staff member. The cookie holds a
  random 32-byte token; the table holds its SHA-256 (``services.auth``).
  Anonymous visitors get no row: the CSRF token of an anonymous form is an
  HMAC of a random nonce kept in a signed cookie (``relief_anon``).
* A logged-in request's CSRF token is HMAC(secret, session key hash): a token
  from one session is worthless in another. It is accepted from the form
  field ``_csrf_token`` or the ``x-csrftoken`` header (htmx, see base.html).
* Reading a page writes nothing to the database before the response: the
  session row's last use is written at most once per ``session_touch_seconds``,
  and only after the response has been sent. Flash messages travel in a
  short-lived signed cookie, not in the session row.
* The loaded session (actor, flags) sits in the scope under ``relief_web``:
  ``current_actor`` and the supervisors' write guard read it from there
  without a second lookup.
* An account that must change its password, or (in production) must enrol a
  second factor, is sent to that form from every page until it is done.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from litestar._parsers import parse_cookie_string
from litestar.datastructures import Cookie
from litestar.datastructures.headers import Headers
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from relief_pwa.services import auth
from relief_pwa.services.actors import Actor

SESSION_COOKIE = "relief_session"
ANON_COOKIE = "relief_anon"
FLASH_COOKIE = "relief_flash"
LOGIN_COOKIE = "relief_login"  # password checked, second factor pending
CSRF_FIELD = "_csrf_token"
CSRF_HEADER = "x-csrftoken"
SCOPE_KEY = "relief_web"

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
FLASH_MAX_AGE = 120  # seconds: a flash is shown on the very next page
LOGIN_STEP_MAX_AGE = 300  # seconds to type the second factor after the password
# Paths that other systems post to without a browser (no CSRF token).
CSRF_EXEMPT_PATHS = ("/bot/webhook", "/sms/inbound")
# Paths an account may use while it must change its password or enrol a second factor.
ALWAYS_ALLOWED = ("/logout", "/static/", "/lang/", "/healthz", "/readyz", "/sw.js")
PASSWORD_FORM = "/account/password"  # noqa: S105 (a path, not a password)
ENROL_FORM = "/account/2fa"

_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{40,64}$")


# --- signing -----------------------------------------------------------------------


def _mac(secret: str, purpose: str, value: str) -> str:
    return hmac.new(secret.encode(), f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()


def sign(secret: str, purpose: str, payload: Any, *, now: datetime) -> str:
    """A cookie value: base64(JSON [issued-at, payload]) '.' HMAC (purpose-bound)."""
    text = json.dumps([int(now.timestamp()), payload], ensure_ascii=False, separators=(",", ":"))
    body = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    return f"{body}.{_mac(secret, purpose, body)}"


def unsign(secret: str, purpose: str, value: str, *, now: datetime, max_age: int) -> Any:
    """The payload of a value made by :func:`sign`, or None (forged, malformed or too old)."""
    if not value or len(value) > 4096 or "." not in value:
        return None
    body, _, mac = value.rpartition(".")
    if not hmac.compare_digest(mac, _mac(secret, purpose, body)):
        return None
    try:
        issued, payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError):
        return None
    age = now.timestamp() - float(issued)
    return payload if -60 <= age <= max_age else None


# --- per-request state ---------------------------------------------------------------


@dataclass
class WebState:
    secret: str
    now: datetime
    cookie_secure: bool
    skip: bool  # the route opted out of sessions (public pages): behave as anonymous
    csrf_exempt: bool = False  # cacheable public pages: no token, no cookie
    session: auth.LoadedSession | None = None
    session_cookie_seen: bool = False
    anon_nonce: str = ""
    anon_nonce_is_new: bool = False
    new_session_token: str | None = None  # set by login or rotation: sent as the new cookie
    end_session: bool = False  # logout: the cookie is deleted
    flashes_in: list[dict[str, str]] = field(default_factory=list)
    flashes_out: list[dict[str, str]] | None = None  # None: leave the flash cookie as it is
    cookies: list[Cookie] = field(default_factory=list)

    @property
    def actor(self) -> Actor | None:
        return self.session.actor if self.session is not None and not self.skip else None

    @property
    def csrf_token(self) -> str:
        if self.csrf_exempt:
            return ""
        if self.session is not None and not self.skip and self.new_session_token is None:
            return _mac(self.secret, "csrf-session", self.session.key_hash)
        if self.new_session_token is not None:
            return _mac(self.secret, "csrf-session", auth.session_key_hash(self.new_session_token))
        if not self.anon_nonce:
            self.anon_nonce = secrets.token_urlsafe(24)
            self.anon_nonce_is_new = True
        return _mac(self.secret, "csrf-anon", self.anon_nonce)


def web_state(scope: Scope | dict[str, Any]) -> WebState | None:
    state = scope.get(SCOPE_KEY)
    return state if isinstance(state, WebState) else None


def session_actor(scope: Scope | dict[str, Any]) -> Actor | None:
    """The logged-in staff member of this request (loaded once by the middleware)."""
    state = web_state(scope)
    if state is None or state.session is None:
        return None
    return state.session.actor


def begin_session(scope: Scope | dict[str, Any], token: str) -> None:
    """Send ``token`` as the new session cookie with this response (login, rotation)."""
    state = web_state(scope)
    if state is not None:
        state.new_session_token = token
        state.end_session = False


def end_session(scope: Scope | dict[str, Any]) -> None:
    state = web_state(scope)
    if state is not None:
        state.end_session = True
        state.new_session_token = None


def add_flash(scope: Scope | dict[str, Any], message: str, category: str) -> None:
    state = web_state(scope)
    if state is None:
        return
    pending = list(state.flashes_out if state.flashes_out is not None else state.flashes_in)
    pending.append({"message": message[:200], "category": category[:20]})
    state.flashes_out = pending[-3:]


def take_flashes(scope: Scope | dict[str, Any]) -> list[dict[str, str]]:
    """The flash messages for this page; the cookie is cleared with the response."""
    state = web_state(scope)
    if state is None or (state.skip and state.csrf_exempt):
        return []  # cacheable public pages show no flash and set no cookie
    shown = list(state.flashes_out if state.flashes_out is not None else state.flashes_in)
    if shown or state.flashes_out is not None:
        state.flashes_in, state.flashes_out = [], []
    return shown


def set_cookie(scope: Scope | dict[str, Any], cookie: Cookie) -> None:
    state = web_state(scope)
    if state is not None:
        state.cookies.append(cookie)


def signed_login_step(scope: Scope | dict[str, Any], staff_id: int, next_path: str) -> Cookie:
    """The short-lived cookie that carries "password checked" to the second-factor form."""
    state = web_state(scope)
    assert state is not None
    value = sign(state.secret, "login-step", {"staff": staff_id, "next": next_path}, now=state.now)
    return Cookie(
        key=LOGIN_COOKIE,
        value=value,
        max_age=LOGIN_STEP_MAX_AGE,
        path="/login",
        httponly=True,
        samesite="lax",
        secure=state.cookie_secure,
    )


def read_login_step(scope: Scope | dict[str, Any], cookies: dict[str, str]) -> dict[str, Any] | None:
    state = web_state(scope)
    if state is None:
        return None
    payload = unsign(
        state.secret, "login-step", cookies.get(LOGIN_COOKIE, ""), now=state.now, max_age=LOGIN_STEP_MAX_AGE
    )
    if not isinstance(payload, dict) or not isinstance(payload.get("staff"), int):
        return None
    return payload


# --- the middleware ------------------------------------------------------------------


def _parse_cookies(scope: Scope) -> dict[str, str]:
    header = Headers.from_scope(scope).get("cookie", "")
    return parse_cookie_string(header) if header else {}


class SessionMiddleware:
    """Loads the session, checks CSRF, forces pending account steps, writes cookies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        litestar_app = scope["litestar_app"]
        settings = litestar_app.state.settings
        now: datetime = litestar_app.state.clock.now()
        handler = scope.get("route_handler")
        opt = getattr(handler, "opt", None) or {}
        method = scope.get("method", "GET")
        unsafe = method not in SAFE_METHODS
        path = scope.get("path", "")
        cookies = _parse_cookies(scope)
        policy = auth.SessionPolicy.from_settings(settings)
        state = WebState(
            secret=settings.secret_key,
            now=now,
            cookie_secure=settings.cookie_secure,
            skip=bool(opt.get("skip_session")),
            csrf_exempt=bool(opt.get("exclude_from_csrf")) or path.startswith(CSRF_EXEMPT_PATHS),
        )
        scope[SCOPE_KEY] = state  # type: ignore[literal-required]

        token = cookies.get(SESSION_COOKIE, "")
        state.session_cookie_seen = bool(token)
        # Public pages load no session, except to know who posts (the supervisors' guard).
        if token and _TOKEN_SHAPE.match(token) and (not state.skip or unsafe):
            state.session = await auth.load_session(auth.session_key_hash(token), now=now, policy=policy)
        session = state.session
        scope["session"] = (
            {"staff_id": session.actor.staff_id, **session.data} if session and not state.skip else {}
        )
        nonce = unsign(settings.secret_key, "anon", cookies.get(ANON_COOKIE, ""), now=now, max_age=86400)
        state.anon_nonce = nonce if isinstance(nonce, str) else ""
        flashes = unsign(
            settings.secret_key, "flash", cookies.get(FLASH_COOKIE, ""), now=now, max_age=FLASH_MAX_AGE
        )
        state.flashes_in = [f for f in flashes if isinstance(f, dict)] if isinstance(flashes, list) else []
        if cookies.get(FLASH_COOKIE) and not state.flashes_in and not state.csrf_exempt:
            state.flashes_out = []  # stale or forged: drop it (cacheable public pages set no cookie)

        if unsafe and not state.csrf_exempt:
            await self._check_csrf(scope, receive, state)

        if session is not None and not state.skip:
            forced = self._forced_step(session, path, production=settings.is_production)
            if forced is not None:
                await self._redirect(scope, send, forced)
                return

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(cookie.to_encoded_header() for cookie in self._cookies(state, settings))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookies)

        # After the response: slide the idle deadline, at most once per touch interval.
        if (
            session is not None
            and not state.end_session
            and state.new_session_token is None
            and session.needs_touch(now, policy)
        ):
            await auth.do_touch_session(session, now=now, policy=policy)

    @staticmethod
    def _forced_step(session: auth.LoadedSession, path: str, *, production: bool) -> str | None:
        if path.startswith(ALWAYS_ALLOWED):
            return None
        if session.must_change_password:
            return None if path == PASSWORD_FORM else PASSWORD_FORM
        if session.second_factor_missing(production=production):
            return None if path == ENROL_FORM else ENROL_FORM
        return None

    @staticmethod
    async def _redirect(scope: Scope, send: Send, location: str) -> None:
        htmx = Headers.from_scope(scope).get("hx-request") == "true"
        headers = [(b"cache-control", b"no-store")]
        if htmx:
            headers.append((b"hx-redirect", location.encode()))
            status = 200
        else:
            headers.append((b"location", location.encode()))
            status = 303
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _check_csrf(scope: Scope, receive: Receive, state: WebState) -> None:
        headers = Headers.from_scope(scope)
        submitted = headers.get(CSRF_HEADER, "")
        if not submitted:
            content_type = headers.get("content-type", "")
            if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                request = scope["litestar_app"].request_class(scope=scope, receive=receive)
                form = await request.form()  # cached in the scope: the handler reads it again for free
                value = form.get(CSRF_FIELD, "")
                submitted = value if isinstance(value, str) else ""
        if state.session is None or state.skip:
            expected = _mac(state.secret, "csrf-anon", state.anon_nonce) if state.anon_nonce else ""
        else:
            expected = _mac(state.secret, "csrf-session", state.session.key_hash)
        if not expected or not submitted or not hmac.compare_digest(submitted, expected):
            if state.session is None and state.session_cookie_seen and not state.skip:
                # The session ended (timeout, logout elsewhere): say so rather than "forbidden".
                raise NotAuthorizedException(detail="session expired")
            raise PermissionDeniedException(detail="CSRF token verification failed")

    @staticmethod
    def _cookies(state: WebState, settings: Any) -> list[Cookie]:
        common: dict[str, Any] = {
            "httponly": True,
            "samesite": "lax",
            "secure": settings.cookie_secure,
            "path": "/",
        }
        cookies = list(state.cookies)
        if state.new_session_token is not None:
            cookies.append(
                Cookie(
                    key=SESSION_COOKIE,
                    value=state.new_session_token,
                    max_age=settings.session_absolute_seconds,
                    **common,
                )
            )
        elif state.end_session or (state.session_cookie_seen and state.session is None and not state.skip):
            cookies.append(Cookie(key=SESSION_COOKIE, value="", max_age=0, **common))
        if state.anon_nonce_is_new:
            cookies.append(
                Cookie(
                    key=ANON_COOKIE,
                    value=sign(state.secret, "anon", state.anon_nonce, now=state.now),
                    max_age=86400,
                    **common,
                )
            )
        if state.flashes_out is not None:
            if state.flashes_out:
                kept = list(state.flashes_out)
                value = sign(state.secret, "flash", kept, now=state.now)
                while len(value) > 3800 and len(kept) > 1:  # a cookie holds about 4 kB
                    kept = kept[1:]
                    value = sign(state.secret, "flash", kept, now=state.now)
                cookies.append(Cookie(key=FLASH_COOKIE, value=value, max_age=FLASH_MAX_AGE, **common))
            else:
                cookies.append(Cookie(key=FLASH_COOKIE, value="", max_age=0, **common))
        return cookies
