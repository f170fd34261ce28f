"""Relief departments and referrals between them (docs/departments.md): the department's
households and view, its relief, referring from the household file, the inbox, the
referral with its actions, the centre's overdue list and the city's department admin."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from relief_pwa.core.departments import DECISIONS, FIELD_LABELS, VIEW_FIELDS
from relief_pwa.core.enums import DepartmentKind
from relief_pwa.core.errors import DomainError
from relief_pwa.handlers.common import C, first, flash, form_errors, needs, now_of, render
from relief_pwa.i18n import translate
from relief_pwa.services import departments, referrals
from relief_pwa.services.actors import Actor


def _int(text: str) -> int | None:
    return int(text) if text.isdecimal() and len(text) < 10 else None


# --- the department's households ---------------------------------------------------------


@get("/department", name="department_households", opt=needs(C.DEPARTMENT_HOUSEHOLDS_READ))
async def department_households(
    request: Request[Any, Any, Any], *, actor: NamedDependency[Actor], page: FromQuery[int] = 1
) -> Response[str]:
    result = await departments.qualifying_households(
        actor, now=now_of(request), page=max(1, min(page, 10_000))
    )
    return render(request, "departments/households.html", {"result": result})


async def _household_page(
    request: Request[Any, Any, Any],
    actor: Actor,
    household_id: int,
    *,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response[str]:
    page = await referrals.get_department_household(actor, household_id, now=now_of(request))
    view = page.view
    context = {
        "view": view,
        "field_names": [f for f in VIEW_FIELDS if f in view.fields],
        "FIELD_LABELS": FIELD_LABELS,
        "resources": page.resources,
        "referrals": page.referrals,
        "values": values or {"token": str(uuid.uuid4())},
        "errors": errors,
    }
    return render(request, "departments/household.html", context, status_code=422 if errors else 200)


@get(
    "/department/households/{household_id:int}",
    name="department_household",
    opt=needs(C.DEPARTMENT_HOUSEHOLDS_READ),
)
async def department_household(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    return await _household_page(request, actor, household_id, values={}, errors={})


@post("/department/households/{household_id:int}/aid", opt=needs(C.DEPARTMENT_AID_RECORD))
async def department_aid(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    values = {k: first(form, k, 300) for k in ("amount", "received_on", "note", "resource_id", "token")}
    try:
        await departments.do_record_department_aid(
            actor, household_id, departments.DepartmentAid(**values), now=now_of(request)
        )
    except DomainError as exc:
        return await _household_page(request, actor, household_id, values=values, errors=form_errors(exc))
    flash(request, translate("Relief recorded."))
    return Redirect(f"/department/households/{household_id}", status_code=303)


# --- referring from the household file ------------------------------------------------------


async def _refer_page(
    request: Request[Any, Any, Any],
    actor: Actor,
    household_id: int,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response[str]:
    form = await referrals.get_refer_form(actor, household_id)
    context = {"form": form, "values": values, "errors": errors}
    return render(request, "departments/refer.html", context, status_code=422 if errors else 200)


@get("/households/{household_id:int}/refer", name="refer_household", opt=needs(C.REFERRAL_CREATE))
async def refer_form(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    return await _refer_page(request, actor, household_id, {}, {})


@post("/households/{household_id:int}/refer", opt=needs(C.REFERRAL_CREATE))
async def refer_submit(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    values = {k: first(form, k, 2000) for k in ("to_unit", "category", "application_id", "request")}
    try:
        referral_id = await referrals.do_refer(
            actor,
            household_id,
            to_unit=_int(values["to_unit"]) or 0,
            category=values["category"],
            request=values["request"],
            application_id=_int(values["application_id"]),
            now=now_of(request),
        )
    except DomainError as exc:
        return await _refer_page(request, actor, household_id, values, form_errors(exc))
    flash(request, translate("Referred to the department."))
    return Redirect(f"/referrals/{referral_id}", status_code=303)


# --- inbox, detail and actions ---------------------------------------------------------------


@get("/referrals", name="referrals", opt=needs(C.REFERRAL_READ))
async def referral_list(
    request: Request[Any, Any, Any], *, actor: NamedDependency[Actor], all: FromQuery[str] = ""
) -> Response[str]:
    rows = await referrals.list_referrals(actor, open_only=all != "1")
    return render(request, "departments/referrals.html", {"rows": rows, "show_all": all == "1"})


@get("/referrals/overdue", name="referrals_overdue", opt=needs(C.REFERRALS_OVERDUE_READ))
async def referral_overdue(
    request: Request[Any, Any, Any], *, actor: NamedDependency[Actor], org: FromQuery[str] = ""
) -> Response[str]:
    rows = await referrals.list_overdue(actor, now=now_of(request), org_code=org[:12])
    return render(request, "departments/overdue.html", {"rows": rows})


async def _detail(
    request: Request[Any, Any, Any], actor: Actor, referral_id: int, errors: dict[str, str] | None = None
) -> Response[str]:
    detail = await referrals.get_referral(actor, referral_id, now=now_of(request))
    context = {
        "d": detail,
        "r": detail.referral,
        "field_names": [f for f in VIEW_FIELDS if detail.view and f in detail.view.fields],
        "FIELD_LABELS": FIELD_LABELS,
        "view": detail.view,
        "decisions": DECISIONS,
        "resources": detail.resources,
        "errors": errors or {},
    }
    return render(request, "departments/referral.html", context, status_code=422 if errors else 200)


@get("/referrals/{referral_id:int}", name="referral", opt=needs(C.REFERRAL_READ))
async def referral_detail(
    request: Request[Any, Any, Any], *, referral_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    return await _detail(request, actor, referral_id)


async def _act(request: Request[Any, Any, Any], actor: Actor, referral_id: int, action: str) -> Response[Any]:
    form = await request.form()
    version = _int(first(form, "version", 12))
    now = now_of(request)
    try:
        if action == "accept":
            await referrals.do_accept(actor, referral_id, version=version, now=now)
        elif action == "request_info":
            await referrals.do_request_info(
                actor, referral_id, question=first(form, "question"), version=version, now=now
            )
        elif action == "supply_info":
            await referrals.do_supply_info(
                actor, referral_id, answer=first(form, "answer"), version=version, now=now
            )
        elif action == "decide":
            await referrals.do_decide(
                actor,
                referral_id,
                decision=first(form, "decision", 10),
                reason=first(form, "reason"),
                amount=first(form, "amount", 20),
                resource_id=first(form, "resource_id", 12),
                version=version,
                now=now,
            )
        else:
            new_id = await referrals.do_refer_on(
                actor,
                referral_id,
                to_unit=_int(first(form, "to_unit", 12)) or 0,
                reason=first(form, "refer_on_reason"),
                version=version,
                now=now,
            )
            flash(request, translate("Referred on."))
            return Redirect(f"/referrals/{referral_id}#r{new_id}", status_code=303)
    except DomainError as exc:
        return await _detail(request, actor, referral_id, form_errors(exc))
    flash(request, translate("Saved."))
    return Redirect(f"/referrals/{referral_id}", status_code=303)


@post("/referrals/{referral_id:int}/accept", opt=needs(C.REFERRAL_ANSWER))
async def referral_accept(
    request: Request[Any, Any, Any], *, referral_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    return await _act(request, actor, referral_id, "accept")


@post("/referrals/{referral_id:int}/request-info", opt=needs(C.REFERRAL_ANSWER))
async def referral_request_info(
    request: Request[Any, Any, Any], *, referral_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    return await _act(request, actor, referral_id, "request_info")


@post("/referrals/{referral_id:int}/supply-info", opt=needs(C.REFERRAL_CREATE))
async def referral_supply_info(
    request: Request[Any, Any, Any], *, referral_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    return await _act(request, actor, referral_id, "supply_info")


@post("/referrals/{referral_id:int}/decide", opt=needs(C.REFERRAL_ANSWER))
async def referral_decide(
    request: Request[Any, Any, Any], *, referral_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    return await _act(request, actor, referral_id, "decide")


@post("/referrals/{referral_id:int}/refer-on", opt=needs(C.REFERRAL_ANSWER))
async def referral_refer_on(
    request: Request[Any, Any, Any], *, referral_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    return await _act(request, actor, referral_id, "refer_on")


# --- the city's department admin: units and API tokens ----------------------------------------


async def _admin_page(
    request: Request[Any, Any, Any],
    actor: Actor,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    new_token: str = "",
) -> Response[str]:
    context = {
        "rows": await departments.list_department_admin(actor),
        "kinds": list(DepartmentKind),
        "values": values or {},
        "errors": errors or {},
        "new_token": new_token,
    }
    return render(request, "departments/admin.html", context, status_code=422 if errors else 200)


@get("/admin/departments", name="department_admin", opt=needs(C.DEPARTMENTS_MANAGE))
async def department_admin(
    request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]
) -> Response[str]:
    return await _admin_page(request, actor)


@post("/admin/departments", opt=needs(C.DEPARTMENTS_MANAGE))
async def department_create(
    request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    values = {k: first(form, k, 100) for k in ("kind", "parent_code", "name")}
    try:
        await departments.do_create_department(actor, now=now_of(request), **values)
    except DomainError as exc:
        return await _admin_page(request, actor, values=values, errors=form_errors(exc))
    flash(request, translate("Department added."))
    return Redirect("/admin/departments", status_code=303)


@post("/admin/departments/{department_id:int}/tokens", opt=needs(C.DEPARTMENTS_MANAGE))
async def department_token_create(
    request: Request[Any, Any, Any], *, department_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    token = await departments.do_create_token(
        actor, department_id, label=first(form, "label", 100), now=now_of(request)
    )
    # Shown once, on this response only: it is stored hashed.
    return await _admin_page(request, actor, new_token=token)


@post("/admin/department-tokens/{token_id:int}/revoke", opt=needs(C.DEPARTMENTS_MANAGE))
async def department_token_revoke(
    request: Request[Any, Any, Any], *, token_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    await departments.do_revoke_token(actor, token_id, now=now_of(request))
    flash(request, translate("Token revoked."))
    return Redirect("/admin/departments", status_code=303)


ROUTES = [
    department_households,
    department_household,
    department_aid,
    refer_form,
    refer_submit,
    referral_list,
    referral_overdue,
    referral_detail,
    referral_accept,
    referral_request_info,
    referral_supply_info,
    referral_decide,
    referral_refer_on,
    department_admin,
    department_create,
    department_token_create,
    department_token_revoke,
]
