"""The pool of resources, relief plans, funds, one-card batches, hand-over and follow-ups.

Thin: every route parses the form, calls one service, and renders a page or
redirects with a flash message. Refused input re-renders with the reasons.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from relief_pwa.adapters.bankfiles import MAX_RETURN_BYTES, BankFileRejected
from relief_pwa.adapters.exports import CSV_MEDIA, XLSX_MEDIA
from relief_pwa.adapters.photos import PhotoRejected
from relief_pwa.clock import local_date
from relief_pwa.core.enums import Category
from relief_pwa.core.errors import DomainError
from relief_pwa.core.fieldwork import FollowUpOutcome, VisitKind
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import format_yuan
from relief_pwa.handlers.common import C, first, flash, form_errors, needs, now_of, render
from relief_pwa.i18n import translate
from relief_pwa.services import disbursement, followups, funds, handover, resources
from relief_pwa.services import plans as plan_service
from relief_pwa.services.actors import Actor
from relief_pwa.services.org import list_units_in_scope
from relief_pwa.services.photos import UPLOAD_LIMIT_BYTES

RETURN_UPLOAD_LIMIT = MAX_RETURN_BYTES + 64 * 1024


def _id(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdecimal() and len(raw) < 12 else None


def _message(exc: DomainError) -> str:
    return " ".join(form_errors(exc).values())


def _back(
    request: Request[Any, Any, Any], url: str, exc: DomainError | None = None, ok: str = ""
) -> Redirect:
    if exc is not None:
        flash(request, _message(exc), "error")
    elif ok:
        flash(request, ok)
    return Redirect(url, status_code=303)


# --- resources, providers, donations --------------------------------------------


async def _resources_context(actor: Actor, **extra: Any) -> dict[str, Any]:
    return {
        "providers": await resources.list_providers(actor),
        "resources": await resources.list_resources(actor),
        "donations": await resources.list_donations(actor),
        "funds": await resources.fund_choices(actor),
        "categories": list(Category),
        "provider_kinds": resources.PROVIDER_KIND_LABELS,
        "resource_kinds": resources.RESOURCE_KIND_LABELS,
        "units": resources.UNIT_LABELS,
        "periodicities": resources.PERIODICITY_LABELS,
        "can_manage": actor.can(C.PLAN_DRAFT),
        "draft": extra.pop("draft", resources.ResourceDraft()),
        "errors": extra.pop("errors", {}),
        **extra,
    }


@get("/resources", name="resources", opt=needs(C.RESOURCES_READ))
async def resources_page(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[str]:
    return render(request, "resources/index.html", await _resources_context(actor))


@post("/resources/providers", opt=needs(C.RESOURCES_MANAGE))
async def create_provider(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    draft = resources.ProviderDraft(
        first(form, "name", 200), first(form, "kind", 20), first(form, "contact", 200)
    )
    try:
        await resources.do_create_provider(actor, draft, now=now_of(request))
    except DomainError as exc:
        return _back(request, "/resources#providers", exc)
    return _back(request, "/resources#providers", ok=translate("Provider {name} added.", name=draft.name))


@post("/resources", opt=needs(C.RESOURCES_MANAGE))
async def create_resource(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    fields = {
        name: first(form, name, 200)
        for name in resources.ResourceDraft.__dataclass_fields__
        if name != "categories"
    }
    draft = resources.ResourceDraft(
        **fields, categories=[c for c in form.getall("categories", []) if isinstance(c, str)][:20]
    )
    try:
        await resources.do_create_resource(actor, draft, now=now_of(request))
    except DomainError as exc:
        context = await _resources_context(actor, draft=draft, errors=form_errors(exc))
        return render(request, "resources/index.html", context, status_code=422)
    return _back(request, "/resources#resources", ok=translate("Resource {name} added.", name=draft.name))


@post("/resources/{resource_id:int}", opt=needs(C.RESOURCES_MANAGE))
async def update_resource(
    request: Request[Any, Any, Any], *, resource_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    try:
        await resources.do_update_resource(
            actor,
            resource_id,
            budget_total=first(form, "budget_total", 30),
            quantity_total=first(form, "quantity_total", 12),
            active=first(form, "active", 5) == "1",
            now=now_of(request),
        )
    except DomainError as exc:
        return _back(request, "/resources#resources", exc)
    return _back(request, "/resources#resources", ok=translate("Resource updated."))


@post("/resources/donations", opt=needs(C.RESOURCES_MANAGE))
async def record_donation(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    draft = resources.DonationDraft(
        provider_id=first(form, "provider_id", 12),
        fund_id=first(form, "fund_id", 12),
        resource_id=first(form, "resource_id", 12),
        amount=first(form, "amount", 30),
        quantity=first(form, "quantity", 12),
        received_on=first(form, "received_on", 12),
        note=first(form, "note", 300),
    )
    try:
        await resources.do_record_donation(actor, draft, now=now_of(request))
    except DomainError as exc:
        return _back(request, "/resources#donations", exc)
    return _back(request, "/resources#donations", ok=translate("Donation recorded."))


# --- plans ------------------------------------------------------------------------


def _scope(org: str, category: str) -> plan_service.DraftScope:
    category = category if category in {c.value for c in Category} else ""
    org = org if org.isdecimal() and len(org) <= 12 else ""
    return plan_service.DraftScope(org_code=org, category=category)


async def _draft_context(actor: Actor, scope: plan_service.DraftScope) -> dict[str, Any]:
    return {
        "streets": await list_units_in_scope(actor, "street"),
        "categories": list(Category),
        "scope": scope,
        "can_manage": actor.can(C.PLAN_DRAFT),
    }


@get("/plans", name="plans", opt=needs(C.PLAN_READ))
async def plans_page(
    request: Request[Any, Any, Any],
    *,
    actor: NamedDependency[Actor],
    status: FromQuery[str] = "",
    page: FromQuery[int] = 1,
) -> Response[str]:
    result = await plan_service.list_plans(actor, status=status, page=page)
    return render(request, "plans/index.html", {"result": result, "can_manage": actor.can(C.PLAN_DRAFT)})


@get("/plans/draft", name="plan_draft", opt=needs(C.PLAN_READ))
async def draft_page(
    request: Request[Any, Any, Any],
    *,
    actor: NamedDependency[Actor],
    org: FromQuery[str] = "",
    category: FromQuery[str] = "",
) -> Response[str]:
    scope = _scope(org, category)
    view = await plan_service.get_draft(actor, scope, now=now_of(request))
    return render(request, "plans/draft.html", {"view": view, **await _draft_context(actor, scope)})


@post("/plans/draft", opt=needs(C.PLAN_DRAFT))
async def save_drafts(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    scope = _scope(first(form, "org", 12), first(form, "category", 20))
    chosen = [
        i for i in (_id(v) for v in form.getall("household", []) if isinstance(v, str)) if i is not None
    ]
    try:
        saved = await plan_service.do_save_drafts(
            actor, scope, now=now_of(request), household_ids=chosen or None
        )
    except DomainError as exc:
        return _back(request, "/plans/draft", exc)
    return _back(
        request, "/plans?status=draft", ok=translate("{count} draft plan(s) saved.", count=len(saved))
    )


@get("/plans/what-if", name="plan_what_if", opt=needs(C.PLAN_READ))
async def what_if_page(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[str]:
    query = request.query_params
    scope = _scope(str(query.get("org", "")), str(query.get("category", "")))
    changes: dict[int, int] = {}
    errors: dict[str, str] = {}
    for key, value in query.items():
        if key.startswith("change_") and _id(key.removeprefix("change_")) is not None and str(value).strip():
            try:
                changes[int(key.removeprefix("change_"))] = plan_service.parse_budget_change(
                    str(value)[:30], field_name=key
                )
            except DomainError as exc:
                errors[key] = _message(exc)
    result = None
    if not errors:
        try:
            result = await plan_service.get_what_if(actor, scope, changes, now=now_of(request))
        except DomainError as exc:
            errors[""] = _message(exc)
    pool, by_id = await plan_service.load_pool(actor, scope, now=now_of(request))
    context = {
        "result": result,
        "errors": errors,
        "pool": pool,
        "resources": by_id,
        "entered": dict(query.items()),
        **await _draft_context(actor, scope),
    }
    return render(request, "plans/what_if.html", context, status_code=422 if errors else 200)


@get("/plans/{plan_id:int}", name="plan", opt=needs(C.PLAN_READ))
async def plan_page(
    request: Request[Any, Any, Any], *, plan_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    detail = await plan_service.get_plan(actor, plan_id)
    return render(request, "plans/detail.html", {"detail": detail, "can_manage": actor.can(C.PLAN_DRAFT)})


@post("/plans/lines/{line_id:int}/adjust", opt=needs(C.PLAN_DRAFT))
async def adjust_line(
    request: Request[Any, Any, Any], *, line_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    plan_id = _id(first(form, "plan_id", 12)) or 0
    try:
        await plan_service.do_adjust_line(
            actor,
            line_id,
            amount=first(form, "amount", 30),
            quantity=first(form, "quantity", 12),
            remove=first(form, "action", 10) == "remove",
            reason=first(form, "reason", 300),
            now=now_of(request),
            expected_version=_id(first(form, "version", 12)),
        )
    except DomainError as exc:
        return _back(request, f"/plans/{plan_id}", exc)
    return _back(request, f"/plans/{plan_id}", ok=translate("The line was adjusted."))


@post("/plans/{plan_id:int}/approve", opt=needs(C.PLAN_APPROVE))
async def approve_plan(
    request: Request[Any, Any, Any], *, plan_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    try:
        await plan_service.do_approve_plan(
            actor, plan_id, now=now_of(request), expected_version=_id(first(form, "version", 12))
        )
    except DomainError as exc:
        return _back(request, f"/plans/{plan_id}", exc)
    return _back(request, f"/plans/{plan_id}", ok=translate("Plan approved; the resources are reserved."))


@post("/plans/lines/{line_id:int}/cancel", opt=needs(C.PLAN_DRAFT))
async def cancel_line(
    request: Request[Any, Any, Any], *, line_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    plan_id = _id(first(form, "plan_id", 12)) or 0
    try:
        await plan_service.do_cancel_line(
            actor, line_id, reason=first(form, "reason", 300), now=now_of(request)
        )
    except DomainError as exc:
        return _back(request, f"/plans/{plan_id}", exc)
    return _back(
        request, f"/plans/{plan_id}", ok=translate("The line was stopped; what was not used is released.")
    )


# --- funds ----------------------------------------------------------------------------


@get("/funds", name="funds", opt=needs(C.FUNDS_READ))
async def funds_page(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[str]:
    context = {
        "funds": await funds.list_funds(actor),
        "providers": await resources.list_providers(actor),
        "can_manage": actor.can(C.PLAN_DRAFT),
    }
    return render(request, "funds/index.html", context)


@post("/funds", opt=needs(C.FUNDS_MANAGE))
async def create_fund(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    draft = funds.FundDraft(first(form, "code", 40), first(form, "name", 200), first(form, "provider_id", 12))
    try:
        await funds.do_create_fund(actor, draft, now=now_of(request))
    except DomainError as exc:
        return _back(request, "/funds", exc)
    return _back(request, "/funds", ok=translate("Fund {code} opened.", code=draft.code.upper()))


@get("/funds/{fund_id:int}", name="fund", opt=needs(C.FUNDS_READ))
async def fund_page(
    request: Request[Any, Any, Any],
    *,
    fund_id: FromPath[int],
    actor: NamedDependency[Actor],
    page: FromQuery[int] = 1,
) -> Response[str]:
    ledger = await funds.get_ledger(actor, fund_id, page)
    return render(request, "funds/ledger.html", {"ledger": ledger})


# --- batches ----------------------------------------------------------------------------


@get("/batches", name="batches", opt=needs(C.FUNDS_READ))
async def batches_page(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[str]:
    now = now_of(request)
    context = {
        "batches": await disbursement.list_batches(actor),
        "queue": await disbursement.queue_summary(actor),
        "funds": await funds.list_funds(actor),
        "month": plan_service.month_of(local_date(now)),
        "can_manage": actor.can(C.PLAN_DRAFT),
    }
    return render(request, "batches/index.html", context)


@post("/batches/generate", opt=needs(C.BATCH_CREATE))
async def generate_lines(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    try:
        result = await disbursement.do_generate_monthly_lines(
            actor, first(form, "month", 10), now=now_of(request)
        )
    except DomainError as exc:
        return _back(request, "/batches", exc)
    return _back(
        request,
        "/batches",
        ok=translate(
            "{month}: {created} payment line(s) prepared ({total} yuan); {already} were already there.",
            month=result.month,
            created=result.created,
            total=format_yuan(result.total_fen),
            already=result.already,
        ),
    )


@post("/batches", opt=needs(C.BATCH_CREATE))
async def create_batch(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    try:
        result = await disbursement.do_create_batch(
            actor, _id(first(form, "fund_id", 12)) or 0, first(form, "month", 10), now=now_of(request)
        )
    except DomainError as exc:
        return _back(request, "/batches", exc)
    message = translate(
        "Batch {batch_no}: {lines} line(s), {total} yuan.",
        batch_no=result.batch_no,
        lines=result.lines,
        total=format_yuan(result.total_fen),
    )
    if result.held_without_account:
        message += " " + translate(
            "{held} line(s) wait for a one-card account.", held=result.held_without_account
        )
    return _back(request, f"/batches/{result.batch_id}", ok=message)


@get("/batches/{batch_id:int}", name="batch", opt=needs(C.FUNDS_READ))
async def batch_page(
    request: Request[Any, Any, Any],
    *,
    batch_id: FromPath[int],
    actor: NamedDependency[Actor],
    page: FromQuery[int] = 1,
) -> Response[str]:
    detail = await disbursement.get_batch(actor, batch_id, page)
    return render(
        request,
        "batches/detail.html",
        {"detail": detail, "problems": [], "can_manage": actor.can(C.PLAN_DRAFT)},
    )


@post("/batches/{batch_id:int}/export", opt=needs(C.BATCH_EXPORT))
async def export_batch(
    request: Request[Any, Any, Any], *, batch_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    file_format = first(form, "format", 5)
    try:
        data, filename = await disbursement.do_export_batch(actor, batch_id, file_format, now=now_of(request))
    except DomainError as exc:
        return _back(request, f"/batches/{batch_id}", exc)
    media = CSV_MEDIA if file_format == "csv" else XLSX_MEDIA
    return Response(
        data,
        media_type=media,
        status_code=200,
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
        },
    )


@post(
    "/batches/{batch_id:int}/return", request_max_body_size=RETURN_UPLOAD_LIMIT, opt=needs(C.BATCH_RECONCILE)
)
async def upload_return(
    request: Request[Any, Any, Any], *, batch_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    files = [f for f in form.getall("file", []) if isinstance(f, UploadFile)]
    problems: list[dict[str, Any]] = []
    message = ""
    try:
        if not files:
            raise DomainError(N_("Choose the bank's return file."), field="file")
        data = await files[0].read()
        result = await disbursement.do_reconcile_batch(
            actor, batch_id, data, (files[0].filename or "return.csv")[:200], now=now_of(request)
        )
    except BankFileRejected as exc:
        problems = [{"row": p.row, "message": translate(p.message, **p.params)} for p in exc.problems]
        message = _message(exc)
    except DomainError as exc:
        message = _message(exc)
    else:
        return _back(
            request,
            f"/batches/{batch_id}",
            ok=translate(
                "Return file applied: {paid} paid ({total} yuan), {failed} failed and re-queued,"
                " {unchanged} unchanged.",
                paid=result.paid,
                total=format_yuan(result.paid_fen),
                failed=result.failed,
                unchanged=result.unchanged,
            ),
        )
    detail = await disbursement.get_batch(actor, batch_id)
    return render(
        request,
        "batches/detail.html",
        {
            "detail": detail,
            "problems": problems,
            "refused": message,
            "can_manage": actor.can(C.PLAN_DRAFT),
        },
        status_code=422,
    )


# --- hand-over --------------------------------------------------------------------------


@get("/handover", name="handover", opt=needs(C.HANDOVER))
async def handover_page(
    request: Request[Any, Any, Any], *, actor: NamedDependency[Actor], household: FromQuery[int] = 0
) -> Response[str]:
    page = await handover.get_handover_page(actor, household) if household else None
    return render(request, "handover/index.html", {"page": page, "errors": {}})


@post("/handover/find", request_max_body_size=UPLOAD_LIMIT_BYTES, opt=needs(C.HANDOVER))
async def find_household(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    token = first(form, "token", 300)
    scans = [f for f in form.getall("qr_photo", []) if isinstance(f, UploadFile)]
    try:
        if not token and scans:
            data = await scans[0].read()
            if data:
                token = await handover.decode_qr(data)
        household_id = await handover.resolve_household(
            actor, token=token, file_no=first(form, "file_no", 30)
        )
    except DomainError as exc:
        return render(
            request, "handover/index.html", {"page": None, "errors": form_errors(exc)}, status_code=422
        )
    method = "qr" if token else "file_no"
    return Redirect(f"/handover?household={household_id}&method={method}", status_code=303)


@post("/handover/lines/{line_id:int}", request_max_body_size=UPLOAD_LIMIT_BYTES, opt=needs(C.HANDOVER))
async def confirm_handover(
    request: Request[Any, Any, Any], *, line_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    household_id = _id(first(form, "household", 12)) or 0
    photos = [f for f in form.getall("photo", []) if isinstance(f, UploadFile)]
    try:
        data = await photos[0].read() if photos else b""
        await handover.do_confirm_handover(
            actor,
            line_id,
            method=first(form, "method", 10) or "file_no",
            quantity=first(form, "quantity", 12),
            photo=data,
            now=now_of(request),
        )
    except (PhotoRejected, DomainError) as exc:
        page = await handover.get_handover_page(actor, household_id) if household_id else None
        return render(
            request,
            "handover/index.html",
            {"page": page, "errors": form_errors(exc), "line_id": line_id},
            status_code=422,
        )
    return _back(request, f"/handover?household={household_id}", ok=translate("Hand-over confirmed."))


# --- follow-ups and reviews ----------------------------------------------------------------


@get("/followups", name="followups", opt=needs(C.FOLLOWUPS_READ))
async def followups_page(
    request: Request[Any, Any, Any], *, actor: NamedDependency[Actor], kind: FromQuery[str] = ""
) -> Response[str]:
    lists = await followups.get_followup_lists(actor, now=now_of(request), kind=kind)
    context = {
        "lists": lists,
        "kind": kind,
        "outcome_labels": {o.value: o.label for o in FollowUpOutcome},
        "kind_labels": {k.value: k.label for k in VisitKind},
    }
    return render(request, "followups/index.html", context)


@post("/followups/reviews", opt=needs(C.REVIEWS_SCHEDULE))
async def schedule_reviews(
    request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]
) -> Response[Any]:
    try:
        created = await followups.do_schedule_reviews(actor, now=now_of(request))
    except DomainError as exc:
        return _back(request, "/followups", exc)
    return _back(
        request,
        "/followups?kind=review",
        ok=translate("{count} periodic review(s) scheduled.", count=created),
    )


@post("/followups/alerts/{visit_id:int}/resolve", opt=needs(C.FOLLOWUP_ALERT_RESOLVE))
async def resolve_alert(
    request: Request[Any, Any, Any], *, visit_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    try:
        await followups.do_resolve_alert(actor, visit_id, note=first(form, "note", 300), now=now_of(request))
    except DomainError as exc:
        return _back(request, "/followups", exc)
    return _back(request, "/followups", ok=translate("Alert resolved."))


@post("/followups/delay", opt=needs(C.SETTINGS_MANAGE))
async def set_delay(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    try:
        days = await followups.do_set_followup_delay(actor, first(form, "days", 5), now=now_of(request))
    except DomainError as exc:
        return _back(request, "/followups", exc)
    return _back(
        request, "/followups", ok=translate("Follow-ups are now scheduled {days} days after aid.", days=days)
    )


ROUTES: list[Any] = [
    resources_page,
    create_provider,
    create_resource,
    update_resource,
    record_donation,
    plans_page,
    draft_page,
    save_drafts,
    what_if_page,
    plan_page,
    adjust_line,
    approve_plan,
    cancel_line,
    funds_page,
    create_fund,
    fund_page,
    batches_page,
    generate_lines,
    create_batch,
    batch_page,
    export_batch,
    upload_return,
    handover_page,
    find_household,
    confirm_handover,
    followups_page,
    schedule_reviews,
    resolve_alert,
    set_delay,
]
