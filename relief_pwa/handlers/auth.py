"""Login (password, then the second factor when enrolled), logout, and the
account page: password change, second-factor enrolment, other sessions.

Every login and every change of privilege (password change, enrolment)
starts a new session id; the old one stops working at once.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect

from relief_pwa.adapters.qr import qr_svg
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import second_factor_required
from relief_pwa.handlers import sessions
from relief_pwa.handlers.common import (
    ANY_STAFF,
    PUBLIC,
    client_address,
    first,
    flash,
    form_errors,
    now_of,
    render,
)
from relief_pwa.i18n import gettext
from relief_pwa.services import auth
from relief_pwa.services.actors import Actor

NO_STORE = {"cache-control": "no-store"}


def _safe_next(raw: str) -> str:
    # Only same-site paths: never redirect to another host after login.
    if raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/cases"


def _policy(request: Request[Any, Any, Any]) -> auth.LoginPolicy:
    return auth.LoginPolicy.from_settings(request.app.state.settings)


def _session_policy(request: Request[Any, Any, Any]) -> auth.SessionPolicy:
    return auth.SessionPolicy.from_settings(request.app.state.settings)


def _production(request: Request[Any, Any, Any]) -> bool:
    return bool(request.app.state.settings.is_production)


async def _start_session(request: Request[Any, Any, Any], actor: Actor, next_path: str) -> Redirect:
    """A brand-new session id for this login; whatever session the browser had ends."""
    state = sessions.web_state(request.scope)
    if state is not None and state.session is not None:
        await auth.do_end_session(state.session.key_hash)
    assert actor.staff_id is not None
    token = await auth.do_start_session(
        actor.staff_id,
        now=now_of(request),
        policy=_session_policy(request),
        data={"lang": request.cookies.get("lang", "")[:8]},
    )
    sessions.begin_session(request.scope, token)
    return Redirect(next_path, status_code=303, headers=NO_STORE)


@get("/login", name="login", opt=PUBLIC)
async def login_page(request: Request[Any, Any, Any], next: FromQuery[str] = "/") -> Response[str]:
    return render(
        request, "auth/login.html", {"next": _safe_next(next), "errors": {}, "username": ""}, headers=NO_STORE
    )


@post("/login", opt=PUBLIC)
async def login_submit(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await request.form()
    username, password = first(form, "username", 40), first(form, "password", 200)
    next_path = _safe_next(first(form, "next", 500))
    try:
        checked = await auth.check_login(
            username, password, client=client_address(request), now=now_of(request), policy=_policy(request)
        )
    except DomainError as exc:
        return render(
            request,
            "auth/login.html",
            {"next": next_path, "errors": form_errors(exc), "username": username},
            status_code=400,
            headers=NO_STORE,
        )
    if checked.needs_second_factor:
        assert checked.actor.staff_id is not None
        cookie = sessions.signed_login_step(request.scope, checked.actor.staff_id, next_path)
        return Redirect("/login/2fa", status_code=303, headers=NO_STORE, cookies=[cookie])
    return await _start_session(request, checked.actor, next_path)


@get("/login/2fa", name="login_second_factor", opt=PUBLIC)
async def second_factor_page(request: Request[Any, Any, Any]) -> Response[Any]:
    if sessions.read_login_step(request.scope, request.cookies) is None:
        return Redirect("/login", status_code=303)
    return render(request, "auth/second_factor.html", {"errors": {}}, headers=NO_STORE)


@post("/login/2fa", opt=PUBLIC)
async def second_factor_submit(request: Request[Any, Any, Any]) -> Response[Any]:
    step = sessions.read_login_step(request.scope, request.cookies)
    if step is None:
        flash(request, gettext("Please log in again."), "error")
        return Redirect("/login", status_code=303)
    form = await request.form()
    try:
        actor = await auth.check_second_factor(
            int(step["staff"]),
            first(form, "code", 40),
            client=client_address(request),
            now=now_of(request),
            policy=_policy(request),
        )
    except DomainError as exc:
        return render(
            request,
            "auth/second_factor.html",
            {"errors": form_errors(exc)},
            status_code=400,
            headers=NO_STORE,
        )
    response = await _start_session(request, actor, _safe_next(str(step.get("next", "/cases"))))
    response.cookies.append(Cookie(key=sessions.LOGIN_COOKIE, value="", max_age=0, path="/login"))
    return response


@post("/logout", opt=PUBLIC)
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    state = sessions.web_state(request.scope)
    if state is not None and state.session is not None:
        await auth.do_end_session(state.session.key_hash)
    sessions.end_session(request.scope)
    return Redirect("/login", status_code=303, headers=NO_STORE)


# --- the account page ----------------------------------------------------------------


def _key_hash(request: Request[Any, Any, Any]) -> str:
    state = sessions.web_state(request.scope)
    return state.session.key_hash if state is not None and state.session is not None else ""


async def _account_page(
    request: Request[Any, Any, Any],
    actor: Actor,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    extra: dict[str, Any] | None = None,
) -> Response[str]:
    view = await auth.get_account(actor, now=now_of(request))
    context = {
        "account": view,
        "errors": errors or {},
        "second_factor_required": second_factor_required(actor.role, production=_production(request)),
        **(extra or {}),
    }
    return render(request, "auth/account.html", context, status_code=status, headers=NO_STORE)


@get("/account", name="account", opt=ANY_STAFF)
async def account_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    return await _account_page(request, actor)


@get("/account/password", name="account_password", opt=ANY_STAFF)
async def password_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    view = await auth.get_account(actor, now=now_of(request))
    return render(request, "auth/password.html", {"account": view, "errors": {}}, headers=NO_STORE)


@post("/account/password", opt=ANY_STAFF)
async def password_submit(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    try:
        await auth.do_change_password(
            actor,
            current=first(form, "current", 200),
            new=first(form, "password", 200),
            confirm=first(form, "confirm", 200),
            now=now_of(request),
        )
    except DomainError as exc:
        view = await auth.get_account(actor, now=now_of(request))
        return render(
            request,
            "auth/password.html",
            {"account": view, "errors": form_errors(exc)},
            status_code=422,
            headers=NO_STORE,
        )
    # Every session of the account ended with the change; this browser gets a new one.
    await _start_session(request, actor, "/account")
    flash(request, gettext("Password changed. Your other sessions have ended."))
    return Redirect("/account", status_code=303, headers=NO_STORE)


def _enrolment_context(request: Request[Any, Any, Any], actor: Actor, secret: str) -> dict[str, Any]:
    assert actor.staff_id is not None
    uri = auth.totp_uri(actor, secret)
    return {
        "secret": secret,
        "secret_sig": auth.enrolment_signature(request.app.state.settings.secret_key, actor.staff_id, secret),
        "otpauth_uri": uri,
        "qr_svg": qr_svg(uri),
    }


@get("/account/2fa", name="account_second_factor", opt=ANY_STAFF)
async def enrol_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    """Set up an authenticator app: a fresh secret each time, carried signed in the form (no write on GET)."""
    view = await auth.get_account(actor, now=now_of(request))
    context = {
        "account": view,
        "errors": {},
        "required": second_factor_required(actor.role, production=_production(request)),
        **_enrolment_context(request, actor, auth.new_totp_secret()),
    }
    return render(request, "auth/enrol.html", context, headers=NO_STORE)


@post("/account/2fa", opt=ANY_STAFF)
async def enrol_submit(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    assert actor.staff_id is not None
    form = await request.form()
    secret = first(form, "secret", 64)
    signature = first(form, "secret_sig", 64)
    expected = auth.enrolment_signature(request.app.state.settings.secret_key, actor.staff_id, secret)
    try:
        if not secret or not _same(signature, expected):
            raise DomainError(N_("Please start the set-up again."), field="code")
        codes = await auth.do_enrol_totp(
            actor, secret_b32=secret, code=first(form, "code", 20), now=now_of(request)
        )
    except DomainError as exc:
        view = await auth.get_account(actor, now=now_of(request))
        context = {
            "account": view,
            "errors": form_errors(exc),
            "required": second_factor_required(actor.role, production=_production(request)),
            **_enrolment_context(
                request, actor, secret if secret and _same(signature, expected) else auth.new_totp_secret()
            ),
        }
        return render(request, "auth/enrol.html", context, status_code=422, headers=NO_STORE)
    # A change of privilege: the session gets a new id.
    token = await auth.do_rotate_session(
        _key_hash(request), now=now_of(request), policy=_session_policy(request)
    )
    if token is not None:
        sessions.begin_session(request.scope, token)
    # The recovery codes are shown once, on this response; they are stored only as hashes.
    return render(request, "auth/recovery_codes.html", {"codes": codes}, headers=NO_STORE)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@post("/account/2fa/disable", opt=ANY_STAFF)
async def disable_second_factor(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    try:
        await auth.do_disable_totp(
            actor, password=first(form, "current", 200), production=_production(request), now=now_of(request)
        )
    except DomainError as exc:
        return await _account_page(request, actor, errors=form_errors(exc), status=422)
    flash(request, gettext("Second factor turned off."))
    return Redirect("/account", status_code=303, headers=NO_STORE)


@post("/account/sessions", opt=ANY_STAFF)
async def end_other_sessions(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Redirect:
    count = await auth.do_end_other_sessions(actor, keep=_key_hash(request), now=now_of(request))
    flash(request, gettext("Other sessions ended: {count}.").format(count=count))
    return Redirect("/account", status_code=303, headers=NO_STORE)


ROUTES: list[Any] = [
    login_page,
    login_submit,
    second_factor_page,
    second_factor_submit,
    logout,
    account_page,
    password_page,
    password_submit,
    enrol_page,
    enrol_submit,
    disable_second_factor,
    end_other_sessions,
]
