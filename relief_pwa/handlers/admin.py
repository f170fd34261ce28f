"""City administration: staff accounts and the org network's service offices."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from relief_pwa.core.enums import OrgLevel, Role
from relief_pwa.core.errors import DomainError
from relief_pwa.handlers.common import ACCESS_ERRORS, first, flash, form_errors, now_of, render
from relief_pwa.i18n import gettext
from relief_pwa.services.access import access_org_unit
from relief_pwa.services.actors import Actor, require_reader
from relief_pwa.services.auth import do_create_staff, do_reset_password, do_set_staff_active, list_staff
from relief_pwa.services.org import list_children
from relief_pwa.services.org_admin import OfficeDetails, do_update_office


async def _staff_page(
    request: Request[Any, Any, Any],
    actor: Actor,
    errors: dict[str, str],
    values: dict[str, str],
    status: int,
    reset: dict[str, str] | None = None,
) -> Response[str]:
    context = {
        "staff": await list_staff(actor),
        "roles": list(Role),
        "errors": errors,
        "values": values,
        "reset": reset,
    }
    headers = {"cache-control": "no-store"} if reset else None
    return render(request, "admin/staff.html", context, status_code=status, headers=headers)


@get("/admin/staff", name="admin_staff")
async def staff_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    return await _staff_page(request, actor, {}, {}, 200)


@post("/admin/staff")
async def staff_create(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    values = {key: first(form, key, 60) for key in ("username", "display_name", "role", "org_code")}
    try:
        await do_create_staff(actor, password=first(form, "password", 200), now=now_of(request), **values)
    except DomainError as exc:
        if isinstance(exc, ACCESS_ERRORS):
            raise
        return await _staff_page(request, actor, form_errors(exc), values, 422)
    flash(request, gettext("Account created."))
    return Redirect("/admin/staff", status_code=303)


@post("/admin/staff/{staff_id:int}/active")
async def staff_active(
    request: Request[Any, Any, Any], staff_id: FromPath[int], actor: NamedDependency[Actor]
) -> Redirect:
    form = await request.form()
    await do_set_staff_active(actor, staff_id, first(form, "active", 1) == "1", now=now_of(request))
    flash(request, gettext("Account updated."))
    return Redirect("/admin/staff", status_code=303)


@post("/admin/staff/{staff_id:int}/password")
async def staff_reset_password(
    request: Request[Any, Any, Any], staff_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    """Reset a password: the temporary one is shown once (this response) and must be changed at next login."""
    form = await request.form()
    try:
        password = await do_reset_password(
            actor,
            staff_id,
            password=first(form, "password", 200),
            now=now_of(request),
            remove_second_factor=first(form, "remove_second_factor", 1) == "1",
        )
    except DomainError as exc:
        if isinstance(exc, ACCESS_ERRORS):
            raise
        return await _staff_page(request, actor, form_errors(exc), {}, 422)
    username = next((str(s["username"]) for s in await list_staff(actor) if s["id"] == staff_id), "")
    return await _staff_page(request, actor, {}, {}, 200, reset={"username": username, "password": password})


async def _org_page(
    request: Request[Any, Any, Any], actor: Actor, unit_id: int | None, errors: dict[str, str], status: int
) -> Response[str]:
    require_reader(actor, Role.CITY, Role.SUPERVISOR)
    unit = await access_org_unit(actor, unit_id or actor.org_unit_id or 0)
    children = await list_children(unit.id) if unit.level != OrgLevel.COMMUNITY else []
    context = {"unit": unit.to_dict(), "children": children, "errors": errors}
    return render(request, "admin/org.html", context, status_code=status)


@get("/admin/org", name="admin_org")
async def org_page(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], unit: FromQuery[int] = 0
) -> Response[str]:
    return await _org_page(request, actor, unit or None, {}, 200)


@post("/admin/org/{unit_id:int}")
async def org_update(
    request: Request[Any, Any, Any], unit_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    details = OfficeDetails(
        office_name=first(form, "office_name", 200),
        office_address=first(form, "office_address", 300),
        hotline=first(form, "hotline", 40),
        supervision_hotline=first(form, "supervision_hotline", 40),
    )
    try:
        await do_update_office(actor, unit_id, details, now=now_of(request))
    except DomainError as exc:
        if isinstance(exc, ACCESS_ERRORS):
            raise
        return await _org_page(request, actor, unit_id, form_errors(exc), 422)
    flash(request, gettext("Service office details saved."))
    return Redirect(f"/admin/org?unit={unit_id}", status_code=303)


ROUTES: list[Any] = [staff_page, staff_create, staff_active, staff_reset_password, org_page, org_update]
