"""Health check, language switch and the start page."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from relief_pwa.clock import local_date
from relief_pwa.handlers.common import ANY_STAFF, PUBLIC, C, now_of, render
from relief_pwa.i18n import normalise_language
from relief_pwa.services.actors import Actor
from relief_pwa.services.health import check_ready
from relief_pwa.services.visits import list_my_visits

# Probes answer without a session (a cookie sent along loads nothing) and set no cookie.
PROBE_OPT = {"skip_session": True, "exclude_from_csrf": True, **PUBLIC}


@get("/healthz", name="healthz", exclude_from_auth=True, cache=False, opt=PROBE_OPT)
async def healthz(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Liveness: the process answers. Touches no table (``/readyz`` asks the database)."""
    return {"status": "ok", "version": request.app.state.version}


@get("/readyz", name="readyz", exclude_from_auth=True, cache=False, opt=PROBE_OPT)
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Readiness: the database answers and every migration is applied (503 otherwise)."""
    readiness = await check_ready()
    body = {
        "status": "ok" if readiness.ready else "unavailable",
        "database": readiness.database,
        "pending_migrations": readiness.pending_migrations,
        "problem": readiness.problem,
        "version": request.app.state.version,
    }
    return Response(body, status_code=200 if readiness.ready else 503)


@get("/lang/{code:str}", name="set_language", opt=PUBLIC)
async def set_language(
    request: Request[Any, Any, Any], code: FromPath[str], next: FromQuery[str] = "/"
) -> Redirect:
    language = normalise_language(code)
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    return Redirect(
        target,
        status_code=303,
        cookies=[Cookie(key="lang", value=language, max_age=365 * 24 * 3600, samesite="lax", httponly=True)],
    )


@get("/", name="home", opt=ANY_STAFF)
async def home(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    """Field staff start on today's work (visits due, records waiting to be sent,
    a new application); everyone else on the case list."""
    if not actor.can(C.VISIT_RECORD):
        return Redirect("/cases", status_code=303)
    visits = await list_my_visits(actor, local_date(now_of(request)))
    offline_urls = sorted(
        {
            url
            for visit in visits.open_visits
            for url in (
                f"/visits/{visit.id}",
                f"/households/{visit.household_id}",
                f"/households/{visit.household_id}/visits/record",
            )
        }
    )
    can_take_applications = actor.can(C.INTAKE_CREATE)
    if can_take_applications:
        offline_urls.append("/intake")  # an application can be started without a signal
    context = {"visits": visits, "offline_urls": offline_urls, "can_take_applications": can_take_applications}
    return render(request, "home/today.html", context)
