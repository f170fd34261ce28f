"""Field work on a phone: my visits, scheduling, the visit record (online or
from the offline outbox), photos, the declared-vs-verified ledger, the
eligibility opinion, and the service worker."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from relief_pwa.adapters.photos import PhotoRejected
from relief_pwa.clock import local_date
from relief_pwa.core.bounds import parse_day
from relief_pwa.core.errors import DomainError, ValidationFailed
from relief_pwa.core.fieldwork import (
    FollowUpOutcome,
    PhotoPurpose,
    VisitKind,
    VisitStatus,
    check_threshold,
    parse_gps,
    parse_visit_kind,
)
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import parse_yuan
from relief_pwa.handlers.assets import service_worker_source
from relief_pwa.handlers.common import (
    PUBLIC,
    C,
    first,
    flash,
    form_errors,
    is_htmx,
    needs,
    now_of,
    render,
)
from relief_pwa.i18n import translate
from relief_pwa.services.actors import Actor
from relief_pwa.services.ledger import (
    VerifiedValue,
    discrepancy_threshold_pct,
    do_set_discrepancy_threshold,
    get_ledger,
)
from relief_pwa.services.opinions import (
    do_record_opinion,
    do_start_investigation,
    get_opinion_page,
    parse_supporter,
)
from relief_pwa.services.photos import UPLOAD_LIMIT_BYTES, do_add_photo, list_visit_photos, read_photo
from relief_pwa.services.reviews import get_review_decision
from relief_pwa.services.visits import (
    ImageUpload,
    ScheduleRequest,
    VisitConflict,
    VisitRecord,
    access_visit,
    check_record_visit,
    do_cancel_visit,
    do_schedule_visit,
    field_staff_for,
    get_new_visit_form,
    get_visit_form,
    list_household_visits,
    list_my_visits,
)

MAX_PHOTOS_PER_RECORD = 12


def _int_or_none(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdecimal() and len(raw) < 12 else None


def _is_outbox(request: Request[Any, Any, Any]) -> bool:
    """The phone's offline outbox (static/js/outbox.js) asks for machine-readable answers."""
    return request.headers.get("x-outbox") == "1"


# --- my visits ---------------------------------------------------------------


