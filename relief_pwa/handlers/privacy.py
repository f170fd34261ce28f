"""Personal data requests: the data-subject export (services/subject_export.py)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency

from relief_pwa.adapters.exports import XLSX_MEDIA
from relief_pwa.core.errors import DomainError
from relief_pwa.handlers.common import C, first, form_errors, needs, now_of, render
from relief_pwa.i18n import gettext
from relief_pwa.services.actors import Actor
from relief_pwa.services.subject_export import do_subject_export


@get("/privacy/subject-export", name="subject_export", opt=needs(C.SUBJECT_EXPORT))
async def subject_export_form(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor]
) -> Response[str]:
    return render(request, "privacy/subject_export.html", {"errors": {}, "values": {}})


@post("/privacy/subject-export", opt=needs(C.SUBJECT_EXPORT))
async def subject_export_download(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    values = {
        "id_number": first(form, "id_number", 40),
        "reference": first(form, "reference", 200),
        "format": "json" if first(form, "format", 8) == "json" else "xlsx",
    }
    now = now_of(request)
    try:
        export = await do_subject_export(actor, values["id_number"], reference=values["reference"], now=now)
    except DomainError as exc:
        values["id_number"] = ""  # never echo the number back into a page
        return render(
            request,
            "privacy/subject_export.html",
            {"errors": form_errors(exc), "values": values},
            status_code=400,
        )
    stamp = now.strftime("%Y%m%d-%H%M%S")
    if values["format"] == "json":
        data, media, suffix = export.to_json(), "application/json", "json"
    else:
        data, media, suffix = export.to_xlsx(gettext), XLSX_MEDIA, "xlsx"
    return Response(
        data,
        media_type=media,
        status_code=200,
        headers={
            "content-disposition": f'attachment; filename="personal-data-{stamp}.{suffix}"',
            "cache-control": "no-store",
        },
    )


ROUTES: list[Any] = [subject_export_form, subject_export_download]
