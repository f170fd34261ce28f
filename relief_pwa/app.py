"""The Litestar application: routes, sessions, CSRF, languages, errors, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException
from litestar.middleware.session.server_side import ServerSideSessionConfig

import relief_pwa
from relief_pwa.bot.app import bot_lifespan
from relief_pwa.clock import Clock, SystemClock
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, PermissionDenied
from relief_pwa.db import BoundedSQLiteEngine
from relief_pwa.handlers import ROUTES
from relief_pwa.handlers.common import current_actor, form_errors, login_redirect, render
from relief_pwa.handlers.session_store import DatabaseSessionStore
from relief_pwa.handlers.supervision import refuse_supervisor_writes
from relief_pwa.i18n import current_language, normalise_language
from relief_pwa.services.publicity import notice_clock_lifespan
from relief_pwa.services.wiring import register_listeners
from relief_pwa.settings import Settings, get_settings

log = logging.getLogger("relief_pwa")

# Paths that other systems post to without a browser session (no CSRF token).
CSRF_EXEMPT = ["/bot/webhook"]

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


def _error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
    if not _wants_html(request):
        return Response({"status": status, "detail": message}, status_code=status)
    return render(request, "errors/error.html", {"status": status, "message": message}, status_code=status)


def _on_not_authorized(request: Request[Any, Any, Any], exc: NotAuthorizedException) -> Response[Any]:
    if request.headers.get("hx-request") == "true":
        return Response("", status_code=401, headers={"HX-Redirect": "/login"})
    if request.method == "GET":
        return login_redirect(request)
    return _error_page(request, 401, "Please log in again.")


def _on_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    from relief_pwa.i18n import translate

    message = translate(exc.message, **exc.params)
    if isinstance(exc, NotFoundOrForbidden):
        return _error_page(request, 404, message)
    if isinstance(exc, PermissionDenied):
        return _error_page(request, 403, message)
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

    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
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


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Litestar:
    settings = settings or get_settings()
    clock = clock or SystemClock()
    register_listeners()

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

    session_config = ServerSideSessionConfig(
        store="sessions",
        key="relief_session",
        max_age=settings.session_max_age_seconds,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
        renew_on_access=True,
    )
    csrf_config = CSRFConfig(
        secret=settings.secret_key,
        cookie_secure=settings.cookie_secure,
        cookie_samesite="lax",
        exclude=CSRF_EXEMPT,
    )
    app = Litestar(
        route_handlers=ROUTES,  # static files too: relief_pwa/handlers/assets.py (content-hashed names)
        dependencies={"actor": Provide(current_actor)},
        middleware=[session_config.middleware],
        stores={"sessions": DatabaseSessionStore()},
        csrf_config=csrf_config,
        before_request=_before_request,
        after_request=_after_request,
        exception_handlers={
            NotAuthorizedException: _on_not_authorized,
            DomainError: _on_domain_error,
            NotFoundException: _on_http_error,
            HTTPException: _on_http_error,
            Exception: _on_server_error,
        },
        lifespan=[database_lifespan, notice_clock_lifespan, bot_lifespan],
        guards=[refuse_supervisor_writes],
        state=State({"settings": settings, "clock": clock, "version": relief_pwa.__version__}),
        request_max_body_size=2 * 1024 * 1024,
        # Pages and static files go gzip-compressed over phone networks (issue 4 page-weight target);
        # photos are JPEG already and are left alone.
        compression_config=CompressionConfig(backend="gzip", minimum_size=500, exclude=["/photos"]),
        openapi_config=None,
        debug=False,
    )
    return app
