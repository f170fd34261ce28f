"""Bringing in the caseload: the upload page, its progress, the template and the roster export."""

from __future__ import annotations

import io
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from relief_pwa.core.caseload import COLUMN_BY_KEY, COLUMNS
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.handlers.common import C, is_htmx, needs, now_of, render
from relief_pwa.handlers.replica import REPLICA_READS
from relief_pwa.i18n import translate
from relief_pwa.services import caseload
from relief_pwa.services.actors import Actor
from relief_pwa.settings import get_settings

# The form's body: the file (RELIEF_IMPORT_MAX_BYTES, checked again by the service) and a few fields.
UPLOAD_LIMIT = get_settings().import_max_bytes + 64 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STAGES = {
    "reading": N_("Reading the file"),
    "checking": N_("Checking the rows"),
    "writing": N_("Storing the households"),
    "scoring": N_("Computing the relief index"),
    "done": N_("Done"),
}


def _download(data: bytes, filename: str) -> Response[bytes]:
    return Response(
        data,
        media_type=XLSX,
        headers={"content-disposition": f'attachment; filename="{filename}"', "cache-control": "no-store"},
    )


async def _page(
    request: Request[Any, Any, Any], actor: Actor, *, error: str = "", status_code: int = 200
) -> Response[str]:
    context = {
        "jobs": await caseload.list_import_jobs(actor, now=now_of(request)),
        "columns": COLUMNS,
        "error": error,
        "max_mb": caseload.max_upload_mb(),
    }
    return render(request, "caseload/import.html", context, status_code=status_code)


@get("/caseload/import", name="caseload_import", opt=needs(C.CASELOAD_IMPORT))
async def import_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    return await _page(request, actor)


@post("/caseload/import", request_max_body_size=UPLOAD_LIMIT, opt=needs(C.CASELOAD_IMPORT))
async def import_upload(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    files = [f for f in form.getall("file", []) if isinstance(f, UploadFile) and (f.filename or "").strip()]
    try:
        if not files:
            raise DomainError(N_("Choose the roster file (XLSX or CSV)."), field="file")
        data = await files[0].read()
        job_id = await caseload.do_start_import_job(
            actor,
            data,
            filename=(files[0].filename or "roster.xlsx")[:200],
            dry_run=form.get("dry_run") == "1",
            accept_valid=form.get("accept_valid") == "1",
            now=now_of(request),
            translate=translate,
        )
    except caseload.ImportRefused as exc:
        return await _page(request, actor, error=translate(exc.message, **exc.params), status_code=422)
    except DomainError as exc:
        if exc.field != "file":
            raise
        return await _page(request, actor, error=translate(exc.message, **exc.params), status_code=422)
    return Redirect(f"/caseload/import/jobs/{job_id}", status_code=303)


@get("/caseload/import/jobs/{job_id:int}", name="caseload_import_job", opt=needs(C.CASELOAD_IMPORT))
async def import_job(
    request: Request[Any, Any, Any], job_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    job = await caseload.get_import_job(actor, job_id, now=now_of(request))
    context = {"job": job, "stages": STAGES, "column_names": {k: c.header for k, c in COLUMN_BY_KEY.items()}}
    if is_htmx(request):
        return render(request, "caseload/job.html", context, block="job")
    return render(request, "caseload/job.html", context)


@get(
    "/caseload/import/jobs/{job_id:int}/report.xlsx",
    name="caseload_import_report",
    opt=needs(C.CASELOAD_IMPORT),
)
async def import_report(
    request: Request[Any, Any, Any], job_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[bytes]:
    data = await caseload.read_report(actor, job_id)
    return _download(data, f"caseload-import-{job_id}-report.xlsx")


@get("/caseload/template.xlsx", name="caseload_template", opt=needs(C.CASELOAD_IMPORT))
async def template(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[bytes]:
    caseload.require_importer(actor)
    return _download(caseload.template_bytes(), "caseload-template.xlsx")


@get("/caseload/export.xlsx", name="caseload_export", opt={**needs(C.CASELOAD_IMPORT), **REPLICA_READS})
async def export(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[bytes]:
    buffer = io.BytesIO()
    await caseload.export_roster(actor, buffer, now=now_of(request))
    return _download(buffer.getvalue(), "caseload-roster.xlsx")


ROUTES = [import_page, import_upload, import_job, import_report, template, export]
