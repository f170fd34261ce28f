"""Data checks with other agencies: the centre's batch page (export, result import), an
application's check report with the authorisation and requests, re-check changes to
review, and the household's authorisations (a section of the household file, an htmx
fragment that is also a page) (docs/datacheck.md). Thin: parse, call one service, render
or redirect."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from relief_pwa.adapters.exports import CSV_MEDIA
from relief_pwa.adapters.spreadsheets import DEFAULT_LIMITS
from relief_pwa.clock import local_date
from relief_pwa.core.datacheck import AGENCY_LAYOUTS, WARNING_LABELS, parse_agency
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.handlers.common import C, first, flash, form_errors, is_htmx, needs, now_of, render
from relief_pwa.i18n import translate
from relief_pwa.services import datacheck
from relief_pwa.services.actors import Actor

UPLOAD_LIMIT = DEFAULT_LIMITS.max_bytes + 64 * 1024


def _message(exc: DomainError) -> str:
    return " ".join(form_errors(exc).values())


async def _batches_page(
    request: Request[Any, Any, Any],
    actor: Actor,
    *,
    problems: list[dict[str, Any]],
    refused: str,
    status: int,
) -> Response[str]:
    return render(
        request,
        "datacheck/index.html",
        {
            "batches": await datacheck.list_batches(actor),
            "pending": await datacheck.pending_counts(actor),
            "layouts": AGENCY_LAYOUTS,
            "problems": problems,
            "refused": refused,
        },
        status_code=status,
    )


@get("/datacheck", name="datacheck", opt=needs(C.DATACHECK_EXCHANGE))
async def batches_page(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[str]:
    return await _batches_page(request, actor, problems=[], refused="", status=200)


@post("/datacheck/export", opt=needs(C.DATACHECK_EXCHANGE))
async def export_batch(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    try:
        agency = parse_agency(first(form, "agency", 30))
        batch = await datacheck.do_export_batch(actor, agency, now=now_of(request))
    except DomainError as exc:
        flash(request, _message(exc), "error")
        return Redirect("/datacheck", status_code=303)
    return Response(
        batch.content,
        media_type=CSV_MEDIA,
        status_code=200,
        headers={
            "content-disposition": f'attachment; filename="{batch.filename}"',
            "cache-control": "no-store",
        },
    )


@post("/datacheck/import", request_max_body_size=UPLOAD_LIMIT, opt=needs(C.DATACHECK_EXCHANGE))
async def import_results(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    files = [f for f in form.getall("file", []) if isinstance(f, UploadFile)]
    problems: list[dict[str, Any]] = []
    try:
        if not files:
            raise DomainError(N_("Choose the agency's result file."), field="file")
        data = await files[0].read()
        result = await datacheck.do_import_results(
            actor, data, (files[0].filename or "results.csv")[:200], now=now_of(request)
        )
    except datacheck.DataCheckRejected as exc:
        problems = [{"row": p.row, "message": translate(p.message, **p.params)} for p in exc.problems]
        return await _batches_page(request, actor, problems=problems, refused=_message(exc), status=422)
    except DomainError as exc:
        return await _batches_page(request, actor, problems=[], refused=_message(exc), status=422)
    flash(
        request,
        translate(
            "Results imported: {answered} answers, {confirmed} values confirmed, {changed} changed,"
            " {new} undeclared items found, {warnings} exclusion warnings,"
            " {flagged} re-check changes to review.",
            answered=result.answered,
            confirmed=result.confirmed,
            changed=result.new_versions,
            new=result.new_items,
            warnings=result.warnings,
            flagged=result.changed,
        ),
    )
    return Redirect("/datacheck", status_code=303)


@get("/datacheck/changes", name="datacheck_changes", opt=needs(C.DATACHECKS_READ))
async def changes_page(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[str]:
    rows = await datacheck.changes_to_review(actor)
    return render(request, "datacheck/changes.html", {"rows": rows, "labels": _agency_labels()})


@post("/datacheck/changes/{request_id:int}/reviewed", opt=needs(C.DATACHECK_REQUEST))
async def mark_reviewed(
    request: Request[Any, Any, Any], *, request_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    try:
        await datacheck.do_mark_reviewed(
            actor, request_id, note=first(form, "note", 500), now=now_of(request)
        )
    except DomainError as exc:
        flash(request, _message(exc), "error")
    else:
        flash(request, translate("Marked as reviewed."))
    return Redirect("/datacheck/changes", status_code=303)


def _agency_labels() -> dict[str, str]:
    return {layout.agency.value: layout.label for layout in AGENCY_LAYOUTS}


@get(
    "/applications/{application_id:int}/datacheck", name="application_datacheck", opt=needs(C.DATACHECKS_READ)
)
async def application_checks(
    request: Request[Any, Any, Any], *, application_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    report = await datacheck.get_check_report(actor, application_id)
    return render(
        request,
        "datacheck/application.html",
        {
            "report": report,
            "layouts": AGENCY_LAYOUTS,
            "labels": _agency_labels(),
            "warning_labels": WARNING_LABELS,
            "today": local_date(now_of(request)).isoformat(),
        },
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise DomainError(N_("Enter a date as YYYY-MM-DD."), field="authorised_on") from None


@post("/applications/{application_id:int}/datacheck/authorise", opt=needs(C.DATACHECK_AUTHORISE))
async def authorise(
    request: Request[Any, Any, Any], *, application_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    url = f"/applications/{application_id}/datacheck"
    try:
        report = await datacheck.get_check_report(actor, application_id)
        await datacheck.do_record_authorisation(
            actor,
            report.household_id,
            application_id=application_id,
            authorised_on=_day(first(form, "authorised_on", 10)),
            now=now_of(request),
        )
    except DomainError as exc:
        flash(request, _message(exc), "error")
    else:
        flash(request, translate("Authorisation recorded."))
    return Redirect(url, status_code=303)


@post("/applications/{application_id:int}/datacheck/request", opt=needs(C.DATACHECK_REQUEST))
async def request_checks(
    request: Request[Any, Any, Any], *, application_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    try:
        agencies = [parse_agency(str(v)[:30]) for v in form.getall("agency", [])]
        count = await datacheck.do_request_checks(actor, application_id, agencies, now=now_of(request))
    except DomainError as exc:
        flash(request, _message(exc), "error")
    else:
        flash(request, translate("{count} check requests queued for the next batch.", count=count))
    return Redirect(f"/applications/{application_id}/datacheck", status_code=303)


# --- the household's authorisation (a section of the household file) -------------------------


async def _authorisation(
    request: Request[Any, Any, Any],
    actor: Actor,
    household_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    failed_revoke: int | None = None,
    saved: str = "",
    status: int = 200,
) -> Response[str]:
    page = await datacheck.authorisation_page(actor, household_id)
    return render(
        request,
        "datacheck/household.html",
        {
            "page": page,
            "layouts": AGENCY_LAYOUTS,
            "errors": errors or {},
            "values": values or {},
            "failed_revoke": failed_revoke,
            "saved": saved,
            "today": local_date(now_of(request)).isoformat(),
        },
        block="authorisation" if is_htmx(request) else None,
        # The fragment with its messages goes back to htmx as 200 (htmx swaps no 4xx, and the
        # browser logs every 4xx request as a console error); a plain form post gets the 422.
        status_code=200 if is_htmx(request) else status,
    )


@get(
    "/households/{household_id:int}/datacheck",
    name="household_datacheck",
    opt=needs(C.DATACHECKS_READ),
)
async def household_authorisation(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    return await _authorisation(request, actor, household_id)


def _signer(text: str) -> int:
    if not text.isdecimal():
        raise DomainError(N_("Choose the member of the household who signed."), field="signed_by")
    return int(text)


@post("/households/{household_id:int}/datacheck/authorise", opt=needs(C.DATACHECK_AUTHORISE))
async def household_authorise(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    chosen = [str(v)[:30] for v in form.getall("agency", [])]
    signed_by = first(form, "signed_by", 12)
    authorised_on = first(form, "authorised_on", 10)
    document_ref = first(form, "document_ref", 400)
    values: dict[str, Any] = {
        "signed_by": signed_by,
        "authorised_on": authorised_on,
        "document_ref": document_ref,
        "agencies": chosen,
    }
    try:
        if not chosen:
            raise DomainError(N_("Choose at least one agency."), field="agencies")
        await datacheck.do_record_authorisation(
            actor,
            household_id,
            signed_by=_signer(signed_by),
            authorised_on=_day(authorised_on),
            agencies=[parse_agency(code) for code in chosen],
            document_ref=document_ref,
            now=now_of(request),
        )
    except DomainError as exc:
        return await _authorisation(
            request, actor, household_id, errors=form_errors(exc), values=values, status=422
        )
    if is_htmx(request):
        return await _authorisation(request, actor, household_id, saved=translate("Authorisation recorded."))
    flash(request, translate("Authorisation recorded."))
    return Redirect(f"/households/{household_id}/datacheck", status_code=303)


@post(
    "/households/{household_id:int}/datacheck/authorisations/{consent_id:int}/revoke",
    opt=needs(C.DATACHECK_AUTHORISE),
)
async def household_revoke(
    request: Request[Any, Any, Any],
    *,
    household_id: FromPath[int],
    consent_id: FromPath[int],
    actor: NamedDependency[Actor],
) -> Response[Any]:
    form = await request.form()
    reason = first(form, "reason", 2000)
    try:
        await datacheck.do_revoke_authorisation(
            actor, household_id, consent_id, reason=reason, now=now_of(request)
        )
    except DomainError as exc:
        return await _authorisation(
            request,
            actor,
            household_id,
            errors=form_errors(exc),
            values={"reason": reason},
            failed_revoke=consent_id,
            status=422,
        )
    if is_htmx(request):
        return await _authorisation(request, actor, household_id, saved=translate("Authorisation revoked."))
    flash(request, translate("Authorisation revoked."))
    return Redirect(f"/households/{household_id}/datacheck", status_code=303)


ROUTES: list[Any] = [
    household_authorisation,
    household_authorise,
    household_revoke,
    batches_page,
    export_batch,
    import_results,
    changes_page,
    mark_reviewed,
    application_checks,
    authorise,
    request_checks,
]
