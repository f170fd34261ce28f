"""City staff change the org network: add, rename, move, merge, deactivate; load the bureau's file."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from relief_pwa.adapters.orgfile import parse_org_file, template_csv, template_xlsx
from relief_pwa.adapters.spreadsheets import off_the_loop
from relief_pwa.core.enums import AreaType, OrgLevel
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.handlers.common import C, first, flash, form_errors, needs, now_of, render
from relief_pwa.i18n import gettext, translate
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.org import get_unit
from relief_pwa.services.org_admin import NewOrgUnit, do_create_org_units
from relief_pwa.services.org_changes import (
    do_deactivate_unit,
    do_merge_units,
    do_rename_unit,
    do_reparent_unit,
)
from relief_pwa.services.org_import import ImportPlan, area_type_for, do_import_org

ORG_UPLOAD_LIMIT = 4 * 1024 * 1024
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CHILD_LEVEL = {
    OrgLevel.CITY: OrgLevel.DISTRICT,
    OrgLevel.DISTRICT: OrgLevel.STREET,
    OrgLevel.STREET: OrgLevel.COMMUNITY,
}


def _back(unit_id: int) -> Redirect:
    return Redirect(f"/admin/org?unit={unit_id}", status_code=303)


async def _refused(request: Request[Any, Any, Any], unit_id: int, exc: DomainError) -> Redirect:
    flash(request, " ".join(form_errors(exc).values()), "error")
    return _back(unit_id)


@post("/admin/org/{unit_id:int}/add", opt=needs(C.ORG_MANAGE))
async def add_unit(
    request: Request[Any, Any, Any], unit_id: FromPath[int], actor: NamedDependency[Actor]
) -> Redirect:
    form = await request.form()
    try:
        require(actor, C.ORG_MANAGE)
        parent = await get_unit(unit_id)
        if parent is None or not parent.path.startswith(actor.org_path) or parent.level not in _CHILD_LEVEL:
            raise DomainError(N_("The parent unit is missing or at the wrong level."), field="parent_code")
        level = _CHILD_LEVEL[OrgLevel(parent.level)]
        code = first(form, "code", 12)
        name = " ".join(first(form, "name", 100).split())
        if not name:
            raise DomainError(N_("Enter a name."), field="name")
        area = (
            area_type_for(code)
            if level == OrgLevel.COMMUNITY and code.isdigit() and len(code) == 12
            else None
        )
        unit = NewOrgUnit(
            code,
            name,
            level,
            parent.code,
            area or AreaType(parent.area_type),
            office_address=first(form, "address", 200),
        )
        if await do_create_org_units(actor, [unit], now=now_of(request)) == 0:
            raise DomainError(N_("This code is taken."), field="code")
    except DomainError as exc:
        return await _refused(request, unit_id, exc)
    flash(request, gettext("Unit added."))
    return _back(unit_id)


@post("/admin/org/{unit_id:int}/rename", opt=needs(C.ORG_MANAGE))
async def rename_unit(
    request: Request[Any, Any, Any], unit_id: FromPath[int], actor: NamedDependency[Actor]
) -> Redirect:
    form = await request.form()
    try:
        await do_rename_unit(actor, unit_id, first(form, "name", 100), now=now_of(request))
    except DomainError as exc:
        return await _refused(request, unit_id, exc)
    flash(request, gettext("Unit renamed."))
    return _back(unit_id)


@post("/admin/org/{unit_id:int}/move", opt=needs(C.ORG_MANAGE))
async def move_unit(
    request: Request[Any, Any, Any], unit_id: FromPath[int], actor: NamedDependency[Actor]
) -> Redirect:
    form = await request.form()
    try:
        report = await do_reparent_unit(actor, unit_id, first(form, "parent_code", 12), now=now_of(request))
    except DomainError as exc:
        return await _refused(request, unit_id, exc)
    flash(request, gettext("Unit moved; %(n)s records moved with it.") % {"n": report.total})
    return _back(unit_id)


@post("/admin/org/{unit_id:int}/merge", opt=needs(C.ORG_MANAGE))
async def merge_unit(
    request: Request[Any, Any, Any], unit_id: FromPath[int], actor: NamedDependency[Actor]
) -> Redirect:
    form = await request.form()
    try:
        report = await do_merge_units(
            actor,
            unit_id,
            first(form, "target_code", 12),
            new_name=first(form, "new_name", 100),
            now=now_of(request),
        )
    except DomainError as exc:
        return await _refused(request, unit_id, exc)
    flash(request, gettext("Units merged; %(n)s records moved.") % {"n": report.total})
    return _back(unit_id)


@post("/admin/org/{unit_id:int}/deactivate", opt=needs(C.ORG_MANAGE))
async def deactivate_unit(
    request: Request[Any, Any, Any], unit_id: FromPath[int], actor: NamedDependency[Actor]
) -> Redirect:
    try:
        await do_deactivate_unit(actor, unit_id, now=now_of(request))
    except DomainError as exc:
        return await _refused(request, unit_id, exc)
    flash(request, gettext("Unit deactivated."))
    return _back(unit_id)


# --- the bureau's file --------------------------------------------------------------


def _plan_context(plan: ImportPlan | None, dry_run: bool) -> dict[str, Any]:
    if plan is None:
        return {"plan": None}
    problems = [(p.line, p.code, translate(p.message, **p.params)) for p in plan.problems]
    return {"plan": plan, "problems": problems, "dry_run": dry_run}


@get("/admin/org/import", name="admin_org_import", opt=needs(C.ORG_MANAGE))
async def import_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    require(actor, C.ORG_MANAGE)
    return render(request, "admin/org_import.html", {"plan": None, "errors": {}})


@post("/admin/org/import", request_max_body_size=ORG_UPLOAD_LIMIT, opt=needs(C.ORG_MANAGE))
async def import_upload(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    require(actor, C.ORG_MANAGE)
    form = await request.form()
    files = [f for f in form.getall("file", []) if isinstance(f, UploadFile)]
    dry_run = first(form, "dry_run", 1) == "1"
    try:
        if not files:
            raise DomainError(N_("Choose a file."), field="file")
        # Parsed away from the event loop: pages stay responsive while a file is read.
        rows = await off_the_loop(parse_org_file, await files[0].read(), files[0].filename or "org.csv")
        plan = await do_import_org(actor, rows, now=now_of(request), dry_run=dry_run)
    except DomainError as exc:
        context = {"plan": None, "errors": form_errors(exc)}
        return render(request, "admin/org_import.html", context, status_code=422)
    status = 200 if plan.ok else 422
    context = {**_plan_context(plan, dry_run), "errors": {}}
    return render(request, "admin/org_import.html", context, status_code=status)


@get("/admin/org/template.xlsx", opt=needs(C.STAFF_READ))
async def template_download(actor: NamedDependency[Actor]) -> Response[bytes]:
    require(actor, C.STAFF_READ)
    return Response(
        template_xlsx(),
        media_type=XLSX_MEDIA,
        headers={"content-disposition": 'attachment; filename="org-template.xlsx"'},
    )


@get("/admin/org/template.csv", opt=needs(C.STAFF_READ))
async def template_download_csv(actor: NamedDependency[Actor]) -> Response[bytes]:
    require(actor, C.STAFF_READ)
    return Response(
        template_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="org-template.csv"'},
    )


ROUTES: list[Any] = [
    add_unit,
    rename_unit,
    move_unit,
    merge_unit,
    deactivate_unit,
    import_page,
    import_upload,
    template_download,
    template_download_csv,
]
