"""The quarterly assessment (考核): the ranking, the printable report with the figures
behind each score, its XLSX export, and the city's weights page (docs/assessment.md)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect

from relief_pwa.clock import local_date
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.periods import Period, parse_period
from relief_pwa.handlers.analytics import Cell, DataTable, export, num, text
from relief_pwa.handlers.common import C, first, flash, form_errors, needs, now_of, render
from relief_pwa.i18n import gettext
from relief_pwa.services.actors import Actor
from relief_pwa.services.assessment import (
    Assessment,
    UnitResult,
    do_set_weight,
    get_assessment,
    list_weights,
    resolve_assessed_unit,
)

_ = gettext


def _previous_quarter(today: date) -> str:
    quarter = (today.month - 1) // 3 + 1
    year, quarter = (today.year - 1, 4) if quarter == 1 else (today.year, quarter - 1)
    return f"{year}-Q{quarter}"


def _period(quarter: str, today: date) -> Period:
    return parse_period(quarter=(quarter or _previous_quarter(today))[:8], today=today)


def _rate(figure_rate: float | None) -> Cell:
    if figure_rate is None:
        return Cell("—", "")
    value = round(figure_rate * 100, 1)
    return Cell(f"{value:.1f}", Decimal(f"{value:.1f}"))


def _score(value: float | None) -> Cell:
    if value is None:
        return Cell("—", "")
    return Cell(f"{value:.1f}", Decimal(f"{value:.2f}").quantize(Decimal("0.1")))


def ranking_table(result: Assessment) -> DataTable:
    headers = [_("Unit"), _("Rank"), _("Score")] + [_(s.label) + " %" for s in result.specs]
    table = DataTable("ranking", _("Ranking"), headers)
    for row in result.rows:
        cells = [text(row.unit.name), num(row.rank), _score(row.score.score)]
        cells += [
            _rate(row.figures[s.key].rate) if s.key in row.figures else Cell("—", "") for s in result.specs
        ]
        table.rows.append(cells)
    return table


def figures_table(result: Assessment, row: UnitResult, key: str) -> DataTable:
    """The figures behind one unit's score: numerator, denominator, rate and the weight it carried."""
    headers = [_("Indicator"), _("Counted"), _("Among"), _("Rate %"), _("Weight set"), _("Weight applied %")]
    title = _("%(unit)s: the figures behind the score") % {"unit": row.unit.name}
    table = DataTable(key, title, headers)
    for spec in result.specs:
        figure = row.figures.get(spec.key)
        applied = row.score.applied.get(spec.key, 0.0)
        table.rows.append(
            [
                text(_(spec.label)),
                num(figure.numerator if figure else None),
                num(figure.denominator if figure else None),
                _rate(figure.rate if figure else None),
                num(result.weights.get(spec.key, 0)),
                Cell(f"{applied * 100:.1f}", Decimal(f"{applied * 100:.1f}")),
            ]
        )
    table.note = _("Score: %(score)s") % {"score": _score(row.score.score).text}
    return table


def report_tables(result: Assessment) -> list[DataTable]:
    tables = [ranking_table(result)]
    if result.total is not None:
        tables.append(figures_table(result, result.total, "total"))
    tables += [figures_table(result, row, f"u{row.unit.code}") for row in result.rows]
    return tables


async def _load(request: Request[Any, Any, Any], actor: Actor, quarter: str, org: str) -> Assessment:
    today = local_date(now_of(request))
    unit = await resolve_assessed_unit(actor, org[:12] or None)
    return await get_assessment(actor, unit, _period(quarter, today), today=today)


@get("/assessment", name="assessment", opt=needs(C.ASSESSMENT_READ))
async def assessment_page(
    request: Request[Any, Any, Any],
    actor: NamedDependency[Actor],
    quarter: FromQuery[str] = "",
    org: FromQuery[str] = "",
) -> Response[Any]:
    result = await _load(request, actor, quarter, org)
    return render(
        request,
        "assessment/index.html",
        {"result": result, "ranking": ranking_table(result), "drill": result.unit.level == "city"},
    )


@get("/assessment/report", name="assessment-report", opt=needs(C.ASSESSMENT_READ))
async def assessment_report(
    request: Request[Any, Any, Any],
    actor: NamedDependency[Actor],
    quarter: FromQuery[str] = "",
    org: FromQuery[str] = "",
    format: FromQuery[str] = "",
) -> Response[Any]:
    result = await _load(request, actor, quarter, org)
    tables = report_tables(result)
    if format:
        return await export(
            request,
            actor,
            tables,
            format,
            "",
            f"assessment-{result.unit.code}-{result.period.key}",
            org_path=result.unit.path,
        )
    return render(request, "assessment/report.html", {"result": result, "tables": tables})


# --- weights --------------------------------------------------------------------------


async def _weights_page(
    request: Request[Any, Any, Any], actor: Actor, errors: dict[str, str], values: dict[str, str], status: int
) -> Response[str]:
    today = local_date(now_of(request))
    context = {
        "rows": await list_weights(actor, today=today),
        "today": today,
        "errors": errors,
        "values": values,
    }
    return render(request, "assessment/weights.html", context, status_code=status)


@get("/assessment/weights", name="assessment-weights", opt=needs(C.ASSESSMENT_READ))
async def weights_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    return await _weights_page(request, actor, {}, {}, 200)


@post("/assessment/weights", opt=needs(C.ASSESSMENT_WEIGHTS_MANAGE))
async def weights_set(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    values = {key: first(form, key, 500) for key in ("key", "weight", "effective_from", "note")}
    try:
        try:
            weight = int(values["weight"].strip())
        except ValueError:
            raise DomainError(N_("Enter a whole number."), field="weight") from None
        try:
            effective_from = date.fromisoformat(values["effective_from"].strip())
        except ValueError:
            raise DomainError(N_("Enter a date as YYYY-MM-DD."), field="effective_from") from None
        await do_set_weight(
            actor,
            values["key"],
            weight,
            effective_from=effective_from,
            note=values["note"],
            now=now_of(request),
        )
    except DomainError as exc:
        return await _weights_page(request, actor, form_errors(exc), values, 422)
    flash(request, _("Weight saved."))
    return Redirect("/assessment/weights", status_code=303)


ROUTES: list[Any] = [assessment_page, assessment_report, weights_page, weights_set]
