"""Edge helpers shared by handlers: rendering pages or htmx fragments, the
current actor, form parsing and turning domain errors into messages."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import FormMultiDict
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect
from markupsafe import Markup

from relief_pwa.core.errors import DomainError, PermissionDenied, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import format_yuan
from relief_pwa.core.permissions import Capability
from relief_pwa.handlers import sessions
from relief_pwa.i18n import LANGUAGES, current_language, gettext, ngettext, translate
from relief_pwa.services.actors import Actor

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def _label(value: Any) -> str:
    """Translate an enum member's label (or a raw code) for display."""
    label = getattr(value, "label", None)
    if label is None:
        from relief_pwa.core import enums

        for enum_type in enums.LabelledEnum.__subclasses__():
            try:
                label = enum_type(value).label
                break
            except ValueError:
                continue
    return gettext(label) if label else str(value)


def _label_of(enum_name: str, value: Any) -> str:
    from relief_pwa.core import enums

    enum_type = getattr(enums, enum_name)
    try:
        return gettext(enum_type(value).label)
    except ValueError:
        return str(value)


_ACTION_LABELS = {
    "household.create": N_("Household file opened"),
    "household.close": N_("Household file closed"),
    "application.receive": N_("Application received"),
    "staff.create": N_("Staff account created"),
    "org.create": N_("Org unit created"),
    "index.rescore_all": N_("Every household re-scored"),
}


def action_label(action: str) -> str:
    """A readable name for an audit action code (falls back to the code itself)."""
    from relief_pwa.core.workflow import TRANSITIONS

    if action in _ACTION_LABELS:
        return gettext(_ACTION_LABELS[action])
    prefix, _, suffix = action.partition(".")
    if prefix == "application" and suffix in TRANSITIONS:
        return gettext(TRANSITIONS[suffix].label)
    return action


@pass_context
def _can(context: Any, capability: Capability | str) -> bool:
    """Template test of the policy: ``{% if can(C.PLAN_APPROVE) %}`` shows what the actor may use."""
    actor = context.get("actor")
    return isinstance(actor, Actor) and actor.can(Capability(capability))


def _yuan(fen: Any) -> str:
    return "" if fen is None else format_yuan(int(fen))


