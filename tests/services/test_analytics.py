"""Every dashboard figure against an independent count in Python over the seeded rows."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.calendar import add_working_days
from relief_pwa.core.errors import NotFoundOrForbidden, PermissionDenied
from relief_pwa.core.periods import Period, parse_period
from relief_pwa.services.analytics import (
    Filters,
    _HistoryPlan,
    _moves_sql,
    _Sql,
    get_dashboard,
    list_households_behind,
    resolve_unit,
)
from relief_pwa.tables import Household, IndexRecord
from tests.helpers import found
from tests.services.analytics_seed import SeededCity, seed_city

OPEN = {
    "received",
    "investigating",
    "verified_eligible",
    "verified_ineligible",
    "publicized",
    "reinvestigating",
    "republicized",
    "ready_for_approval",
    "approved",
    "active",
    "under_review",
}


def local(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()


def bucket(total: float) -> int:
    return min(9, int(total // 10))


class Expected:
    """The figures, recounted over the specs (no SQL)."""

    def __init__(
        self, city: SeededCity, prefix: str, period: Period, today: date, category: str = ""
    ) -> None:
        self.cases = [
            c for c in city.cases if c.path.startswith(prefix) and (not category or c.category == category)
        ]
        self.period, self.today, self.prefix, self.city = period, today, prefix, city
        self.households = {c.household_id for c in self.cases}

    def in_period(self, day: date) -> bool:
        return self.period.start <= day <= self.period.end

    def states(self) -> Counter[str]:
        return Counter(c.state for c in self.cases)

    def flows(self) -> dict[str, dict[str, int]]:
        out = {m: {"new": 0, "approve": 0, "reject": 0, "exit": 0} for m in self.period.months()}
        for c in self.cases:
            if self.in_period(c.received_on):
                out[f"{c.received_on:%Y-%m}"]["new"] += 1
            for action, when in c.events:
                key = action.split(".")[1]
                if key in ("approve", "reject", "exit") and self.in_period(local(when)):
                    out[f"{local(when):%Y-%m}"][key] += 1
        return out

    def index_now(self) -> tuple[list[int], int]:
        buckets = [0] * 10
        unscored = 0
        for c in self.cases:
            if not c.is_open:
                continue
            if c.index is None:
                unscored += 1
            else:
                buckets[bucket(c.index)] += 1
        return buckets, unscored

    def moves(self) -> dict[str, int]:
        start = datetime.combine(self.period.start, datetime.min.time(), tzinfo=CHINA_TZ)
        end = datetime.combine(self.period.end_exclusive, datetime.min.time(), tzinfo=CHINA_TZ)
        out: Counter[str] = Counter()
        for c in self.cases:
            before_start = [t for w, t in c.index_history if w < start]
            before_end = [t for w, t in c.index_history if w < end]
            if not before_end:
                continue
            s, e = (before_start[-1] if before_start else None), before_end[-1]
            out["new" if s is None else "up" if e > s else "down" if e < s else "same"] += 1
        return dict(out)

    def investigations(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for c in self.cases:
            if not self.in_period(c.received_on):
                continue
            done = [
                local(w)
                for a, w in c.events
                if a in ("application.find_eligible", "application.find_ineligible")
            ]
            due = add_working_days(c.received_on, 15)
            if not done:
                if c.state == "withdrawn":
                    continue
                out["overdue" if due < self.today else "pending"] += 1
            else:
                out["on_time" if min(done) <= due else "late"] += 1
        return out

    def visits(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {"follow_up": Counter(), "review": Counter()}
        for v in self.city.visits:
            if (
                v.household_id not in self.households
                or v.status == "cancelled"
                or not self.in_period(v.scheduled_for)
            ):
                continue
            if v.status == "done":
                assert v.done_at is not None
                out[v.kind]["on_time" if local(v.done_at) <= v.scheduled_for else "late"] += 1
            else:
                out[v.kind]["overdue" if v.scheduled_for < self.today else "pending"] += 1
        return out

    def paid_by_fund(self) -> Counter[int]:
        out: Counter[int] = Counter()
        for p in self.city.payments:
            if (
                p.household_id in self.households
                and p.status == "paid"
                and p.paid_at
                and self.in_period(local(p.paid_at))
            ):
                out[p.fund_id] += p.amount_fen
        return out

    def failed(self) -> tuple[int, int]:
        months = self.period.months()
        rows = [
            p
            for p in self.city.payments
            if p.path.startswith(self.prefix) and p.status == "failed" and months[0] <= p.month <= months[-1]
        ]
        return len(rows), sum(p.amount_fen for p in rows)

    def objections(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        apps = {c.path for c in self.cases}
        for kind in ("objection", "complaint"):
            rows = [
                o
                for o in self.city.objections
                if o.kind == kind
                and o.path.startswith(self.prefix)
                and o.path in apps
                and self.in_period(local(o.received_at))
            ]
            answered = [o for o in rows if o.answered_at]
            out[kind] = {
                "received": len(rows),
                "answered": len(answered),
                "on_time": sum(1 for o in answered if o.answered_at and local(o.answered_at) <= o.deadline),
                "open": len(rows) - len(answered),
                "open_overdue": sum(1 for o in rows if not o.answered_at and o.deadline < self.today),
            }
        return out


async def _check_board(
    world: Any, city: SeededCity, username: str, code: str | None, period: Period, category: str = ""
) -> None:
    actor = world.actor(username)
    unit = await resolve_unit(actor, code)
    today = world.now.date()
    board = await get_dashboard(actor, unit, Filters(period, category, today))
    exp = Expected(city, unit.path, period, today, category)
    states = exp.states()
    assert {s: n for s, n in board.states.items() if n} == dict(states)
    assert board.open_cases == sum(n for s, n in states.items() if s in OPEN)
    assert board.active_recipients == states["active"] + states["under_review"]
    assert board.flows == exp.flows()
    assert (board.index_now, board.index_unscored) == exp.index_now()
    assert {k: v for k, v in board.moves.items() if v} == exp.moves()
    inv = exp.investigations()
    assert board.investigations.on_time == inv["on_time"]
    assert board.investigations.late == inv["late"]
    assert board.investigations.overdue == inv["overdue"]
    assert board.investigations.pending == inv["pending"]
    for kind, counts in exp.visits().items():
        t = board.visits[kind]
        assert (t.on_time, t.late, t.overdue, t.pending) == (
            counts["on_time"],
            counts["late"],
            counts["overdue"],
            counts["pending"],
        ), kind
    paid = exp.paid_by_fund()
    assert {f.fund_id: f.paid_in_period_fen for f in board.funds if f.paid_in_period_fen} == {
        k: v for k, v in paid.items() if v
    }
    if not category:
        assert (board.failed_lines, board.failed_fen) == exp.failed()
        objections = exp.objections()
        for row in board.objections:
            e = objections[row.kind]
            assert (row.received, row.answered, row.answered_on_time, row.open, row.open_overdue) == (
                e["received"],
                e["answered"],
                e["on_time"],
                e["open"],
                e["open_overdue"],
            ), row.kind
    # drill-down rows add up to the unit's own figures
    if board.child_rows:
        assert sum(r.figures["open"] for r in board.child_rows) == board.open_cases
        assert sum(r.figures["new"] for r in board.child_rows) == board.flow_total("new")
        assert sum(r.figures["approve"] for r in board.child_rows) == board.flow_total("approve")
        assert sum(r.figures["overdue"] for r in board.child_rows) == board.investigations.overdue
        assert sum(r.figures["paid"] for r in board.child_rows) == sum(paid.values())


async def test_city_dashboard_figures_match_independent_counts(world: Any) -> None:
    city = await seed_city(world)
    today = world.now.date()
    await _check_board(world, city, "city", None, parse_period(today=today))
    await _check_board(world, city, "supervisor", None, parse_period(quarter="2026-Q3", today=today))
    await _check_board(
        world, city, "city", None, parse_period(start="2025-11-20", end="2026-03-10", today=today)
    )


async def test_month_period_and_category_filter(world: Any) -> None:
    city = await seed_city(world, rng_seed=11)
    today = world.now.date()
    await _check_board(world, city, "city", None, parse_period(month="2026-09", today=today))
    await _check_board(world, city, "city", None, parse_period(today=today), category="dibao")
    await _check_board(world, city, "center", None, parse_period(today=today), category="medical")


async def _add_record(
    household_id: int, org_path: str, at: datetime, total: str, *, digest: str, current: bool
) -> None:
    """One more index record (and, if ``current``, the household's current index), as scoring writes them."""
    await IndexRecord.insert(
        IndexRecord(
            household=household_id,
            org_path=org_path,
            computed_at=at,
            as_of=at.date(),
            model_version="v1",
            total=Decimal(total),
            trigger="test",
            snapshot_digest=digest,
            breakdown="{}",
        )
    )
    if current:
        await Household.update({Household.current_index: Decimal(total)}).where(Household.id == household_id)


async def test_index_moves_read_the_history_either_way(world: Any) -> None:
    """Each household's index at a past moment is read by a window over the records
    before it, or from the current index corrected for later re-scores (whichever
    is cheaper): both give the same moves, ties of one moment included."""
    city = await seed_city(world, rng_seed=7)
    today = world.now.date()
    # two records of one household at the same moment (one transaction): the later one counts
    latest = found(await IndexRecord.select().order_by(IndexRecord.computed_at, ascending=False).first())
    digest = latest["snapshot_digest"]
    await _add_record(
        latest["household"], latest["org_path"], latest["computed_at"], "99.50", digest=digest, current=True
    )
    for case in city.cases:
        if case.household_id == latest["household"]:
            case.index_history.append((latest["computed_at"], 99.5))
    # a re-score exactly at local midnight starting September: after that moment, not before it
    september = datetime(2026, 9, 1, tzinfo=CHINA_TZ)
    edge = next(
        c
        for c in city.cases
        if c.index_history
        and max(w for w, _ in c.index_history) < september
        and c.household_id != latest["household"]
    )
    await _add_record(edge.household_id, edge.path, september, "77.77", digest=digest, current=True)
    edge.index_history.append((september, 77.77))
    # a tie before September for a household re-scored since: looking back, the later record counts
    tied = next(
        c
        for c in city.cases
        if any(w < september for w, _ in c.index_history)
        and any(w >= september for w, _ in c.index_history)
        and c.household_id not in (latest["household"], edge.household_id)
    )
    tied_at = max(w for w, _ in tied.index_history if w < september)
    await _add_record(tied.household_id, tied.path, tied_at, "11.11", digest=digest, current=False)
    # the household's history stays in time order: the tie right after its twin
    twin = max(i for i, (w, _) in enumerate(tied.index_history) if w == tied_at)
    tied.index_history.insert(twin + 1, (tied_at, 11.11))
    actor = world.actor("city")
    unit = await resolve_unit(actor, None)
    periods = [
        parse_period(today=today),
        parse_period(month="2026-09", today=today),
        parse_period(quarter="2026-Q2", today=today),
        parse_period(start="2025-11-20", end="2026-03-10", today=today),
        parse_period(
            start=str(latest["computed_at"].astimezone(CHINA_TZ).date()), end=str(today), today=today
        ),
    ]
    for period in periods:
        seen = []
        for start_from_current in (False, True):
            for end_from_current in (False, True):
                q = _Sql()
                plan = _HistoryPlan(start_from_current, end_from_current)
                rows = await q.rows(_moves_sql(q, actor, unit, period, "", today, plan))
                seen.append(
                    sorted(
                        (
                            r["household"],
                            None if r["start_total"] is None else round(float(r["start_total"]), 2),
                            round(float(r["end_total"]), 2),
                            r["move"],
                        )
                        for r in rows
                    )
                )
        assert all(moves == seen[0] for moves in seen), period
        assert Counter(m[3] for m in seen[0]) == Expected(city, unit.path, period, today).moves(), period
    tie = [m for m in seen[0] if m[0] == latest["household"]]
    assert tie and tie[0][2] == 99.5


async def test_district_and_street_scope(world: Any) -> None:
    city = await seed_city(world, rng_seed=3)
    today = world.now.date()
    period = parse_period(today=today)
    await _check_board(world, city, "center", None, period)  # 历下区 only
    await _check_board(world, city, "center_b", None, period)  # 市中区 only
    await _check_board(world, city, "station", None, period)  # 解放路街道 only
    await _check_board(world, city, "city", "370102001", period)  # drill-down from the city
    center = world.actor("center")
    board = await get_dashboard(center, await resolve_unit(center, None), Filters(period, "", today))
    other = {c.application_id for c in city.cases if c.path.startswith(city.paths["370103"])}
    assert sum(board.states.values()) == len(city.cases) - len(other)
    assert [r.unit.code for r in board.child_rows] == ["370102001", "370102002"]
    # another district's or a higher unit's dashboard does not exist for them
    for username, code in (
        ("center", "370103"),
        ("center", "370100"),
        ("station", "370102002"),
        ("station", "370102"),
        ("center_b", "370102001"),
    ):
        with pytest.raises(NotFoundOrForbidden):
            await resolve_unit(world.actor(username), code)
    # field staff have no dashboards
    with pytest.raises(PermissionDenied):
        await resolve_unit(world.actor("liaison"), None)


async def test_households_behind_each_number(world: Any) -> None:
    city = await seed_city(world, rng_seed=5)
    today = world.now.date()
    period = parse_period(today=today)
    actor = world.actor("center")
    unit = await resolve_unit(actor, None)
    filters = Filters(period, "", today)
    exp = Expected(city, unit.path, period, today)

    async def ids(measure: str, value: str = "") -> set[int]:
        result = await list_households_behind(actor, unit, filters, measure, value, everything=True)
        assert result.total == len(result.rows)
        return {r.household_id for r in result.rows}

    assert await ids("state", "active") == {c.household_id for c in exp.cases if c.state == "active"}
    assert await ids("new") == {c.household_id for c in exp.cases if exp.in_period(c.received_on)}
    approved = {
        c.household_id
        for c in exp.cases
        if any(a == "application.approve" and exp.in_period(local(w)) for a, w in c.events)
    }
    assert await ids("approve") == approved
    for b in range(10):
        assert await ids("index", str(b)) == {
            c.household_id for c in exp.cases if c.is_open and c.index is not None and bucket(c.index) == b
        }
    board = await get_dashboard(actor, unit, filters)
    assert len(await ids("investigation", "overdue")) == board.investigations.overdue
    assert len(await ids("visit", "review:overdue")) == board.visits["review"].overdue
    failed_households = {
        p.household_id
        for p in city.payments
        if p.status == "failed" and p.path.startswith(unit.path) and p.month >= period.months()[0]
    }
    assert await ids("failed") == failed_households
    for move in ("up", "down", "same", "new"):
        assert len(await ids("move", move)) == board.moves[move]
    # nothing from the other district ever appears
    other = {c.household_id for c in city.cases if not c.path.startswith(unit.path)}
    assert not (await ids("state", "rejected")) & other
