"""Edge helpers shared by handlers: rendering pages or htmx fragments, the
current actor, form parsing and turning domain errors into messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response
from litestar.datastructures import FormMultiDict
from litestar.exceptions import NotAuthorizedException
from litestar.response import Redirect
from litestar.utils.scope.state import ScopeState
from markupsafe import Markup

from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, PermissionDenied, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import format_yuan
from relief_pwa.i18n import LANGUAGES, current_language, gettext, ngettext, translate
from relief_pwa.services.actors import Actor
from relief_pwa.services.auth import load_actor

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


def _yuan(fen: Any) -> str:
    return "" if fen is None else format_yuan(int(fen))


_ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9-]*\Z")


def html_attrs(attrs: Mapping[str, Any]) -> Markup:
    """Extra attributes of a form control, each value escaped on its own.

    A mapping, never a pre-built string: autoescaping a string of attributes
    turns its quotes into ``&#34;`` and the browser then sees broken values
    (a pattern with literal quotes blocks the form). ``True`` gives a bare
    attribute; ``None`` and ``False`` leave it out."""
    if not isinstance(attrs, Mapping):
        raise TypeError(f"form control attributes must be a mapping, not {type(attrs).__name__}")
    parts = []
    for name, value in attrs.items():
        if not _ATTRIBUTE_NAME.match(name):
            raise ValueError(f"not an attribute name: {name!r}")
        if value is None or value is False:
            continue
        parts.append(Markup(" {}").format(name) if value is True else Markup(' {}="{}"').format(name, value))
    return Markup("").join(parts)


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
        html_attrs=html_attrs,
    )
    env.filters.update(yuan=_yuan)
    # Macros as globals: a block rendered alone (an htmx fragment) does not run
    # the template's top-level {% from ... import %} statements.
    macros = env.get_template("_macros.html").module
    env.globals.update({name: getattr(macros, name) for name in MACROS})
    return env


MACROS = ("input", "select", "field_error", "badge", "pager")


# Errors that are not about the form's values: they become 403/404 pages, never a re-rendered form.
ACCESS_ERRORS = (PermissionDenied, NotFoundOrForbidden)


ENV = build_environment()


def csrf_token(request: Request[Any, Any, Any]) -> str:
    token = ScopeState.from_scope(request.scope).csrf_token
    return token if isinstance(token, str) else ""


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
    if block is None and request.scope.get("session") is not None:
        full_context.setdefault("flashes", pop_flash(request))
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


def public_base_url(request: Request[Any, Any, Any]) -> str:
    """The address the public reaches the app at, for QR codes and links that leave the page.

    RELIEF_PUBLIC_BASE_URL when set (production behind a proxy: the address on
    printed cards must not depend on who asked), else the address of this
    request, so a server started on any host or port prints codes that work."""
    configured = str(request.app.state.settings.public_base_url)
    return configured or str(request.base_url).rstrip("/")


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def htmx_target(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("hx-target", "")


async def current_actor(request: Request[Any, Any, Any]) -> Actor:
    """The logged-in staff member, or a redirect to the login page."""
    staff_id = request.session.get("staff_id") if request.session else None
    actor = await load_actor(int(staff_id)) if isinstance(staff_id, int) else None
    if actor is None:
        raise NotAuthorizedException(detail="login required")
    request.scope.setdefault("state", {})["actor"] = actor
    return actor


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
    messages = list(request.session.get("flash", [])) if request.session else []
    messages.append({"message": message, "category": category})
    request.set_session({**(request.session or {}), "flash": messages[-5:]})


def pop_flash(request: Request[Any, Any, Any]) -> list[dict[str, str]]:
    if not request.session or "flash" not in request.session:
        return []
    messages = list(request.session.get("flash", []))
    session = dict(request.session)
    session.pop("flash", None)
    request.set_session(session)
    return messages
