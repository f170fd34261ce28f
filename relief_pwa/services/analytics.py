"""Summary analysis (汇总分析): the read side behind the city, district and street
dashboards, the household lists behind their numbers, the monthly report,
and the targeting monitor (re-verification samples and their error estimates).

Every figure is an aggregate query (GROUP BY) over the tables, limited to the
actor's jurisdiction and to the unit being looked at by an indexed
``org_path`` prefix; nothing loops over households in Python, so a city of
60,000 households stays fast. Queries are written against the tables, not
against other areas' services, and run on SQLite and PostgreSQL alike (the
few dialect differences — local dates and months of timestamps — are in
``_Dialect``).
"""

# Raw SQL is built here, but every value goes through a placeholder (``_Sql.p``);
# the only text interpolated is our own column names, integers and ISO dates.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from relief_pwa.clock import local_date
from relief_pwa.core.enums import OPEN_STATES, AppState, Category, OrgLevel
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, PermissionDenied
from relief_pwa.core.i18n import N_
from relief_pwa.core.periods import Period
from relief_pwa.core.permissions import FIELD_ROLES_NEAREST_FIRST, Capability, field_rank
from relief_pwa.core.rules import Calendar, working_deadline
from relief_pwa.core.sampling import (
    ACTIVE,
    FINDINGS,
    GROUPS,
    REJECTED,
    Finding,
    TargetingEstimate,
    check_sizes,
    draw_stratified,
    estimate_errors,
)
from relief_pwa.db import write_transaction
from relief_pwa.services import hooks
from relief_pwa.services.access import in_scope, valid_id
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.referrals import ReferralCounts, count_referrals
from relief_pwa.services.rules import load_calendar
from relief_pwa.tables import (
    Application,
    AuditEvent,
    Fund,
    Household,
    OrgUnit,
    Provider,
    ReverificationSample,
    SampleItem,
    Staff,
    Visit,
)

try:  # integrity flags are another area's work: counted when that service exists
    from relief_pwa.services import integrity as _integrity
except ImportError:  # pragma: no cover - depends on what is installed
    _integrity = None  # type: ignore[assignment]

CHINA_OFFSET_HOURS = 8
ACTIVE_STATES = (AppState.ACTIVE.value, AppState.UNDER_REVIEW.value)
DECISION_ACTIONS = ("approve", "reject", "exit")
TIMED_VISIT_KINDS = ("follow_up", "review", "reverify")
TIMELINESS = ("on_time", "late", "overdue", "pending")
INDEX_BUCKETS = 10
MOVES = ("up", "down", "same", "new")
MAP_MEASURES = ("open", "active", "new", "approve", "reject", "exit", "overdue", "paid", "index")
HOUSEHOLD_PAGE = 50
REJECTED_LOOKBACK_DAYS = 365
LEVEL_BELOW = {
    OrgLevel.CITY.value: OrgLevel.DISTRICT.value,
    OrgLevel.DISTRICT.value: OrgLevel.STREET.value,
    OrgLevel.STREET.value: OrgLevel.COMMUNITY.value,
}

# Jinan's districts and counties laid out roughly as on a map (row, column),
# so the "map-like" grid reads like the city; other units fall back to reading order.
TILE_PLACES: dict[str, tuple[int, int]] = {
    "370126": (0, 2),
    "370115": (0, 3),  # 商河 济阳
    "370105": (1, 1),
    "370112": (1, 3),
    "370114": (1, 4),  # 天桥 历城 章丘
    "370113": (2, 0),
    "370104": (2, 1),
    "370103": (2, 2),
    "370102": (2, 3),
    "370116": (2, 4),
    "370124": (3, 0),
    "370117": (3, 4),  # 平阴 钢城
}


# --- units, scope, filters ---------------------------------------------------


@dataclass(frozen=True)
class Unit:
    id: int
    code: str
    name: str
    level: str
    path: str


def _unit(row: dict[str, Any]) -> Unit:
    return Unit(int(row["id"]), str(row["code"]), str(row["name"]), str(row["level"]), str(row["path"]))


def require_analytics_reader(actor: Actor) -> None:
    require(actor, Capability.ANALYTICS_READ)
    if not actor.org_path:
        raise PermissionDenied(N_("Your role may not take this action."))


async def resolve_unit(actor: Actor, code: str | None = None) -> Unit:
    """The unit a dashboard shows: the actor's own unit, or one below it (never outside)."""
    require_analytics_reader(actor)
    columns = (OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.level, OrgUnit.path)
    if code is None:
        row = await OrgUnit.select(*columns).where(OrgUnit.path == actor.org_path).first()
    elif code.isdecimal() and len(code) <= 12:
        row = (
            await OrgUnit.select(*columns)
            .where((OrgUnit.code == code) & in_scope(actor, OrgUnit.path))
            .first()
        )
    else:
        row = None
    if row is None or not str(row["path"]).startswith(actor.org_path):
        raise NotFoundOrForbidden()
    return _unit(row)


async def children_of(unit: Unit) -> list[Unit]:
    rows = (
        await OrgUnit.select(OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.level, OrgUnit.path)
        .where((OrgUnit.parent == unit.id) & OrgUnit.active.eq(True) & (OrgUnit.department_kind == ""))
        .order_by(OrgUnit.code)
    )
    return [_unit(r) for r in rows]


async def children_during(unit: Unit, period: Period) -> list[Unit]:
    """The units below that existed during the period, under the names they had then
    (a unit merged away or renamed since still shows under its old name for past periods)."""
    from relief_pwa.services.org_changes import units_below_during

    past = await units_below_during(unit.path, period.start, period.end)
    return [Unit(u.id, u.code, u.name, u.level, u.path) for u in past]


async def breadcrumbs(actor: Actor, unit: Unit) -> list[Unit]:
    """The units from the actor's own level down to ``unit`` (never above the actor)."""
    codes = [c for c in unit.path.split("/") if c]
    rows = await OrgUnit.select(OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.level, OrgUnit.path).where(
        OrgUnit.code.is_in(codes) & in_scope(actor, OrgUnit.path)
    )
    by_code = {r["code"]: _unit(r) for r in rows}
    return [by_code[c] for c in codes if c in by_code]


@dataclass(frozen=True)
class Filters:
    period: Period
    category: str = ""
    today: date = date(2000, 1, 1)
    calendar: Calendar = field(default_factory=Calendar)  # rules, holidays: investigation deadlines

    def cleaned_category(self) -> str:
        if self.category and self.category not in {c.value for c in Category}:
            raise DomainError(N_("Unknown category."), field="category")
        return self.category


def _start_ts(day: date) -> datetime:
    from relief_pwa.clock import CHINA_TZ

    return datetime.combine(day, time(0, 0), tzinfo=CHINA_TZ)


# --- SQL helpers ----------------------------------------------------------------


_TOKEN = re.compile(r"__p(\d+)__")


class _Sql:
    """Builds one raw query: ``p(value)`` adds a parameter and returns its placeholder."""

    def __init__(self) -> None:
        self.params: list[Any] = []
        self.pg = Application._meta.db.engine_type == "postgres"

    def p(self, value: Any) -> str:
        # A numbered token, not "{}": fragments are built in any order and
        # rows() puts the values in the order the tokens appear in the text.
        self.params.append(value)
        return f"__p{len(self.params) - 1}__"

    def scope(self, actor: Actor, unit: Unit, alias: str) -> str:
        """The jurisdiction (actor) and the unit looked at, as two prefix matches."""
        if not unit.path.startswith(actor.org_path) or not actor.org_path:
            raise NotFoundOrForbidden()
        if unit.path == actor.org_path:  # the actor's own unit: one prefix test is both
            return f"{alias}.org_path LIKE {self.p(actor.org_path + '%')}"
        own, looked_at = self.p(actor.org_path + "%"), self.p(unit.path + "%")
        return f"{alias}.org_path LIKE {own} AND {alias}.org_path LIKE {looked_at}"

    def local_day(self, column: str) -> str:
        if self.pg:
            return f"(({column}) AT TIME ZONE 'Asia/Shanghai')::date"
        return f"date({column}, '+{CHINA_OFFSET_HOURS} hours')"

    def month_of_ts(self, column: str) -> str:
        if self.pg:
            return f"to_char(({column}) AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
        return f"strftime('%Y-%m', {column}, '+{CHINA_OFFSET_HOURS} hours')"

    def month_of_date(self, column: str) -> str:
        return f"to_char({column}, 'YYYY-MM')" if self.pg else f"substr({column}, 1, 7)"

    def date_literal(self, day: date) -> str:
        return f"DATE '{day.isoformat()}'" if self.pg else f"'{day.isoformat()}'"

    def category_of_household(self, category: str, household_column: str) -> str:
        if not category:
            return ""
        return (
            f" AND EXISTS (SELECT 1 FROM application ca WHERE ca.household = {household_column}"
            f" AND ca.category = {self.p(category)})"
        )

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        ordered = [self.params[int(n)] for n in _TOKEN.findall(sql)]
        result: list[dict[str, Any]] = await Application.raw(_TOKEN.sub("{}", sql), *ordered)
        return result


