"""Reading households: the case list with search and filters, and the household file."""

from __future__ import annotations

import json
import operator
import time
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache, reduce
from typing import Any

from piccolo.query import WhereRaw
from piccolo.query.functions.aggregate import Count

from relief_pwa.core.enums import AppState, Category
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.idnumber import mask_id_number
from relief_pwa.core.permissions import Capability
from relief_pwa.db import one_connection
from relief_pwa.services import facts_history, identifiers
from relief_pwa.services.access import (
    access_household,
    household_read,
    in_scope,
    path_bounds,
    prefix_bounds,
    scope_pattern,
)
from relief_pwa.services.access_log import note_read
from relief_pwa.services.actors import Actor
from relief_pwa.services.aid import household_aid, household_aid_reads
from relief_pwa.services.datacheck import checks_of as datacheck_checks_of
from relief_pwa.services.datacheck import checks_reads as datacheck_reads
from relief_pwa.services.org import unit_by_id, unit_in_tree
from relief_pwa.services.prepared import Prepared, Read, prefetched
from relief_pwa.services.reviews import DECISIONS
from relief_pwa.services.scoring import end_of_day, index_on, verified_as_of
from relief_pwa.tables import Application, AuditEvent, Household, Member, MoneyItem, OrgUnit

PAGE_SIZE = 25


@dataclass(frozen=True)
class CaseQuery:
    q: str = ""
    state: str = ""
    category: str = ""
    org: str = ""  # org unit code to narrow to, inside the actor's scope
    page: int = 1
    # Keyset cursors "YYYY-MM-DD.id": the last row of the page before (after) or the first
    # row of the page after (before). Without either, ``page`` is read with OFFSET.
    after: str = ""
    before: str = ""

    def cleaned(self) -> CaseQuery:
        state = self.state if self.state in {s.value for s in AppState} else ""
        category = self.category if self.category in {c.value for c in Category} else ""
        org = self.org if self.org.isdecimal() and len(self.org) <= 12 else ""
        after = self.after if parse_cursor(self.after) else ""
        before = "" if after or not parse_cursor(self.before) else self.before
        return CaseQuery(
            " ".join(self.q.split())[:40], state, category, org, max(1, min(self.page, 10_000)), after, before
        )


def parse_cursor(raw: str) -> tuple[date, int] | None:
    """A keyset cursor "YYYY-MM-DD.id", or None when it is not one."""
    day, _, row_id = raw.partition(".")
    if not row_id.isdecimal() or len(row_id) > 10 or len(day) != 10:
        return None
    try:
        return date.fromisoformat(day), int(row_id)
    except ValueError:
        return None


@dataclass(frozen=True)
class CaseRow:
    application_id: int
    number: str
    state: str
    category: str
    received_on: Any
    household_id: int
    file_no: str
    head_name: str
    community: str
    current_index: Any

    @property
    def cursor(self) -> str:
        day = self.received_on if isinstance(self.received_on, str) else self.received_on.isoformat()
        return f"{day[:10]}.{self.application_id}"


@dataclass(frozen=True)
class CasePage:
    rows: list[CaseRow]
    total: int
    page: int
    pages: int
    query: CaseQuery
    # The count is exact within a station or below EXACT_COUNT_LIMIT, otherwise a
    # count cached for COUNT_CACHE_SECONDS and shown as "about N" (docs/scale.md).
    estimated: bool = False
    has_next: bool = False
    has_prev: bool = False


EXACT_COUNT_LIMIT = 2_000
COUNT_CACHE_SECONDS = 300.0
_count_cache: dict[tuple[str, ...], tuple[float, int]] = {}


def _looks_like_id_number(term: str) -> bool:
    """Searches by (part of) an ID number are logged: 6 or more digits, perhaps ending in X."""
    body = term.strip().upper().removesuffix("X")
    return len(body) >= 6 and body.isdigit()


@dataclass(frozen=True)
class _CaseShape:
    """What varies in the case list's statements besides their values. Each shape's page
    select and count are compiled once (``services/prepared.py``); a search, whose list
    of households varies in length, is built afresh each time."""

    org: bool = False  # a street or town chosen: its path prefix
    state: bool = False
    category: bool = False
    search: bool = False  # the matching households' ids (a list) and an application number
    path_range: bool = False  # SQLite: the scope as an index range (low, high)
    unit_level: int = 0  # PostgreSQL: a street's (3) or community's (4) code, its own index
    cursor: str = ""  # "after" or "before": the keyset (day, day, id)

    @property
    def arity(self) -> int:
        fixed = 1 + self.org + self.state + self.category + 2 * self.search + 2 * self.path_range
        return fixed + bool(self.unit_level) + (3 if self.cursor else 0)


