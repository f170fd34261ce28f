"""Staff pages of the sunshine area: 公示 (/notices), the centre's decisions
(/approvals), the objections inbox (/objections), supervision (/supervision:
audit log, chain check, integrity flags) and near-relative filings.

``refuse_supervisor_writes`` is an app-wide guard: a supervisor's POST (or any
other writing method) is refused with 403 on every route except logging out
and in, whatever the route's own checks say. Services refuse them as well.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect

from relief_pwa.clock import CHINA_TZ, local_date
from relief_pwa.core.bounds import parse_day_or_none, parse_id
from relief_pwa.core.enums import AppState
from relief_pwa.core.errors import DomainError, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import parse_yuan
from relief_pwa.handlers.analytics import DataTable, export, text
from relief_pwa.handlers.common import C, first, flash, form_errors, is_htmx, needs, now_of, render
from relief_pwa.handlers.sessions import session_actor
from relief_pwa.i18n import gettext, translate
from relief_pwa.services import access_log, integrity, publicity
from relief_pwa.services import objections as objection_service
from relief_pwa.services import supervision as supervision_service
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.rules import quoted_rules

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Supervisors may still log in and out and look after their own account (password,
# second factor, sessions): that changes no record of the case system.
SUPERVISOR_MAY_POST = (
    "/login",
    "/login/2fa",
    "/logout",
    "/account/password",
    "/account/2fa",
    "/account/2fa/disable",
    "/account/sessions",
)


async def refuse_supervisor_writes(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """App-wide guard: supervisors read everything in scope and change nothing.

    The session middleware has already loaded the staff member of the request
    (also on public routes, for writes): no second lookup here.
    """
    if connection.scope.get("method", "GET") in SAFE_METHODS or connection.url.path in SUPERVISOR_MAY_POST:
        return
    if supervision_service.is_supervisor_session(session_actor(connection.scope)):
        raise PermissionDeniedException(detail="supervisors change nothing")


def _int(raw: str, default: int = 1) -> int:
    return int(raw) if raw.isdecimal() and len(raw) < 9 else default


# --- 公示 -------------------------------------------------------------------------


@get("/notices", name="notices", opt=needs(C.NOTICES_READ))
async def notices_page(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[str]:
    now = now_of(request)
    context = {
        "candidates": await publicity.list_candidates(actor, now),
        "running": await publicity.list_running(actor, now),
        "rules": await quoted_rules(local_date(now)),
        "can_start": actor.can(C.APP_START_PUBLICITY),
        "errors": {},
        "amounts": {},
    }
    return render(request, "notices/index.html", context)


@post("/notices/start", name="notices_start", opt=needs(C.APP_START_PUBLICITY))
async def notices_start(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    now = now_of(request)
    chosen = [
        value
        for value in form.getall("application", [])
        if isinstance(value, str) and parse_id(value) is not None
    ][:200]
    amounts: dict[str, str] = {}
    items: list[tuple[int, int | None]] = []
    errors: dict[str, str] = {}
    for raw in chosen:
        text = first(form, f"amount-{raw}", 20).strip()
        amounts[raw] = text
        try:
            items.append((int(raw), parse_yuan(text, field=f"app-{raw}") if text else None))
        except DomainError as exc:
            errors[f"app-{raw}"] = translate(exc.message, **exc.params)
    if not errors:
        try:
            notice_ids = await publicity.do_start_publicity_batch(actor, items, now=now)
        except DomainError as exc:
            errors = form_errors(exc)
        else:
            flash(request, gettext("Public notice started for %(n)s applications.") % {"n": len(notice_ids)})
            return Redirect("/notices", status_code=303)
    context = {
        "candidates": await publicity.list_candidates(actor, now),
        "running": await publicity.list_running(actor, now),
        "rules": await quoted_rules(local_date(now)),
        "can_start": actor.can(C.APP_START_PUBLICITY),
        "errors": errors,
        "amounts": amounts,
        "chosen": set(chosen),
    }
    return render(request, "notices/index.html", context, status_code=400)


# --- the centre's decision ----------------------------------------------------------


@get("/approvals", name="approvals", opt=needs(C.APPROVALS_READ))
async def approvals_page(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[str]:
    context = {
        "ready": await publicity.list_decision_cases(
            actor, (AppState.READY_FOR_APPROVAL, AppState.VERIFIED_INELIGIBLE)
        ),
        "approved": await publicity.list_decision_cases(actor, (AppState.APPROVED,)),
        "can_decide": actor.can(C.APP_APPROVE),
    }
    return render(request, "notices/approvals.html", context)


@get("/approvals/{application_id:int}", name="approval", opt=needs(C.APPROVALS_READ))
async def approval_page(
    request: Request[Any, Any, Any], *, application_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    case = await publicity.get_decision_case(actor, application_id)
    context = {
        "case": case,
        "objections": await objection_service.objections_for_application(actor, application_id),
        "can_decide": actor.can(C.APP_APPROVE),
        "errors": {},
        "values": {"reason": "", "decision": ""},
    }
    return render(request, "notices/approval.html", context)


@post("/approvals/{application_id:int}", name="approval_decide", opt=needs(C.APP_APPROVE))
async def approval_decide(
    request: Request[Any, Any, Any], *, application_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    decision, reason = first(form, "decision", 20), first(form, "reason", 2000)
    raw_version = first(form, "version", 10)
    try:
        await publicity.do_decide(
            actor,
            application_id,
            decision,
            reason=reason,
            now=now_of(request),
            expected_version=int(raw_version) if raw_version.isdecimal() else None,
        )
    except DomainError as exc:
        case = await publicity.get_decision_case(actor, application_id)
        context = {
            "case": case,
            "objections": await objection_service.objections_for_application(actor, application_id),
            "can_decide": actor.can(C.APP_APPROVE),
            "errors": form_errors(exc),
            "values": {"reason": reason, "decision": decision},
        }
        return render(request, "notices/approval.html", context, status_code=400)
    flash(request, gettext("Decision recorded."))
    return Redirect(f"/approvals/{application_id}", status_code=303)


@get("/approvals/{application_id:int}/letter", name="approval_letter", opt=needs(C.APPROVALS_READ))
async def approval_letter(
    request: Request[Any, Any, Any], *, application_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    """The written decision for the applicant: approval, or rejection with its reasons."""
    case = await publicity.get_decision_case(actor, application_id)
    if case.state not in {AppState.APPROVED, AppState.REJECTED, AppState.ACTIVE}:
        raise DomainError(N_("There is no decision to print yet."))
    from relief_pwa.services.public_boards import decided_amount, office_for

    amount_fen, period = await decided_amount(case.application_id, case.household_id, case.decided_on)
    context = {
        "case": case,
        "office": await office_for(case.org_path),
        "decided_on": case.decided_on,
        "amount_fen": amount_fen,
        "period": period,
    }
    return render(request, "notices/letter.html", context)


# --- objections inbox ----------------------------------------------------------------------


def _require_inbox(actor: Actor) -> None:
    require(actor, C.OBJECTIONS_READ)


@get("/objections", name="objections", opt=needs(C.OBJECTIONS_READ))
async def objections_inbox(
    request: Request[Any, Any, Any],
    *,
    actor: NamedDependency[Actor],
    status_filter: Annotated[str, QueryParameter(name="status")] = "open",
    page: FromQuery[str] = "1",
) -> Response[str]:
    _require_inbox(actor)
    inbox = await objection_service.list_inbox(
        actor, now=now_of(request), status=status_filter[:20], page=_int(page)
    )
    context = {
        "inbox": inbox,
        "statuses": objection_service.STATUSES,
        "status_label": objection_service.status_label,
        "kind_label": objection_service.kind_label,
        "channel_label": objection_service.channel_label,
        "can_handle": actor.can(C.OBJECTION_HANDLE),
    }
    block = (
        "results" if is_htmx(request) and request.headers.get("hx-target") == "objection-results" else None
    )
    return render(request, "objections/inbox.html", context, block=block)


async def _objection_page(
    request: Request[Any, Any, Any],
    actor: Actor,
    objection_id: int,
    errors: dict[str, str],
    values: dict[str, str],
) -> dict[str, Any]:
    detail = await objection_service.get_objection(actor, objection_id, now=now_of(request))
    return {
        "detail": detail,
        "o": detail.row,
        "errors": errors,
        "values": values,
        "status_label": objection_service.status_label,
        "kind_label": objection_service.kind_label,
        "channel_label": objection_service.channel_label,
        "can_handle": actor.can(C.OBJECTION_HANDLE),
    }


@get("/objections/{objection_id:int}", name="objection", opt=needs(C.OBJECTIONS_READ))
async def objection_page(
    request: Request[Any, Any, Any], *, objection_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    _require_inbox(actor)
    context = await _objection_page(request, actor, objection_id, {}, {})
    return render(request, "objections/detail.html", context)


@post(
    "/objections/{objection_id:int}/investigation",
    name="objection_investigate",
    opt=needs(C.OBJECTION_HANDLE),
)
async def objection_investigate(
    request: Request[Any, Any, Any], *, objection_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    text = first(form, "investigation", 5000)
    try:
        await objection_service.do_record_investigation(actor, objection_id, text, now=now_of(request))
    except DomainError as exc:
        context = await _objection_page(
            request, actor, objection_id, form_errors(exc), {"investigation": text}
        )
        return render(request, "objections/detail.html", context, status_code=400)
    flash(request, gettext("Investigation recorded."))
    return Redirect(f"/objections/{objection_id}", status_code=303)


@post("/objections/{objection_id:int}/answer", name="objection_answer", opt=needs(C.OBJECTION_HANDLE))
async def objection_answer(
    request: Request[Any, Any, Any], *, objection_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    text = first(form, "answer", 5000)
    close = first(form, "close", 5) == "1"
    try:
        await objection_service.do_answer(actor, objection_id, text, now=now_of(request), close=close)
    except DomainError as exc:
        context = await _objection_page(request, actor, objection_id, form_errors(exc), {"answer": text})
        return render(request, "objections/detail.html", context, status_code=400)
    flash(request, gettext("Answer recorded; the filer sees it with the tracking code."))
    return Redirect(f"/objections/{objection_id}", status_code=303)


@post("/objections/{objection_id:int}/close", name="objection_close", opt=needs(C.OBJECTION_HANDLE))
async def objection_close(
    request: Request[Any, Any, Any], *, objection_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    await objection_service.do_close(actor, objection_id, now=now_of(request))
    flash(request, gettext("Report closed."))
    return Redirect(f"/objections/{objection_id}", status_code=303)


# --- supervision ------------------------------------------------------------------------------


@get("/supervision", name="supervision", opt=needs(C.AUDIT_READ))
async def supervision_home(
    request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]
) -> Response[str]:
    report = await integrity.compute_flags(actor, now=now_of(request))
    context = {"report": report, "kinds": integrity.FLAG_KINDS}
    return render(request, "supervision/index.html", context)


@get("/supervision/flags/{kind:str}", name="supervision_flags", opt=needs(C.AUDIT_READ))
async def supervision_flags(
    request: Request[Any, Any, Any], *, kind: FromPath[str], actor: NamedDependency[Actor]
) -> Response[str]:
    if kind not in integrity.FLAG_KINDS:
        raise DomainError(N_("Unknown flag."))
    report = await integrity.compute_flags(actor, now=now_of(request), kinds=[kind])
    context = {"kind": kind, "title": integrity.FLAG_KINDS[kind], "items": report.items[kind]}
    return render(request, "supervision/flags.html", context)


@get("/supervision/audit", name="supervision_audit", opt=needs(C.AUDIT_READ))
async def supervision_audit(
    request: Request[Any, Any, Any],
    *,
    actor: NamedDependency[Actor],
    who: Annotated[str, QueryParameter(name="actor")] = "",
    household: FromQuery[str] = "",
    action: FromQuery[str] = "",
    date_from: FromQuery[str] = "",
    date_to: FromQuery[str] = "",
    before: FromQuery[str] = "",
) -> Response[str]:
    query = supervision_service.AuditQuery(
        actor=who[:40],
        household=household[:24],
        action=action[:60],
        date_from=date_from[:10],
        date_to=date_to[:10],
        before_seq=int(before) if before.isdecimal() and len(before) < 15 else None,
    )
    errors: dict[str, str] = {}
    try:
        page = await supervision_service.list_audit_events(actor, query)
    except ValidationFailed as exc:
        errors = form_errors(exc)
        page = await supervision_service.list_audit_events(actor, supervision_service.AuditQuery())
    context = {"page": page, "errors": errors, "q": query}
    block = "results" if is_htmx(request) and request.headers.get("hx-target") == "audit-results" else None
    return render(request, "supervision/audit.html", context, block=block)


@get("/supervision/verify", name="supervision_verify", opt=needs(C.AUDIT_READ))
async def supervision_verify(
    request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]
) -> Response[str]:
    """Re-hash the audit chain now (a read: supervisors may run it)."""
    check = await supervision_service.check_chain(actor, now=now_of(request))
    block = "result" if is_htmx(request) else None
    return render(request, "supervision/verify.html", {"check": check}, block=block)


# --- the access log: reads of personal data --------------------------------------------------


def _day(raw: str) -> datetime | None:
    """A YYYY-MM-DD date (1900–2100) as the start of that day in Beijing time; None when blank or bad."""
    try:
        day = parse_day_or_none(raw[:10], "date")
    except DomainError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ) if day else None


@get("/supervision/access", name="supervision_access", opt=needs(C.AUDIT_READ))
async def supervision_access(
    request: Request[Any, Any, Any],
    *,
    actor: NamedDependency[Actor],
    username: FromQuery[str] = "",
    staff_id: FromQuery[str] = "",
    action: FromQuery[str] = "",
    household: FromQuery[str] = "",
    date_from: FromQuery[str] = "",
    date_to: FromQuery[str] = "",
    before: FromQuery[str] = "",
    format: FromQuery[str] = "",
) -> Response[Any]:
    """Who read which household's data, newest first; exportable (the export is logged too)."""
    until = _day(date_to)
    query = access_log.AccessQuery(
        username=username[:40],
        staff_id=_int(staff_id, 0) or None,
        action=action[:30],
        household_id=_int(household, 0) or None,
        date_from=_day(date_from),
        date_to=until + timedelta(days=1) if until else None,
        before_id=_int(before, 0) or None,
    )
    if format:
        page = await access_log.list_access_log(actor, query, limit=access_log.EXPORT_LIMIT)
        table = DataTable(
            "access",
            gettext("Access log"),
            [gettext("Time"), gettext("Staff"), gettext("What"), gettext("Household"), gettext("Purpose")],
        )
        for row in page.rows:
            table.rows.append(
                [
                    text(row["at"].astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")),
                    text(row["actor_label"]),
                    text(translate(access_log.READ_ACTIONS.get(row["action"], row["action"]))),
                    text(str(row["household_id"] or "")),
                    text(row["purpose"] or row["detail"]),
                ]
            )
        return await export(request, actor, [table], format[:8], "", "access-log")
    page = await access_log.list_access_log(actor, query)
    context = {
        "page": page,
        "q": query,
        "raw": {"date_from": date_from[:10], "date_to": date_to[:10], "household": household[:20]},
        "actions": access_log.READ_ACTIONS,
        "china_tz": CHINA_TZ,
    }
    return render(request, "supervision/access.html", context)


# --- near-relative filings (近亲属备案) ---------------------------------------------------------


@get("/households/{household_id:int}/near-relatives", name="near_relatives", opt=needs(C.CASES_READ))
async def near_relatives_page(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    filings = await integrity.list_near_relatives(actor, household_id)
    context = {
        "household_id": household_id,
        "filings": filings,
        "errors": {},
        "values": {},
        "can_record": actor.can(C.NEAR_RELATIVE_FILE),
    }
    return render(request, "supervision/near_relatives.html", context)


@post(
    "/households/{household_id:int}/near-relatives",
    name="near_relatives_record",
    opt=needs(C.NEAR_RELATIVE_FILE),
)
async def near_relatives_record(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    values = {
        "relative_name": first(form, "relative_name", 80),
        "relation": first(form, "relation", 60),
        "staff_username": first(form, "staff_username", 40),
        "note": first(form, "note", 400),
    }
    try:
        await integrity.do_record_near_relative(actor, household_id, now=now_of(request), **values)
    except DomainError as exc:
        filings = await integrity.list_near_relatives(actor, household_id)
        context = {
            "household_id": household_id,
            "filings": filings,
            "errors": form_errors(exc),
            "values": values,
            "can_record": True,
        }
        return render(request, "supervision/near_relatives.html", context, status_code=400)
    flash(request, gettext("Near-relative filing recorded."))
    return Redirect(f"/households/{household_id}/near-relatives", status_code=303)


ROUTES: list[Any] = [
    notices_page,
    notices_start,
    approvals_page,
    approval_page,
    approval_decide,
    approval_letter,
    objections_inbox,
    objection_page,
    objection_investigate,
    objection_answer,
    objection_close,
    supervision_home,
    supervision_access,
    supervision_flags,
    supervision_audit,
    supervision_verify,
    near_relatives_page,
    near_relatives_record,
]