def _int(value: Any) -> int:
    return int(value or 0)


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _bucket_sql(column: str) -> str:
    cases = " ".join(f"WHEN {column} < {10 * (b + 1)} THEN {b}" for b in range(INDEX_BUCKETS - 1))
    return f"(CASE {cases} ELSE {INDEX_BUCKETS - 1} END)"


def _prefix_lengths(children: Sequence[Unit]) -> list[int]:
    return sorted({len(c.path) for c in children})


# --- the dashboard ---------------------------------------------------------------


@dataclass(frozen=True)
class Timeliness:
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.on_time + self.late + self.overdue + self.pending

    def get(self, key: str) -> int:
        return int(getattr(self, key))


@dataclass(frozen=True)
class FundRow:
    fund_id: int
    code: str
    name: str
    provider: str
    budget_fen: int
    reserved_fen: int
    paid_fen: int
    remaining_fen: int
    paid_in_period_fen: int
    in_scope: bool  # a ledger of this area (else: an upper-level fund that paid into it)


@dataclass(frozen=True)
class ProviderRow:
    provider_id: int
    name: str
    kind: str
    resources: int
    budget_fen: int
    reserved_fen: int
    paid_in_period_fen: int

    @property
    def remaining_fen(self) -> int:
        return max(0, self.budget_fen - self.reserved_fen)


@dataclass(frozen=True)
class BatchRow:
    batch_id: int
    batch_no: str
    fund: str
    month: str
    status: str
    line_count: int
    total_fen: int
    failed_lines: int
    failed_fen: int


@dataclass(frozen=True)
class ObjectionRow:
    kind: str
    received: int
    answered: int
    answered_on_time: int
    open: int
    open_overdue: int
    mean_days: float | None  # received → answered, calendar days


@dataclass(frozen=True)
class ChildRow:
    unit: Unit
    figures: dict[
        str, int
    ]  # open, active, new, approve, reject, exit, overdue, paid (fen), index (mean ×100)