def _case_where(shape: _CaseShape, values: Any) -> Any:
    """The WHERE of a case list statement, taking ``shape.arity`` values in order: the
    jurisdiction's prefix, then those the shape names. The values are real ones, or the
    prepared select's placeholders."""
    prefixes, rest = _case_filters(shape, values)
    return prefixes if rest is None else prefixes & rest


def _case_filters(shape: _CaseShape, values: Any) -> tuple[Any, Any]:
    """``_case_where`` in two parts: the jurisdiction's and chosen area's path prefixes, and
    the other filters (None when there are none)."""
    take = iter(values).__next__
    prefixes: Any = Application.org_path.like(take())
    if shape.org:
        prefixes = prefixes & Application.org_path.like(take())
    rest: list[Any] = []
    if shape.state:
        rest.append(Application.state == take())
    if shape.category:
        rest.append(Application.category == take())
    if shape.search:
        households, number = take(), take()
        rest.append(Application.household.is_in(households) | (Application.number == number))
    if shape.path_range:
        low, high = take(), take()
        if Application._meta.db.engine_type == "postgres":
            # The pattern index's own operators: the range it serves, whatever the collation.
            rest.append(WhereRaw("org_path ~>=~ {} AND org_path ~<~ {}", low, high))
        else:
            rest.append((Application.org_path >= low) & (Application.org_path < high))
    if shape.unit_level:
        # The expression of the index application_street_newest / _community_newest.
        rest.append(WhereRaw(f"split_part(org_path, '/', {shape.unit_level}) = {{}}", take()))
    if shape.cursor:
        # The day twice: each placeholder stands once in the SQL.
        day, same_day, row_id = take(), take(), take()
        received, row = Application.received_on, Application.id
        if shape.cursor == "after":
            rest.append((received < day) | ((received == same_day) & (row < row_id)))
        else:
            rest.append((received > day) | ((received == same_day) & (row > row_id)))
    return prefixes, reduce(operator.and_, rest) if rest else None


def _case_page_query(shape: _CaseShape, values: Any, offset: int = 0) -> Any:
    """The page's ids first, from the application indexes alone; then the rows with their
    households. Joining before the limit would read every matching row's household to sort.

    With a street's or community's own index (``unit_level``) the path prefixes filter the
    page's rows instead of the ids: every row under that code lies under its prefix, but
    PostgreSQL, taking the two for independent, would expect one row, read the whole
    street and sort it rather than walk the index for 26. Every row shown still passes the
    jurisdiction's prefix."""
    newest_first = shape.cursor != "before"
    prefixes, rest = _case_filters(shape, values)
    inner, outer = (rest, prefixes) if shape.unit_level else (_case_where(shape, values), None)
    ids = Application.select(Application.id).where(inner)
    if offset:
        ids = ids.offset(offset)
    ids = (
        ids.order_by(Application.received_on, ascending=not newest_first)
        .order_by(Application.id, ascending=not newest_first)
        .limit(PAGE_SIZE + 1)
    )
    rows_where = Application.id.is_in(ids)
    return (
        Application.select(*_case_row_columns())
        .where(rows_where if outer is None else rows_where & outer)
        .order_by(Application.received_on, ascending=not newest_first)
        .order_by(Application.id, ascending=not newest_first)
    )


@cache
def _prepared_case_page(shape: _CaseShape) -> Prepared[dict[str, Any]]:
    return Prepared(lambda *values: _case_page_query(shape, values), arity=shape.arity)


@cache
def _prepared_case_count(shape: _CaseShape) -> Prepared[dict[str, Any]]:
    # COUNT(*), not COUNT(id): PostgreSQL answers it from the org_path index alone (an
    # index-only scan), where COUNT(id) reads every matching row from the table.
    return Prepared(
        lambda *values: Application.select(Count(alias="n")).where(_case_where(shape, values)),
        arity=shape.arity,
    )


def _street_or_below(scope: str) -> bool:
    """A station's street or a community ("city/district/street/..."): small enough to count
    exactly, and where the page walks the scope's own range."""
    return scope.count("/") >= 3


