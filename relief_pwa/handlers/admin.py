"""City administration: staff accounts and the org network's service offices."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from relief_pwa.core.enums import OrgLevel, Role
from relief_pwa.core.errors import DomainError
from relief_pwa.core.permissions import FOUR_EYES_RULES
from relief_pwa.handlers.common import C, first, flash, form_errors, needs, now_of, render
from relief_pwa.i18n import gettext
from relief_pwa.services.access import access_org_unit
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.auth import do_create_staff, do_reset_password, do_set_staff_active, list_staff
from relief_pwa.services.four_eyes import do_set_four_eyes, four_eyes_enabled
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


@get("/admin/staff", name="admin_staff", opt=needs(C.STAFF_READ))
async def staff_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    return await _staff_page(request, actor, {}, {}, 200)


@post("/admin/staff", opt=needs(C.STAFF_MANAGE))
async def staff_create(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    values = {key: first(form, key, 60) for key in ("username", "display_name", "role", "org_code")}
    try:
        await do_create_staff(actor, password=first(form, "password", 200), now=now_of(request), **values)
    except DomainError as exc:
        return await _staff_page(request, actor, form_errors(exc), values, 422)
    flash(request, gettext("Account created."))
    return Redirect("/admin/staff", status_code=303)


@post("/admin/staff/{staff_id:int}/active", opt=needs(C.STAFF_MANAGE))
async def staff_active(
    request: Request[Any, Any, Any], staff_id: FromPath[int], actor: NamedDependency[Actor]
) -> Redirect:
    form = await request.form()
    await do_set_staff_active(actor, staff_id, first(form, "active", 1) == "1", now=now_of(request))
    flash(request, gettext("Account updated."))
    return Redirect("/admin/staff", status_code=303)


@post("/admin/staff/{staff_id:int}/password", opt=needs(C.STAFF_MANAGE))
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
        return await _staff_page(request, actor, form_errors(exc), {}, 422)
    username = next((str(s["username"]) for s in await list_staff(actor) if s["id"] == staff_id), "")
    return await _staff_page(request, actor, {}, {}, 200, reset={"username": username, "password": password})


async def _org_page(
    request: Request[Any, Any, Any], actor: Actor, unit_id: int | None, errors: dict[str, str], status: int
) -> Response[str]:
    require(actor, C.STAFF_READ)
    unit = await access_org_unit(actor, unit_id or actor.org_unit_id or 0)
    children = await list_children(unit.id) if unit.level != OrgLevel.COMMUNITY else []
    context = {"unit": unit.to_dict(), "children": children, "errors": errors}
    return render(request, "admin/org.html", context, status_code=status)


@get("/admin/org", name="admin_org", opt=needs(C.STAFF_READ))
async def org_page(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], unit: FromQuery[int] = 0
) -> Response[str]:
    return await _org_page(request, actor, unit or None, {}, 200)


@post("/admin/org/{unit_id:int}", opt=needs(C.ORG_MANAGE))
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
        return await _org_page(request, actor, unit_id, form_errors(exc), 422)
    flash(request, gettext("Service office details saved."))
    return Redirect(f"/admin/org?unit={unit_id}", status_code=303)


# --- four eyes on money and decisions ----------------------------------------------------


@get("/admin/four-eyes", name="admin_four_eyes", opt=needs(C.STAFF_READ))
async def four_eyes_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    context = {"enabled": await four_eyes_enabled(), "rules": FOUR_EYES_RULES}
    return render(request, "admin/four_eyes.html", context)


@post("/admin/four-eyes", opt=needs(C.SETTINGS_MANAGE))
async def four_eyes_submit(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Redirect:
    form = await request.form()
    enabled = first(form, "enabled", 3) == "on"
    await do_set_four_eyes(actor, enabled, now=now_of(request))
    flash(
        request,
        gettext("Four-eyes rules switched on.") if enabled else gettext("Four-eyes rules switched off."),
    )
    return Redirect("/admin/four-eyes", status_code=303)


ROUTES: list[Any] = [
    staff_page,
    staff_create,
    staff_active,
    staff_reset_password,
    org_page,
    org_update,
    four_eyes_page,
    four_eyes_submit,
]
