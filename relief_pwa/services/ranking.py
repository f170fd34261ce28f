"""The ranking page: households by relief index within the actor's jurisdiction.

Order is core.ranking.rank (index, earlier application, file number, id).
"Now" reads the household's current index; "as of D" takes the households
ranked then (the latest stored record of each computed on or before D) and
recomputes their index from the facts valid on D (docs/facts-over-time.md).

Movement: the rank the household would hold with its previous record's index
(everyone else as they are now) against its rank now — exactly the part of
the move its own changes explain, and the factor deltas between its last two
records say why.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.bounds import parse_day
from relief_pwa.core.enums import Category
from relief_pwa.core.errors import DomainError, PermissionDenied
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.core.scoring import FACTOR_CODES
from relief_pwa.services.actors import Actor
from relief_pwa.services.bulk_scoring import RANKED_STATES, local_date
from relief_pwa.services.org import OrgNode, org_tree, unit_in_tree
from relief_pwa.services.scoring import RawSql, parse_breakdown_points, totals_on
from relief_pwa.tables import Household, OrgUnit

PAGE_SIZE = 25
_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class RankingQuery:
    org: str = ""  # org unit code inside the actor's scope
    category: str = ""
    as_of: str = ""  # ISO date; "" = now
    page: int = 1
    # Keyset cursors of the live ranking (a row's ``cursor``): the page after / before that row.
    after: str = ""
    before: str = ""


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
    def cursor(self) -> str:
        """The row's place in the order, for the Next/Previous links: "−centi.first.id.file_no"."""
        centi = int((self.index * 100).to_integral_value())
        return f"{-centi}.{self.first_applied_on.isoformat()}.{self.household_id}.{self.file_no}"

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
    units: list[OrgNode]
    errors: dict[str, str]
    keyset: bool = False  # the links carry cursors (the live ranking from the stored ranks)

    @property
    def has_prev(self) -> bool:
        return bool(self.rows) and self.rows[0].rank > 1 if self.keyset else self.page > 1

    @property
    def has_next(self) -> bool:
        return bool(self.rows) and self.rows[-1].rank < self.total if self.keyset else self.page < self.pages


def require_ranking_role(actor: Actor) -> None:
    if not actor.can(Capability.RANKING_READ):
        raise PermissionDenied(N_("Your role may not take this action."))


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


async def _scope(actor: Actor, org_code: str) -> str:
    if not org_code:
        return actor.org_path
    node = await unit_in_tree(org_code)  # active units from the cache; a closed one from the table
    unit = (
        {"path": node.path}
        if node
        else await OrgUnit.select(OrgUnit.path).where(OrgUnit.code == org_code).first()
    )
    if unit is None or not str(unit["path"]).startswith(actor.org_path):
        raise DomainError(N_("Unknown org unit code."), field="org")
    return str(unit["path"])


_RANKED_STATE_LIST = sorted(RANKED_STATES)

# A household's place in the order: (−index in hundredths, first application as
# ISO date, file number, id). Integers and ISO strings sort exactly like
# core.ranking's (−Decimal index, date, file number, id) key — a test checks the
# page against core.ranking.rank — but cost a fraction at city scale.
Key = tuple[int, str, str, int]


def _iso(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat()


async def _current_keys(scope: str, category: str) -> tuple[list[Key], dict[int, bool]]:
    """Open households with an index in scope (and with an open application of ``category``)."""
    q = RawSql()
    sql = (
        f"SELECT {q.num('h.id')}, CAST(ROUND(h.current_index * 100) AS INTEGER),"  # noqa: S608  (column names only)
        f" {q.num('h.index_provisional')}, h.file_no, {q.text('MIN(a.received_on)')}"
        " FROM household h JOIN application a ON a.household = h.id"
        " WHERE h.org_path LIKE {} AND h.is_open = {} AND h.current_index IS NOT NULL"
    )
    args: list[Any] = [f"{scope}%", True]
    if category:
        states = ", ".join("{}" for _ in _RANKED_STATE_LIST)
        # Only "{}" placeholders are interpolated: values travel as parameters.
        sql += (
            f" AND h.id IN (SELECT household FROM application WHERE category = {{}} AND state IN ({states}))"  # noqa: S608
        )
        args += [category, *_RANKED_STATE_LIST]
    sql += " GROUP BY h.id, h.current_index, h.index_provisional, h.file_no"
    keys: list[Key] = []
    provisional: dict[int, bool] = {}
    for hid, centi, is_provisional, file_no, first_applied in await q.fetch(sql, *args):
        keys.append((-centi, _iso(first_applied), file_no, hid))
        if is_provisional:
            provisional[hid] = True
    return keys, provisional


async def ranked_keys(scope: str, category: str = "") -> list[Key]:
    """Every ranked household in scope, in rank order (rank = position + 1): no paging, no details."""
    keys, _provisional = await _current_keys(scope, category)
    keys.sort()
    return keys


def _cutoff(day: date) -> datetime:
    """Records computed before the end of ``day`` (bureau time) belong to the ranking as of that day."""
    # In UTC: SQLite compares the stored UTC text, so the parameter must be spelled alike.
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=CHINA_TZ).astimezone(UTC)