def _localtime(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored moment (UTC, or text from SQLite) shown in Beijing time; dates and blanks pass through."""
    from datetime import date

    from relief_pwa.clock import local_time

    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return local_time(value).strftime(fmt)
    if isinstance(value, date):
        return value.strftime(fmt if "%H" not in fmt else "%Y-%m-%d")
    return str(value)


def _localdate(value: Any) -> str:
    return _localtime(value, "%Y-%m-%d")


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(["html", "xml", "svg"], default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    from relief_pwa.handlers.nav import nav_for

    env.globals.update(
        label=_label,
        label_of=_label_of,
        languages=LANGUAGES,
        t=translate,
        nav_for=nav_for,
        action_label=action_label,
        can=_can,
        C=Capability,
    )
    env.filters.update(yuan=_yuan, localtime=_localtime, localdate=_localdate)
    # Macros as globals: a block rendered alone (an htmx fragment) does not run
    # the template's top-level {% from ... import %} statements.
    macros = env.get_template("_macros.html").module
    env.globals.update({name: getattr(macros, name) for name in MACROS})
    return env


MACROS = ("input", "select", "field_error", "badge", "pager")


# --- who may call a route -----------------------------------------------------
#
# Every route declares what it needs in its ``opt``: a capability of
# core.permissions (``opt=needs(C.RANKING_READ)``), any logged-in staff
# member (``opt=ANY_STAFF``) or nobody (``opt=PUBLIC``). ``authorize`` is the
# one app-wide guard that enforces it; a route that declares nothing is refused.

C = Capability  # short name for route declarations: opt=needs(C.RANKING_READ)
_CAPABILITY = "capability"
PUBLIC: dict[str, Any] = {"public": True}
ANY_STAFF: dict[str, Any] = {"any_staff": True}


def needs(capability: Capability) -> dict[str, Any]:
    return {_CAPABILITY: capability}


def route_requirement(opt: Mapping[str, Any]) -> Capability | str | None:
    """What a route needs: a Capability, "public", "any_staff", or None (undeclared)."""
    if opt.get("public"):
        return "public"
    if opt.get("any_staff"):
        return "any_staff"
    capability = opt.get(_CAPABILITY)
    return capability if isinstance(capability, Capability) else None


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """App-wide guard: log-in and the route's capability, before any parameter is read."""
    requirement = route_requirement(handler.opt)
    if requirement == "public":
        return
    actor = await current_actor(connection)
    if requirement == "any_staff":
        return
    if requirement is None:
        raise PermissionDenied(N_("Your role may not take this action."))
    if not actor.can(Capability(requirement)):
        raise PermissionDenied(
            N_("Your role may not see this page.")
            if connection.scope.get("method", "GET") in ("GET", "HEAD")
            else N_("Your role may not take this action.")
        )


ENV = build_environment()


def csrf_token(request: Request[Any, Any, Any]) -> str:
    """This request's CSRF token: bound to the session, or to the anonymous form cookie."""
    state = sessions.web_state(request.scope)
    return state.csrf_token if state is not None else ""


def render(
    request: Request[Any, Any, Any],
    template_name: str,
    context: Mapping[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response[str]:
    """Render a whole page, or only one named block of it (an htmx fragment)."""
    token = csrf_token(request)
    full_context: dict[str, Any] = {
        "request": request,
        "csrf_token": token,
        "csrf_input": Markup('<input type="hidden" name="_csrf_token" value="{}">').format(token),
        "lang": current_language.get(),
        "actor": request.scope.get("state", {}).get("actor"),
        "path": request.url.path,
        **(context or {}),
    }
    if block is None and "flashes" not in full_context:
        full_context["flashes"] = pop_flash(request)
    template = ENV.get_template(template_name)
    if block is not None:
        block_render = template.blocks[block]
        html = "".join(block_render(template.new_context(full_context)))
    else:
        html = template.render(full_context)
    return Response(
        content=html,
        media_type="text/html; charset=utf-8",
        status_code=status_code,
        headers=dict(headers or {}),
    )


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def htmx_target(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("hx-target", "")


async def current_actor(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The logged-in staff member (loaded once by the session middleware), or a redirect to the login page."""
    state = sessions.web_state(connection.scope)
    actor = state.actor if state is not None else None
    if actor is None:
        raise NotAuthorizedException(detail="login required")
    connection.scope.setdefault("state", {})["actor"] = actor
    return actor


async def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """The ``actor`` dependency of every staff route (``authorize`` has loaded it already)."""
    return await current_actor(request)


def optional_actor(request: Request[Any, Any, Any]) -> Actor | None:
    """The logged-in staff member, if any (None on public pages, which load no session)."""
    state = sessions.web_state(request.scope)
    return state.actor if state is not None else None


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in trusted)


def _is_trusted(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: Request[Any, Any, Any]) -> str:
    """The client's address, the one key of login throttling and the public rate limits.

    ``X-Forwarded-For`` counts only when the direct peer is a proxy named in
    ``RELIEF_TRUSTED_PROXIES``; then the right-most address that is not itself
    a trusted proxy is the client. Anyone else's header is ignored.
    """
    peer = request.client.host if request.client else "unknown"
    networks = _networks(tuple(request.app.state.settings.trusted_proxies))
    if not networks or not _is_trusted(peer, networks):
        return peer
    forwarded = [
        part.strip() for part in request.headers.get("x-forwarded-for", "").split(",") if part.strip()
    ]
    for address in reversed(forwarded):
        if not _is_trusted(address, networks):
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return peer  # garbage in the header: fall back to the proxy itself
    return peer


def login_redirect(request: Request[Any, Any, Any]) -> Redirect:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)


def now_of(request: Request[Any, Any, Any]) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


def form_errors(exc: DomainError) -> dict[str, str]:
    """Translated messages keyed by form field ('' for the form as a whole)."""
    if isinstance(exc, ValidationFailed):
        return {name: translate(err.message, **err.params) for name, err in exc.errors.items()}
    return {exc.field or "": translate(exc.message, **exc.params)}


_CONTROL_CHARACTERS = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 127])


def clean_text(value: str, max_len: int = 2000) -> str:
    """Drop control characters (PostgreSQL refuses NUL) and cap the length."""
    return value[:max_len].translate(_CONTROL_CHARACTERS)


def first(form: FormMultiDict, name: str, max_len: int = 2000) -> str:
    """One form value as clean text, truncated to a sane length (oversized input loses nothing useful)."""
    value = form.get(name, "")
    return clean_text(value, max_len) if isinstance(value, str) else ""


def flash(request: Request[Any, Any, Any], message: str, category: str = "success") -> None:
    """A message for the next page, carried in a short-lived signed cookie (no database write)."""
    sessions.add_flash(request.scope, message, category)


def pop_flash(request: Request[Any, Any, Any]) -> list[dict[str, str]]:
    return sessions.take_flashes(request.scope)
