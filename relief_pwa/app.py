"""The Litestar application: routes, sessions, CSRF, languages, errors, lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response
from litestar.config.compression import CompressionConfig
from litestar.datastructures import MutableScopeHeaders, State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException

import relief_pwa
from relief_pwa.bot.app import bot_lifespan
from relief_pwa.clock import Clock, SystemClock
from relief_pwa.core.errors import AccessRefused, DomainError, NotFoundOrForbidden
from relief_pwa.db import BoundedSQLiteEngine
from relief_pwa.filesafety import secure_files
from relief_pwa.handlers import ROUTES
from relief_pwa.handlers.bounds import bounds_middleware
from relief_pwa.handlers.common import (
    authorize,
    form_errors,
    is_htmx,
    login_redirect,
    provide_actor,
    render,
)
from relief_pwa.handlers.replica import ReplicaMiddleware
from relief_pwa.handlers.sessions import SessionMiddleware
from relief_pwa.handlers.supervision import refuse_supervisor_writes
from relief_pwa.i18n import current_language, normalise_language
from relief_pwa.logsafety import access_log_middleware, cache_and_transport_headers, install_log_redaction
from relief_pwa.services.access_log import access_log_lifespan
from relief_pwa.services.audit import audit_checkpoint_lifespan
from relief_pwa.services.periodic import every
from relief_pwa.services.ratelimit import ratelimit_lifespan
from relief_pwa.services.scheduler import scheduler_lifespan
from relief_pwa.services.wiring import register_listeners
from relief_pwa.settings import Settings, get_settings

log = logging.getLogger("relief_pwa")

SESSION_PURGE_SECONDS = 600

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
    "permissions-policy": "geolocation=(self), camera=(self)",
}


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return "application/json" not in request.headers.get("accept", "")


# An htmx request that is refused shows its message in the page's alert area
# (static/js/app.js lets htmx swap a 4xx that names a target) instead of nothing.
HTMX_ALERT_TARGET = "#alerts"


def _error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
    if not _wants_html(request):
        return Response({"status": status, "detail": message}, status_code=status)
    if is_htmx(request):
        return render(
            request,
            "errors/error.html",
            {"status": status, "message": message},
            block="alert",
            status_code=status,
            headers={"HX-Retarget": HTMX_ALERT_TARGET, "HX-Reswap": "innerHTML"},
        )
    return render(request, "errors/error.html", {"status": status, "message": message}, status_code=status)


def _on_not_authorized(request: Request[Any, Any, Any], exc: NotAuthorizedException) -> Response[Any]:
    if request.headers.get("hx-request") == "true":
        return Response("", status_code=401, headers={"HX-Redirect": "/login"})
    if request.method == "GET":
        return login_redirect(request)
    return _error_page(request, 401, "Please log in again.")


def _on_access_refused(request: Request[Any, Any, Any], exc: AccessRefused) -> Response[Any]:
    """404 for not-found-or-not-yours (indistinguishable on purpose), 403 for not-allowed."""
    from relief_pwa.i18n import translate

    status = 404 if isinstance(exc, NotFoundOrForbidden) else 403
    return _error_page(request, status, translate(exc.message, **exc.params))


def _on_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return _error_page(request, 400, " ".join(form_errors(exc).values()))


def _on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    from relief_pwa.i18n import gettext

    messages = {
        400: gettext("The request could not be understood."),
        403: gettext("You may not do this."),
        404: gettext("Not found."),
        405: gettext("This method is not allowed here."),
        413: gettext("The upload is too large."),
        429: gettext("Too many requests; please wait a moment."),
    }
    status = exc.status_code
    return _error_page(request, status, messages.get(status, gettext("Something went wrong.")))


def _on_server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    from relief_pwa.i18n import gettext

    template = request.scope.get("path_template") or "<unrouted>"  # never the raw path: card tokens, codes
    log.exception("unhandled error on %s %s", request.method, template, exc_info=exc)
    return _error_page(request, 500, gettext("Something went wrong. The error was logged."))


async def _before_request(request: Request[Any, Any, Any]) -> None:
    session = request.scope.get("session")
    session = session if isinstance(session, dict) else {}
    chosen = request.query_params.get("lang") or request.cookies.get("lang") or session.get("lang")
    language = normalise_language(chosen or request.app.state.settings.default_language)
    current_language.set(language)


async def _after_request(response: Response[Any]) -> Response[Any]:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response


@asynccontextmanager
async def production_check_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Production refuses to start while an active account still has a demo password."""
    if app.state.settings.is_production:
        from relief_pwa.services.auth import accounts_with_demo_passwords

        demo = await accounts_with_demo_passwords()
        if demo:
            raise RuntimeError(
                f"refusing to start in production: {len(demo)} account(s) still have a demo password "
                f"(e.g. {', '.join(demo[:5])}); reset or disable them first"
            )
    yield


