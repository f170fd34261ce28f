"""Login and logout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect

from relief_pwa.core.errors import DomainError
from relief_pwa.handlers.common import first, form_errors, now_of, render
from relief_pwa.services.auth import LoginPolicy, check_login


def _safe_next(raw: str) -> str:
    # Only same-site paths: never redirect to another host after login.
    if raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/cases"


@get("/login", name="login")
async def login_page(request: Request[Any, Any, Any], next: FromQuery[str] = "/") -> Response[str]:
    return render(request, "auth/login.html", {"next": _safe_next(next), "errors": {}, "username": ""})


@post("/login")
async def login_submit(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await request.form()
    username, password = first(form, "username", 40), first(form, "password", 200)
    next_path = _safe_next(first(form, "next", 500))
    settings = request.app.state.settings
    policy = LoginPolicy(settings.login_max_failures, timedelta(seconds=settings.login_window_seconds))
    client = request.client.host if request.client else "unknown"
    try:
        actor = await check_login(username, password, client=client, now=now_of(request), policy=policy)
    except DomainError as exc:
        return render(
            request,
            "auth/login.html",
            {"next": next_path, "errors": form_errors(exc), "username": username},
            status_code=400,
        )
    # A fresh session on login: nothing from before the login carries over.
    request.clear_session()
    request.set_session({"staff_id": actor.staff_id, "lang": request.cookies.get("lang", "")})
    return Redirect(next_path, status_code=303)


@post("/logout")
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    request.clear_session()
    return Redirect("/login", status_code=303)
