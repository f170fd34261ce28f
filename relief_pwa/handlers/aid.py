"""Reviews that decide, the re-certification list, another form of aid for a
household, and temporary relief granted first (docs/reviews-and-aid.md)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from relief_pwa.core.errors import DomainError
from relief_pwa.core.money import format_yuan
from relief_pwa.handlers.common import C, first, flash, form_errors, needs, now_of, render
from relief_pwa.i18n import translate
from relief_pwa.services.actors import Actor
from relief_pwa.services.aid import (
    do_add_application,
    do_grant_emergency,
    get_add_application_form,
    get_emergency_form,
)
from relief_pwa.services.reviews import do_decide_review, get_recertification

# --- the review decision (a section of the visit page) -------------------------------


async def _decide(
    request: Request[Any, Any, Any], actor: Actor, visit_id: int, decision: str
) -> Response[Any]:
    form = await request.form()
    try:
        await do_decide_review(
            actor,
            visit_id,
            decision or first(form, "decision", 20),
            reason=first(form, "reason", 2000),
            exit_reason=first(form, "exit_reason", 30),
            now=now_of(request),
        )
    except DomainError as exc:
        flash(request, " ".join(form_errors(exc).values()), "error")
        return Redirect(f"/visits/{visit_id}#review-decision", status_code=303)
    flash(request, translate("Review decision recorded."))
    return Redirect(f"/visits/{visit_id}#review-decision", status_code=303)


@post("/visits/{visit_id:int}/review-decision", opt=needs(C.APP_COMPLETE_REVIEW))
async def review_decision(
    request: Request[Any, Any, Any], *, visit_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    """Continue, adjust or gradual exit (the station completes the review)."""
    form = await request.form()
    decision = first(form, "decision", 20)
    return await _decide(request, actor, visit_id, decision if decision != "exit" else "")


@post("/visits/{visit_id:int}/review-exit", opt=needs(C.APP_EXIT))
async def review_exit(
    request: Request[Any, Any, Any], *, visit_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    """Exit at review (the centre stops assistance)."""
    return await _decide(request, actor, visit_id, "exit")


@get("/reviews/recertification", name="recertification", opt=needs(C.RECERTIFICATION_READ))
async def recertification_page(
    request: Request[Any, Any, Any], *, actor: NamedDependency[Actor], year: FromQuery[str] = ""
) -> Response[str]:
    chosen = int(year) if year.isdecimal() and len(year) == 4 else None
    result = await get_recertification(actor, year=chosen, now=now_of(request))
    return render(request, "reviews/recertification.html", {"result": result})


# --- apply for another form of aid ---------------------------------------------------------


@get(
    "/households/{household_id:int}/applications/new",
    name="add_application",
    opt=needs(C.APPLICATION_ADD),
)
async def add_application_form(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    form = await get_add_application_form(actor, household_id)
    return render(
        request, "aid/add_application.html", {"form": form, "values": {}, "chosen": [], "errors": {}}
    )


@post("/households/{household_id:int}/applications/new", opt=needs(C.APPLICATION_ADD))
async def add_application_submit(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    data = await request.form()
    values = {"category": first(data, "category", 20), "description": first(data, "description", 2000)}
    chosen = [m for m in data.getall("materials", []) if isinstance(m, str)][:20]
    try:
        result = await do_add_application(
            actor,
            household_id,
            category=values["category"],
            description=values["description"],
            materials=chosen,
            now=now_of(request),
        )
    except DomainError as exc:
        form = await get_add_application_form(actor, household_id)
        context = {"form": form, "values": values, "chosen": chosen, "errors": form_errors(exc)}
        return render(request, "aid/add_application.html", context, status_code=422)
    flash(request, translate("Application {number} received.", number=result.number))
    return Redirect(f"/applications/{result.application_id}/receipt", status_code=303)


# --- 先行救助 --------------------------------------------------------------------------------


@get("/households/{household_id:int}/emergency", name="emergency_grant", opt=needs(C.EMERGENCY_GRANT))
async def emergency_form(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    form = await get_emergency_form(actor, household_id, now=now_of(request))
    context = {"form": form, "values": {"token": str(uuid.uuid4())}, "errors": {}}
    return render(request, "aid/emergency.html", context)


@post("/households/{household_id:int}/emergency", opt=needs(C.EMERGENCY_GRANT))
async def emergency_submit(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    data = await request.form()
    values = {key: first(data, key, 2000) for key in ("amount", "resource", "reason", "token")}
    try:
        result = await do_grant_emergency(
            actor,
            household_id,
            amount=values["amount"],
            resource_id=values["resource"],
            reason=values["reason"],
            client_token=values["token"],
            now=now_of(request),
        )
    except DomainError as exc:
        form = await get_emergency_form(actor, household_id, now=now_of(request))
        context = {"form": form, "values": values, "errors": form_errors(exc)}
        return render(request, "aid/emergency.html", context, status_code=422)
    flash(
        request, translate("{amount} yuan granted first (先行救助).", amount=format_yuan(result.amount_fen))
    )
    return Redirect(f"/households/{household_id}#aid", status_code=303)


ROUTES: list[Any] = [
    review_decision,
    review_exit,
    recertification_page,
    add_application_form,
    add_application_submit,
    emergency_form,
    emergency_submit,
]