@get("/visits", name="visits", opt=needs(C.VISIT_RECORD))
async def my_visits(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[str]:
    today = local_date(now_of(request))
    visits = await list_my_visits(actor, today)
    # The pages the service worker keeps for offline reading: each visit and its household file.
    offline_urls: list[str] = []
    for visit in visits.open_visits:
        offline_urls += [
            f"/visits/{visit.id}",
            f"/households/{visit.household_id}",
            f"/households/{visit.household_id}/ledger",
            f"/households/{visit.household_id}/visits/record",  # a walk-in visit, offline too
        ]
    return render(
        request,
        "visits/list.html",
        {
            "visits": visits,
            "offline_urls": sorted(set(offline_urls)),
            "can_schedule": actor.can(C.VISIT_RECORD),
        },
    )


@get("/households/{household_id:int}/visits", name="household_visits", opt=needs(C.CASES_READ))
async def household_visits(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    visits = await list_household_visits(actor, household_id)
    return render(
        request,
        "visits/household.html",
        {
            "visits": visits,
            "household_id": household_id,
            "kinds": list(VisitKind),
            "can_record": actor.can(C.VISIT_RECORD),
        },
    )


# --- scheduling ------------------------------------------------------------


async def _schedule_context(
    actor: Actor, household_id: int, values: dict[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    form = await get_new_visit_form(actor, household_id)
    staff = await field_staff_for(form.household["org_path"])
    return {"form": form, "staff": staff, "kinds": list(VisitKind), "values": values, "errors": errors}


@get("/households/{household_id:int}/visits/schedule", name="visit_schedule", opt=needs(C.VISIT_RECORD))
async def schedule_form(
    request: Request[Any, Any, Any],
    *,
    household_id: FromPath[int],
    actor: NamedDependency[Actor],
    application_id: FromQuery[str] = "",
) -> Response[str]:
    values = {
        "assigned_to": str(actor.staff_id),
        "scheduled_for": local_date(now_of(request)).isoformat(),
        "kind": VisitKind.HOME.value,
        "application_id": application_id[:12],
    }
    return render(request, "visits/schedule.html", await _schedule_context(actor, household_id, values, {}))


@post("/households/{household_id:int}/visits/schedule", opt=needs(C.VISIT_RECORD))
async def schedule_submit(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    values = {
        name: first(form, name, 40)
        for name in ("kind", "scheduled_for", "assigned_to", "time_window", "application_id")
    }
    try:
        try:
            scheduled_for = parse_day(values["scheduled_for"], "scheduled_for")
        except DomainError:
            raise DomainError(N_("Enter a date."), field="scheduled_for") from None
        assigned = _int_or_none(values["assigned_to"])
        if assigned is None:
            raise DomainError(N_("Choose a field worker of this household's area."), field="assigned_to")
        visit_id = await do_schedule_visit(
            actor,
            ScheduleRequest(
                household_id=household_id,
                kind=parse_visit_kind(values["kind"]),
                scheduled_for=scheduled_for,
                assigned_to=assigned,
                application_id=_int_or_none(values["application_id"]),
                time_window=values["time_window"],
            ),
            now=now_of(request),
        )
    except DomainError as exc:
        context = await _schedule_context(actor, household_id, values, form_errors(exc))
        return render(request, "visits/schedule.html", context, status_code=422)
    flash(request, translate("Visit scheduled."))
    return Redirect(f"/visits/{visit_id}", status_code=303)


@post("/visits/{visit_id:int}/cancel", opt=needs(C.VISIT_RECORD))
async def cancel_visit(
    request: Request[Any, Any, Any], *, visit_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    try:
        await do_cancel_visit(actor, visit_id, reason=first(form, "reason", 500), now=now_of(request))
    except DomainError as exc:
        flash(request, " ".join(form_errors(exc).values()), "error")
        return Redirect(f"/visits/{visit_id}", status_code=303)
    flash(request, translate("Visit cancelled."))
    return Redirect(f"/visits/{visit_id}", status_code=303)


# --- the visit record --------------------------------------------------------


async def _visit_page_context(actor: Actor, visit_id: int, now: datetime | None = None) -> dict[str, Any]:
    form = await get_visit_form(actor, visit_id)
    assert form.visit is not None
    return {
        # A review visit ends in a decision (shown with the page, not with a form error).
        "review": await get_review_decision(actor, visit_id, now=now) if now is not None else None,
        "form": form,
        "visit": form.visit,
        "photos": await list_visit_photos(actor, visit_id),
        "outcomes": list(FollowUpOutcome),
        # A fresh id for a first record; an edit keeps the record's own id.
        "client_uuid": form.visit.client_uuid or str(uuid.uuid4()),
        "can_record": actor.can(C.VISIT_RECORD) and form.visit.status != VisitStatus.CANCELLED,
        "values": {},
        "errors": {},
    }


@get("/visits/{visit_id:int}", name="visit", opt=needs(C.CASES_READ))
async def visit_page(
    request: Request[Any, Any, Any], *, visit_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    return render(request, "visits/visit.html", await _visit_page_context(actor, visit_id, now_of(request)))


@get("/households/{household_id:int}/visits/record", name="visit_unscheduled", opt=needs(C.VISIT_RECORD))
async def unscheduled_form(
    request: Request[Any, Any, Any],
    *,
    household_id: FromPath[int],
    actor: NamedDependency[Actor],
    kind: FromQuery[str] = "home",
) -> Response[str]:
    form = await get_new_visit_form(actor, household_id)
    chosen = kind if kind in {k.value for k in VisitKind} else VisitKind.HOME.value
    return render(
        request,
        "visits/visit.html",
        {
            "form": form,
            "visit": None,
            "photos": [],
            "outcomes": list(FollowUpOutcome),
            "kinds": list(VisitKind),
            "kind": chosen,
            "client_uuid": str(uuid.uuid4()),
            "can_record": actor.can(C.VISIT_RECORD),
            "values": {},
            "errors": {},
        },
    )


async def _uploads(form: FormMultiDict, name: str, limit: int) -> list[UploadFile]:
    files = [f for f in form.getall(name, []) if isinstance(f, UploadFile) and (f.filename or "").strip()]
    if len(files) > limit:
        raise DomainError(N_("At most {limit} photos can be sent at once."), field="photos", limit=limit)
    return files


def record_form_values(form: FormMultiDict) -> dict[str, str]:
    """The typed values of the visit form, echoed back when it is refused."""
    values = {
        name: first(form, name, 4000)
        for name in (
            "client_uuid",
            "visit_id",
            "household_id",
            "kind",
            "base_version",
            "findings",
            "outcome",
            "second_investigator",
            "gps_lat",
            "gps_lon",
        )
    }
    for key in list(form)[:500]:
        if key.startswith("verified-"):
            item = key.removeprefix("verified-")[:12]
            values[f"verified-{item}"] = first(form, key, 40).strip()
            values[f"note-{item}"] = first(form, f"note-{item}", 300)
    return values


async def parse_record_form(form: FormMultiDict, values: dict[str, str]) -> VisitRecord:
    """The visit form (page or outbox) → a VisitRecord."""
    errors: dict[str, DomainError] = {}
    verified: list[VerifiedValue] = []
    for key, text in values.items():
        if not key.startswith("verified-"):
            continue
        item_id = _int_or_none(key.removeprefix("verified-"))
        note = values.get(f"note-{key.removeprefix('verified-')}", "")
        if item_id is None or not text:
            continue
        try:
            verified.append(VerifiedValue(item_id, parse_yuan(text, field=key), note))
        except DomainError as exc:
            errors[key] = exc
    gps: tuple[float, float] | None = None
    try:
        gps = parse_gps(values["gps_lat"], values["gps_lon"])
    except DomainError:
        gps = None  # a broken position from the phone is dropped, not a reason to lose the record
    if errors:
        raise ValidationFailed(errors)
    signature_files = await _uploads(form, "signature", 1)
    photo_files = await _uploads(form, "photos", MAX_PHOTOS_PER_RECORD)
    signature = (
        ImageUpload(await signature_files[0].read(), PhotoPurpose.SIGNATURE, name=signature_files[0].filename)
        if signature_files
        else None
    )
    photos = tuple([ImageUpload(await f.read(), PhotoPurpose.EVIDENCE, name=f.filename) for f in photo_files])
    return VisitRecord(
        client_uuid=values["client_uuid"],
        findings=values["findings"],
        visit_id=_int_or_none(values["visit_id"]),
        household_id=_int_or_none(values["household_id"]),
        kind=values["kind"],
        base_version=_int_or_none(values["base_version"]),
        outcome=values["outcome"],
        second_investigator_id=_int_or_none(values["second_investigator"]),
        gps=gps,
        verifications=tuple(verified),
        signature=signature,
        photos=photos,
    )


@post("/visits/record", request_max_body_size=UPLOAD_LIMIT_BYTES, opt=needs(C.VISIT_RECORD))
async def record_visit(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    values = record_form_values(form)
    try:
        record = await parse_record_form(form, values)
        result = await check_record_visit(actor, record, now=now_of(request))
    except VisitConflict as conflict:
        return render(
            request,
            "visits/conflict.html",
            {
                "conflict": conflict,
                "values": values,
                "outbox": _is_outbox(request),
                "items": (await get_visit_form(actor, conflict.visit_id)).items,
            },
            block="conflict" if _is_outbox(request) or is_htmx(request) else None,
            status_code=409,
        )
    except DomainError as exc:
        errors = form_errors(exc)
        if _is_outbox(request):
            return Response({"status": "invalid", "errors": errors}, status_code=422)
        context = await _record_error_context(actor, values, errors)
        return render(request, "visits/visit.html", context, status_code=422)
    url = f"/visits/{result.visit_id}"
    if _is_outbox(request):
        return Response(
            {
                "status": "ok",
                "visit_id": result.visit_id,
                "version": result.version,
                "duplicate": result.duplicate,
                "url": url,
                "household_id": result.household_id,
            },
            status_code=200,
        )
    flash(
        request,
        translate("The visit record was already saved.")
        if result.duplicate
        else translate("Visit recorded."),
    )
    return Redirect(url, status_code=303)


async def _record_error_context(
    actor: Actor, values: dict[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    visit_id = _int_or_none(values.get("visit_id", ""))
    if visit_id is not None:
        context = await _visit_page_context(actor, visit_id)
    else:
        household_id = _int_or_none(values.get("household_id", "")) or 0
        context = {
            "form": await get_new_visit_form(actor, household_id),
            "visit": None,
            "photos": [],
            "outcomes": list(FollowUpOutcome),
            "kinds": list(VisitKind),
            "kind": values.get("kind", "home"),
            "can_record": True,
        }
    context.update(
        {
            "values": values,
            "errors": errors,
            "client_uuid": values.get("client_uuid") or context.get("client_uuid", str(uuid.uuid4())),
        }
    )
    return context


# --- photos -------------------------------------------------------------------


@post("/visits/{visit_id:int}/photos", request_max_body_size=UPLOAD_LIMIT_BYTES, opt=needs(C.VISIT_RECORD))
async def upload_photo(
    request: Request[Any, Any, Any], *, visit_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    files = [f for f in form.getall("photo", []) if isinstance(f, UploadFile)]
    error = ""
    try:
        if not files:
            raise DomainError(N_("Please choose a photo."), field="photo")
        data = await files[0].read()
        result = await do_add_photo(
            actor,
            visit_id,
            data,
            purpose=first(form, "purpose", 20) or "evidence",
            caption=first(form, "caption", 200),
            now=now_of(request),
        )
    except (PhotoRejected, DomainError) as exc:
        error = " ".join(form_errors(exc).values())
        result = None
    if _is_outbox(request):
        if result is None:
            return Response({"status": "invalid", "errors": {"photo": error}}, status_code=422)
        return Response(
            {"status": "ok", "photo_id": result.photo_id, "created": result.created},
            status_code=201 if result.created else 200,
        )
    if is_htmx(request):
        context = {
            "photos": await list_visit_photos(actor, visit_id),
            "photo_error": error,
            "visit": await access_visit(actor, visit_id),
        }
        return render(request, "visits/_photos.html", context, status_code=422 if error else 200)
    if error:
        flash(request, error, "error")
    else:
        flash(request, translate("Photo saved."))
    return Redirect(f"/visits/{visit_id}", status_code=303)


def _photo_response(data: bytes) -> Response[bytes]:
    return Response(
        data,
        media_type="image/jpeg",
        headers={
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",  # evidence photos of people's homes: never kept in caches
            "content-disposition": "inline",
        },
    )


@get("/photos/{photo_id:int}", name="photo", opt=needs(C.CASES_READ))
async def photo_image(
    request: Request[Any, Any, Any], *, photo_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[bytes]:
    return _photo_response(await read_photo(actor, photo_id, now=now_of(request)))


@get("/photos/{photo_id:int}/thumb", name="photo_thumb", opt=needs(C.CASES_READ))
async def photo_thumb(
    request: Request[Any, Any, Any], *, photo_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[bytes]:
    return _photo_response(await read_photo(actor, photo_id, now=now_of(request), thumb=True))


# --- the declared-vs-verified ledger ----------------------------------------------


@get("/households/{household_id:int}/ledger", name="ledger", opt=needs(C.CASES_READ))
async def ledger_page(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    ledger = await get_ledger(actor, household_id, now=now_of(request))
    block = "ledger" if is_htmx(request) else None
    return render(
        request, "households/ledger.html", {"ledger": ledger, "household_id": household_id}, block=block
    )


@get("/settings/discrepancy", name="discrepancy_setting", opt=needs(C.CASES_READ))
async def threshold_form(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[str]:
    return render(
        request,
        "visits/threshold.html",
        {
            "threshold": await discrepancy_threshold_pct(),
            "errors": {},
            "can_edit": actor.can(C.SETTINGS_MANAGE),
        },
    )


@post("/settings/discrepancy", opt=needs(C.SETTINGS_MANAGE))
async def threshold_submit(
    request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    raw = first(form, "threshold", 10)
    try:
        await do_set_discrepancy_threshold(actor, check_threshold(raw), now=now_of(request))
    except DomainError as exc:
        return render(
            request,
            "visits/threshold.html",
            {"threshold": raw, "errors": form_errors(exc), "can_edit": True},
            status_code=422,
        )
    flash(request, translate("Threshold saved."))
    return Redirect("/settings/discrepancy", status_code=303)


# --- the eligibility opinion ----------------------------------------------------


@get("/applications/{application_id:int}/opinion", name="opinion", opt=needs(C.CASES_READ))
async def opinion_page(
    request: Request[Any, Any, Any],
    *,
    application_id: FromPath[int],
    actor: NamedDependency[Actor],
    supporter: FromQuery[str] = "",
) -> Response[str]:
    page = await get_opinion_page(
        actor,
        application_id,
        as_of=local_date(now_of(request)),
        legal_supporter_able=parse_supporter(supporter),
    )
    block = "means_test" if is_htmx(request) else None
    return render(
        request,
        "visits/opinion.html",
        {"page": page, "values": {"supporter": supporter[:10]}, "errors": {}},
        block=block,
    )


@post("/applications/{application_id:int}/opinion", opt=needs(C.APP_FIND_ELIGIBLE))
async def opinion_submit(
    request: Request[Any, Any, Any], *, application_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    values = {
        "decision": first(form, "decision", 20),
        "reasons": first(form, "reasons", 2000),
        "supporter": first(form, "supporter", 10),
        "version": first(form, "version", 12),
        "check_waiver": first(form, "check_waiver", 2000),
    }
    try:
        await do_record_opinion(
            actor,
            application_id,
            decision=values["decision"],
            reasons=values["reasons"],
            legal_supporter_able=parse_supporter(values["supporter"]),
            now=now_of(request),
            expected_version=_int_or_none(values["version"]),
            check_waiver=values["check_waiver"],
        )
    except DomainError as exc:
        page = await get_opinion_page(
            actor,
            application_id,
            as_of=local_date(now_of(request)),
            legal_supporter_able=parse_supporter(values["supporter"]),
        )
        return render(
            request,
            "visits/opinion.html",
            {"page": page, "values": values, "errors": form_errors(exc)},
            status_code=422,
        )
    flash(request, translate("Eligibility opinion recorded."))
    return Redirect(f"/applications/{application_id}/opinion", status_code=303)


@post("/applications/{application_id:int}/start-investigation", opt=needs(C.APP_START_INVESTIGATION))
async def start_investigation(
    request: Request[Any, Any, Any], *, application_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    try:
        await do_start_investigation(actor, application_id, now=now_of(request))
    except DomainError as exc:
        flash(request, " ".join(form_errors(exc).values()), "error")
    else:
        flash(request, translate("Investigation started."))
    return Redirect(f"/applications/{application_id}/opinion", status_code=303)


# --- the PWA ----------------------------------------------------------------------


@get("/sw.js", name="service_worker", cache=False, include_in_schema=False, opt=PUBLIC)
async def service_worker() -> Response[bytes]:
    """The service worker at the root, so its scope is the whole app."""
    return Response(
        service_worker_source(),
        media_type="text/javascript; charset=utf-8",
        headers={
            "service-worker-allowed": "/",
            "cache-control": "no-cache",
        },
    )


@get("/offline", name="offline", include_in_schema=False, opt=PUBLIC)
async def offline_page(request: Request[Any, Any, Any]) -> Response[str]:
    """Shown by the service worker for a page that is not kept on the phone."""
    return render(request, "visits/offline.html", {})


ROUTES: list[Any] = [
    my_visits,
    household_visits,
    schedule_form,
    schedule_submit,
    cancel_visit,
    visit_page,
    unscheduled_form,
    record_visit,
    upload_photo,
    photo_image,
    photo_thumb,
    ledger_page,
    threshold_form,
    threshold_submit,
    opinion_page,
    opinion_submit,
    start_investigation,
    service_worker,
    offline_page,
]
