"""The bot's web side: the Telegram webhook, the staff chat console, the
pre-application task list and re-issuing a receipt's bot link."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from relief_pwa.bot.app import runtime_of
from relief_pwa.bot.console import callback_update, message_update
from relief_pwa.core.bounds import fits_int64
from relief_pwa.core.enums import Category
from relief_pwa.core.errors import DomainError, PermissionDenied
from relief_pwa.core.i18n import N_
from relief_pwa.handlers.common import PUBLIC, C, first, flash, form_errors, needs, now_of, render
from relief_pwa.i18n import translate
from relief_pwa.services import bot as service
from relief_pwa.services.actors import Actor
from relief_pwa.services.bot_updates import claim_update
from relief_pwa.settings import Settings

log = logging.getLogger(__name__)
SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 - a header name
MAX_UPDATE_BYTES = 1024 * 1024
CONSOLE_TEXT_MAX = 1000


def secret_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison; an unset secret refuses everything (fail closed)."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


@post("/bot/webhook", name="bot_webhook", request_max_body_size=MAX_UPDATE_BYTES, opt=PUBLIC)
async def webhook(request: Request[Any, Any, Any]) -> Response[Any]:
    """Telegram's webhook. Anything that is not a well-formed new update is logged
    (without its content) and dropped with 200: a non-2xx answer would make
    Telegram deliver the same bad update again and again. Each ``update_id`` is
    processed once (claimed in the database)."""
    settings: Settings = request.app.state.settings
    if not settings.bot_token:
        return Response({"ok": False, "description": "bot disabled"}, status_code=404)
    if not secret_matches(settings.bot_webhook_secret, request.headers.get(SECRET_HEADER)):
        return Response({"ok": False, "description": "forbidden"}, status_code=403)
    body = await request.body()
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        log.warning("bot webhook: dropped a body that is not JSON (%d bytes)", len(body))
        return _dropped()
    update_id = payload.get("update_id") if isinstance(payload, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool) or not fits_int64(update_id):
        log.warning("bot webhook: dropped a body that is not an update")
        return _dropped()
    if _depth(payload) > MAX_UPDATE_DEPTH:
        log.warning("bot webhook: dropped update %s: nested too deeply", update_id)
        return _dropped()
    if not await claim_update(update_id, now_of(request)):
        log.info("bot webhook: update %s was already processed", update_id)
        return Response({"ok": True, "description": "duplicate"}, status_code=200)
    runtime = await runtime_of(request.app.state)
    try:
        await runtime.process(payload)
    except Exception as exc:  # a malformed update must not make Telegram retry it for ever
        log.warning("bot webhook: dropped update %s (%s)", update_id, type(exc).__name__)
        return _dropped()
    return Response({"ok": True}, status_code=200)


MAX_UPDATE_DEPTH = 32


def _dropped() -> Response[Any]:
    return Response({"ok": True, "description": "dropped"}, status_code=200)


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_UPDATE_DEPTH:
            return depth
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


# --- the staff chat console -----------------------------------------------------------------


def _console_context(runtime: Any, actor: Actor, request: Request[Any, Any, Any]) -> dict[str, Any]:
    assert actor.staff_id is not None
    chat_id = service.console_chat_id(actor.staff_id)
    return {
        "entries": runtime.transcripts.entries(chat_id),
        "chat_id": chat_id,
        "telegram_enabled": runtime.telegram_enabled,
        "prefill": request.query_params.get("text", "")[:200],
    }


def _require_staff_chat(actor: Actor) -> None:
    if actor.staff_id is None:
        raise PermissionDenied(N_("Your role may not take this action."))


@get("/bot/console", name="bot_console", opt=needs(C.BOT_CONSOLE))
async def console_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    _require_staff_chat(actor)
    runtime = await runtime_of(request.app.state)
    # A GET only reads. Notices for this console chat arrive through the outbox like any
    # other: the app's outbox worker delivers them into the transcript, and a look at the
    # page wakes it so the next poll shows them.
    runtime.worker.wake()
    block = "transcript" if request.headers.get("hx-request") == "true" else None
    return render(request, "bot/console.html", _console_context(runtime, actor, request), block=block)


def _console_response(request: Request[Any, Any, Any], runtime: Any, actor: Actor) -> Response[Any]:
    if request.headers.get("hx-request") == "true":
        return render(request, "bot/console.html", _console_context(runtime, actor, request), block="console")
    return Redirect("/bot/console", status_code=303)


@post("/bot/console", opt=needs(C.BOT_CONSOLE_SEND))
async def console_send(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    _require_staff_chat(actor)
    assert actor.staff_id is not None
    form = await request.form()
    text = first(form, "text", CONSOLE_TEXT_MAX).strip()
    runtime = await runtime_of(request.app.state)
    if text:
        chat_id = service.console_chat_id(actor.staff_id)
        await runtime.process(message_update(runtime.transcripts, chat_id, actor.display_name, text))
    return _console_response(request, runtime, actor)


@post("/bot/console/press", opt=needs(C.BOT_CONSOLE_SEND))
async def console_press(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    _require_staff_chat(actor)
    assert actor.staff_id is not None
    form = await request.form()
    runtime = await runtime_of(request.app.state)
    chat_id = service.console_chat_id(actor.staff_id)
    try:
        message_id = int(first(form, "message_id", 20))
    except ValueError:
        message_id = 0
    payload = callback_update(
        runtime.transcripts, chat_id, actor.display_name, message_id, first(form, "data", 64)
    )
    if payload is None:
        flash(request, translate(N_("This button is no longer active.")), "error")
    else:
        await runtime.process(payload)
    return _console_response(request, runtime, actor)


@post("/bot/console/reset", opt=needs(C.BOT_CONSOLE_SEND))
async def console_reset(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    """Start over: cancel any conversation and clear the transcript."""
    _require_staff_chat(actor)
    assert actor.staff_id is not None
    runtime = await runtime_of(request.app.state)
    chat_id = service.console_chat_id(actor.staff_id)
    await runtime.process(message_update(runtime.transcripts, chat_id, actor.display_name, "/cancel"))
    runtime.transcripts.clear(chat_id)
    return Redirect("/bot/console", status_code=303)


# --- pre-applications: intake tasks for liaisons and stations ----------------------------------


@get("/bot/preapplications", name="bot_preapplications", opt=needs(C.BOT_TASKS_READ))
async def preapplications(
    request: Request[Any, Any, Any],
    actor: NamedDependency[Actor],
    status: FromQuery[str] = "new",
) -> Response[str]:
    rows = await service.list_preapplications(actor, status)
    return render(
        request,
        "bot/preapplications.html",
        {
            "rows": rows,
            "status": status,
            "statuses": service.PREAPPLICATION_STATUSES,
            "can_handle": actor.can(C.PREAPPLICATION_HANDLE),
            "categories": Category,
        },
    )


@post("/bot/preapplications/{preapplication_id:int}/status", opt=needs(C.PREAPPLICATION_HANDLE))
async def preapplication_status(
    request: Request[Any, Any, Any], preapplication_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    status = first(form, "status", 12)
    try:
        await service.do_set_preapplication_status(actor, preapplication_id, status, now_of(request))
    except DomainError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        flash(request, " ".join(form_errors(exc).values()), "error")
    else:
        flash(request, translate(N_("Pre-application updated.")))
    return Redirect("/bot/preapplications", status_code=303)


@post("/applications/{application_id:int}/bot-token", opt=needs(C.BOT_LINK_ISSUE))
async def issue_bot_token(
    request: Request[Any, Any, Any], application_id: FromPath[int], actor: NamedDependency[Actor]
) -> Redirect:
    """Print a fresh Telegram link on the receipt (the old one expired or was used)."""
    await service.do_issue_bind_token(actor, application_id, now_of(request))
    flash(request, translate(N_("A new Telegram link was issued.")))
    return Redirect(f"/applications/{application_id}/receipt", status_code=303)


ROUTES: list[Any] = [
    webhook,
    console_page,
    console_send,
    console_press,
    console_reset,
    preapplications,
    preapplication_status,
    issue_bot_token,
]
