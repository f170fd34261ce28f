"""The ranking page: households by relief index within the actor's jurisdiction.

Order is core.ranking.rank (index, earlier application, file number, id).
"Now" reads the household's current index; "as of D" rebuilds the ranking
from the latest stored record of each household computed on or before D, so
any past ranking can be shown again.

Movement: the rank the household would hold with its previous record's index
(everyone else as they are now) against its rank now — exactly the part of
the move its own changes explain, and the factor deltas between its last two
records say why.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from piccolo.querystring import QueryString

from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.enums import Category, Role
from relief_pwa.core.errors import DomainError, PermissionDenied
from relief_pwa.core.i18n import N_
from relief_pwa.core.ranking import RankEntry, rank
from relief_pwa.core.scoring import FACTOR_CODES
from relief_pwa.services.actors import Actor
from relief_pwa.services.scoring import RANKED_STATES, local_date, parse_breakdown_points
from relief_pwa.tables import Household, OrgUnit

RANKING_ROLES = frozenset({Role.STATION, Role.CENTER, Role.CITY, Role.SUPERVISOR})
PAGE_SIZE = 25
_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class RankingQuery:
    org: str = ""  # org unit code inside the actor's scope
    category: str = ""
    as_of: str = ""  # ISO date; "" = now
    page: int = 1


@dataclass(frozen=True)
class FactorChange:
    code: str
    delta: Decimal


@dataclass(frozen=True)
class RankingRow:
    rank: int
    household_id: int
    file_no: str
    head_name: str
    community: str
    index: Decimal
    provisional: bool
    first_applied_on: date
    previous_index: Decimal | None
    previous_rank: int | None
    model_change: tuple[str, str] | None
    why: list[FactorChange] = field(default_factory=list)

    @property
    def movement(self) -> int | None:
        """Positive: moved up the list (towards rank 1)."""
        return None if self.previous_rank is None else self.previous_rank - self.rank


@dataclass(frozen=True)
class RankingPage:
    rows: list[RankingRow]
    total: int
    page: int
    pages: int
    query: RankingQuery
    as_of: date | None
    units: list[dict[str, Any]]
    errors: dict[str, str]


def require_ranking_role(actor: Actor) -> None:
    if actor.role not in RANKING_ROLES:
        raise PermissionDenied(N_("Your role may not take this action."))


async def _raw(sql: str, *args: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await Household._meta.db.run_querystring(QueryString(sql, *args))
    return rows


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


async def _scope(actor: Actor, org_code: str) -> str:
    if not org_code:
        return actor.org_path
    unit = await OrgUnit.select(OrgUnit.path).where(OrgUnit.code == org_code).first()
    if unit is None or not str(unit["path"]).startswith(actor.org_path):
        raise DomainError(N_("Unknown org unit code."), field="org")
    return str(unit["path"])


_RANKED_STATE_LIST = sorted(RANKED_STATES)


async def _current_entries(scope: str, category: str) -> tuple[list[RankEntry], dict[int, bool]]:
    """Open households with an index in scope (and with an open application of ``category``)."""
    sql = (
        "SELECT h.id, h.current_index, h.index_provisional, h.file_no, MIN(a.received_on) AS first_applied "
        "FROM household h JOIN application a ON a.household = h.id "
        "WHERE h.org_path LIKE {} AND h.is_open = {} AND h.current_index IS NOT NULL"
    )
    args: list[Any] = [f"{scope}%", True]
    if category:
        states = ", ".join("{}" for _ in _RANKED_STATE_LIST)
        sql += (
            # Only "{}" placeholders are interpolated: values travel as parameters.
            f" AND h.id IN (SELECT household FROM application WHERE category = {{}} AND state IN ({states}))"  # noqa: S608
        )
        args += [category, *_RANKED_STATE_LIST]
    sql += " GROUP BY h.id, h.current_index, h.index_provisional, h.file_no"
    entries: list[RankEntry] = []
    provisional: dict[int, bool] = {}
    for r in await _raw(sql, *args):
        entries.append(
            RankEntry(r["id"], _decimal(r["current_index"]), _as_date(r["first_applied"]), r["file_no"])
        )
        provisional[r["id"]] = bool(r["index_provisional"])
    return entries, provisional


def _cutoff(day: date) -> datetime:
    """Records computed before the end of ``day`` (bureau time) belong to the ranking as of that day."""
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=CHINA_TZ)


async def _entries_as_of(scope: str, category: str, day: date) -> tuple[list[RankEntry], dict[int, bool]]:
    """The ranking as it stood at the end of ``day``, from the stored records."""
    sql = (
        "SELECT x.household, x.total, x.provisional, h.file_no, fa.first_applied FROM ("
        " SELECT r.household, r.total, r.provisional, r.categories,"
        " ROW_NUMBER() OVER (PARTITION BY r.household ORDER BY r.computed_at DESC, r.id DESC) AS position"
        " FROM index_record r WHERE r.computed_at < {} AND r.org_path LIKE {}"
        ") x JOIN household h ON h.id = x.household"
        " JOIN (SELECT household, MIN(received_on) AS first_applied FROM application GROUP BY household) fa"
        " ON fa.household = x.household"
        " WHERE x.position = 1 AND x.categories <> {}"
    )
    args: list[Any] = [_cutoff(day), f"{scope}%", ""]
    if category:
        sql += " AND x.categories LIKE {}"
        args.append(f"%,{category},%")
    entries: list[RankEntry] = []
    provisional: dict[int, bool] = {}
    for r in await _raw(sql, *args):
        entries.append(
            RankEntry(r["household"], _decimal(r["total"]), _as_date(r["first_applied"]), r["file_no"])
        )
        provisional[r["household"]] = bool(r["provisional"])
    return entries, provisional


def _key(entry: RankEntry) -> tuple[Decimal, date, str, int]:
    # The same order as core.ranking.rank (index desc, earlier application, file number, id).
    return (-entry.index, entry.first_applied_on, entry.file_no, entry.household_id)


async def _last_two_records(
    household_ids: list[int], cutoff: datetime | None
) -> dict[int, list[dict[str, Any]]]:
    if not household_ids:
        return {}
    marks = ", ".join("{}" for _ in household_ids)
    sql = (
        "SELECT household, total, model_version, breakdown, computed_at, id FROM index_record "  # noqa: S608
        f"WHERE household IN ({marks})"
    )
    args: list[Any] = list(household_ids)
    if cutoff is not None:
        sql += " AND computed_at < {}"
        args.append(cutoff)
    sql += " ORDER BY household, computed_at DESC, id DESC"
    grouped: dict[int, list[dict[str, Any]]] = {}
    for r in await _raw(sql, *args):
        records = grouped.setdefault(r["household"], [])
        if len(records) < 2:
            records.append(r)
    return grouped


def _why(latest: dict[str, Any], previous: dict[str, Any]) -> list[FactorChange]:
    now_points = parse_breakdown_points(latest["breakdown"])
    before_points = parse_breakdown_points(previous["breakdown"])
    changes = [
        FactorChange(code, now_points.get(code, _ZERO) - before_points.get(code, _ZERO))
        for code in FACTOR_CODES
    ]
    changes = [c for c in changes if c.delta != 0]
    changes.sort(key=lambda c: (-abs(c.delta), FACTOR_CODES.index(c.code)))
    return changes[:3]


async def list_ranking(actor: Actor, query: RankingQuery, *, now: datetime) -> RankingPage:
    """One page of the ranking in the actor's jurisdiction, with movement and reasons."""
    require_ranking_role(actor)
    errors: dict[str, str] = {}
    category = query.category if query.category in {c.value for c in Category} else ""
    day: date | None = None
    if query.as_of:
        try:
            day = date.fromisoformat(query.as_of)
        except ValueError:
            raise DomainError(N_("Please give a date as YYYY-MM-DD."), field="as_of") from None
        if day >= local_date(now):
            day = None  # today or later: the live ranking
    scope = await _scope(actor, query.org)
    if day is None:
        entries, provisional = await _current_entries(scope, category)
    else:
        entries, provisional = await _entries_as_of(scope, category, day)
    ranked = rank(entries)
    keys = [_key(r.entry) for r in ranked]
    total = len(ranked)
    pages = max(1, -(-total // PAGE_SIZE))
    page = max(1, min(query.page, pages))
    window = ranked[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    ids = [r.entry.household_id for r in window]
    details = {
        r["id"]: r
        for r in await Household.select(Household.id, Household.head_name, Household.org_unit.name).where(
            Household.id.is_in(ids or [-1])
        )
    }
    history = await _last_two_records(ids, None if day is None else _cutoff(day))
    rows: list[RankingRow] = []
    for ranked_entry in window:
        entry = ranked_entry.entry
        records = history.get(entry.household_id, [])
        previous_index = previous_rank = None
        model_change = None
        why: list[FactorChange] = []
        if len(records) == 2:
            latest, previous = records
            previous_index = _decimal(previous["total"])
            own_key = _key(entry)
            previous_key = (-previous_index, entry.first_applied_on, entry.file_no, entry.household_id)
            position = bisect.bisect_left(keys, previous_key)
            if own_key < previous_key:
                position -= 1  # the household itself no longer sits where it is now
            previous_rank = position + 1
            why = _why(latest, previous)
            if latest["model_version"] != previous["model_version"]:
                model_change = (str(previous["model_version"]), str(latest["model_version"]))
        detail = details.get(entry.household_id, {})
        rows.append(
            RankingRow(
                rank=ranked_entry.rank,
                household_id=entry.household_id,
                file_no=entry.file_no,
                head_name=str(detail.get("head_name", "")),
                community=str(detail.get("org_unit.name", "")),
                index=entry.index,
                provisional=provisional.get(entry.household_id, False),
                first_applied_on=entry.first_applied_on,
                previous_index=previous_index,
                previous_rank=previous_rank,
                model_change=model_change,
                why=why,
            )
        )
    units = (
        await OrgUnit.select(OrgUnit.code, OrgUnit.name, OrgUnit.level, OrgUnit.path)
        .where(OrgUnit.path.like(f"{actor.org_path}%") & OrgUnit.level.is_in(["district", "street"]))
        .order_by(OrgUnit.path)
    )
    return RankingPage(
        rows, total, page, pages, RankingQuery(query.org, category, query.as_of, page), day, units, errors
    )
