"""Health check, language switch and the start page."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.datastructures import Cookie
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from relief_pwa.handlers.common import ANY_STAFF, PUBLIC
from relief_pwa.i18n import normalise_language
from relief_pwa.services.health import check_database


@get("/healthz", name="healthz", exclude_from_auth=True, cache=False, opt=PUBLIC)
async def healthz(request: Request[Any, Any, Any]) -> dict[str, Any]:
    engine = await check_database()
    return {"status": "ok", "database": engine, "version": request.app.state.version}


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
async def home(request: Request[Any, Any, Any]) -> Redirect:
    return Redirect("/cases", status_code=303)