@dataclass
class Dashboard:
    unit: Unit
    crumbs: list[Unit]
    children: list[Unit]
    filters: Filters
    caseload: dict[tuple[str, str], int] = field(default_factory=dict)  # (state, category) → applications
    flows: dict[str, dict[str, int]] = field(default_factory=dict)  # month → {new, approve, reject, exit}
    index_now: list[int] = field(default_factory=lambda: [0] * INDEX_BUCKETS)
    index_unscored: int = 0
    index_start: list[int] = field(default_factory=lambda: [0] * INDEX_BUCKETS)
    index_end: list[int] = field(default_factory=lambda: [0] * INDEX_BUCKETS)
    moves: dict[str, int] = field(default_factory=dict)
    mean_change: float | None = None
    funds: list[FundRow] = field(default_factory=list)
    providers: list[ProviderRow] = field(default_factory=list)
    batches: list[BatchRow] = field(default_factory=list)
    failed_lines: int = 0
    failed_fen: int = 0
    investigations: Timeliness = Timeliness()
    visits: dict[str, Timeliness] = field(default_factory=dict)
    objections: list[ObjectionRow] = field(default_factory=list)
    integrity_open: int | None = None
    child_rows: list[ChildRow] = field(default_factory=list)
    referrals: ReferralCounts | None = None  # None: the reader does not see referrals

    @property
    def states(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for (state, _), n in self.caseload.items():
            out[state] += n
        return {s.value: out.get(s.value, 0) for s in AppState}

    @property
    def categories(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for (_, category), n in self.caseload.items():
            out[category] += n
        return {c.value: out.get(c.value, 0) for c in Category}

    @property
    def open_cases(self) -> int:
        return sum(n for (s, _), n in self.caseload.items() if s in OPEN_STATES)

    @property
    def active_recipients(self) -> int:
        return sum(n for (s, _), n in self.caseload.items() if s in ACTIVE_STATES)

    def flow_total(self, key: str) -> int:
        return sum(m.get(key, 0) for m in self.flows.values())


# Finished dashboards, cached under the audit chain's head (seq and hash): every
# state change writes an audit event, so a new head means the data changed. A
# repeat view (filters, drill-down back and forth, exports of the page's tables)
# then costs one indexed lookup instead of a dozen scans.
_DASHBOARD_CACHE: dict[tuple[Any, ...], Dashboard] = {}
_DASHBOARD_CACHE_SIZE = 32


async def _audit_head() -> tuple[int, str]:
    head = (
        await AuditEvent.select(AuditEvent.seq, AuditEvent.hash)
        .order_by(AuditEvent.seq, ascending=False)
        .first()
    )
    return (int(head["seq"]), str(head["hash"])) if head else (0, "")


def clear_cache() -> None:
    _DASHBOARD_CACHE.clear()
    _INTEGRITY_CACHE.clear()


async def get_dashboard(
    actor: Actor, unit: Unit, filters: Filters, *, with_integrity: bool = True, use_cache: bool = True
) -> Dashboard:
    """Every figure of one unit's dashboard, within the actor's jurisdiction.

    ``with_integrity=False`` leaves the integrity count out (pages fetch it
    separately, because computing the flags is slow for a whole city).
    """
    require_analytics_reader(actor)
    category = filters.cleaned_category()
    key = (actor.org_path, actor.role, unit.path, filters, with_integrity, await _audit_head())
    if use_cache and key in _DASHBOARD_CACHE:
        return _DASHBOARD_CACHE[key]
    board = await _compute_dashboard(actor, unit, filters, category, with_integrity)
    if len(_DASHBOARD_CACHE) >= _DASHBOARD_CACHE_SIZE:
        _DASHBOARD_CACHE.pop(next(iter(_DASHBOARD_CACHE)))
    _DASHBOARD_CACHE[key] = board
    return board


async def _compute_dashboard(
    actor: Actor, unit: Unit, filters: Filters, category: str, with_integrity: bool
) -> Dashboard:
    """The figures come from a dozen GROUP BY queries run side by side; each also
    groups by the unit one level down (a prefix of ``org_path``), so the
    drill-down table and the map cost no extra scan."""
    children = await children_during(unit, filters.period)
    lengths = _prefix_lengths(children)
    length = lengths[0] if len(lengths) == 1 else len(unit.path)
    period = filters.period
    board = Dashboard(unit, await breadcrumbs(actor, unit), children, filters)
    run = asyncio.ensure_future  # the queries run side by side (SQLite readers in WAL, PostgreSQL pool)
    # the longest first: they queue for connections in the order they start
    if period.end >= filters.today:
        # the period ends now: one pass over the households gives both
        index_t = run(_index_now_and_moves(board, actor, unit, period, category, length, filters.today))
        moves_t = None
    else:
        moves_t = run(_index_moves(board, actor, unit, period, category, filters.today))
        index_t = run(_index_by(actor, unit, category, length))
    received_t = run(_received_by(actor, unit, filters, category, length))
    caseload_t = run(_caseload_by(actor, unit, category, length))
    paid_t = run(_paid_by(actor, unit, period, category, length))
    decisions_t = run(_decisions_by(actor, unit, period, category, length))
    visits_t = run(_timed_visits(actor, unit, filters, category))
    batches_t = run(_batches(actor, unit, period))
    budgets_t = run(_provider_budgets(actor, unit))
    objections_t = run(_objections(actor, unit, filters, category))
    referrals_t = run(count_referrals(actor, unit.path, filters.today))
    await asyncio.gather(
        referrals_t,
        caseload_t,
        received_t,
        decisions_t,
        index_t,
        paid_t,
        budgets_t,
        batches_t,
        visits_t,
        objections_t,
        *([moves_t] if moves_t is not None else []),
    )
    caseload, decisions = caseload_t.result(), decisions_t.result()
    new, investigations = received_t.result()
    index = index_t.result()
    paid, budgets, batches = paid_t.result(), budgets_t.result(), batches_t.result()
    visits, objections = visits_t.result(), objections_t.result()
    figures: dict[str, dict[str, int]] = {c.path: dict.fromkeys(MAP_MEASURES, 0) for c in children}

    def add(prefix: str, key: str, value: int) -> None:
        if prefix in figures:
            figures[prefix][key] += value

    for (u, state, cat), n in caseload.items():
        board.caseload[(state, cat)] = board.caseload.get((state, cat), 0) + n
        if state in OPEN_STATES:
            add(u, "open", n)
        if state in ACTIVE_STATES:
            add(u, "active", n)
    board.flows = {m: {"new": 0, "approve": 0, "reject": 0, "exit": 0} for m in period.months()}
    for (u, month), n in new.items():
        if month in board.flows:
            board.flows[month]["new"] += n
        add(u, "new", n)
    for (u, month, action), n in decisions.items():
        if month in board.flows:
            board.flows[month][action] += n
        add(u, action, n)
    index_sums: dict[str, list[float]] = {}
    for (u, b), (n, total) in index.items():
        if b < 0:
            board.index_unscored += n
            continue
        board.index_now[b] += n
        sums = index_sums.setdefault(u, [0.0, 0.0])
        sums[0] += n
        sums[1] += total
    for u, (scored, index_total) in index_sums.items():
        add(u, "index", round(index_total / scored * 100) if scored else 0)
    paid_by_fund: dict[int, int] = defaultdict(int)
    paid_by_provider: dict[int, int] = defaultdict(int)
    for (u, fund, provider), fen in paid.items():
        paid_by_fund[fund] += fen
        paid_by_provider[provider] += fen
        add(u, "paid", fen)
    counts: dict[str, int] = defaultdict(int)
    for (u, status), n in investigations.items():
        counts[status] += n
        if status == "overdue":
            add(u, "overdue", n)
    board.investigations = Timeliness(**{k: counts.get(k, 0) for k in TIMELINESS})
    board.funds = await _funds(actor, unit, paid_by_fund)
    board.providers = await _providers(budgets, paid_by_provider)
    board.batches, board.failed_lines, board.failed_fen = batches
    board.visits = visits
    board.objections = objections
    board.referrals = referrals_t.result()
    board.child_rows = [ChildRow(c, figures[c.path]) for c in children]
    if with_integrity:
        board.integrity_open = await integrity_open(actor, unit, filters.today)
    return board


def _by(length: int, column: str) -> str:
    return f"substr({column}, 1, {length})"


async def _caseload_by(
    actor: Actor, unit: Unit, category: str, length: int
) -> dict[tuple[str, str, str], int]:
    q = _Sql()
    sql = (
        f"SELECT {_by(length, 'a.org_path')} AS u, a.state AS state, a.category AS category, COUNT(*) AS n "
        f"FROM application a WHERE {q.scope(actor, unit, 'a')}"
    )
    if category:
        sql += f" AND a.category = {q.p(category)}"
    rows = await q.rows(sql + " GROUP BY 1, 2, 3")
    return {(r["u"], r["state"], r["category"]): _int(r["n"]) for r in rows}


async def _received_by(
    actor: Actor, unit: Unit, filters: Filters, category: str, length: int
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """Applications received in the period, from one pass over them: by area below
    and month received (new applications), and by area and investigation timeliness."""
    q = _Sql()
    filters = replace(filters, calendar=await load_calendar())
    inner = _investigation_sql(q, actor, unit, filters, category, every_application=True)
    rows = await q.rows(
        f"SELECT {_by(length, 't.org_path')} AS u, {q.month_of_date('t.received_on')} AS m, "
        f"t.status AS status, COUNT(*) AS n FROM ({inner}) t GROUP BY 1, 2, 3"
    )
    new: dict[tuple[str, str], int] = defaultdict(int)
    investigations: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        u, n = r["u"], _int(r["n"])
        new[(u, r["m"])] += n
        if r["status"] is not None:
            investigations[(u, r["status"])] += n
    return new, investigations


async def _decisions_by(
    actor: Actor, unit: Unit, period: Period, category: str, length: int
) -> dict[tuple[str, str, str], int]:
    q = _Sql()
    events = _decision_events_sql(q, actor, unit, period, category)
    sql = (
        f"SELECT {_by(length, 'd.org_path')} AS u, {q.month_of_ts('d.at')} AS m, d.action AS "
        "action, COUNT(*) AS n "
        f"FROM ({events}) d GROUP BY 1, 2, 3"
    )
    return {
        (r["u"], r["m"], str(r["action"]).removeprefix("application.")): _int(r["n"])
        for r in await q.rows(sql)
    }


async def _index_by(
    actor: Actor, unit: Unit, category: str, length: int
) -> dict[tuple[str, int], tuple[int, float]]:
    """Open households by index band (-1: not scored yet), with the band's index sum (for means)."""
    q = _Sql()
    sql = (
        f"SELECT {_by(length, 'h.org_path')} AS u, "
        f"CASE WHEN h.current_index IS NULL THEN -1 ELSE {_bucket_sql('h.current_index')} END AS b, "
        f"COUNT(*) AS n, SUM(COALESCE(h.current_index, 0)) AS total FROM household h "
        f"WHERE {q.scope(actor, unit, 'h')} AND h.is_open = {q.p(True)}"
        f"{q.category_of_household(category, 'h.id')} GROUP BY 1, 2"
    )
    return {(r["u"], _int(r["b"])): (_int(r["n"]), float(r["total"] or 0)) for r in await q.rows(sql)}


async def _paid_by(
    actor: Actor, unit: Unit, period: Period, category: str, length: int
) -> dict[tuple[str, int, int], int]:
    """Payments the bank confirmed in the period, by area below, fund and provider.

    The inner query groups in the order of ix_payment_line_paid (status, org_path,
    fund, provider, ...), so SQLite sums a year of lines without sorting them."""
    q = _Sql()
    inner = (
        "SELECT p.org_path AS org_path, p.fund AS fund, p.provider AS provider, SUM(p.amount_fen) AS fen "
        f"FROM payment_line p WHERE p.status = {q.p('paid')} AND {q.scope(actor, unit, 'p')} "
        f"AND p.paid_at >= {q.p(_start_ts(period.start))} AND p.paid_at < "
        f"{q.p(_start_ts(period.end_exclusive))}"
        f"{q.category_of_household(category, 'p.household')} GROUP BY p.org_path, p.fund, p.provider"
    )
    sql = (
        f"SELECT {_by(length, 'x.org_path')} AS u, x.fund AS fund, x.provider AS provider, SUM(x.fen) AS fen "
        f"FROM ({inner}) x GROUP BY 1, 2, 3"
    )
    return {(r["u"], _int(r["fund"]), _int(r["provider"])): _int(r["fen"]) for r in await q.rows(sql)}


async def _funds(actor: Actor, unit: Unit, paid: dict[int, int]) -> list[FundRow]:
    own = Fund.org_path.like(f"{unit.path}%") & in_scope(actor, Fund.org_path)
    where = own | Fund.id.is_in(list(paid)) if paid else own
    rows = (
        await Fund.select(
            Fund.id,
            Fund.code,
            Fund.name,
            Fund.org_path,
            Fund.available_fen,
            Fund.reserved_fen,
            Fund.paid_fen,
            Fund.provider.name,
        )
        .where(where)
        .order_by(Fund.code)
    )
    return [
        FundRow(
            fund_id=r["id"],
            code=r["code"],
            name=r["name"],
            provider=r["provider.name"] or "",
            budget_fen=_int(r["available_fen"]) + _int(r["reserved_fen"]) + _int(r["paid_fen"]),
            reserved_fen=_int(r["reserved_fen"]),
            paid_fen=_int(r["paid_fen"]),
            remaining_fen=_int(r["available_fen"]),
            paid_in_period_fen=paid.get(r["id"], 0),
            in_scope=str(r["org_path"]).startswith(unit.path),
        )
        for r in rows
    ]


async def _provider_budgets(actor: Actor, unit: Unit) -> dict[int, dict[str, Any]]:
    q = _Sql()
    rows = await q.rows(
        f"SELECT r.provider AS provider, COUNT(*) AS n, SUM(COALESCE(r.budget_total_fen, 0)) AS budget, "
        f"SUM(r.budget_reserved_fen) AS reserved FROM resource r WHERE {q.scope(actor, unit, 'r')} "
        f"GROUP BY r.provider"
    )
    return {int(r["provider"]): r for r in rows}


async def _providers(budgets: dict[int, dict[str, Any]], paid: dict[int, int]) -> list[ProviderRow]:
    ids = sorted(set(budgets) | set(paid))
    if not ids:
        return []
    names = {
        r["id"]: r
        for r in await Provider.select(Provider.id, Provider.name, Provider.kind).where(
            Provider.id.is_in(ids)
        )
    }
    out = []
    for pid in ids:
        b = budgets.get(pid, {})
        out.append(
            ProviderRow(
                provider_id=pid,
                name=str(names.get(pid, {}).get("name", "")),
                kind=str(names.get(pid, {}).get("kind", "")),
                resources=_int(b.get("n")),
                budget_fen=_int(b.get("budget")),
                reserved_fen=_int(b.get("reserved")),
                paid_in_period_fen=paid.get(pid, 0),
            )
        )
    return sorted(out, key=lambda p: (p.name, p.provider_id))


def _decision_events_sql(q: _Sql, actor: Actor, unit: Unit, period: Period, category: str) -> str:
    """Approvals, rejections and exits in the period (audit events: when they happened)."""
    actions = ", ".join(q.p(f"application.{a}") for a in DECISION_ACTIONS)
    sql = (
        f"SELECT e.entity_id AS application_id, e.action AS action, e.at AS at, e.org_path AS org_path "
        f"FROM audit_event e WHERE e.entity_type = {q.p('application')} AND e.action IN ({actions}) "
        f"AND e.at >= {q.p(_start_ts(period.start))} AND e.at < {q.p(_start_ts(period.end_exclusive))} "
        f"AND {q.scope(actor, unit, 'e')}"
    )
    if category:
        sql += (
            f" AND EXISTS (SELECT 1 FROM application ea WHERE ea.id = e.entity_id"
            f" AND ea.category = {q.p(category)})"
        )
    return sql


@dataclass(frozen=True)
class _HistoryPlan:
    """How to read each household's index as of the period's start and end."""

    start_from_current: bool
    end_from_current: bool


async def _history_plan(period: Period, today: date) -> _HistoryPlan:
    """Two equivalent ways to find each household's latest index before a moment
    (``_index_at_sql``): a window over every record before it (cost grows with the
    history), or the current index corrected for the households re-scored since
    (cost grows with those). Count which side of the moment holds fewer records."""
    q = _Sql()
    if q.pg:
        # PostgreSQL runs a window in one sorted pass, and each look-back as a separate
        # subquery execution: over the benchmark city the windows took 140 ms for a past
        # month where the look-backs took 330 ms (SQLite: the other way round).
        return _HistoryPlan(start_from_current=False, end_from_current=period.end >= today)
    start = q.p(_start_ts(period.start))
    end = q.p(_start_ts(period.end_exclusive))
    rows = await q.rows(
        f"SELECT (SELECT COUNT(*) FROM index_record WHERE computed_at >= {start}) AS after_start, "
        f"(SELECT COUNT(*) FROM index_record WHERE computed_at >= {end}) AS after_end, "
        "(SELECT MAX(id) FROM index_record) AS records"  # append-only: ids ≈ the count
    )
    records = _int(rows[0]["records"]) if rows else 0
    after_start, after_end = (_int(rows[0]["after_start"]), _int(rows[0]["after_end"])) if rows else (0, 0)
    return _HistoryPlan(
        start_from_current=after_start < records - after_start,
        end_from_current=period.end >= today or after_end < records - after_end,
    )


def _index_at_sql(q: _Sql, actor: Actor, unit: Unit, moment: datetime, from_current: bool) -> str:
    """Each household's latest computed index before ``moment`` (households with one).

    ``from_current``: the household's current index (its latest record), except
    for households re-scored at or after the moment, whose latest record before it
    is one index seek each. Otherwise a window function over the records before it.
    """
    at = q.p(moment)
    if from_current:
        latest_before = (
            f"SELECT r2.id FROM index_record r2 WHERE r2.household = c.household AND r2.computed_at < {at} "
            "ORDER BY r2.computed_at DESC, r2.id DESC LIMIT 1"
        )
        return (
            "WITH changed AS (SELECT DISTINCT r.household AS household FROM index_record r "
            f"WHERE r.computed_at >= {at}) "
            "SELECT h.id AS household, h.current_index AS total FROM household h "
            f"WHERE {q.scope(actor, unit, 'h')} AND h.current_index IS NOT NULL "
            "AND h.id NOT IN (SELECT household FROM changed) "
            "UNION ALL SELECT r.household AS household, r.total AS total FROM index_record r "
            f"JOIN household h ON h.id = r.household WHERE {q.scope(actor, unit, 'h')} "
            f"AND r.id IN (SELECT ({latest_before}) FROM changed c)"
        )
    return (
        f"SELECT household, total FROM (SELECT r.household AS household, r.total AS total, "
        f"ROW_NUMBER() OVER (PARTITION BY r.household ORDER BY r.computed_at DESC, r.id DESC) AS rn "
        f"FROM index_record r WHERE {q.scope(actor, unit, 'r')} AND r.computed_at < {at}) x WHERE rn = 1"
    )


def _moves_sql(
    q: _Sql, actor: Actor, unit: Unit, period: Period, category: str, today: date, plan: _HistoryPlan
) -> str:
    """Each household's index at the period's start and at its end, and how it moved."""
    move = (
        "CASE WHEN s.total IS NULL THEN 'new' WHEN e.total > s.total THEN 'up' "
        "WHEN e.total < s.total THEN 'down' ELSE 'same' END"
    )
    if plan.start_from_current and plan.end_from_current:
        return _moves_from_current_sql(q, actor, unit, period, category, today)
    start = _index_at_sql(q, actor, unit, _start_ts(period.start), plan.start_from_current)
    if period.end >= today:
        # a period reaching today ends "now": the household's current index is its latest record
        ends = (
            f"SELECT h.id AS household, h.current_index AS total FROM household h "
            f"WHERE {q.scope(actor, unit, 'h')} AND h.current_index IS NOT NULL"
        )
    else:
        ends = _index_at_sql(q, actor, unit, _start_ts(period.end_exclusive), plan.end_from_current)
    # MATERIALIZED: each side is computed once (inlined, its per-household lookups
    # would run again wherever the outer query mentions the total)
    return (
        f"WITH starts AS MATERIALIZED ({start}), ends AS MATERIALIZED ({ends}) "
        f"SELECT e.household AS household, s.total AS start_total, e.total AS end_total, {move} AS move "
        f"FROM ends e LEFT JOIN starts s ON s.household = e.household "
        f"WHERE 1 = 1{q.category_of_household(category, 'e.household')}"
    )


def _moves_from_current_sql(
    q: _Sql, actor: Actor, unit: Unit, period: Period, category: str, today: date
) -> str:
    """``_moves_sql`` in one pass over the households when both ends are read from
    the current index (see ``_index_at_sql``): only households re-scored since the
    start (or the end) look back into their records, one index seek each."""

    def before(moment: str) -> str:
        return (
            f"(SELECT r.total FROM index_record r WHERE r.household = h.id AND r.computed_at < {moment} "
            "ORDER BY r.computed_at DESC, r.id DESC LIMIT 1)"
        )

    start = q.p(_start_ts(period.start))
    ctes = f"WITH since_start AS (SELECT DISTINCT household FROM index_record WHERE computed_at >= {start})"
    joins = "LEFT JOIN since_start ss ON ss.household = h.id"
    end_total = "h.current_index"
    if period.end < today:
        end = q.p(_start_ts(period.end_exclusive))
        ctes += f", since_end AS (SELECT DISTINCT household FROM index_record WHERE computed_at >= {end})"
        joins += " LEFT JOIN since_end se ON se.household = h.id"
        end_total = f"CASE WHEN se.household IS NULL THEN h.current_index ELSE {before(end)} END"
    # MATERIALIZED: each look-back runs once per household, not once per mention below
    ctes += (
        ", totals AS MATERIALIZED (SELECT h.id AS household, "
        f"CASE WHEN ss.household IS NULL THEN h.current_index ELSE {before(start)} END AS start_total, "
        f"{end_total} AS end_total FROM household h {joins} "
        f"WHERE {q.scope(actor, unit, 'h')} AND h.current_index IS NOT NULL)"
    )
    move = (
        "CASE WHEN t.start_total IS NULL THEN 'new' WHEN t.end_total > t.start_total THEN 'up' "
        "WHEN t.end_total < t.start_total THEN 'down' ELSE 'same' END"
    )
    return (
        f"{ctes} SELECT t.household AS household, t.start_total AS start_total, t.end_total AS end_total, "
        f"{move} AS move FROM totals t WHERE t.end_total IS NOT NULL"
        f"{q.category_of_household(category, 't.household')}"
    )


async def _index_now_and_moves(
    board: Dashboard, actor: Actor, unit: Unit, period: Period, category: str, length: int, today: date
) -> dict[tuple[str, int], tuple[int, float]]:
    """``_index_by`` and ``_index_moves`` in one pass over the households, for a
    period that ends now (its end is each household's current index)."""
    plan = await _history_plan(period, today)
    q = _Sql()
    starts = _index_at_sql(q, actor, unit, _start_ts(period.start), plan.start_from_current)
    current = "h.current_index"
    move = (
        f"CASE WHEN {current} IS NULL THEN NULL WHEN s.total IS NULL THEN 'new' WHEN {current} > s.total "
        f"THEN 'up' WHEN {current} < s.total THEN 'down' ELSE 'same' END"
    )
    sql = (
        f"WITH starts AS MATERIALIZED ({starts}) "
        f"SELECT {_by(length, 'h.org_path')} AS u, h.is_open AS is_open, "
        f"CASE WHEN {current} IS NULL THEN -1 ELSE {_bucket_sql(current)} END AS eb, "
        f"CASE WHEN s.total IS NULL THEN -1 ELSE {_bucket_sql('s.total')} END AS sb, {move} AS move, "
        f"COUNT(*) AS n, SUM(COALESCE({current}, 0)) AS total, "
        f"SUM(CASE WHEN s.total IS NULL OR {current} IS NULL THEN 0 ELSE {current} - s.total END) AS change "
        f"FROM household h LEFT JOIN starts s ON s.household = h.id WHERE {q.scope(actor, unit, 'h')}"
        f"{q.category_of_household(category, 'h.id')} GROUP BY 1, 2, 3, 4, 5"
    )
    index: dict[tuple[str, int], tuple[int, float]] = {}
    moves = dict.fromkeys(MOVES, 0)
    change, compared = 0.0, 0
    for r in await q.rows(sql):
        n, end_band, start_band = _int(r["n"]), _int(r["eb"]), _int(r["sb"])
        if r["is_open"]:
            key = (r["u"], end_band)
            count, total = index.get(key, (0, 0.0))
            index[key] = (count + n, total + float(r["total"] or 0))
        if r["move"] is None:  # not scored
            continue
        moves[str(r["move"])] += n
        board.index_end[end_band] += n
        if start_band >= 0:
            board.index_start[start_band] += n
            compared += n
            change += float(r["change"] or 0)
    board.moves = moves
    board.mean_change = round(change / compared, 2) if compared else None
    return index


async def _index_moves(
    board: Dashboard, actor: Actor, unit: Unit, period: Period, category: str, today: date
) -> None:
    """How the index moved over the period: each household's latest index at the
    period's start against its latest at the period's end."""
    plan = await _history_plan(period, today)
    q = _Sql()
    inner = _moves_sql(q, actor, unit, period, category, today, plan)
    sql = (
        f"SELECT m.move AS move, "
        f"CASE WHEN m.start_total IS NULL THEN -1 ELSE {_bucket_sql('m.start_total')} END AS sb, "
        f"{_bucket_sql('m.end_total')} AS eb, COUNT(*) AS n, "
        f"SUM(CASE WHEN m.start_total IS NULL THEN 0 ELSE m.end_total - m.start_total END) AS change "
        f"FROM ({inner}) m GROUP BY 1, 2, 3"
    )
    moves = dict.fromkeys(MOVES, 0)
    change, compared = 0.0, 0
    for r in await q.rows(sql):
        n = _int(r["n"])
        moves[str(r["move"])] += n
        board.index_end[_int(r["eb"])] += n
        if _int(r["sb"]) >= 0:
            board.index_start[_int(r["sb"])] += n
            compared += n
            change += float(r["change"] or 0)
    board.moves = moves
    board.mean_change = round(change / compared, 2) if compared else None


async def _batches(actor: Actor, unit: Unit, period: Period) -> tuple[list[BatchRow], int, int]:
    q = _Sql()
    in_period = (
        f"{q.scope(actor, unit, 'b')} AND b.created_at >= {q.p(_start_ts(period.start))} "
        f"AND b.created_at < {q.p(_start_ts(period.end_exclusive))}"
    )
    rows = await q.rows(
        f"SELECT b.id AS id, b.batch_no AS batch_no, f.name AS fund, b.month AS month, b.status AS status, "
        f"b.line_count AS line_count, b.total_fen AS total_fen "
        f"FROM disbursement_batch b JOIN fund f ON f.id = b.fund WHERE {in_period} "
        f"ORDER BY b.created_at DESC, b.id DESC"
    )
    failed_by_batch: dict[int, tuple[int, int]] = {}
    if rows:
        # failed lines are few: start from them (status is indexed), not from every line of every batch
        q = _Sql()
        ids = ", ".join(q.p(r["id"]) for r in rows)
        for r in await q.rows(
            f"SELECT p.batch AS batch, COUNT(*) AS n, SUM(p.amount_fen) AS fen FROM payment_line p "
            f"WHERE p.status = {q.p('failed')} AND p.batch IN ({ids}) GROUP BY p.batch"
        ):
            failed_by_batch[int(r["batch"])] = (_int(r["n"]), _int(r["fen"]))
    batches = [
        BatchRow(
            r["id"],
            r["batch_no"],
            r["fund"],
            r["month"],
            r["status"],
            _int(r["line_count"]),
            _int(r["total_fen"]),
            *failed_by_batch.get(int(r["id"]), (0, 0)),
        )
        for r in rows
    ]
    q = _Sql()
    months = period.months()
    failed = await q.rows(
        f"SELECT COUNT(*) AS n, COALESCE(SUM(p.amount_fen), 0) AS fen FROM payment_line p "
        f"WHERE p.status = {q.p('failed')} AND {q.scope(actor, unit, 'p')} "
        f"AND p.month >= {q.p(months[0])} AND p.month <= {q.p(months[-1])}"
    )
    return batches, _int(failed[0]["n"]), _int(failed[0]["fen"])


def _investigation_sql(
    q: _Sql, actor: Actor, unit: Unit, filters: Filters, category: str, *, every_application: bool = False
) -> str:
    """One row per application received in the period: its investigation's timeliness.

    Done = the station's finding (eligible or ineligible) was recorded
    (``found_on``); the deadline is the investigation rule's working days after receipt
    (15 by statute; public holidays skipped, adjusted workdays counted). Withdrawn
    applications that never got a finding are left out (nothing was due), or with
    ``every_application`` kept with a null status.
    """
    period = filters.period
    days = period.days()
    calendar = filters.calendar
    INVESTIGATION = "investigation_working_days"  # noqa: N806
    due_rows = ", ".join(
        f"({q.date_literal(d)}, {q.date_literal(working_deadline(calendar, d, INVESTIGATION))})" for d in days
    )
    today = q.p(filters.today)
    status = (
        f"CASE WHEN a.found_on IS NULL THEN (CASE WHEN a.state = {q.p(AppState.WITHDRAWN.value)} THEN NULL "
        f"WHEN d.due < {today} THEN 'overdue' ELSE 'pending' END) "
        "WHEN a.found_on <= d.due THEN 'on_time' ELSE 'late' END"
    )
    # A short period seeks the received_on index; over a long one SQLite scans the
    # table almost twice as fast ("+" keeps its planner off the index).
    received = "a.received_on" if q.pg or len(days) <= 92 else "+a.received_on"
    sql = (
        f"WITH due_days(day, due) AS (VALUES {due_rows}) "
        f"SELECT a.id AS application_id, a.household AS household, a.org_path AS org_path, "
        f"a.received_on AS received_on, {status} AS status "
        f"FROM application a JOIN due_days d ON d.day = {received} WHERE {q.scope(actor, unit, 'a')} "
        f"AND {received} >= {q.p(period.start)} AND {received} <= {q.p(period.end)}"
    )
    if category:
        sql += f" AND a.category = {q.p(category)}"
    if not every_application:
        sql = f"SELECT * FROM ({sql}) i WHERE i.status IS NOT NULL"
    return sql


def _timed_visits_sql(q: _Sql, actor: Actor, unit: Unit, filters: Filters, category: str) -> str:
    """Follow-ups, periodic reviews and re-verifications due in the period: done by
    the day they were scheduled for (on time), done later (late), still open
    after it (overdue), or not yet due (pending)."""
    kinds = ", ".join(q.p(k) for k in TIMED_VISIT_KINDS)
    status = (
        f"CASE WHEN v.status = {q.p('done')} AND {q.local_day('v.done_at')} <= v.scheduled_for "
        "THEN 'on_time' "
        f"WHEN v.status = {q.p('done')} THEN 'late' "
        f"WHEN v.scheduled_for < {q.p(filters.today)} THEN 'overdue' ELSE 'pending' END"
    )
    return (
        f"SELECT v.household AS household, v.org_path AS org_path, v.kind AS kind, {status} AS status "
        f"FROM visit v WHERE {q.scope(actor, unit, 'v')} AND v.status <> {q.p('cancelled')} "
        f"AND v.kind IN ({kinds}) AND v.scheduled_for >= {q.p(filters.period.start)} "
        f"AND v.scheduled_for <= {q.p(filters.period.end)}{q.category_of_household(category, 'v.household')}"
    )


async def _timed_visits(actor: Actor, unit: Unit, filters: Filters, category: str) -> dict[str, Timeliness]:
    q = _Sql()
    inner = _timed_visits_sql(q, actor, unit, filters, category)
    counts: dict[str, dict[str, int]] = {k: {} for k in TIMED_VISIT_KINDS}
    for r in await q.rows(
        f"SELECT t.kind AS kind, t.status AS status, COUNT(*) AS n FROM ({inner}) t GROUP BY 1, 2"
    ):
        counts[str(r["kind"])][str(r["status"])] = _int(r["n"])
    return {k: Timeliness(**{s: c.get(s, 0) for s in TIMELINESS}) for k, c in counts.items()}


async def _objections(actor: Actor, unit: Unit, filters: Filters, category: str) -> list[ObjectionRow]:
    q = _Sql()
    period = filters.period
    answered_day = q.local_day("o.answered_at")
    received_day = q.local_day("o.received_at")
    days = (
        f"({answered_day} - {received_day})"
        if q.pg
        else f"(julianday({answered_day}) - julianday({received_day}))"
    )
    today = q.p(filters.today)
    sql = (
        f"SELECT o.kind AS kind, COUNT(*) AS received, "
        f"SUM(CASE WHEN o.answered_at IS NOT NULL THEN 1 ELSE 0 END) AS answered, "
        f"SUM(CASE WHEN o.answered_at IS NOT NULL AND {answered_day} <= o.deadline THEN 1 ELSE 0 "
        "END) AS on_time, "
        f"SUM(CASE WHEN o.answered_at IS NULL THEN 1 ELSE 0 END) AS still_open, "
        f"SUM(CASE WHEN o.answered_at IS NULL AND o.deadline < {today} THEN 1 ELSE 0 END) AS open_overdue, "
        f"SUM(CASE WHEN o.answered_at IS NOT NULL THEN {days} ELSE 0 END) AS days "
        f"FROM objection o WHERE {q.scope(actor, unit, 'o')} "
        f"AND o.received_at >= {q.p(_start_ts(period.start))} AND o.received_at < "
        f"{q.p(_start_ts(period.end_exclusive))}"
    )
    if category:
        sql += (
            f" AND EXISTS (SELECT 1 FROM application oa WHERE oa.id = o.application"
            f" AND oa.category = {q.p(category)})"
        )
    by_kind = {r["kind"]: r for r in await q.rows(sql + " GROUP BY o.kind")}
    out = []
    for kind in ("objection", "complaint"):
        r = by_kind.get(kind, {})
        answered = _int(r.get("answered"))
        out.append(
            ObjectionRow(
                kind,
                _int(r.get("received")),
                answered,
                _int(r.get("on_time")),
                _int(r.get("still_open")),
                _int(r.get("open_overdue")),
                round(float(r.get("days") or 0) / answered, 1) if answered else None,
            )
        )
    return out


# Integrity flags are computed by queries over the whole jurisdiction on demand
# (services/integrity.py), which is slow for a city. Their count is cached under
# the audit chain's head: every state change writes an audit event, so a new
# head means the data changed and the count is computed again.
_INTEGRITY_CACHE: dict[tuple[str, str, int], int | None] = {}
_INTEGRITY_CACHE_SIZE = 64


async def integrity_open(actor: Actor, unit: Unit, today: date) -> int | None:
    """Integrity flags open in the unit, when the integrity service exists and the
    actor may read it; ``None`` (shown as "—") otherwise."""
    require_analytics_reader(actor)
    compute = getattr(_integrity, "compute_flags", None) if _integrity is not None else None
    if compute is None:
        return None
    head = await AuditEvent.select(AuditEvent.seq).order_by(AuditEvent.seq, ascending=False).first()
    key = (actor.org_path, unit.path, int(head["seq"]) if head else 0)
    if key in _INTEGRITY_CACHE:
        return _INTEGRITY_CACHE[key]
    try:
        report = await compute(actor, now=_start_ts(today))
    except (PermissionDenied, NotFoundOrForbidden):
        count = None
    else:
        items = [item for kind_items in report.items.values() for item in kind_items]
        if unit.path == actor.org_path:
            count = len(items)
        else:
            ids = sorted({i.household_id for i in items if i.household_id is not None})
            inside = (
                {
                    r["id"]
                    for r in await Household.select(Household.id).where(
                        Household.id.is_in(ids) & Household.org_path.like(f"{unit.path}%")
                    )
                }
                if ids
                else set()
            )
            count = sum(1 for i in items if i.household_id in inside)
    if len(_INTEGRITY_CACHE) >= _INTEGRITY_CACHE_SIZE:
        _INTEGRITY_CACHE.pop(next(iter(_INTEGRITY_CACHE)))
    _INTEGRITY_CACHE[key] = count
    return count


# --- the households behind a number ---------------------------------------------


MEASURES = (
    "state",
    "new",
    "approve",
    "reject",
    "exit",
    "index",
    "move",
    "investigation",
    "visit",
    "failed",
    "active",
    "open",
)


@dataclass(frozen=True)
class HouseholdRow:
    household_id: int
    file_no: str
    head_name: str
    community: str
    current_index: Decimal | None
    is_open: bool


@dataclass(frozen=True)
class HouseholdList:
    measure: str
    value: str
    rows: list[HouseholdRow]
    total: int
    page: int
    pages: int


def _measure_sql(
    q: _Sql,
    actor: Actor,
    unit: Unit,
    filters: Filters,
    measure: str,
    value: str,
    plan: _HistoryPlan | None = None,
) -> str:
    """A query of household ids (column ``hid``) counted by one dashboard figure
    (``plan``: how index moves read the history; needed for ``move``)."""
    category = filters.cleaned_category()
    period = filters.period
    cat_a = f" AND a.category = {q.p(category)}" if category else ""
    if measure == "state":
        if value not in {s.value for s in AppState}:
            raise DomainError(N_("Unknown measure."), field="measure")
        return (
            f"SELECT a.household AS hid FROM application a WHERE {q.scope(actor, unit, 'a')} "
            f"AND a.state = {q.p(value)}{cat_a}"
        )
    if measure in ("open", "active"):
        states = [s.value for s in OPEN_STATES] if measure == "open" else list(ACTIVE_STATES)
        listed = ", ".join(q.p(s) for s in states)
        return (
            f"SELECT a.household AS hid FROM application a WHERE {q.scope(actor, unit, 'a')} "
            f"AND a.state IN ({listed}){cat_a}"
        )
    if measure == "new":
        return (
            f"SELECT a.household AS hid FROM application a WHERE {q.scope(actor, unit, 'a')} "
            f"AND a.received_on >= {q.p(period.start)} AND a.received_on <= {q.p(period.end)}{cat_a}"
        )
    if measure in DECISION_ACTIONS:
        events = _decision_events_sql(q, actor, unit, period, category)
        return (
            f"SELECT a.household AS hid FROM ({events}) d JOIN application a ON a.id = d.application_id "
            f"WHERE d.action = {q.p('application.' + measure)}"
        )
    if measure == "index":
        if not value.isdecimal() or not 0 <= int(value) < INDEX_BUCKETS:
            raise DomainError(N_("Unknown measure."), field="measure")
        return (
            f"SELECT h.id AS hid FROM household h WHERE {q.scope(actor, unit, 'h')} AND h.is_open "
            f"= {q.p(True)} "
            f"AND h.current_index IS NOT NULL AND {_bucket_sql('h.current_index')} = {int(value)}"
            f"{q.category_of_household(category, 'h.id')}"
        )
    if measure == "move":
        if value not in MOVES:
            raise DomainError(N_("Unknown measure."), field="measure")
        assert plan is not None
        inner = _moves_sql(q, actor, unit, period, category, filters.today, plan)
        return f"SELECT m.household AS hid FROM ({inner}) m WHERE m.move = {q.p(value)}"
    if measure == "investigation":
        if value not in TIMELINESS:
            raise DomainError(N_("Unknown measure."), field="measure")
        inner = _investigation_sql(q, actor, unit, filters, category)
        return f"SELECT t.household AS hid FROM ({inner}) t WHERE t.status = {q.p(value)}"
    if measure == "visit":
        kind, _, status = value.partition(":")
        if kind not in TIMED_VISIT_KINDS or status not in TIMELINESS:
            raise DomainError(N_("Unknown measure."), field="measure")
        inner = _timed_visits_sql(q, actor, unit, filters, category)
        return (
            f"SELECT t.household AS hid FROM ({inner}) t "
            f"WHERE t.kind = {q.p(kind)} AND t.status = {q.p(status)}"
        )
    if measure == "failed":
        months = period.months()
        return (
            f"SELECT p.household AS hid FROM payment_line p WHERE {q.scope(actor, unit, 'p')} "
            f"AND p.status = {q.p('failed')} AND p.month >= {q.p(months[0])} AND p.month <= {q.p(months[-1])}"
        )
    raise DomainError(N_("Unknown measure."), field="measure")


async def list_households_behind(
    actor: Actor,
    unit: Unit,
    filters: Filters,
    measure: str,
    value: str,
    page: int = 1,
    *,
    everything: bool = False,
) -> HouseholdList:
    """The households counted by one figure, in file-number order (paged, or all for exports)."""
    require_analytics_reader(actor)
    if measure not in MEASURES:
        raise DomainError(N_("Unknown measure."), field="measure")
    plan = await _history_plan(filters.period, filters.today) if measure == "move" else None
    filters = replace(filters, calendar=await load_calendar())
    q = _Sql()
    ids_sql = _measure_sql(q, actor, unit, filters, measure, value, plan)
    count_rows = await q.rows(f"SELECT COUNT(DISTINCT z.hid) AS n FROM ({ids_sql}) z")
    total = _int(count_rows[0]["n"])
    pages = max(1, -(-total // HOUSEHOLD_PAGE))
    page = max(1, min(page, pages))
    q2 = _Sql()
    ids_sql2 = _measure_sql(q2, actor, unit, filters, measure, value, plan)
    limit = "" if everything else f" LIMIT {HOUSEHOLD_PAGE} OFFSET {(page - 1) * HOUSEHOLD_PAGE}"
    rows = await q2.rows(
        f"SELECT h.id AS id, h.file_no AS file_no, h.head_name AS head_name, o.name AS community, "
        f"h.current_index AS current_index, h.is_open AS is_open FROM household h "
        f"JOIN org_unit o ON o.id = h.org_unit WHERE h.id IN (SELECT z.hid FROM ({ids_sql2}) z) "
        f"AND h.org_path LIKE {q2.p(actor.org_path + '%')} ORDER BY h.file_no{limit}"
    )
    return HouseholdList(
        measure,
        value,
        [
            HouseholdRow(
                r["id"],
                r["file_no"],
                r["head_name"],
                r["community"],
                None
                if r["current_index"] is None
                else Decimal(str(r["current_index"])).quantize(Decimal("0.01")),
                bool(r["is_open"]),
            )
            for r in rows
        ],
        total,
        page,
        pages,
    )


# --- targeting monitor: re-verification samples -------------------------------------


@dataclass(frozen=True)
class SampleSummary:
    id: int
    org_path: str
    unit_name: str
    seed: int
    size_active: int
    size_rejected: int
    drawn_by: str
    drawn_at: datetime
    checked: int
    items: int


@dataclass(frozen=True)
class SampleItemRow:
    id: int
    household_id: int
    file_no: str
    head_name: str
    community: str
    stratum: str
    group: str
    visit_id: int | None
    visit_status: str
    scheduled_for: date | None
    assigned_to: str
    finding: str  # as recorded on the item, or read from the done visit
    finding_source: str  # item | visit | ""


@dataclass(frozen=True)
class SampleReport:
    sample: SampleSummary
    strata_names: dict[str, str]
    estimates: list[TargetingEstimate]
    items: list[SampleItemRow]


async def list_samples(actor: Actor) -> list[SampleSummary]:
    require_analytics_reader(actor)
    rows = (
        await ReverificationSample.select(
            ReverificationSample.id,
            ReverificationSample.org_path,
            ReverificationSample.seed,
            ReverificationSample.size_active,
            ReverificationSample.size_rejected,
            ReverificationSample.drawn_by.display_name,
            ReverificationSample.drawn_at,
        )
        .where(in_scope(actor, ReverificationSample.org_path))
        .order_by(ReverificationSample.id, ascending=False)
    )
    if not rows:
        return []
    q = _Sql()
    ids = ", ".join(q.p(r["id"]) for r in rows)
    counts = {
        r["sample"]: r
        for r in await q.rows(
            f"SELECT s.sample AS sample, COUNT(*) AS n, "
            "SUM(CASE WHEN s.finding <> '' OR (v.status = 'done' AND v.outcome IN ('eligible', "
            "'ineligible')) "
            f"THEN 1 ELSE 0 END) AS checked FROM sample_item s LEFT JOIN visit v ON v.id = s.visit "
            f"WHERE s.sample IN ({ids}) GROUP BY s.sample"
        )
    }
    names = await _unit_names([r["org_path"] for r in rows])
    return [
        SampleSummary(
            r["id"],
            r["org_path"],
            names.get(r["org_path"], ""),
            _int(r["seed"]),
            r["size_active"],
            r["size_rejected"],
            r["drawn_by.display_name"] or "",
            r["drawn_at"],
            _int(counts.get(r["id"], {}).get("checked")),
            _int(counts.get(r["id"], {}).get("n")),
        )
        for r in rows
    ]


async def _unit_names(paths: Sequence[str]) -> dict[str, str]:
    if not paths:
        return {}
    rows = await OrgUnit.select(OrgUnit.path, OrgUnit.name).where(OrgUnit.path.is_in(sorted(set(paths))))
    return {r["path"]: r["name"] for r in rows}


def stratum_of(sample_path: str, household_path: str) -> str:
    """The unit one level below the sample's unit that a household lies in (its path)."""
    rest = household_path[len(sample_path) :]
    first = rest.split("/", 1)[0]
    return f"{sample_path}{first}/" if first else sample_path


async def get_sample_report(actor: Actor, sample_id: int) -> SampleReport:
    require_analytics_reader(actor)
    summary = next((s for s in await list_samples(actor) if s.id == valid_id(sample_id)), None)
    if summary is None:
        raise NotFoundOrForbidden()
    rows = (
        await SampleItem.select(
            SampleItem.id,
            SampleItem.household,
            SampleItem.org_path,
            SampleItem.sample_group,
            SampleItem.finding,
            SampleItem.visit,
            SampleItem.household.file_no,
            SampleItem.household.head_name,
            SampleItem.household.org_unit.name,  # type: ignore[union-attr]
            SampleItem.visit.status,
            SampleItem.visit.scheduled_for,
            SampleItem.visit.outcome,
            SampleItem.visit.assigned_to.display_name,  # type: ignore[union-attr]
        )
        .where((SampleItem.sample == summary.id) & in_scope(actor, SampleItem.org_path))
        .order_by(SampleItem.id)
    )
    items = []
    for r in rows:
        finding, source = r["finding"], "item" if r["finding"] else ""
        if not finding and r["visit.status"] == "done" and r["visit.outcome"] in FINDINGS:
            finding, source = r["visit.outcome"], "visit"
        items.append(
            SampleItemRow(
                r["id"],
                r["household"],
                r["household.file_no"],
                r["household.head_name"],
                r["household.org_unit.name"],
                stratum_of(summary.org_path, r["org_path"]),
                r["sample_group"],
                r["visit"],
                r["visit.status"] or "",
                _day(r["visit.scheduled_for"]),
                r["visit.assigned_to.display_name"] or "",
                finding,
                source,
            )
        )
    estimates = estimate_errors(Finding(i.stratum, i.group, i.finding) for i in items)
    names = await _unit_names([i.stratum for i in items])
    return SampleReport(summary, names, estimates, items)


@dataclass(frozen=True)
class DrawRequest:
    unit_code: str
    size_active: int
    size_rejected: int
    seed: int | None = None


async def sample_population(actor: Actor, unit: Unit, today: date) -> dict[str, dict[str, list[int]]]:
    """Households that may be drawn, by group and stratum: active recipients, and
    households rejected in the last year with no open application."""
    q = _Sql()
    active_states = ", ".join(q.p(s) for s in ACTIVE_STATES)
    active = await q.rows(
        f"SELECT DISTINCT a.household AS hid, h.org_path AS org_path FROM application a "
        f"JOIN household h ON h.id = a.household WHERE {q.scope(actor, unit, 'a')} AND a.state IN "
        f"({active_states})"
    )
    q = _Sql()
    open_states = ", ".join(q.p(s.value) for s in OPEN_STATES)
    rejected = await q.rows(
        f"SELECT DISTINCT a.household AS hid, h.org_path AS org_path FROM application a "
        f"JOIN household h ON h.id = a.household WHERE {q.scope(actor, unit, 'a')} "
        f"AND a.state = {q.p(AppState.REJECTED.value)} "
        f"AND a.decided_on >= {q.p(today - timedelta(days=REJECTED_LOOKBACK_DAYS))} "
        "AND NOT EXISTS (SELECT 1 FROM application b WHERE b.household = a.household AND b.state "
        f"IN ({open_states}))"
    )
    out: dict[str, dict[str, list[int]]] = {ACTIVE: defaultdict(list), REJECTED: defaultdict(list)}
    for group, rows in ((ACTIVE, active), (REJECTED, rejected)):
        for r in rows:
            out[group][stratum_of(unit.path, r["org_path"])].append(int(r["hid"]))
    return out


async def _liaisons_for(paths: set[str]) -> dict[str, int]:
    """Who visits each community: its liaison, else the nearest field worker above it."""
    staff = (
        await Staff.select(Staff.id, Staff.role, Staff.org_path)
        .where(Staff.active.eq(True) & Staff.role.is_in(list(FIELD_ROLES_NEAREST_FIRST)))
        .order_by(Staff.id)
    )
    chosen: dict[str, int] = {}
    for path in paths:
        fits = [s for s in staff if path.startswith(s["org_path"])]
        if fits:
            best = min(fits, key=lambda s: (-len(s["org_path"]), field_rank(s["role"]), s["id"]))
            chosen[path] = int(best["id"])
    return chosen


async def do_draw_sample(actor: Actor, request: DrawRequest, *, now: datetime) -> int:
    """Draw a stratified random sample of active and rejected households and schedule a
    re-verification visit for each with the community's liaison; all audited."""
    require(actor, Capability.SAMPLE_DRAW)
    check_sizes(request.size_active, request.size_rejected)
    unit = await resolve_unit(actor, request.unit_code or None)
    seed = request.seed if request.seed is not None else int(now.timestamp() * 1000) % 1_000_000_007
    if not 0 <= seed < 2**62:
        raise DomainError(N_("The seed is a whole number."), field="seed")
    today = local_date(now)
    population = await sample_population(actor, unit, today)
    picked = {
        ACTIVE: draw_stratified(population[ACTIVE], request.size_active, seed),
        REJECTED: draw_stratified(population[REJECTED], request.size_rejected, seed + 1),
    }
    chosen = [(group, hid) for group in GROUPS for ids in picked[group].values() for hid in ids]
    if not chosen:
        raise DomainError(N_("There are no households to draw in this area."), field="size_active")
    households = {
        r["id"]: r
        for r in await Household.select(Household.id, Household.org_path).where(
            Household.id.is_in(sorted({hid for _, hid in chosen}))
        )
    }
    visitors = await _liaisons_for({h["org_path"] for h in households.values()})
    due = working_deadline(await load_calendar(), today, "reverify_working_days")
    async with write_transaction(ReverificationSample._meta.db):
        sample = ReverificationSample(
            org_path=unit.path,
            seed=seed,
            size_active=request.size_active,
            size_rejected=request.size_rejected,
            drawn_by=actor.staff_id,
            drawn_at=now,
        )
        await sample.save()
        await record_event(
            actor,
            "sample.draw",
            "reverification_sample",
            sample.id,
            org_path=unit.path,
            now=now,
            after={
                "seed": seed,
                "size_active": request.size_active,
                "size_rejected": request.size_rejected,
                "population": {g: {k: len(v) for k, v in population[g].items()} for g in GROUPS},
                "drawn": {g: {k: len(v) for k, v in picked[g].items()} for g in GROUPS},
            },
        )
        for group, hid in chosen:
            path = households[hid]["org_path"]
            visit = Visit(
                household=hid,
                org_path=path,
                kind="reverify",
                scheduled_for=due,
                assigned_to=visitors.get(path),
                status="scheduled",
                created_by=actor.staff_id,
                created_at=now,
            )
            await visit.save()
            await record_event(
                actor,
                "visit.schedule",
                "visit",
                visit.id,
                org_path=path,
                now=now,
                household_id=hid,
                after={
                    "kind": "reverify",
                    "scheduled_for": due.isoformat(),
                    "assigned_to": visitors.get(path),
                    "sample_id": sample.id,
                },
            )
            item = SampleItem(
                sample=sample.id, household=hid, org_path=path, sample_group=group, visit=visit.id
            )
            await item.save()
            await hooks.emit(
                "visit.scheduled",
                household_id=hid,
                application_id=None,
                visit_id=visit.id,
                kind="reverify",
                scheduled_for=due,
                time_window="",
                now=now,
            )
    return int(sample.id)


async def do_record_finding(actor: Actor, item_id: int, finding: str, *, now: datetime) -> None:
    """Record what re-verification found for one sampled household (audited)."""
    require(actor, Capability.SAMPLE_FINDING_RECORD)
    if finding not in FINDINGS:
        raise DomainError(N_("Choose eligible or ineligible."), field="finding")
    async with write_transaction(SampleItem._meta.db):
        row = (
            await SampleItem.select(
                SampleItem.id,
                SampleItem.org_path,
                SampleItem.finding,
                SampleItem.household,
                SampleItem.sample,
            )
            .where((SampleItem.id == valid_id(item_id)) & in_scope(actor, SampleItem.org_path))
            .first()
        )
        if row is None:
            raise NotFoundOrForbidden()
        if row["finding"] == finding:
            return
        await SampleItem.update({SampleItem.finding: finding}).where(SampleItem.id == row["id"])
        await record_event(
            actor,
            "sample_item.finding",
            "sample_item",
            row["id"],
            org_path=row["org_path"],
            now=now,
            household_id=row["household"],
            before={"finding": row["finding"]},
            after={"finding": finding, "sample_id": row["sample"]},
        )
