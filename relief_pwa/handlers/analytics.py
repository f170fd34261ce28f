"""Summary analysis pages: dashboards with drill-down, the households behind a
number, CSV/XLSX exports of every table, the monthly report, the targeting monitor.

The figures come from services/analytics.py; here they become *tables* (one
translated header row, display text and a typed export value per cell) and
SVG charts drawn from the same tables. A page, its CSV and its XLSX are all
produced from one table object, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from markupsafe import Markup

from relief_pwa.adapters.exports import CSV_MEDIA, XLSX_MEDIA, SheetSpec, write_csv, write_xlsx
from relief_pwa.clock import local_date
from relief_pwa.core.charts import Bar, Series, Tile, bar_chart, grid_positions, line_chart, tile_map
from relief_pwa.core.enums import OPEN_STATES, AppState, Category
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import fen_to_decimal_str, format_yuan
from relief_pwa.core.periods import Period, parse_period
from relief_pwa.core.sampling import ALL, ErrorEstimate
from relief_pwa.handlers.common import C, first, flash, form_errors, is_htmx, needs, now_of, render
from relief_pwa.handlers.replica import REPLICA_READS
from relief_pwa.i18n import gettext, translate
from relief_pwa.services.actors import Actor
from relief_pwa.services.analytics import (
    INDEX_BUCKETS,
    MAP_MEASURES,
    MOVES,
    TILE_PLACES,
    TIMED_VISIT_KINDS,
    TIMELINESS,
    Dashboard,
    DrawRequest,
    Filters,
    HouseholdList,
    SampleReport,
    do_draw_sample,
    do_record_finding,
    get_dashboard,
    get_sample_report,
    integrity_open,
    list_households_behind,
    list_samples,
    resolve_unit,
)
from relief_pwa.services.audit import recent_checkpoints
from relief_pwa.services.exports import do_record_export

_ = gettext
EXPORT_FORMATS = ("csv", "xlsx")


# --- tables: one object for the page, the CSV and the XLSX -------------------------


@dataclass(frozen=True)
class Cell:
    text: str  # as shown on the page
    value: Any = None  # as exported: int, Decimal (yuan) or str (codes stay text)
    href: str = ""

    @property
    def export(self) -> Any:
        return self.text if self.value is None else self.value


@dataclass
class DataTable:
    key: str
    title: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    chart: Markup | None = None
    note: str = ""


def num(n: int | None, href: str = "") -> Cell:
    if n is None:
        return Cell("—", "")
    return Cell(str(n), int(n), href)


def money(fen: int) -> Cell:
    return Cell(format_yuan(fen), Decimal(fen_to_decimal_str(fen)))


def text(value: str, href: str = "") -> Cell:
    return Cell(value, str(value), href)


def pct(share: float | None) -> Cell:
    """A share as a percentage number (the header says "%"), the same on the page and in files."""
    if share is None:
        return Cell("—", "")
    value = round(share * 100, 1)
    return Cell(f"{value:.1f}", Decimal(f"{value:.1f}"))


def _index_label(bucket: int) -> str:
    return f"{bucket * 10}–{bucket * 10 + 9}" if bucket < INDEX_BUCKETS - 1 else f"{bucket * 10}–100"


# --- request parsing ------------------------------------------------------------------


@dataclass(frozen=True)
class PageQuery:
    filters: Filters
    map_measure: str
    errors: dict[str, str]

    @cached_property
    def _base(self) -> dict[str, str]:
        values = dict(self.filters.period.query())
        if self.filters.category:
            values["category"] = self.filters.category
        return values

    @cached_property
    def _base_encoded(self) -> str:
        return urlencode(self._base)

    def params(self, **extra: str) -> str:
        """The page's filters with ``extra`` (a dashboard builds a hundred drill-down links:
        the filters are encoded once)."""
        added = {k: v for k, v in extra.items() if v}
        if not added:
            return self._base_encoded
        if not self._base or added.keys() & self._base.keys():
            return urlencode({**self._base, **added})
        return f"{self._base_encoded}&{urlencode(added)}"


def _page_query(
    request: Request[Any, Any, Any],
    month: str,
    quarter: str,
    year: str,
    start: str,
    end: str,
    category: str,
    map_measure: str = "",
) -> PageQuery:
    today = local_date(now_of(request))
    errors: dict[str, str] = {}
    try:
        period = parse_period(
            month=month[:20],
            quarter=quarter[:20],
            year=year[:20],
            start=start[:20],
            end=end[:20],
            today=today,
        )
    except DomainError as exc:
        errors.update(form_errors(exc))
        period = parse_period(today=today)
    if category and category not in {c.value for c in Category}:
        errors["category"] = _("Unknown category.")
        category = ""
    measure = map_measure if map_measure in MAP_MEASURES else "active"
    return PageQuery(Filters(period, category, today), measure, errors)


# --- the dashboard's tables and charts ---------------------------------------------------


MAP_LABELS = {
    "open": N_("Open cases"),
    "active": N_("Active recipients"),
    "new": N_("New applications"),
    "approve": N_("Approvals"),
    "reject": N_("Rejections"),
    "exit": N_("Exits"),
    "overdue": N_("Investigations overdue"),
    "paid": N_("Paid in the period (yuan)"),
    "index": N_("Mean relief index"),
}
KIND_LABELS = {
    "investigation": N_("Investigations (working-day deadline in force)"),
    "follow_up": N_("Follow-up visits"),
    "review": N_("Periodic reviews"),
    "reverify": N_("Re-verification visits"),
}
TIMELINESS_LABELS = {
    "on_time": N_("On time"),
    "late": N_("Done late"),
    "overdue": N_("Overdue"),
    "pending": N_("Not yet due"),
}
MOVE_LABELS = {
    "up": N_("Index rose"),
    "down": N_("Index fell"),
    "same": N_("Unchanged"),
    "new": N_("First scored in the period"),
}
OBJECTION_LABELS = {"objection": N_("Objections"), "complaint": N_("Complaints")}


def _map_value(measure: str, figures: dict[str, int]) -> tuple[float, str]:
    raw = figures.get(measure, 0)
    if measure == "paid":
        return raw / 100, format_yuan(raw)
    if measure == "index":
        return raw / 100, f"{raw / 100:.1f}"
    return float(raw), str(raw)


def dashboard_tables(board: Dashboard, pq: PageQuery) -> list[DataTable]:
    """Every table of the dashboard, in page order (each exportable by its key)."""
    code = board.unit.code
    behind = f"/analytics/{code}/households"

    def link(measure: str, value: str = "", **extra: str) -> str:
        return f"{behind}?{pq.params(measure=measure, value=value, **extra)}"

    tables: list[DataTable] = []

    # 1. caseload by state and by category
    states = DataTable("states", _("Applications by state"), [_("State"), _("Applications")])
    for state, n in board.states.items():
        states.rows.append([text(_(AppState(state).label)), num(n, link("state", state) if n else "")])
    states.chart = _bars("chart-states", states, _("Applications by state"))
    tables.append(states)
    categories = DataTable(
        "categories", _("Open cases by category"), [_("Category"), _("Open cases"), _("Active recipients")]
    )
    open_by_cat: dict[str, int] = {}
    active_by_cat: dict[str, int] = {}
    for (state, cat), n in board.caseload.items():
        if state in OPEN_STATES:
            open_by_cat[cat] = open_by_cat.get(cat, 0) + n
        if state in ("active", "under_review"):
            active_by_cat[cat] = active_by_cat.get(cat, 0) + n
    for cat in Category:
        params = {"category": cat.value}
        open_n, active_n = open_by_cat.get(cat.value, 0), active_by_cat.get(cat.value, 0)
        categories.rows.append(
            [
                text(_(cat.label)),
                num(open_n, f"{behind}?{_with(pq, measure='open', **params)}" if open_n else ""),
                num(active_n, f"{behind}?{_with(pq, measure='active', **params)}" if active_n else ""),
            ]
        )
    categories.chart = _bars("chart-categories", categories, _("Open cases by category"))
    tables.append(categories)

    # 2. flows per month
    flows = DataTable(
        "flows",
        _("New applications, approvals, rejections and exits per month"),
        [_("Month"), _("New applications"), _("Approvals"), _("Rejections"), _("Exits")],
    )
    for month, flow in board.flows.items():
        month_link = {"month": month}
        flows.rows.append(
            [text(month)]
            + [
                num(flow[key], f"{behind}?{_with(pq, measure=key, **month_link)}" if flow[key] else "")
                for key in ("new", "approve", "reject", "exit")
            ]
        )
    flows.rows.append(
        [text(_("Total"))] + [num(board.flow_total(k)) for k in ("new", "approve", "reject", "exit")]
    )
    months = list(board.flows)
    flows.chart = _svg(
        line_chart(
            "chart-flows",
            flows.title,
            _("One line per measure; the table beside has every number."),
            months,
            [
                Series(
                    flows.headers[i + 1],
                    [float(board.flows[m][k]) for m in months],
                    [str(board.flows[m][k]) for m in months],
                )
                for i, k in enumerate(("new", "approve", "reject", "exit"))
            ],
        )
    )
    tables.append(flows)

    # 3. relief index: distribution now, at the period's start and end, and how it moved
    index = DataTable(
        "index",
        _("Relief index distribution (open households)"),
        [_("Index"), _("Households now"), _("At the period's start"), _("At the period's end")],
    )
    for b in range(INDEX_BUCKETS):
        n = board.index_now[b]
        index.rows.append(
            [
                text(_index_label(b)),
                num(n, link("index", str(b)) if n else ""),
                num(board.index_start[b]),
                num(board.index_end[b]),
            ]
        )
    index.rows.append([text(_("Not yet scored")), num(board.index_unscored), num(None), num(None)])
    index.chart = _svg(
        bar_chart(
            "chart-index",
            index.title,
            _("Households by 10-point index band."),
            [
                Bar(_index_label(b), board.index_now[b], str(board.index_now[b]), link("index", str(b)))
                for b in range(INDEX_BUCKETS)
            ],
            label_width=80,
        )
    )
    tables.append(index)
    moves = DataTable("moves", _("How the index moved over the period"), [_("Movement"), _("Households")])
    for key in MOVES:
        n = board.moves.get(key, 0)
        moves.rows.append([text(_(MOVE_LABELS[key])), num(n, link("move", key) if n else "")])
    change = "—" if board.mean_change is None else f"{board.mean_change:+.2f}"
    moves.note = _("Mean change of households scored at both dates: %(change)s points.") % {"change": change}
    tables.append(moves)

    # 4. the units one level down (drill-down and map)
    if board.child_rows:
        children = DataTable(
            "units", _("By area"), [_("Code"), _("Area")] + [_(MAP_LABELS[m]) for m in MAP_MEASURES]
        )
        for row in board.child_rows:
            cells = [text(row.unit.code), text(row.unit.name, f"/analytics/{row.unit.code}?{pq.params()}")]
            for m in MAP_MEASURES:
                raw = row.figures.get(m, 0)
                if m == "paid":
                    cells.append(money(raw))
                elif m == "index":
                    cells.append(Cell(f"{raw / 100:.2f}", Decimal(raw) / 100) if raw else num(None))
                else:
                    target = {
                        "open": ("open", ""),
                        "active": ("active", ""),
                        "new": ("new", ""),
                        "approve": ("approve", ""),
                        "reject": ("reject", ""),
                        "exit": ("exit", ""),
                        "overdue": ("investigation", "overdue"),
                    }[m]
                    cells.append(
                        num(
                            raw,
                            f"/analytics/{row.unit.code}/households?"
                            f"{pq.params(measure=target[0], value=target[1])}"
                            if raw
                            else "",
                        )
                    )
            children.rows.append(cells)
        places = [TILE_PLACES.get(r.unit.code) for r in board.child_rows]
        if any(p is None for p in places):
            places = list(grid_positions(len(board.child_rows)))
        tiles = []
        for row, place in zip(board.child_rows, places, strict=True):
            assert place is not None
            value, value_text = _map_value(pq.map_measure, row.figures)
            tiles.append(
                Tile(
                    row.unit.name,
                    value,
                    value_text,
                    place[0],
                    place[1],
                    f"/analytics/{row.unit.code}?{pq.params(map=pq.map_measure)}",
                )
            )
        top = max((t.value or 0 for t in tiles), default=0)
        children.chart = _svg(
            tile_map(
                "chart-map",
                f"{_(MAP_LABELS[pq.map_measure])} — {board.unit.name}",
                _("Each square is an area, darker means more; select a square to open its dashboard."),
                tiles,
                legend_low="0",
                legend_high=_map_value(
                    pq.map_measure,
                    {pq.map_measure: int(top * 100) if pq.map_measure in ("paid", "index") else int(top)},
                )[1],
            )
        )
        tables.append(children)

    # 5. funds and resources
    funds = DataTable(
        "funds",
        _("Funds"),
        [
            _("Fund code"),
            _("Fund"),
            _("Provider"),
            _("Budget"),
            _("Reserved"),
            _("Paid"),
            _("Remaining"),
            _("Paid in the period to this area"),
        ],
    )
    for fund in board.funds:
        funds.rows.append(
            [
                text(fund.code),
                text(fund.name),
                text(fund.provider),
                money(fund.budget_fen),
                money(fund.reserved_fen),
                money(fund.paid_fen),
                money(fund.remaining_fen),
                money(fund.paid_in_period_fen),
            ]
        )
    funds.chart = (
        _svg(
            bar_chart(
                "chart-funds",
                _("Paid in the period by fund (yuan)"),
                _("Payments confirmed by the bank in the period."),
                [
                    Bar(f.name, f.paid_in_period_fen / 100, format_yuan(f.paid_in_period_fen))
                    for f in board.funds
                ],
                colour="#009E73",
            )
        )
        if board.funds
        else None
    )
    funds.note = _(
        "Budget = available + reserved + paid. Upper-level funds appear when they paid into this area."
    )
    tables.append(funds)
    providers = DataTable(
        "providers",
        _("Resources by provider"),
        [
            _("Provider"),
            _("Resources"),
            _("Budget"),
            _("Reserved"),
            _("Remaining"),
            _("Paid in the period to this area"),
        ],
    )
    for p in board.providers:
        providers.rows.append(
            [
                text(p.name),
                num(p.resources),
                money(p.budget_fen),
                money(p.reserved_fen),
                money(p.remaining_fen),
                money(p.paid_in_period_fen),
            ]
        )
    tables.append(providers)

    # 6. disbursement batches and failed lines
    batches = DataTable(
        "batches",
        _("Disbursement batches"),
        [
            _("Batch"),
            _("Fund"),
            _("Month"),
            _("Status"),
            _("Lines"),
            _("Total"),
            _("Failed lines"),
            _("Failed amount"),
        ],
    )
    for batch in board.batches:
        batches.rows.append(
            [
                text(batch.batch_no),
                text(batch.fund),
                text(batch.month),
                text(batch.status),
                num(batch.line_count),
                money(batch.total_fen),
                num(batch.failed_lines),
                money(batch.failed_fen),
            ]
        )
    batches.note = _("Failed payment lines in the period's months: %(n)s (%(amount)s yuan).") % {
        "n": board.failed_lines,
        "amount": format_yuan(board.failed_fen),
    }
    tables.append(batches)

    # 7. visits on time
    visits = DataTable(
        "visits",
        _("Visits done on time"),
        [_("Kind")] + [_(TIMELINESS_LABELS[t]) for t in TIMELINESS] + [_("Total"), _("On time (% of done)")],
    )
    kinds: list[tuple[str, Any]] = [("investigation", board.investigations)]
    kinds += [(k, board.visits.get(k)) for k in TIMED_VISIT_KINDS]
    bars = []
    for kind, t in kinds:
        if t is None:
            continue
        measure = "investigation" if kind == "investigation" else "visit"
        cells = [text(_(KIND_LABELS[kind]))]
        for status in TIMELINESS:
            measure_value = status if kind == "investigation" else f"{kind}:{status}"
            n = t.get(status)
            cells.append(num(n, link(measure, measure_value) if n else ""))
        done = t.on_time + t.late
        share = t.on_time / done if done else None
        cells += [num(t.total), pct(share)]
        visits.rows.append(cells)
        bars.append(Bar(_(KIND_LABELS[kind]), t.overdue, str(t.overdue)))
    visits.chart = _svg(
        bar_chart(
            "chart-visits",
            _("Overdue by kind of visit"),
            _("Visits and investigations past their deadline and not done."),
            bars,
            colour="#D55E00",
            label_width=220,
        )
    )
    tables.append(visits)

    # 8. objections and complaints
    objections = DataTable(
        "objections",
        _("Objections and complaints"),
        [
            _("Kind"),
            _("Received"),
            _("Answered"),
            _("Answered on time"),
            _("Open"),
            _("Open past the deadline"),
            _("Mean days to answer"),
        ],
    )
    for o in board.objections:
        objections.rows.append(
            [
                text(_(OBJECTION_LABELS[o.kind])),
                num(o.received),
                num(o.answered),
                num(o.answered_on_time),
                num(o.open),
                num(o.open_overdue),
                Cell("—", "")
                if o.mean_days is None
                else Cell(f"{o.mean_days:.1f}", Decimal(str(o.mean_days))),
            ]
        )
    tables.append(objections)
    return tables


def _with(pq: PageQuery, **values: str) -> str:
    """URL parameters of the page with some replaced (a category or a single month)."""
    period = pq.filters.period
    base: dict[str, str] = {} if "month" in values else dict(period.query())
    if pq.filters.category and "category" not in values:
        base["category"] = pq.filters.category
    base.update({k: v for k, v in values.items() if v})
    return urlencode(base)


def _svg(svg: str) -> Markup:
    """Charts are built by core/charts.py, which escapes every label and value it writes."""
    return Markup(svg)  # noqa: S704


def _bars(chart_id: str, table: DataTable, title: str) -> Markup:
    bars = [Bar(r[0].text, float(r[1].value or 0), r[1].text, r[1].href) for r in table.rows]
    return _svg(bar_chart(chart_id, title, _("The table beside has every number."), bars))


# --- exports --------------------------------------------------------------------------


def csv_response(table: DataTable, filename: str) -> Response[bytes]:
    """UTF-8 with a BOM, so spreadsheet programs read Chinese correctly (see adapters/exports.py)."""
    return Response(
        write_csv(table.headers, ([c.export for c in row] for row in table.rows)),
        media_type=CSV_MEDIA,
        headers={
            "content-disposition": f'attachment; filename="{filename}.csv"',
            "cache-control": "no-store",
        },
    )


def xlsx_response(tables: Iterable[DataTable], filename: str) -> Response[bytes]:
    """One sheet per table; codes (file numbers, org codes, batch numbers) stay text."""
    sheets = [
        SheetSpec(
            name=table.key,
            title=table.title,
            header=table.headers,
            rows=[[c.export for c in row] for row in table.rows],
        )
        for table in tables
    ]
    return Response(
        write_xlsx(sheets),
        media_type=XLSX_MEDIA,
        headers={
            "content-disposition": f'attachment; filename="{filename}.xlsx"',
            "cache-control": "no-store",
        },
    )


async def export(
    request: Request[Any, Any, Any],
    actor: Actor,
    tables: list[DataTable],
    fmt: str,
    table_key: str,
    filename: str,
    *,
    org_path: str = "",
) -> Response[bytes]:
    """A CSV (one table) or XLSX (one sheet per table) file, recorded in the audit trail."""
    if fmt not in EXPORT_FORMATS:
        raise DomainError(N_("Unknown export format."), field="format")
    chosen = [t for t in tables if not table_key or t.key == table_key]
    if not chosen:
        raise DomainError(N_("Unknown table."), field="table")
    if fmt == "csv" and len(chosen) > 1:
        raise DomainError(N_("Choose one table for a CSV export."), field="table")
    name = filename if fmt == "xlsx" and len(chosen) > 1 else f"{filename}-{chosen[0].key}"
    await do_record_export(
        actor,
        what=name,
        file_format=fmt,
        rows=sum(len(t.rows) for t in chosen),
        org_path=org_path,
        now=now_of(request),
    )
    if fmt == "csv":
        return csv_response(chosen[0], name)
    return xlsx_response(chosen, name)


# --- pages -----------------------------------------------------------------------------


async def _dashboard_page(
    request: Request[Any, Any, Any], actor: Actor, code: str | None, pq: PageQuery, fmt: str, table_key: str
) -> Response[Any]:
    unit = await resolve_unit(actor, code)
    # the integrity count is slow for a city: the page fetches it as a fragment (/integrity)
    board = await get_dashboard(actor, unit, pq.filters, with_integrity=False)
    tables = dashboard_tables(board, pq)
    if fmt:
        return await export(
            request,
            actor,
            tables,
            fmt,
            table_key,
            f"analytics-{unit.code}-{pq.filters.period.key}",
            org_path=unit.path,
        )
    return render(
        request,
        "analytics/dashboard.html",
        {
            "board": board,
            "tables": tables,
            "pq": pq,
            "errors": pq.errors,
            "categories": list(Category),
            "map_measures": [(m, _(MAP_LABELS[m])) for m in MAP_MEASURES],
            "base": f"/analytics/{unit.code}",
            "query": pq.params(map=pq.map_measure),
        },
    )


@get("/analytics", name="analytics", opt={**needs(C.ANALYTICS_READ), **REPLICA_READS})
async def analytics_home(
    request: Request[Any, Any, Any],
    actor: NamedDependency[Actor],
    month: FromQuery[str] = "",
    quarter: FromQuery[str] = "",
    year: FromQuery[str] = "",
    start: FromQuery[str] = "",
    end: FromQuery[str] = "",
    category: FromQuery[str] = "",
    map: FromQuery[str] = "",
    format: FromQuery[str] = "",
    table: FromQuery[str] = "",
) -> Response[Any]:
    pq = _page_query(request, month, quarter, year, start, end, category, map)
    return await _dashboard_page(request, actor, None, pq, format[:8], table[:40])


@get("/analytics/{org_code:str}", name="analytics-unit", opt={**needs(C.ANALYTICS_READ), **REPLICA_READS})
async def analytics_unit(
    request: Request[Any, Any, Any],
    actor: NamedDependency[Actor],
    org_code: FromPath[str],
    month: FromQuery[str] = "",
    quarter: FromQuery[str] = "",
    year: FromQuery[str] = "",
    start: FromQuery[str] = "",
    end: FromQuery[str] = "",
    category: FromQuery[str] = "",
    map: FromQuery[str] = "",
    format: FromQuery[str] = "",
    table: FromQuery[str] = "",
) -> Response[Any]:
    pq = _page_query(request, month, quarter, year, start, end, category, map)
    return await _dashboard_page(request, actor, org_code[:12], pq, format[:8], table[:40])


@get("/analytics/{org_code:str}/integrity", name="analytics-integrity", opt=needs(C.ANALYTICS_READ))
async def analytics_integrity(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], org_code: FromPath[str]
) -> Response[Any]:
    """The number of integrity flags open in a unit (an htmx fragment, or a small page without JS)."""
    unit = await resolve_unit(actor, org_code[:12])
    count = await integrity_open(actor, unit, local_date(now_of(request)))
    block = "count" if is_htmx(request) else None
    return render(request, "analytics/integrity.html", {"unit": unit, "count": count}, block=block)


def household_table(result: HouseholdList) -> DataTable:
    table = DataTable(
        "households",
        _("Households"),
        [_("File number"), _("Head of household"), _("Community"), _("Relief index"), _("File open")],
    )
    for r in result.rows:
        table.rows.append(
            [
                text(r.file_no, f"/households/{r.household_id}"),
                text(r.head_name),
                text(r.community),
                Cell("—", "") if r.current_index is None else Cell(str(r.current_index), r.current_index),
                text(_("Yes") if r.is_open else _("No")),
            ]
        )
    return table


@get(
    "/analytics/{org_code:str}/households",
    name="analytics-households",
    opt={**needs(C.ANALYTICS_READ), **REPLICA_READS},
)
async def analytics_households(
    request: Request[Any, Any, Any],
    actor: NamedDependency[Actor],
    org_code: FromPath[str],
    measure: FromQuery[str] = "",
    value: FromQuery[str] = "",
    month: FromQuery[str] = "",
    quarter: FromQuery[str] = "",
    year: FromQuery[str] = "",
    start: FromQuery[str] = "",
    end: FromQuery[str] = "",
    category: FromQuery[str] = "",
    page: FromQuery[str] = "1",
    format: FromQuery[str] = "",
) -> Response[Any]:
    pq = _page_query(request, month, quarter, year, start, end, category)
    if pq.errors:
        raise DomainError(" ".join(pq.errors.values()))
    unit = await resolve_unit(actor, org_code[:12])
    page_no = int(page) if page.isdecimal() and len(page) < 6 else 1
    result = await list_households_behind(
        actor, unit, pq.filters, measure[:20], value[:40], page_no, everything=bool(format)
    )
    table = household_table(result)
    if format:
        return await export(
            request,
            actor,
            [table],
            format[:8],
            "",
            f"households-{unit.code}-{measure[:20]}-{pq.filters.period.key}",
            org_path=unit.path,
        )
    return render(
        request,
        "analytics/households.html",
        {
            "unit": unit,
            "result": result,
            "table": table,
            "pq": pq,
            "measure_label": _measure_label(measure, value),
            "base": f"/analytics/{unit.code}/households?{pq.params(measure=measure, value=value)}",
        },
    )


def _measure_label(measure: str, value: str) -> str:
    labels: dict[str, Callable[[], str]] = {
        "state": lambda: _(AppState(value).label) if value in {s.value for s in AppState} else value,
        "open": lambda: _("Open cases"),
        "active": lambda: _("Active recipients"),
        "new": lambda: _("New applications"),
        "approve": lambda: _("Approvals"),
        "reject": lambda: _("Rejections"),
        "exit": lambda: _("Exits"),
        "index": lambda: (
            _("Relief index %(band)s") % {"band": _index_label(int(value))} if value.isdecimal() else ""
        ),
        "move": lambda: _(MOVE_LABELS.get(value, "")) if value in MOVE_LABELS else value,
        "investigation": lambda: (
            f"{_(KIND_LABELS['investigation'])}: {_(TIMELINESS_LABELS.get(value, value))}"
        ),
        "visit": lambda: _visit_label(value),
        "failed": lambda: _("Failed payment lines"),
    }
    return labels.get(measure, lambda: measure)()


def _visit_label(value: str) -> str:
    kind, _sep, status = value.partition(":")
    return f"{_(KIND_LABELS.get(kind, kind))}: {_(TIMELINESS_LABELS.get(status, status))}"


# --- monthly report for the leading group ------------------------------------------------


@get("/analytics/report", name="analytics-report", opt={**needs(C.ANALYTICS_READ), **REPLICA_READS})
async def analytics_report(
    request: Request[Any, Any, Any],
    actor: NamedDependency[Actor],
    month: FromQuery[str] = "",
    org: FromQuery[str] = "",
) -> Response[Any]:
    today = local_date(now_of(request))
    if not month:
        previous = today.replace(day=1) - timedelta(days=1)
        month = f"{previous:%Y-%m}"
    period: Period = parse_period(month=month[:10], today=today)
    unit = await resolve_unit(actor, org[:12] or None)
    pq = PageQuery(Filters(period, "", today), "active", {})
    board = await get_dashboard(actor, unit, pq.filters)
    tables = {t.key: t for t in dashboard_tables(board, pq)}
    checkpoints = await recent_checkpoints(limit=1)
    return render(
        request,
        "analytics/report.html",
        {
            "audit_checkpoint": checkpoints[0] if checkpoints else None,
            "board": board,
            "tables": tables,
            "period": period,
            "pq": pq,
        },
    )


# --- targeting monitor -----------------------------------------------------------------------


def estimate_table(report: SampleReport) -> DataTable:
    table = DataTable(
        "errors",
        _("Inclusion and exclusion error by area"),
        [
            _("Area"),
            _("Recipients sampled"),
            _("Recipients checked"),
            _("Found ineligible"),
            _("Inclusion error (%)"),
            _("95% interval"),
            _("Rejected sampled"),
            _("Rejected checked"),
            _("Found eligible"),
            _("Exclusion error (%)"),
            _("95% interval"),
        ],
    )

    def interval(e: ErrorEstimate) -> Cell:
        bounds = e.interval
        if bounds is None:
            return Cell("—", "")
        return text(f"{bounds[0] * 100:.1f}%–{bounds[1] * 100:.1f}%")

    for est in report.estimates:
        name = _("All areas") if est.stratum == ALL else report.strata_names.get(est.stratum, est.stratum)
        table.rows.append(
            [
                text(name),
                num(est.inclusion.sampled),
                num(est.inclusion.checked),
                num(est.inclusion.errors),
                pct(est.inclusion.share),
                interval(est.inclusion),
                num(est.exclusion.sampled),
                num(est.exclusion.checked),
                num(est.exclusion.errors),
                pct(est.exclusion.share),
                interval(est.exclusion),
            ]
        )
    return table


@get("/analytics/targeting", name="analytics-targeting", opt=needs(C.ANALYTICS_READ))
async def targeting_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    unit = await resolve_unit(actor, None)
    return render(
        request,
        "analytics/targeting.html",
        {
            "samples": await list_samples(actor),
            "unit": unit,
            "errors": {},
            "values": {},
        },
    )


def _small_int(raw: str, field_name: str, errors: dict[str, str]) -> int:
    raw = raw.strip()
    if raw.isdecimal() and len(raw) <= 6:
        return int(raw)
    errors[field_name] = _("Give a whole number.")
    return 0


@post("/analytics/targeting", name="analytics-targeting-draw", opt=needs(C.SAMPLE_DRAW))
async def targeting_draw(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    values = {k: first(form, k, 20) for k in ("size_active", "size_rejected", "seed", "org")}
    errors: dict[str, str] = {}
    size_active = _small_int(values["size_active"] or "0", "size_active", errors)
    size_rejected = _small_int(values["size_rejected"] or "0", "size_rejected", errors)
    seed_raw = values["seed"].strip()
    seed = None
    if seed_raw:
        if seed_raw.isdecimal() and len(seed_raw) <= 15:
            seed = int(seed_raw)
        else:
            errors["seed"] = _("The seed is a whole number.")
    if not errors:
        try:
            sample_id = await do_draw_sample(
                actor,
                DrawRequest(values["org"].strip(), size_active, size_rejected, seed),
                now=now_of(request),
            )
        except DomainError as exc:
            errors = form_errors(exc)
        else:
            flash(request, _("Sample drawn; re-verification visits are scheduled."))
            return Redirect(f"/analytics/targeting/{sample_id}", status_code=303)
    unit = await resolve_unit(actor, None)
    return render(
        request,
        "analytics/targeting.html",
        {
            "samples": await list_samples(actor),
            "unit": unit,
            "errors": errors,
            "values": values,
        },
        status_code=400,
    )


@get("/analytics/targeting/{sample_id:int}", name="analytics-sample", opt=needs(C.ANALYTICS_READ))
async def sample_page(
    request: Request[Any, Any, Any],
    actor: NamedDependency[Actor],
    sample_id: FromPath[int],
    format: FromQuery[str] = "",
    table: FromQuery[str] = "",
) -> Response[Any]:
    report = await get_sample_report(actor, sample_id)
    estimates = estimate_table(report)
    items = DataTable(
        "items",
        _("Sampled households"),
        [
            _("File number"),
            _("Head of household"),
            _("Community"),
            _("Group"),
            _("Visit"),
            _("Scheduled for"),
            _("Assigned to"),
            _("Finding"),
        ],
    )
    for i in report.items:
        items.rows.append(
            [
                text(i.file_no, f"/households/{i.household_id}"),
                text(i.head_name),
                text(i.community),
                text(_("Recipient") if i.group == "active" else _("Rejected")),
                text(translate(i.visit_status) if i.visit_status else "—"),
                text(i.scheduled_for.isoformat() if i.scheduled_for else "—"),
                text(i.assigned_to or "—"),
                text({"eligible": _("Eligible"), "ineligible": _("Ineligible")}.get(i.finding, "—")),
            ]
        )
    if format:
        return await export(
            request, actor, [estimates, items], format[:8], table[:20], f"sample-{report.sample.id}"
        )
    return render(
        request,
        "analytics/sample.html",
        {
            "report": report,
            "estimates": estimates,
            "items_table": items,
        },
    )


@post(
    "/analytics/targeting/items/{item_id:int}", name="analytics-finding", opt=needs(C.SAMPLE_FINDING_RECORD)
)
async def record_finding(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], item_id: FromPath[int]
) -> Response[Any]:
    form = await request.form()
    finding = first(form, "finding", 12)
    sample_id = first(form, "sample", 20)
    await do_record_finding(actor, item_id, finding, now=now_of(request))
    flash(request, _("Finding recorded."))
    target = f"/analytics/targeting/{sample_id}" if sample_id.isdecimal() else "/analytics/targeting"
    return Redirect(target, status_code=303)


ROUTES: list[Any] = [
    analytics_home,
    analytics_report,
    targeting_page,
    targeting_draw,
    sample_page,
    record_finding,
    analytics_unit,
    analytics_households,
    analytics_integrity,
]