async def _keys_as_of(
    scope: str, category: str, day: date, *, now: datetime
) -> tuple[list[Key], dict[int, bool]]:
    """The ranking on ``day``: the households ranked then, by their index for that day's facts."""
    q = RawSql()
    sql = (
        f"SELECT {q.num('x.household')}, CAST(ROUND(x.total * 100) AS INTEGER), {q.num('x.provisional')},"  # noqa: S608
        f" h.file_no, {q.text('fa.first_applied')} FROM ("
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
    found = await q.fetch(sql, *args)
    # Who was ranked then, and for what, comes from the records stored then; the index
    # itself is recomputed from the facts valid that day (a fact recorded later with an
    # earlier effective date counts). Households without a standard then keep their record.
    recomputed = await totals_on([row[0] for row in found], day, now=now)
    keys: list[Key] = []
    provisional: dict[int, bool] = {}
    for hid, centi, is_provisional, file_no, first_applied in found:
        total = recomputed.get(hid)
        if total is not None:
            centi = int((total * 100).to_integral_value())
        keys.append((-centi, _iso(first_applied), file_no, hid))
        if is_provisional:
            provisional[hid] = True
    return keys, provisional


async def _last_two_records(
    household_ids: list[int], cutoff: datetime | None
) -> dict[int, list[dict[str, Any]]]:
    """Each household's latest two index records (computed before ``cutoff``), latest first."""
    if not household_ids:
        return {}
    q = RawSql()
    marks = ", ".join("{}" for _ in household_ids)
    args: list[Any] = list(household_ids)
    before = ""
    if cutoff is not None:
        before = " AND computed_at < {}"
        args.append(cutoff)
    # Only the two rows each household needs travel back (a long-scored household has many).
    rows = await q.fetch(
        f"SELECT {q.num('household')}, total, model_version, breakdown FROM ("  # noqa: S608
        " SELECT household, total, model_version, breakdown, ROW_NUMBER() OVER"
        " (PARTITION BY household ORDER BY computed_at DESC, id DESC) AS position"
        f" FROM index_record WHERE household IN ({marks}){before}) x WHERE position <= 2"
        " ORDER BY household, position",
        *args,
    )
    grouped: dict[int, list[dict[str, Any]]] = {}
    for household, total, model_version, breakdown in rows:
        grouped.setdefault(int(household), []).append(
            {"total": total, "model_version": model_version, "breakdown": breakdown}
        )
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
            day = parse_day(query.as_of, "as_of")
        except DomainError:
            raise DomainError(N_("Please give a date as YYYY-MM-DD."), field="as_of") from None
        if day >= local_date(now):
            day = None  # today or later: the live ranking
    scope = await _scope(actor, query.org)
    units = await _units(actor)
    if day is None and scope:
        return await _stored_page(scope, category, query, units)
    if day is None:
        keys, provisional = await _current_keys(scope, category)
    else:
        await _check_as_of_size(scope)
        keys, provisional = await _keys_as_of(scope, category, day, now=now)
    keys.sort()
    total = len(keys)
    pages = max(1, -(-total // PAGE_SIZE))
    page = max(1, min(query.page, pages))
    first_rank = (page - 1) * PAGE_SIZE + 1
    window = keys[first_rank - 1 : first_rank - 1 + PAGE_SIZE]
    ids = [key[3] for key in window]
    details = {
        r["id"]: r
        for r in await Household.select(Household.id, Household.head_name, Household.org_unit.name).where(
            Household.id.is_in(ids or [-1])
        )
    }
    history = await _last_two_records(ids, None if day is None else _cutoff(day))
    rows: list[RankingRow] = []
    for offset, key in enumerate(window):
        neg_centi, first_applied, file_no, household_id = key
        records = history.get(household_id, [])
        previous_index = previous_rank = None
        model_change = None
        why: list[FactorChange] = []
        if len(records) == 2:
            latest, previous = records
            previous_index = _decimal(previous["total"])
            previous_key = (-int(previous_index * 100), first_applied, file_no, household_id)
            position = bisect.bisect_left(keys, previous_key)
            if key < previous_key:
                position -= 1  # the household itself no longer sits where it is now
            previous_rank = position + 1
            why = _why(latest, previous)
            if latest["model_version"] != previous["model_version"]:
                model_change = (str(previous["model_version"]), str(latest["model_version"]))
        detail = details.get(household_id, {})
        rows.append(
            RankingRow(
                rank=first_rank + offset,
                household_id=household_id,
                file_no=file_no,
                head_name=str(detail.get("head_name", "")),
                community=str(detail.get("org_unit.name", "")),
                index=Decimal(-neg_centi).scaleb(-2),
                provisional=provisional.get(household_id, False),
                first_applied_on=date.fromisoformat(first_applied[:10]),
                previous_index=previous_index,
                previous_rank=previous_rank,
                model_change=model_change,
                why=why,
            )
        )
    return RankingPage(
        rows, total, page, pages, RankingQuery(query.org, category, query.as_of, page), day, units, errors
    )


# The ranking on a past date is recomputed from that day's facts on each request: it is
# offered for scopes up to this many ranked households (a street, a small district), so
# that one request never recomputes a whole city.
AS_OF_LIMIT = 5_000


async def _check_as_of_size(scope: str) -> None:
    q = RawSql()
    size = await _partition_size(q, scope, "") if scope else await _open_ranked_count(q)
    if size > AS_OF_LIMIT:
        raise DomainError(
            N_(
                "The ranking on a past date covers at most {limit} households:"
                " please choose a district or street."
            ),
            field="as_of",
            limit=AS_OF_LIMIT,
        )


async def _partition_size(q: RawSql, scope: str, category: str) -> int:
    """How many households rank in (scope, category): one look-up of the stored tally."""
    rows = await q.fetch(
        f"SELECT {q.num('size')} FROM household_rank_tally WHERE scope = {{}} AND category = {{}}",  # noqa: S608
        scope,
        category,
    )
    return int(rows[0][0]) if rows else 0


async def _open_ranked_count(q: RawSql) -> int:
    rows = await q.fetch(
        "SELECT COUNT(*) FROM household WHERE is_open = {} AND current_index IS NOT NULL", True
    )
    return int(rows[0][0] or 0)


async def _units(actor: Actor) -> list[OrgNode]:
    """Districts and streets in the actor's scope (the page's filter), from the org cache.

    The cached nodes themselves: the template reads their attributes directly (a dict's
    keys cost Jinja a failed attribute look-up each, ~900 per city page)."""
    return [
        u for u in await org_tree() if u.path.startswith(actor.org_path) and u.level in {"district", "street"}
    ]


def parse_cursor(text: str) -> Key | None:
    """A row's cursor back to its key; None for anything malformed (the link then starts over)."""
    parts = text.split(".", 3)
    if len(parts) != 4:
        return None
    centi, first_applied, household, file_no = parts
    try:
        date.fromisoformat(first_applied)
        return (int(centi), first_applied, file_no, int(household))
    except ValueError:
        return None


_KEY_ORDER = "neg_centi, first_applied, file_no, household"
_KEY_DESCENDING = "neg_centi DESC, first_applied DESC, file_no DESC, household DESC"


def _key_match(prefix: str, operator: str) -> str:
    columns = ", ".join(f"{prefix}{column}" for column in _KEY_ORDER.split(", "))
    return f"({columns}) {operator} ({{}}, {{}}, {{}}, {{}})"


async def _stored_rows(
    q: RawSql,
    scope: str,
    category: str,
    *,
    after: Key | None = None,
    before: Key | None = None,
    offset: int = 0,
    last_page: bool = False,
) -> list[Any]:
    """One page of stored keys with their households, then in every row the partition's size
    (its tally) and how many of its rows lie before the page.

    After a key: the next rows up; the rows before the page are those up to the key, counted
    through the key index in the same statement. Before a key: the rows just above it,
    counted the same way. Otherwise the rows from ``offset`` on, or the last page's.
    """
    where, order, ahead = "", _KEY_ORDER, ""
    cursor: tuple[Any, ...] = ()
    if after is not None:
        where, ahead, cursor = f" AND {_key_match('', '>')}", _key_match("c.", "<="), after
    elif before is not None:
        where, order, ahead = f" AND {_key_match('', '<')}", _KEY_DESCENDING, _key_match("c.", "<")
        cursor = before
    counted = (
        f"(SELECT COUNT(*) FROM household_rank c WHERE c.scope = {{}} AND c.category = {{}} AND {ahead})"  # noqa: S608
        if ahead
        else "0"
    )
    skip: tuple[Any, ...] = (0 if cursor else offset,)
    skipped = "{}"
    if last_page:  # the tally's size rounded down to a page, in the same statement
        skipped = (
            "COALESCE((SELECT (t.size - 1) / {} * {} FROM household_rank_tally t"
            " WHERE t.scope = {} AND t.category = {} AND t.size > 0), 0)"
        )
        skip = (PAGE_SIZE, PAGE_SIZE, scope, category)
    return await q.fetch(
        # Only "{}" placeholders and fixed column lists are interpolated: values travel as parameters.
        f"SELECT {q.num('r.household')}, {q.num('r.neg_centi')}, r.first_applied,"  # noqa: S608
        f" r.file_no, h.head_name, {q.num('h.index_provisional')}, o.name,"
        f" (SELECT {q.num('t.size')} FROM household_rank_tally t WHERE t.scope = {{}} AND t.category = {{}}),"
        f" {q.num(counted)}"
        # The LIMIT inside keeps the planner's estimate at one page: joined by key, never hashed.
        f" FROM (SELECT {_KEY_ORDER} FROM household_rank"
        f" WHERE scope = {{}} AND category = {{}}{where} ORDER BY {order} LIMIT {{}} OFFSET {skipped}) r"
        " JOIN household h ON h.id = r.household JOIN org_unit o ON o.id = h.org_unit"
        " ORDER BY r.neg_centi, r.first_applied, r.file_no, r.household",
        scope,
        category,
        *((scope, category, *cursor) if ahead else ()),
        scope,
        category,
        *cursor,
        PAGE_SIZE,
        *skip,
    )


async def _stored_page(scope: str, category: str, query: RankingQuery, units: list[OrgNode]) -> RankingPage:
    """The live ranking, read page by page from the stored keys (services/rank_store.py).

    Next and Previous carry the key of the page's last / first row: the page is an index
    walk from that key (``household_rank_by_key``), stable when households move in between,
    and its first rank is one more than the rows up to the key, counted in the same walk.
    A bare ``page=N`` (old links, a jump) skips (N − 1) pages of the index instead. Either
    way the work grows with how deep the page is, not with the city: the first pages,
    which are what a station reads, cost the same in a city as in a street.
    """
    q = RawSql()
    after, before = parse_cursor(query.after), parse_cursor(query.before)
    found: list[Any] = []
    first_rank = 1
    if after is not None:
        found = await _stored_rows(q, scope, category, after=after)
        if found:
            first_rank = int(found[0][8]) + 1
    elif before is not None:
        found = await _stored_rows(q, scope, category, before=before)
        if len(found) == PAGE_SIZE:
            first_rank = int(found[0][8]) - PAGE_SIZE + 1
        else:  # less than a page above the cursor (households moved): the first page
            found = await _stored_rows(q, scope, category)
    else:
        first_rank = (max(1, query.page) - 1) * PAGE_SIZE + 1
        found = await _stored_rows(q, scope, category, offset=first_rank - 1)
    if not found and (after is not None or query.page > 1):
        # Past the end (a stale link): the last page, in one more statement.
        found = await _stored_rows(q, scope, category, last_page=True)
        first_rank = max(0, int(found[0][7] or 0) - 1) // PAGE_SIZE * PAGE_SIZE + 1 if found else 1
    if not found:
        first_rank = 1
    page = (first_rank - 1) // PAGE_SIZE + 1
    total = int(found[0][7] or 0) if found else 0
    pages = max(1, -(-total // PAGE_SIZE))
    ids = [int(r[0]) for r in found]
    history = await _last_two_records(ids, None)
    previous_keys: dict[int, Key] = {}
    for hid, _neg, first_applied, file_no, *_rest in found:
        records = history.get(int(hid), [])
        if len(records) == 2:
            previous_centi = int(_decimal(records[1]["total"]) * 100)
            previous_keys[int(hid)] = (-previous_centi, str(first_applied), str(file_no), int(hid))
    page_start: Key | None = None
    if found:
        hid, neg, first_applied, file_no = found[0][:4]
        page_start = (int(neg), str(first_applied), str(file_no), int(hid))
    rows_before = await _rows_before(q, scope, category, page_start, first_rank, previous_keys)
    rows: list[RankingRow] = []
    for position, (
        hid,
        neg,
        first_applied,
        file_no,
        head_name,
        is_provisional,
        community,
        *_counts,
    ) in enumerate(found):
        records = history.get(int(hid), [])
        previous_index = previous_rank = None
        model_change = None
        why: list[FactorChange] = []
        if len(records) == 2:
            latest, previous = records
            previous_index = _decimal(previous["total"])
            key: Key = (int(neg), str(first_applied), str(file_no), int(hid))
            # Others ahead of the previous key; the household itself does not count.
            ahead = rows_before[int(hid)]
            if key < previous_keys[int(hid)]:
                ahead -= 1
            previous_rank = ahead + 1
            why = _why(latest, previous)
            if latest["model_version"] != previous["model_version"]:
                model_change = (str(previous["model_version"]), str(latest["model_version"]))
        rows.append(
            RankingRow(
                rank=first_rank + position,
                household_id=int(hid),
                file_no=str(file_no),
                head_name=str(head_name),
                community=str(community),
                index=Decimal(-int(neg)).scaleb(-2),
                provisional=bool(is_provisional),
                first_applied_on=date.fromisoformat(str(first_applied)[:10]),
                previous_index=previous_index,
                previous_rank=previous_rank,
                model_change=model_change,
                why=why,
            )
        )
    return RankingPage(
        rows,
        total,
        page,
        pages,
        RankingQuery(query.org, category, query.as_of, page),
        None,
        units,
        {},
        keyset=True,
    )


async def _rows_before(
    q: RawSql, scope: str, category: str, page_start: Key | None, first_rank: int, keys: dict[int, Key]
) -> dict[int, int]:
    """For each key, how many of the partition's rows lie before it, in one statement.

    Anchored at the page's first row (``first_rank − 1`` rows before it). The page's first
    key and the given keys, sorted, cut the order into intervals; each interval's rows are
    counted once through the key index, and each key's count is the anchor's plus or
    minus the intervals in between. The walk covers the span from the lowest to the
    highest key once, however many households moved across the same stretch.
    """
    if not keys or page_start is None:
        return {}
    bounds = sorted({page_start, *keys.values()})
    counts = await _interval_counts(q, scope, category, list(pairwise(bounds)))
    anchor = bounds.index(page_start)
    before = {page_start: first_rank - 1}
    for position in range(anchor, len(bounds) - 1):  # the intervals after the page's first row
        before[bounds[position + 1]] = before[bounds[position]] + counts[position]
    for position in range(anchor - 1, -1, -1):  # and those before it
        before[bounds[position]] = before[bounds[position + 1]] - counts[position]
    return {hid: before[key] for hid, key in keys.items()}


async def _interval_counts(
    q: RawSql, scope: str, category: str, intervals: list[tuple[Key, Key]]
) -> list[int]:
    """How many of the partition's rows lie in each [low, high) of key order, in order."""
    if not intervals:
        return []
    key = "(r.neg_centi, r.first_applied, r.file_no, r.household)"
    count = q.num(
        "(SELECT COUNT(*) FROM household_rank r WHERE r.scope = {} AND r.category = {}"  # noqa: S608
        f" AND {key} >= (v.low_neg, v.low_first, v.low_file, v.low_id)"
        f" AND {key} < (v.high_neg, v.high_first, v.high_file, v.high_id))"
    )
    columns = "low_neg, low_first, low_file, low_id, high_neg, high_first, high_file, high_id, n"
    if q.sqlite:
        values = ", ".join(
            "(CAST({} AS INTEGER), {}, {}, CAST({} AS INTEGER),"
            " CAST({} AS INTEGER), {}, {}, CAST({} AS INTEGER), CAST({} AS INTEGER))"
            for _ in intervals
        )
        rows = await q.fetch(
            f"WITH v({columns}) AS (VALUES {values}) SELECT {count} FROM v ORDER BY v.n",  # noqa: S608
            *[value for n, (low, high) in enumerate(intervals) for value in (*low, *high, n)],
            scope,
            category,
        )
    else:
        # One statement text whatever the page holds: prepared once per connection.
        rows = await q.fetch(
            f"SELECT {count} FROM unnest({{}}::integer[], {{}}::varchar[], {{}}::varchar[], {{}}::integer[],"  # noqa: S608
            " {}::integer[], {}::varchar[], {}::varchar[], {}::integer[]) WITH ORDINALITY"
            f" AS v({columns}) ORDER BY v.n",
            scope,
            category,
            *[[bound[part] for bound, _ in intervals] for part in range(4)],
            *[[bound[part] for _, bound in intervals] for part in range(4)],
        )
    return [int(row[0]) for row in rows]
