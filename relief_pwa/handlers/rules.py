"""Standards, rules and the holiday calendar: city staff edit them (effective dates); supervisors read."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect

from relief_pwa.clock import local_date
from relief_pwa.core.enums import AreaType, OrgLevel
from relief_pwa.core.errors import DomainError, ValidationFailed
from relief_pwa.core.facts import Standard
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import parse_yuan
from relief_pwa.core.rules import CalendarEntry
from relief_pwa.handlers.common import C, first, flash, form_errors, needs, now_of, render
from relief_pwa.i18n import gettext
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.org import list_units_in_scope
from relief_pwa.services.rules import (
    do_load_calendar_text,
    do_remove_calendar_day,
    do_set_calendar_days,
    do_set_rule,
    list_calendar,
    list_rules,
    years_without_arrangement,
)
from relief_pwa.services.standards import do_set_standard, list_standard_rows

CALENDAR_UPLOAD_LIMIT = 256 * 1024
UNIT_LABELS = {
    "working_days": N_("working days"),
    "days": N_("days"),
    "months": N_("months"),
    "yuan": N_("yuan"),
    "count": N_("(number)"),
}


def _date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise DomainError(N_("Enter a date as YYYY-MM-DD."), field=field) from None


def _int(text: str, field: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise DomainError(N_("Enter a whole number."), field=field) from None


# --- standards -------------------------------------------------------------------


async def _standards_page(
    request: Request[Any, Any, Any], actor: Actor, errors: dict[str, str], values: dict[str, str], status: int
) -> Response[str]:
    require(actor, C.STANDARDS_READ)
    districts = await list_units_in_scope(actor, OrgLevel.DISTRICT)
    names = {d.code: d.name for d in districts}
    rows = await list_standard_rows()
    today = local_date(now_of(request))
    context = {
        "rows": rows,
        "names": names,
        "districts": districts,
        "area_types": list(AreaType),
        "today": today,
        "errors": errors,
        "values": values,
    }
    return render(request, "admin/standards.html", context, status_code=status)


@get("/admin/standards", name="admin_standards", opt=needs(C.STANDARDS_READ))
async def standards_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    return await _standards_page(request, actor, {}, {}, 200)


@post("/admin/standards", opt=needs(C.STANDARDS_MANAGE))
async def standards_set(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    keys = ("district_code", "area_type", "effective_from", "dibao", "tekun")
    values = {key: first(form, key, 40) for key in keys}
    try:
        errors: dict[str, DomainError] = {}
        effective_from: date | None = None
        try:
            effective_from = _date(values["effective_from"], "effective_from")
        except DomainError as exc:
            errors["effective_from"] = exc
        amounts: dict[str, int] = {}
        for key in ("dibao", "tekun"):
            try:
                amounts[key] = parse_yuan(values[key], field=key)
            except DomainError as exc:
                errors[key] = exc
        if values["area_type"] not in {a.value for a in AreaType}:
            errors["area_type"] = DomainError(N_("Choose urban or rural."), field="area_type")
        if errors:
            raise ValidationFailed(errors)
        assert effective_from is not None
        standard = Standard(
            values["district_code"],
            AreaType(values["area_type"]),
            effective_from,
            amounts["dibao"],
            amounts["tekun"],
        )
        await do_set_standard(actor, standard, now=now_of(request))
    except DomainError as exc:
        return await _standards_page(request, actor, form_errors(exc), values, 422)
    flash(request, gettext("Standard saved."))
    return Redirect("/admin/standards", status_code=303)


# --- rules ------------------------------------------------------------------------


async def _rules_page(
    request: Request[Any, Any, Any], actor: Actor, errors: dict[str, str], values: dict[str, str], status: int
) -> Response[str]:
    require(actor, C.STANDARDS_READ)
    today = local_date(now_of(request))
    context = {
        "rules": await list_rules(today=today),
        "missing_years": await years_without_arrangement(today),
        "today": today,
        "errors": errors,
        "values": values,
        "unit_labels": UNIT_LABELS,
    }
    return render(request, "admin/rules.html", context, status_code=status)


@get("/admin/rules", name="admin_rules", opt=needs(C.STANDARDS_READ))
async def rules_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    return await _rules_page(request, actor, {}, {}, 200)


@post("/admin/rules", opt=needs(C.STANDARDS_MANAGE))
async def rules_set(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    values = {key: first(form, key, 500) for key in ("key", "value", "effective_from", "note")}
    try:
        await do_set_rule(
            actor,
            values["key"],
            _int(values["value"], "value"),
            effective_from=_date(values["effective_from"], "effective_from"),
            note=values["note"],
            now=now_of(request),
        )
    except DomainError as exc:
        return await _rules_page(request, actor, form_errors(exc), values, 422)
    flash(request, gettext("Rule saved."))
    return Redirect("/admin/rules", status_code=303)


# --- the holiday calendar ------------------------------------------------------------


async def _calendar_page(
    request: Request[Any, Any, Any],
    actor: Actor,
    year: int,
    errors: dict[str, str],
    values: dict[str, str],
    status: int,
) -> Response[str]:
    require(actor, C.STANDARDS_READ)
    context = {
        "year": year,
        "days": await list_calendar(year),
        "missing_years": await years_without_arrangement(local_date(now_of(request)), also=year),
        "errors": errors,
        "values": values,
        "kinds": ("holiday", "workday"),
    }
    return render(request, "admin/calendar.html", context, status_code=status)


@get("/admin/calendar", name="admin_calendar", opt=needs(C.STANDARDS_READ))
async def calendar_page(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], year: FromQuery[int] = 0
) -> Response[str]:
    year = year if 2000 <= year <= 2100 else local_date(now_of(request)).year
    return await _calendar_page(request, actor, year, {}, {}, 200)


@post("/admin/calendar", opt=needs(C.STANDARDS_MANAGE))
async def calendar_set(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    values = {key: first(form, key, 60) for key in ("day", "kind", "name")}
    year = local_date(now_of(request)).year
    try:
        day = _date(values["day"], "day")
        year = day.year
        await do_set_calendar_days(
            actor, [CalendarEntry(day, values["kind"], values["name"])], now=now_of(request)
        )
    except DomainError as exc:
        return await _calendar_page(request, actor, year, form_errors(exc), values, 422)
    flash(request, gettext("Calendar saved."))
    return Redirect(f"/admin/calendar?year={year}", status_code=303)


@post("/admin/calendar/remove", opt=needs(C.STANDARDS_MANAGE))
async def calendar_remove(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    day = _date(first(form, "day", 20), "day")
    await do_remove_calendar_day(actor, day, now=now_of(request))
    flash(request, gettext("Calendar saved."))
    return Redirect(f"/admin/calendar?year={day.year}", status_code=303)


@post("/admin/calendar/upload", request_max_body_size=CALENDAR_UPLOAD_LIMIT, opt=needs(C.STANDARDS_MANAGE))
async def calendar_upload(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    files = [f for f in form.getall("file", []) if isinstance(f, UploadFile)]
    year = local_date(now_of(request)).year
    try:
        if not files:
            raise DomainError(N_("Choose a file."), field="file")
        data = await files[0].read()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DomainError(N_("The file is not UTF-8 text."), field="file") from None
        changed = await do_load_calendar_text(actor, text, now=now_of(request))
    except DomainError as exc:
        return await _calendar_page(request, actor, year, form_errors(exc), {}, 422)
    flash(request, gettext("Calendar loaded: %(n)s days changed.") % {"n": changed})
    return Redirect(f"/admin/calendar?year={year}", status_code=303)


ROUTES: list[Any] = [
    standards_page,
    standards_set,
    rules_page,
    rules_set,
    calendar_page,
    calendar_set,
    calendar_remove,
    calendar_upload,
]
