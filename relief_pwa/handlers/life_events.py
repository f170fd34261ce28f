"""Life events (change requests): the request form on the household file, the
approvers' queue, and approve / refuse with a reason (docs/facts-over-time.md)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from relief_pwa.core.enums import Illness, Relation, Schooling, WorkCapacity
from relief_pwa.core.errors import DomainError
from relief_pwa.core.intake import MemberDraft
from relief_pwa.core.life_events import (
    LABELS,
    ChangeKind,
    ChangeStatus,
    LeaveReason,
    OldHeadOutcome,
    RequestDraft,
)
from relief_pwa.handlers.common import C, first, flash, form_errors, needs, now_of, render
from relief_pwa.handlers.intake import MEMBER_FIELDS
from relief_pwa.i18n import gettext
from relief_pwa.services.actors import Actor
from relief_pwa.services.change_requests import (
    do_decide_change,
    do_request_change,
    get_change_request,
    get_request_form,
    list_change_requests,
)

ENUMS = {
    "kinds": list(ChangeKind),
    "leave_reasons": list(LeaveReason),
    "outcomes": list(OldHeadOutcome),
    "Relation": [r for r in Relation if r != Relation.HEAD],
    "WorkCapacity": list(WorkCapacity),
    "Schooling": list(Schooling),
    "Illness": list(Illness),
}


def _request_draft(form: FormMultiDict) -> RequestDraft:
    return RequestDraft(
        kind=first(form, "kind", 20),
        effective_on=first(form, "effective_on", 20),
        note=first(form, "note", 1000),
        member_id=first(form, "member_id", 12),
        new_head_id=first(form, "new_head_id", 12),
        old_head_outcome=first(form, "old_head_outcome", 12),
        leave_reason=first(form, "leave_reason", 12),
        to_unit_code=first(form, "to_unit_code", 20),
        out_of_city=first(form, "out_of_city", 4),
        address=first(form, "address", 200),
        member_ids=tuple(str(v)[:12] for v in form.getall("member_ids", [])[:20]),
        other_file_no=first(form, "other_file_no", 30),
    )


async def _form_page(
    request: Request[Any, Any, Any],
    actor: Actor,
    household_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response[str]:
    form = await get_request_form(actor, household_id)
    context = {"form": form, "enums": ENUMS, "labels": LABELS, "errors": errors or {}, "values": values or {}}
    return render(request, "life_events/request.html", context, status_code=status)


@get("/households/{household_id:int}/life-events", name="life_event_form", opt=needs(C.LIFE_EVENT_REQUEST))
async def request_form(
    request: Request[Any, Any, Any], household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    return await _form_page(request, actor, household_id)


@post("/households/{household_id:int}/life-events", opt=needs(C.LIFE_EVENT_REQUEST))
async def file_request(
    request: Request[Any, Any, Any], household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    draft = _request_draft(form)
    member_draft = None
    if draft.kind in {ChangeKind.BIRTH, ChangeKind.JOIN}:
        member_draft = MemberDraft(**{f: first(form, f, 100) for f in MEMBER_FIELDS})
        member_draft.illness = member_draft.illness or Illness.NONE.value
    try:
        await do_request_change(actor, household_id, draft, member_draft, now=now_of(request))
    except DomainError as exc:
        values = {key: first(form, key, 300) for key in form}
        return await _form_page(
            request, actor, household_id, errors=form_errors(exc), values=values, status=422
        )
    flash(request, gettext("The request was filed and waits for approval."))
    return Redirect(f"/households/{household_id}/life-events", status_code=303)


@get("/life-events", name="life_events", opt=needs(C.LIFE_EVENTS_READ))
async def queue(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], status: FromQuery[str] = "pending"
) -> Response[str]:
    rows = await list_change_requests(actor, status[:10])
    chosen = status if status in {s.value for s in ChangeStatus} else ChangeStatus.PENDING.value
    context = {"rows": rows, "status": chosen, "statuses": list(ChangeStatus), "labels": LABELS}
    return render(request, "life_events/queue.html", context)


async def _detail_page(
    request: Request[Any, Any, Any],
    actor: Actor,
    request_id: int,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response[str]:
    row = await get_change_request(actor, request_id)
    context = {"row": row, "labels": LABELS, "errors": errors or {}}
    return render(request, "life_events/detail.html", context, status_code=status)


@get("/life-events/{request_id:int}", name="life_event", opt=needs(C.LIFE_EVENTS_READ))
async def detail(
    request: Request[Any, Any, Any], request_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    return await _detail_page(request, actor, request_id)


@post("/life-events/{request_id:int}/decide", opt=needs(C.LIFE_EVENT_APPROVE))
async def decide(
    request: Request[Any, Any, Any], request_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    version = first(form, "version", 10)
    try:
        await do_decide_change(
            actor,
            request_id,
            approve=first(form, "decision", 10) == "approve",
            reason=first(form, "reason", 1000),
            expected_version=int(version) if version.isdecimal() else -1,
            now=now_of(request),
        )
    except DomainError as exc:
        return await _detail_page(request, actor, request_id, errors=form_errors(exc), status=422)
    flash(request, gettext("Decision recorded."))
    return Redirect(f"/life-events/{request_id}", status_code=303)


ROUTES: list[Any] = [request_form, file_request, queue, detail, decide]