@asynccontextmanager
async def session_purge_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Expired sessions are deleted here every few minutes (and at each login), never by a page view."""
    from relief_pwa.services.auth import do_purge_sessions

    clock = app.state.clock
    async with every(SESSION_PURGE_SECONDS, lambda: do_purge_sessions(clock.now()), name="session-purge"):
        yield


def _transport_headers(settings: Settings) -> Any:
    """Before sending: ``no-store`` on responses that did not choose their caching, HSTS in production."""

    async def before_send(message: Any, scope: Any) -> None:
        if message["type"] == "http.response.start":
            headers = MutableScopeHeaders.from_message(message)
            cache_and_transport_headers(scope.get("path", ""), headers, hsts=settings.hsts)

    return before_send


def freeze_startup_objects() -> None:
    """What starting made (modules, routes, tables, caches) lives as long as the process:
    moved out of the collector's reach, so a full collection walks only what requests
    made. Without it one took about 0.1 s every 1,200 case-list requests (docs/scale.md)."""
    gc.collect()
    gc.freeze()


def page_compression() -> CompressionConfig:
    """Pages and static files go gzip-compressed over phone networks; photos are JPEG already.
    Level 6: Litestar's default 9 costs more CPU for pages a few per cent smaller."""
    return CompressionConfig(backend="gzip", minimum_size=500, gzip_compress_level=6, exclude=["/photos"])


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Litestar:
    settings = settings or get_settings()
    clock = clock or SystemClock()
    register_listeners()
    install_log_redaction(settings.bot_token)
    secure_files(settings)

    @asynccontextmanager
    async def database_lifespan(app: Litestar) -> AsyncIterator[None]:
        from relief_pwa.piccolo_conf import DB

        if DB.engine_type == "postgres":
            await DB.start_connection_pool(min_size=1, max_size=10)  # type: ignore[call-arg, no-untyped-call]
        try:
            yield
        finally:
            if DB.engine_type == "postgres":
                await DB.close_connection_pool()  # type: ignore[no-untyped-call]
            elif isinstance(DB, BoundedSQLiteEngine):
                await DB.close_pool()

    app = Litestar(
        route_handlers=ROUTES,  # static files too: relief_pwa/handlers/assets.py (content-hashed names)
        dependencies={"actor": Provide(provide_actor)},
        # Request log, parameter bounds, then sessions, CSRF and flash cookies (handlers/sessions.py;
        # the /bot/webhook is CSRF-exempt there), then the read-replica choice (handlers/replica.py).
        middleware=[access_log_middleware, bounds_middleware, SessionMiddleware, ReplicaMiddleware],
        before_send=[_transport_headers(settings)],
        before_request=_before_request,
        after_request=_after_request,
        exception_handlers={
            NotAuthorizedException: _on_not_authorized,
            AccessRefused: _on_access_refused,
            DomainError: _on_domain_error,
            NotFoundException: _on_http_error,
            HTTPException: _on_http_error,
            Exception: _on_server_error,
        },
        lifespan=[
            database_lifespan,
            production_check_lifespan,
            session_purge_lifespan,
            access_log_lifespan,
            ratelimit_lifespan,  # public limits shared by every process on PostgreSQL
            scheduler_lifespan,  # daily work on time (closing 公示 among it): services/scheduler.py
            audit_checkpoint_lifespan,
            bot_lifespan,
        ],
        on_startup=[freeze_startup_objects],  # after the lifespans above have started
        guards=[authorize, refuse_supervisor_writes],
        state=State({"settings": settings, "clock": clock, "version": relief_pwa.__version__}),
        request_max_body_size=2 * 1024 * 1024,
        compression_config=page_compression() if settings.compress_pages else None,
        openapi_config=None,
        debug=False,
    )
    return app