# Path segments of a street and of a community ("city/district/street/community/").
_UNIT_LEVELS = (3, 4)


def _unit_of(scope: str) -> tuple[int, str] | None:
    """On PostgreSQL, the level and code of a street or community scope: its page walks an
    index on that level's code in (received_on, id) order and stops after one page, where
    the scope's prefix range would read every application of the street to sort them
    (docs/scale.md, "Case list: keyset pages, bounded counts"). None elsewhere: SQLite
    walks its range of the scope index."""
    if Application._meta.db.engine_type != "postgres":
        return None
    codes = [part for part in scope.split("/") if part]
    return (len(codes), codes[-1]) if len(codes) in _UNIT_LEVELS else None


async def _exact_count(shape: _CaseShape, values: list[Any]) -> int:
    if shape.search:
        return int(await Application.count().where(_case_where(shape, values)))
    row = await _prepared_case_count(shape).first(*values)
    return int(row["n"]) if row else 0


async def _count(
    shape: _CaseShape, values: list[Any], scope: str, cache_key: tuple[str, ...]
) -> tuple[int, bool]:
    """(count, estimated): exact at street level and below or under the limit, else cached."""
    if _street_or_below(scope):  # always exact
        return await _exact_count(shape, values), False
    clock = time.monotonic()
    cached = _count_cache.get(cache_key)
    if cached is not None and clock - cached[0] <= COUNT_CACHE_SECONDS and cached[1] > EXACT_COUNT_LIMIT:
        # Known to be large a moment ago: skip the capped count (it walks 2,001 rows a request).
        return cached[1], True
    inner = Application.select(Application.id).where(_case_where(shape, values)).limit(EXACT_COUNT_LIMIT + 1)
    capped = await Application.raw("SELECT COUNT(*) AS n FROM ({}) AS capped", inner.querystrings[0])
    if int(capped[0]["n"]) <= EXACT_COUNT_LIMIT:
        return int(capped[0]["n"]), False
    if cached is None or clock - cached[0] > COUNT_CACHE_SECONDS:
        if len(_count_cache) > 1_000:
            _count_cache.clear()
        cached = (clock, await _exact_count(shape, values))
        _count_cache[cache_key] = cached
    return cached[1], True


@cache
def _case_row_columns() -> tuple[Any, ...]:
    """The list row's columns, built once: each join path (``Application.household.x``) costs
    Piccolo a ``dir()`` of the foreign key per attribute, a fifth of a page's time."""
    return (
        Application.id,
        Application.number,
        Application.state,
        Application.category,
        Application.received_on,
        Application.household.id,
        Application.household.file_no,
        Application.household.head_name,
        Application.household.current_index,
        Application.household.org_unit.name,  # type: ignore[union-attr]
    )


async def list_cases(actor: Actor, query: CaseQuery, *, now: datetime) -> CasePage:
    """Applications in the actor's jurisdiction, newest first, searchable by
    name, ID number, file number, application number or phone.

    Pages follow a keyset on (received_on, id) when the link carries a cursor, so a
    later page costs what the first does (an index walk from the cursor)."""
    query = query.cleaned()
    values: list[Any] = [scope_pattern(actor)]
    scope = actor.org_path
    if query.org:
        node = await unit_in_tree(query.org)
        unit = (
            {"path": node.path}
            if node
            else await OrgUnit.select(OrgUnit.path).where(OrgUnit.code == query.org).first()
        )
        if unit is None or not unit["path"].startswith(actor.org_path):
            raise DomainError(N_("Unknown org unit code."), field="org")
        values.append(f"{unit['path']}%")
        scope = unit["path"]
    values += [v for v in (query.state, query.category) if v]
    if query.q:
        term = query.q
        if _looks_like_id_number(term):
            note_read(actor, "search.id_number", now=now, entity_type="search", detail=mask_id_number(term))
        values += [await _matching_households(actor, term) or [-1], term.upper()]
    shape = _CaseShape(bool(query.org), bool(query.state), bool(query.category), bool(query.q))
    level_and_code = _unit_of(scope)
    # On PostgreSQL an unfiltered street's or community's list is planned once for all of them
    # (the keyed pool, db.one_connection): its page walks the unit's own index by an equality
    # and its count the pattern index by a range, where ``LIKE $1`` needs a plan made for its
    # value to use an index.
    planned_once = level_and_code is not None and not (
        shape.org or shape.state or shape.category or shape.search
    )
    # The scope as an index range on SQLite: always for the count; for the page only at a street
    # or below, where walking the city newest first would read ~all of it to find 25 rows.
    bounds = path_bounds(Application.org_path, scope)
    if planned_once:
        bounds = prefix_bounds(scope)
    ranged = (shape, values) if bounds is None else (replace(shape, path_range=True), [*values, *bounds])
    count_shape, count_values = ranged
    if _street_or_below(scope) and not planned_once:
        shape, values = ranged
    if level_and_code is not None and not shape.search:
        level, code = level_and_code
        shape, values = replace(shape, unit_level=level), [*values, code]
    after, before = parse_cursor(query.after), parse_cursor(query.before)
    cursor = after or before
    if cursor is not None:
        shape = replace(shape, cursor="after" if after is not None else "before")
        values = [*values, cursor[0], cursor[0], cursor[1]]
    # A street's exact count and a page that does not hang on it (from a cursor, or the first)
    # go as one statement on PostgreSQL (services/prepared.py, ``prefetched``).
    together: list[Read] = []
    if _street_or_below(scope) and not shape.search and (cursor is not None or query.page <= 1):
        together = [
            (_prepared_case_count(count_shape), tuple(count_values)),
            (_prepared_case_page(shape), tuple(values)),
        ]
    keyed: AbstractAsyncContextManager[None] = (
        one_connection(Application._meta.db, keyed=True) if planned_once else nullcontext()
    )
    async with keyed, prefetched(together):
        total, estimated = await _count(
            count_shape, count_values, scope, (scope, query.state, query.category, query.q)
        )
        pages = max(1, -(-total // PAGE_SIZE))
        page = query.page if (query.after or query.before) else min(query.page, pages)
        offset = 0 if cursor is not None else (page - 1) * PAGE_SIZE
        if shape.search or offset:
            # A search's household list varies in length, and OFFSET is written into the SQL:
            # neither is prepared (pages reached by links carry a cursor and no offset).
            rows = await _case_page_query(shape, values, offset)
        else:
            rows = await _prepared_case_page(shape).rows(*values)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    if after is not None:
        has_next, has_prev = more, True
    elif before is not None:
        has_prev, has_next = more, True
        rows = list(reversed(rows))
        page = max(1, page) if has_prev else 1
    else:
        has_next, has_prev = more, page > 1
    return CasePage(
        rows=[
            CaseRow(
                application_id=r["id"],
                number=r["number"],
                state=r["state"],
                category=r["category"],
                received_on=r["received_on"],
                household_id=r["household.id"],
                file_no=r["household.file_no"],
                head_name=r["household.head_name"],
                community=r["household.org_unit.name"],
                current_index=r["household.current_index"],
            )
            for r in rows
        ],
        total=total,
        page=page,
        pages=max(pages, page),
        query=query,
        estimated=estimated,
        has_next=has_next,
        has_prev=has_prev,
    )


async def _matching_households(actor: Actor, term: str) -> list[int]:
    scope = in_scope(actor, Household.org_path)
    digits = term.replace(" ", "").upper()
    ids: set[int] = set()
    if len(digits) >= 4 and (digits.rstrip("X").isdecimal() or "-H" in digits):
        # Identifiers are sealed: an exact search compares blind indexes.
        id_key = identifiers.index_of(identifiers.ID_NUMBER, digits)
        phone_key = identifiers.index_of(identifiers.PHONE, digits)
        by_number = await Household.select(Household.id).where(
            scope
            & (
                (Household.file_no == digits)
                | (Household.phone_index == phone_key)
                | (Household.head_id_index == id_key)
            )
        )
        ids.update(r["id"] for r in by_number)
        members = await Member.select(Member.household).where(
            in_scope(actor, Member.org_path)
            & ((Member.id_index == id_key) | (Member.phone_index == phone_key))
        )
        ids.update(r["household"] for r in members)
    else:
        like = f"%{term}%"
        by_name = (
            await Household.select(Household.id).where(scope & Household.head_name.like(like)).limit(500)
        )
        ids.update(r["id"] for r in by_name)
        members = (
            await Member.select(Member.household)
            .where(in_scope(actor, Member.org_path) & Member.name.like(like))
            .limit(500)
        )
        ids.update(r["household"] for r in members)
    return sorted(ids)


def masked_household(row: dict[str, Any]) -> dict[str, Any]:
    """A household row with its identifiers masked for display (never the sealed text)."""
    return {
        **row,
        "head_id_number": identifiers.masked(identifiers.ID_NUMBER, row.get("head_id_sealed", "")),
        "phone": identifiers.masked(identifiers.PHONE, row.get("phone_sealed", "")),
        "onecard_account": identifiers.masked(identifiers.ACCOUNT, row.get("account_sealed", "")),
    }


@dataclass(frozen=True)
class RevealedIdentifiers:
    household_id: int
    file_no: str
    phone: str
    account: str
    members: list[tuple[str, str, str]]  # name, ID number, phone


REVEAL_PURPOSES: dict[str, str] = {
    "verify": N_("Verifying the household's identity or documents"),
    "contact": N_("Contacting the household"),
    "payment": N_("Setting up or checking a payment"),
    "supervision": N_("Supervision or audit"),
}


async def reveal_identifiers(
    actor: Actor, household_id: int, *, purpose: str, now: datetime
) -> RevealedIdentifiers:
    """The full identifiers of one household: a logged read with a stated purpose."""
    if purpose not in REVEAL_PURPOSES:
        raise DomainError(N_("Please say why you need the full numbers."), field="purpose")
    household = await access_household(actor, household_id)
    note_read(
        actor,
        "identifiers.reveal",
        now=now,
        entity_id=household.id,
        household_id=household.id,
        org_path=household.org_path,
        purpose=purpose,
    )
    members = (
        await Member.select(Member.name, Member.id_sealed, Member.phone_sealed)
        .where(Member.household == household.id)
        .order_by(Member.id)
    )
    return RevealedIdentifiers(
        household_id=household.id,
        file_no=household.file_no,
        phone=identifiers.opened(identifiers.PHONE, household.phone_sealed),
        account=identifiers.opened(identifiers.ACCOUNT, household.account_sealed),
        members=[
            (
                m["name"],
                identifiers.opened(identifiers.ID_NUMBER, m["id_sealed"]),
                identifiers.opened(identifiers.PHONE, m["phone_sealed"]),
            )
            for m in members
        ],
    )


@dataclass
class HouseholdFile:
    household: dict[str, Any]
    community: dict[str, Any]
    members: list[dict[str, Any]]
    items: dict[str, list[dict[str, Any]]]
    applications: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    totals: dict[str, int] = field(default_factory=dict)
    aid: Any = None  # services.aid.HouseholdAid: every application with its history
    review_labels: dict[str, str] = field(default_factory=dict)
    # "Facts on D" (docs/facts-over-time.md): the day shown (None: today), the index
    # recomputed for it, and every version of the facts, newest first.
    facts_day: date | None = None
    index_on_day: Any = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    datachecks: Any = None  # services.datacheck.HouseholdChecks, for those who may read them


# The file's reads, compiled once (services/prepared.py): the page sends a dozen.
_MEMBER_VERSIONS: Prepared[dict[str, Any]] = Prepared(
    lambda household: Member.select().where(Member.household == household).order_by(Member.id)
)
_ITEM_VERSIONS: Prepared[dict[str, Any]] = Prepared(
    lambda household: MoneyItem.select().where(MoneyItem.household == household).order_by(MoneyItem.id)
)
_APPLICATIONS: Prepared[dict[str, Any]] = Prepared(
    lambda household: (
        Application.select()
        .where(Application.household == household)
        .order_by(Application.id, ascending=False)
    )
)
_TIMELINE: Prepared[dict[str, Any]] = Prepared(
    lambda household: (
        AuditEvent.select(
            AuditEvent.seq, AuditEvent.at, AuditEvent.actor_label, AuditEvent.action, AuditEvent.after
        )
        .where(AuditEvent.household_id == household)
        .order_by(AuditEvent.seq, ascending=False)
        .limit(100)
    )
)


async def _community_of(unit_id: int) -> dict[str, Any] | None:
    """The household's community: from the cached org tree, from the table if it has closed."""
    node = await unit_by_id(unit_id)
    if node is not None:
        return {"id": node.id, "code": node.code, "name": node.name, "path": node.path}
    row: dict[str, Any] | None = await OrgUnit.select().where(OrgUnit.id == unit_id).first()
    return row


async def get_household_file(
    actor: Actor, household_id: int, *, now: datetime, on: date | None = None
) -> HouseholdFile:
    """The file as it is now, or with ``on`` the members, items and index valid on that day.

    On PostgreSQL the household and its sections are read in one statement (``prefetched``);
    the sections reach the page only after ``access_household`` has checked the household.
    """
    reads = [household_read(household_id), *_file_reads(actor, household_id, today=on is None)]
    # A dozen reads, one after another, each by the household's id.
    async with one_connection(Household._meta.db, keyed=True), prefetched(reads):
        household = await access_household(actor, household_id)
        note_read(
            actor,
            "household.view",
            now=now,
            entity_id=household.id,
            household_id=household.id,
            org_path=household.org_path,
        )
        return await _read_sections(actor, household, now=now, on=on)


def _file_reads(actor: Actor, household_id: int, *, today: bool) -> list[Read]:
    """The sections' reads, sent as one statement where the engine allows (``prefetched``)."""
    reads: list[Read] = [
        (_APPLICATIONS, (household_id,)),
        (_TIMELINE, (household_id,)),
        *household_aid_reads(household_id),
        *facts_history.change_history_reads(household_id),
    ]
    if today:
        reads += [(_MEMBER_VERSIONS, (household_id,)), (_ITEM_VERSIONS, (household_id,))]
    if actor.can(Capability.DATACHECKS_READ):
        reads += datacheck_reads(household_id)
    return reads


async def _read_sections(
    actor: Actor, household: Household, *, now: datetime, on: date | None
) -> HouseholdFile:
    community = await _community_of(household.org_unit)
    index_on_day = None
    shown = household.to_dict()
    names: dict[int, str] | None = None
    versions: list[dict[str, Any]] | None = None
    item_versions: list[dict[str, Any]] | None = None
    if on is None:
        # One row per person: their version valid now, or the last one (people who left).
        latest: dict[int, dict[str, Any]] = {}
        versions = await _MEMBER_VERSIONS.rows(household.id)
        names = {row["id"]: row["name"] for row in versions}  # every version: items name any of them
        for row in versions:
            latest[facts_history.lineage_of(row)] = row
        members = sorted(latest.values(), key=lambda m: facts_history.lineage_of(m))
        # Every version once: the active ones are the file's items, all of them its history.
        item_versions = await _ITEM_VERSIONS.rows(household.id)
        items = [item for item in item_versions if item["active"]]
    else:
        members = await facts_history.members_on(household.id, on)
        computed = await index_on(household.id, on, now=now)
        index_on_day = computed.breakdown
        items = await facts_history.items_on(household.id, on)
        await verified_as_of(items, end_of_day(on))
        version = await facts_history.household_facts_on(household.id, on)
        if version is not None:
            shown.update({key: version[key] for key in ("address", "area_type", "housing")})
            unit = await OrgUnit.select().where(OrgUnit.id == version["org_unit"]).first()
            community = unit or community
    applications = await _APPLICATIONS.rows(household.id)
    events = await _TIMELINE.rows(household.id)
    grouped: dict[str, list[dict[str, Any]]] = {"income": [], "asset": [], "expense": []}
    totals = {"income": 0, "asset": 0, "expense": 0}
    # An item names the member's version current when it was last touched: any version's name.
    if names is None:
        names = {
            m["id"]: m["name"]
            for m in await Member.select(Member.id, Member.name).where(Member.household == household.id)
        }
    for item in items:
        item["member_name"] = names.get(item["member"], "")
        grouped.setdefault(item["section"], []).append(item)
        value = item["verified_fen"] if item["verified_fen"] is not None else item["declared_fen"]
        totals[item["section"]] = totals.get(item["section"], 0) + value
    for event in events:
        event["after_data"] = json.loads(event["after"]) if event["after"] else {}
    for member in members:
        member["id_number"] = identifiers.masked(identifiers.ID_NUMBER, member["id_sealed"])
        member["phone"] = identifiers.masked(identifiers.PHONE, member["phone_sealed"])
    return HouseholdFile(
        household=masked_household(shown),
        community=community or {},
        members=members,
        items=grouped,
        applications=applications,
        timeline=events,
        totals=totals,
        aid=await household_aid(household.id, applications),
        review_labels=dict(DECISIONS),
        facts_day=on,
        index_on_day=index_on_day,
        changes=await facts_history.change_history(
            household.id, member_versions=versions, item_versions=item_versions
        ),
        datachecks=await datacheck_checks_of(actor, household)
        if actor.can(Capability.DATACHECKS_READ)
        else None,
    )
