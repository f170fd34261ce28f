"""The relief index for many households at once: the pure half of bulk re-scoring.

Reads raw tuples (no ORM objects, and on SQLite no per-value type converters:
selected columns are wrapped in expressions so Python's sqlite3 hands back
plain ints and ISO strings), builds each household's facts and its snapshot
JSON from the same raw values, and scores them with ``core.scoring``.

Nothing here imports the ORM or the web stack, so a worker process can import
it quickly: ``score_span_sqlite`` (over its own read-only connection) and
``score_span_postgres`` (over its own connection, on the snapshot the parent
exported) load and score a span of households while the parent writes
(services/scoring.py ``rescore_all``).
"""

# SQL text here is built from our own column names only; every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.enums import (
    OPEN_STATES,
    AppState,
    AreaType,
    Housing,
    Illness,
    Relation,
    Schooling,
    Sex,
    ShockKind,
    WorkCapacity,
)
from relief_pwa.core.errors import DomainError
from relief_pwa.core.facts import (
    AidReceived,
    HouseholdFacts,
    MemberFacts,
    MoneyItem,
    Shock,
    Standard,
    select_standard,
)
from relief_pwa.core.scoring import (
    FACTOR_CODES,
    FactorPoints,
    ScoringModel,
    add_months,
    compute_points,
    model_from_dict,
    points_hold_until,
)

# Applications in these states put a household (and its category) in the ranking.
RANKED_STATES: frozenset[str] = frozenset(s.value for s in OPEN_STATES - {AppState.VERIFIED_INELIGIBLE})

BREAKDOWN_FORMAT = "points-v1"


def local_date(now: datetime) -> date:
    """The calendar day in the bureau's time zone (deadlines and ages count there)."""
    return now.astimezone(CHINA_TZ).date()


@lru_cache(maxsize=8192)  # one answer per community, asked once per household
def district_code_of(org_path: str) -> str:
    """'370100/370102/…' → '370102' (the county-level unit sets the standard)."""
    parts = [p for p in org_path.split("/") if p]
    return parts[1] if len(parts) > 1 else ""


def categories_text(categories: Iterable[str]) -> str:
    """',dibao,medical,' — sorted, delimited at both ends so LIKE '%,dibao,%' is exact."""
    unique = sorted(set(categories))
    return f",{','.join(unique)}," if unique else ""


@dataclass(frozen=True)
class Lookback:
    """How far back shocks and aid matter under a model, as of a date."""

    shocks_after: date
    aid_after: date

    @classmethod
    def for_models(cls, models: Sequence[ScoringModel], as_of: date) -> Lookback:
        decay = max(m.factors["shock"].decay_months or 0 for m in models)
        window = max(m.factors["aid"].window_months or 0 for m in models)
        # A shock on exactly as_of − decay scores 0; keep it anyway (one day of margin costs nothing).
        return cls(add_months(as_of, -decay) - timedelta(days=1), add_months(as_of, -window))


def _centi_text(centi: int) -> str:
    """Hundredths of a point as a decimal string: 1234 → "12.34", -8 → "-0.08" (== str(Decimal))."""
    magnitude = -centi if centi < 0 else centi
    return f"{'-' if centi < 0 else ''}{magnitude // 100}.{magnitude % 100:02d}"


# Points of one factor lie within ±100.00: their texts are made once, then looked up.
_CENTI_TEXTS = {centi: _centi_text(centi) for centi in range(-10_000, 10_001)}
# The breakdown with a "%s" per factor's points and one for the missing-fact codes.
_BREAKDOWN_TEMPLATE = (
    (
        f'{{{{"format":"{BREAKDOWN_FORMAT}","points":{{{{'
        + ",".join(f'"{code}":"%s"' for code in FACTOR_CODES)
        + '}},"missing":[%s]}}'
    )
    .replace("{{", "{")
    .replace("}}", "}")
)


def breakdown_json(points: FactorPoints) -> str:
    """{"format": …, "points": {factor: "12.34"}, "missing": [...]} — hand-rolled: bulk hot path."""
    texts = _CENTI_TEXTS
    values = [texts.get(c) or _centi_text(c) for c in points.centis]
    values.append(",".join(f'"{code}"' for code in points.missing))  # codes of MISSING_FACT_LABELS
    return _BREAKDOWN_TEMPLATE % tuple(values)


class StandardPicker:
    """select_standard per (district, area type), computed once per batch."""

    def __init__(self, standards: Sequence[Standard], as_of: date) -> None:
        self._standards = standards
        self._as_of = as_of
        self._picked: dict[tuple[str, AreaType], Standard | DomainError] = {}

    def pick(self, district_code: str, area_type: AreaType) -> Standard:
        key = (district_code, area_type)
        found = self._picked.get(key)
        if found is None:
            try:
                found = select_standard(self._standards, district_code, area_type, self._as_of)
            except DomainError as exc:
                found = exc
            self._picked[key] = found
        if isinstance(found, DomainError):
            raise found
        return found


# Enum codes to enum members: a dict lookup per value, and a KeyError for an unknown code.

_SEX = {e.value: e for e in Sex}
_RELATION = {e.value: e for e in Relation}
_ILLNESS = {e.value: e for e in Illness}
_WORK = {e.value: e for e in WorkCapacity}
_SCHOOLING = {e.value: e for e in Schooling}
_AREA = {e.value: e for e in AreaType}
_HOUSING = {e.value: e for e in Housing}
_SHOCK = {e.value: e for e in ShockKind}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else value.isoformat()


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Pause the cyclic garbage collector while hundreds of thousands of small,
    acyclic objects are built: its repeated full passes would double the time
    (reference counting still frees everything)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_json_text_cache: dict[str, str] = {}


def _json_int(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def _json_text(value: str) -> str:
    """JSON string literal of a short code (cached: kinds and sources repeat)."""
    text = _json_text_cache.get(value)
    if text is None:
        text = json.dumps(value, ensure_ascii=False)
        if len(_json_text_cache) < 10_000:
            _json_text_cache[value] = text
    return text


@dataclass
class LoadedCity:
    """Facts (and their snapshot JSON) of a range of households, one query per table."""

    households: list[Sequence[Any]]  # (id, file_no, org_path, area_type, housing)
    facts: dict[int, HouseholdFacts]
    facts_json: dict[int, str]
    first_applied: dict[int, date]


class Spelling:
    """Engine-specific spelling of the bulk statements (SQLite or PostgreSQL)."""

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite

    def num(self, column: str) -> str:
        # "+0" drops SQLite's declared type, so no Python converter runs per value.
        return f"{column}+0" if self.sqlite else column

    def text(self, column: str) -> str:
        # Dates travel as their ISO text: what the snapshot JSON and the keys use, without
        # decoding a date object per value only to spell it again.
        return f"{column}||''" if self.sqlite else f"CAST({column} AS TEXT)"

    def placeholders(self, sql: str) -> str:
        if self.sqlite:
            return sql.replace("{}", "?")
        parts = sql.split("{}")
        return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


Query = tuple[str, tuple[Any, ...]]  # SQL with "{}" placeholders, and its arguments


def households_query(
    q: Spelling,
    *,
    after_id: int = 0,
    last_id: int | None = None,
    limit: int | None = None,
    scope_path: str = "",
    only_open: bool = True,
) -> Query:
    """(id, file_no, org_path, area_type, housing) of households with id > ``after_id``, by id."""
    where = "id > {}"
    args: list[Any] = [after_id]
    if last_id is not None:
        where += " AND id <= {}"
        args.append(last_id)
    if only_open:
        where += " AND is_open = {}"
        args.append(True)
    if scope_path:
        where += " AND org_path LIKE {}"
        args.append(f"{scope_path}%")
    sql = (
        f"SELECT {q.num('id')}, file_no, org_path, area_type, housing FROM household"
        f" WHERE {where} ORDER BY id"
    )
    if limit is not None:
        sql += " LIMIT {}"
        args.append(limit)
    return sql, tuple(args)


def fact_queries(
    q: Spelling, low: int, high: int, as_of: date, lookback: Lookback, verified_before: datetime | None = None
) -> list[Query]:
    """Members, money items, shocks, aid and applications of households low…high (in that order).

    ``verified_before`` (for a past date): an item verified again since then
    shows the value verified before that instant (the verification history).
    """
    span = "household >= {} AND household <= {}"
    # The versions valid on as_of (services/facts_history.py): one predicate for today and the past.
    valid = "(valid_from IS NULL OR valid_from <= {}) AND (valid_to IS NULL OR valid_to > {})"
    return [
        (
            f"SELECT {q.num('household')}, {q.text('birth_date')}, sex, relation,"
            f" {q.num('disability_grade')}, illness, work_capacity, schooling"
            f" FROM member WHERE {span} AND {valid} ORDER BY household, id",
            (low, high, as_of, as_of),
        ),
        (
            f"SELECT {q.num('household')}, section, kind, {q.num('declared_fen')}, {q.num('verified_fen')}"
            f" FROM money_item WHERE {span} AND {valid} ORDER BY household, id",
            (low, high, as_of, as_of),
        )
        if verified_before is None
        else (
            f"SELECT {q.num('household')}, section, kind, {q.num('declared_fen')},"
            " CASE WHEN verified_at IS NULL OR verified_at < {} THEN verified_fen ELSE"
            " (SELECT v.verified_fen FROM verification v WHERE v.money_item = money_item.id"
            " AND v.recorded_at < {} ORDER BY v.recorded_at DESC, v.id DESC LIMIT 1) END"
            f" FROM money_item WHERE {span} AND {valid} ORDER BY household, id",
            (verified_before, verified_before, low, high, as_of, as_of),
        ),
        (
            f"SELECT {q.num('household')}, kind, {q.text('occurred_on')} FROM shock WHERE {span}"
            " AND occurred_on > {} AND occurred_on <= {} ORDER BY household, occurred_on, id",
            (low, high, lookback.shocks_after, as_of),
        ),
        (
            f"SELECT {q.num('household')}, {q.num('value_fen')}, {q.text('received_on')}, source"
            f" FROM aid_record WHERE {span} AND received_on > {{}} AND received_on <= {{}}"
            " ORDER BY household, received_on, id",
            (low, high, lookback.aid_after, as_of),
        ),
        (
            f"SELECT {q.num('household')}, category, state, {q.text('received_on')}"
            f" FROM application WHERE {span}",
            (low, high),
        ),
    ]


def assemble_city(
    households: list[Sequence[Any]],
    fact_rows: Sequence[Sequence[Sequence[Any]]],
    *,
    as_of: date,
    with_json: bool = True,
    with_facts: bool = True,
) -> LoadedCity:
    """Facts of ``households`` from the rows of ``fact_queries`` (same order).

    With ``with_json`` each household's ``HouseholdFacts.to_dict()`` is also
    rendered as JSON text, straight from the raw values (the enum codes and
    ISO dates need no escaping; free-text codes go through json.dumps). A test
    checks it equals ``to_dict()``. Without ``with_facts`` only the JSON is built (the
    codes still checked): what tells whether a household changed, at a third of the cost.
    """
    if not households:
        return LoadedCity([], {}, {}, {})
    member_rows, item_rows, shock_rows, aid_rows, application_rows = fact_rows
    empty: tuple[Any, ...] = ()
    dates: dict[str, date] = {}

    def day(text: str) -> date:
        # Birth and payment dates repeat a lot: parse each once.
        parsed = dates.get(text)
        if parsed is None:
            dates[text] = parsed = date.fromisoformat(text)
        return parsed

    members: dict[int, list[MemberFacts]] = {}
    members_json: dict[int, list[str]] = {}
    for hid, born, sex, relation, grade, illness, work, schooling in member_rows:
        born_text = _iso(born)
        found = members.get(hid)
        if found is None:
            members[hid] = found = []
            members_json[hid] = []
        if with_facts:
            found.append(MemberFacts(
                None if born_text is None else day(born_text), _SEX[sex], _RELATION[relation],
                grade, _ILLNESS[illness], _WORK[work], _SCHOOLING[schooling],
            ))  # fmt: skip
        elif not (sex in _SEX and relation in _RELATION and illness in _ILLNESS and work in _WORK
                  and schooling in _SCHOOLING):  # fmt: skip
            raise KeyError(f"unknown member code in household {hid}")
        if with_json:
            # The enum lookups above raised on anything but a known code: safe to inline.
            members_json[hid].append(
                f'{{"birth_date":{"null" if born_text is None else chr(34) + born_text + chr(34)},'
                f'"sex":"{sex}","relation":"{relation}","disability_grade":{_json_int(grade)},'
                f'"illness":"{illness}","work_capacity":"{work}","schooling":"{schooling}"}}'
            )
    items: dict[tuple[int, str], list[MoneyItem]] = {}
    items_json: dict[tuple[int, str], list[str]] = {}
    for hid, section, kind, declared, verified in item_rows:
        key = (hid, section)
        found_items = items.get(key)
        if found_items is None:
            items[key] = found_items = []
            items_json[key] = []
        if with_facts:
            found_items.append(MoneyItem(kind, declared, verified))
        if with_json:
            items_json[key].append(
                f'{{"kind":{_json_text(kind)},"declared_fen":{_json_int(declared)},'
                f'"verified_fen":{_json_int(verified)}}}'
            )
    shocks: dict[int, list[Shock]] = {}
    shocks_json: dict[int, list[str]] = {}
    for hid, kind, occurred in shock_rows:
        occurred_text = _iso(occurred) or ""
        shock = Shock(_SHOCK[kind], date.fromisoformat(occurred_text))  # few: always checked in full
        if with_facts:
            shocks.setdefault(hid, []).append(shock)
        shocks_json.setdefault(hid, []).append(f'{{"kind":"{kind}","occurred_on":"{occurred_text}"}}')
    aid: dict[int, list[AidReceived]] = {}
    aid_json: dict[int, list[str]] = {}
    for hid, value, received, source in aid_rows:
        received_text = _iso(received) or ""
        found_aid = aid.get(hid)
        if found_aid is None:
            aid[hid] = found_aid = []
            aid_json[hid] = []
        if with_facts:
            found_aid.append(AidReceived(value, day(received_text), source))
        if with_json:
            aid_json[hid].append(
                f'{{"value_fen":{_json_int(value)},"received_on":"{received_text}","source":{_json_text(source)}}}'
            )
    categories: dict[int, set[str]] = {}
    first_text: dict[int, str] = {}
    for hid, category, state, received in application_rows:
        received_text = _iso(received) or ""
        earliest = first_text.get(hid)
        if earliest is None or received_text < earliest:
            first_text[hid] = received_text
        found_categories = categories.get(hid)
        if found_categories is None:
            categories[hid] = found_categories = set()
        if state in RANKED_STATES:
            found_categories.add(category)

    facts: dict[int, HouseholdFacts] = {}
    facts_json: dict[int, str] = {}
    first_applied: dict[int, date] = {}
    no_json: list[str] = []
    for hid, file_no, org_path, area, housing in households:
        ranked = tuple(sorted(categories.get(hid, empty)))
        district = district_code_of(org_path)
        if not with_facts:
            if area not in _AREA or (housing and housing not in _HOUSING):
                raise KeyError(f"unknown area or housing code in household {hid}")
        else:
            facts[hid] = HouseholdFacts(
                hid, file_no, _AREA[area], district, _HOUSING[housing] if housing else None,
                tuple(members.get(hid, empty)), tuple(items.get((hid, "income"), empty)),
                tuple(items.get((hid, "asset"), empty)), tuple(items.get((hid, "expense"), empty)),
                tuple(shocks.get(hid, empty)), tuple(aid.get(hid, empty)), ranked,
            )  # fmt: skip
        if with_json:
            facts_json[hid] = (
                f'{{"household_id":{hid},"file_no":{json.dumps(file_no, ensure_ascii=False)},'
                f'"area_type":"{area}","district_code":{_json_text(district)},'
                f'"housing":{_json_text(housing) if housing else "null"},'
                f'"members":[{",".join(members_json.get(hid, no_json))}],'
                f'"incomes":[{",".join(items_json.get((hid, "income"), no_json))}],'
                f'"assets":[{",".join(items_json.get((hid, "asset"), no_json))}],'
                f'"expenses":[{",".join(items_json.get((hid, "expense"), no_json))}],'
                f'"shocks":[{",".join(shocks_json.get(hid, no_json))}],'
                f'"aid":[{",".join(aid_json.get(hid, no_json))}],'
                f'"categories":[{",".join(_json_text(c) for c in ranked)}],'
                f'"has_legal_supporter_able":null}}'
            )
        earliest = first_text.get(hid)
        first_applied[hid] = date.fromisoformat(earliest) if earliest else as_of
    return LoadedCity(households, facts, facts_json, first_applied)


@dataclass(frozen=True)
class BatchResult:
    count: int  # households scored and stored
    skipped: int  # households with no standard in force
    last_id: int


RECORD_COLUMNS = (
    "household", "org_path", "computed_at", "as_of", "model_version", "total", "provisional",
    "trigger", "snapshot_digest", "breakdown", "categories",
)  # fmt: skip


def snapshot_digest(body: str) -> str:
    """The content address of a snapshot: BLAKE2b-128 of its UTF-8 text, in hex."""
    return hashlib.blake2b(body.encode(), digest_size=16).hexdigest()


class ScoredRows(NamedTuple):
    records: list[tuple[Any, ...]]  # index_record rows, in the order of RECORD_COLUMNS
    # (total, provisional, computed_at, holds from, holds until, snapshot digest, model version,
    # household id): the current index and what it holds for (Previous)
    updates: list[tuple[Any, ...]]
    snapshots: list[tuple[str, str]]  # (digest, body), each digest once; most already stored
    skipped: int  # households with no standard in force
    # Households whose rank key (the index in hundredths) changed or is new; () when not
    # compared with the stored state (``score_rows`` with ``previous``).
    moved: tuple[int, ...] = ()
    scored: int = -1  # households scored (with a standard), written or not; -1: len(records)

    @property
    def households(self) -> int:
        """Households scored (with a standard in force), whether written or found unchanged."""
        return len(self.records) if self.scored < 0 else self.scored


class Previous(NamedTuple):
    """What a household holds before a re-score: its current index, the snapshot, model and
    days that index holds for, and its latest record (read only where those days do not
    cover the re-score's day, ``previous_query``)."""

    centi: int | None  # current index in hundredths (None: never scored)
    provisional: bool | None
    holds_digest: str | None  # the current index's snapshot digest and model version,
    holds_model: str | None
    holds_from: str | None  # and the ISO days it holds on: from the first to the day
    holds_until: str | None  # before the second (points_hold_until)
    digest: str | None  # the latest index record's snapshot digest, model version, as-of day
    model_version: str | None
    as_of: str | None  # ISO date
    record_centi: int | None  # the latest record's total in hundredths, and provisional
    record_provisional: bool | None
    record_breakdown: str | None  # the latest record's breakdown and categories, as stored
    record_categories: str | None

    def held_on(self, model_version: str, as_of: str) -> bool:
        """The current index holds on this day under this model, for its snapshot."""
        return (
            self.holds_model == model_version
            and self.holds_from is not None
            and self.holds_until is not None
            and self.holds_from <= as_of < self.holds_until
        )

    def may_hold(self, model_version: str, as_of: str) -> bool:
        """A snapshot may be found whose result on this day is the current index, known without
        computing it: the index holds that day, or the latest record is of that day and is the
        current index."""
        return self.held_on(model_version, as_of) or (
            self.model_version == model_version and self.as_of == as_of and self.current_is_record()
        )

    def current_holds(self, digest: str, model_version: str, as_of: str) -> bool:
        """This snapshot's result on this day is known, and is the current index."""
        return (self.holds_digest == digest and self.held_on(model_version, as_of)) or (
            self.digest == digest
            and self.model_version == model_version
            and self.as_of == as_of
            and self.current_is_record()
        )

    def holds(self, digest: str, model_version: str, as_of: str) -> bool:
        """This snapshot's result on this day is known without computing it: the current index
        holds that day for this snapshot, or the latest record was computed from this
        snapshot under this model on this day (what the single recompute also takes as
        "nothing the index reads has changed")."""
        return (self.holds_digest == digest and self.held_on(model_version, as_of)) or (
            self.digest == digest and self.model_version == model_version and self.as_of == as_of
        )

    def says(self, result: RecordResult) -> bool:
        """The latest record already says this result (``RecordResult.same_as``)."""
        return result.same_as(
            self.digest, self.model_version, self.record_centi, self.record_provisional,
            self.record_breakdown, self.record_categories,
        )  # fmt: skip

    def current_is_record(self) -> bool:
        return self.centi == self.record_centi and self.provisional == self.record_provisional


class RecordResult(NamedTuple):
    """What an index record says, whatever the day it was computed on."""

    digest: str
    model_version: str
    centi: int
    provisional: bool
    breakdown: str
    categories: str

    def same_as(
        self,
        digest: str | None,
        model_version: str | None,
        centi: int | None,
        provisional: bool | None,
        breakdown: str | None,
        categories: str | None,
    ) -> bool:
        """A record with these values says what this one would: the same inputs (snapshot and
        model) gave the same index, breakdown and categories. Only the day moved, and the
        latest record stays true from its day on (docs/relief-index.md, "Index records: one per result"):
        a re-score stores no copy of it."""
        return (digest, model_version, centi, provisional, breakdown, categories) == tuple(self)


def previous_query(
    q: Spelling, low: int, high: int, model_version: str, as_of: date, only: Sequence[int] | None = None
) -> Query:
    """``Previous`` of the open households low…high (``only``: of these among them), as rows:
    id, current index in hundredths, provisional, the snapshot digest, model and days it
    holds, then the latest record's digest, model version, as-of day, total in hundredths,
    provisional, breakdown and categories — the record only where the current index does
    not hold on ``as_of`` under ``model_version`` (elsewhere NULLs): a new day reads a few
    hundred records, not one per household."""
    current = (
        f"{q.num('h.id')}, CAST(ROUND(h.current_index * 100) AS INTEGER), {q.num('h.index_provisional')},"
        f" h.index_digest, h.index_model_version, {q.text('h.index_holds_from')},"
        f" {q.text('h.index_holds_until')}"
    )
    latest = (
        f"x.snapshot_digest, x.model_version, {q.text('x.as_of')}, CAST(ROUND(x.total * 100) AS INTEGER),"
        f" {q.num('x.provisional')}, x.breakdown, x.categories"
    )
    households = "h.id >= {} AND h.id <= {} AND h.is_open = {}"
    extra: tuple[Any, ...] = ()
    if only is not None:
        households += (
            " AND h.id IN (SELECT value FROM json_each({}))" if q.sqlite else " AND h.id = ANY({}::integer[])"
        )
        extra = (json.dumps(list(only)) if q.sqlite else list(only),)
    # Only the outer row's columns: PostgreSQL tests it once per household, before any seek.
    not_held = (
        "(h.index_model_version IS NULL OR h.index_holds_from IS NULL OR h.index_holds_until IS NULL"
        " OR h.index_model_version <> {} OR h.index_holds_from > {} OR h.index_holds_until <= {})"
    )
    day: Any = as_of.isoformat() if q.sqlite else as_of
    args = (model_version, day, day, low, high, True, *extra)
    if q.sqlite:
        # SQLite has no LATERAL; its correlated subquery per row is one index seek too.
        return (
            f"SELECT {current}, {latest} FROM household h LEFT JOIN index_record x ON x.id = ("
            f" SELECT r.id FROM index_record r WHERE r.household = h.id AND {not_held}"
            f" ORDER BY r.computed_at DESC, r.id DESC LIMIT 1) WHERE {households}",
            args,
        )
    # One index seek per household (household, computed_at), whatever the history's length
    # (a window over all the records of the range grows with it).
    return (
        f"SELECT {current}, {latest} FROM household h LEFT JOIN LATERAL ("
        " SELECT snapshot_digest, model_version, as_of, total, provisional, breakdown, categories"
        f" FROM index_record r WHERE r.household = h.id AND {not_held}"
        " ORDER BY r.computed_at DESC, r.id DESC LIMIT 1"
        f") x ON TRUE WHERE {households}",
        args,
    )


def previous_from_rows(rows: Iterable[Sequence[Any]]) -> dict[int, Previous]:
    return {
        int(hid): Previous(
            None if centi is None else int(centi),
            None if provisional is None else bool(provisional),
            holds_digest,
            holds_model,
            _iso(holds_from),
            _iso(holds_until),
            digest,
            version,
            _iso(as_of),
            None if record_centi is None else int(record_centi),
            None if record_provisional is None else bool(record_provisional),
            breakdown,
            categories,
        )
        for (
            hid, centi, provisional, holds_digest, holds_model, holds_from, holds_until,
            digest, version, as_of, record_centi, record_provisional, breakdown, categories,
        ) in rows
    }  # fmt: skip


def _centi(total: Any) -> int:
    # Decimal (PostgreSQL) is exact in hundredths; SQLite's float is rounded back to them.
    return round(total * 100)  # type: ignore[no-any-return]


class _Snapshots:
    """Each household's snapshot text and digest (facts JSON + its standard's JSON)."""

    def __init__(self, standards: Sequence[Standard], as_of: date) -> None:
        self.picker = StandardPicker(standards, as_of)
        self._standard_json: dict[int, str] = {}

    def text(self, facts_json: str, standard: Standard) -> str:
        std_text = self._standard_json.get(id(standard))
        if std_text is None:
            std_text = json.dumps(standard.to_dict(), separators=(",", ":"))
            self._standard_json[id(standard)] = std_text
        return '{"facts":' + facts_json + ',"standard":' + std_text + "}"


def score_changed(
    households: list[Sequence[Any]],
    fact_rows: Sequence[Sequence[Sequence[Any]]],
    model: ScoringModel,
    standards: Sequence[Standard],
    *,
    now: datetime,
    trigger: str,
    sqlite: bool,
    previous: dict[int, Previous],
) -> ScoredRows:
    """``score_rows`` with ``previous`` over the rows of ``households_query`` and
    ``fact_queries``, building facts only for the households that changed.

    The snapshot text alone tells an unchanged household (same digest, model and day as
    its latest record); it costs a third of building the facts, and a repeated
    re-score finds nearly every household unchanged.
    """
    as_of = local_date(now)
    as_of_text = as_of.isoformat()
    version = model.version
    # Only a household whose latest record's result is known for this model and day can be
    # unchanged: the others (all of them under a new model) need no snapshot text to tell.
    candidates = {hid for hid, before in previous.items() if before.may_hold(version, as_of_text)}
    if not candidates:
        city = assemble_city(households, fact_rows, as_of=as_of)
        return score_rows(city, model, standards, now=now, trigger=trigger, sqlite=sqlite, previous=previous)
    if len(candidates) < len(households):
        texts = assemble_city(
            [row for row in households if row[0] in candidates],
            [[row for row in rows if row[0] in candidates] for rows in fact_rows],
            as_of=as_of,
            with_facts=False,
        )
    else:
        texts = assemble_city(households, fact_rows, as_of=as_of, with_facts=False)
    snapshots = _Snapshots(standards, as_of)
    changed: set[int] = set()
    unchanged = 0
    for hid, _file_no, org_path, area, _housing in households:
        before = previous.get(hid)
        if before is None or hid not in candidates:
            changed.add(hid)
            continue
        try:
            standard = snapshots.picker.pick(district_code_of(org_path), _AREA[area])
        except DomainError:
            changed.add(hid)  # counted as skipped by score_rows
            continue
        digest = snapshot_digest(snapshots.text(texts.facts_json[hid], standard))
        if before.holds(digest, version, as_of_text):
            unchanged += 1
        else:
            changed.add(hid)
    if not changed:
        return ScoredRows([], [], [], 0, (), unchanged)
    city = assemble_city(
        [row for row in households if row[0] in changed],
        [[row for row in rows if row[0] in changed] for rows in fact_rows],
        as_of=as_of,
    )
    scored = score_rows(city, model, standards, now=now, trigger=trigger, sqlite=sqlite, previous=previous)
    return scored._replace(scored=scored.households + unchanged)


def score_rows(
    city: LoadedCity,
    model: ScoringModel,
    standards: Sequence[Standard],
    *,
    now: datetime,
    trigger: str,
    sqlite: bool,
    previous: dict[int, Previous] | None = None,
) -> ScoredRows:
    """Compute every loaded household: index record rows, household updates and snapshots.

    The rows hold what the engine's driver takes (``sqlite``: text timestamps and floats).

    With ``previous`` (each household's state before, ``previous_query``) only what
    changes is returned (docs/scale.md, "Write only what changed", "A new day"): a
    household whose current index holds on this day for the same snapshot and model, or
    whose latest record holds the same snapshot, model and as-of day and is its current
    index, is not even scored (the result is the current index); one scored to the result
    its latest record already says (``RecordResult``) gets no record, and an update only
    of the days that result holds on; and ``moved`` lists the households whose index in
    hundredths changed or is new (only their stored ranks change).
    """
    as_of = local_date(now)
    as_of_text = as_of.isoformat()
    snapshots_of = _Snapshots(standards, as_of)
    picker = snapshots_of.picker
    computed_at: Any = now.astimezone(UTC)
    as_of_value: Any = as_of
    if sqlite:
        # What Piccolo's adapters would store, converted once instead of per row.
        computed_at, as_of_value = str(computed_at), as_of_text
    records: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    snapshots: dict[str, str] = {}
    moved: list[int] = []
    skipped = scored = 0
    version = model.version
    trigger = trigger[:60]
    for row in city.households:
        hid = row[0]
        facts = city.facts[hid]
        try:
            standard = picker.pick(facts.district_code, facts.area_type)
        except DomainError:
            skipped += 1
            continue
        scored += 1
        snapshot = snapshots_of.text(city.facts_json[hid], standard)
        digest = snapshot_digest(snapshot)
        before = previous.get(hid) if previous is not None else None
        if before is not None and before.current_holds(digest, version, as_of_text):
            continue
        same_record = before is not None and before.holds(digest, version, as_of_text)
        points = compute_points(facts, standard, model, as_of)
        total: Any = points.total
        provisional: Any = points.provisional
        breakdown = breakdown_json(points)
        categories = categories_text(facts.categories)
        holds_until: Any = points_hold_until(facts, model, as_of)
        # Another day, the same result: the latest record still says it, and only the days
        # the result holds on move.
        says = (
            before is not None
            and not same_record
            and before.current_is_record()
            and before.says(RecordResult(digest, version, _centi(total), provisional, breakdown, categories))
        )
        if previous is not None and (before is None or before.centi != _centi(total)):
            moved.append(hid)
        if sqlite:
            total, provisional, holds_until = float(total), int(provisional), holds_until.isoformat()
        if not (same_record or says):
            snapshots[digest] = snapshot
            records.append((
                hid, row[2], computed_at, as_of_value, version, total, provisional,
                trigger, digest, breakdown, categories,
            ))  # fmt: skip
        updates.append((total, provisional, computed_at, as_of_value, holds_until, digest, version, hid))
    return ScoredRows(records, updates, list(snapshots.items()), skipped, tuple(moved), scored)


def score_span_sqlite(
    path: str,
    first_id: int,
    last_id: int,
    model_definition: dict[str, Any],
    standards: Sequence[Standard],
    now: datetime,
    trigger: str,
) -> ScoredRows:
    """Load and score the open households first_id…last_id over a read-only connection.

    Runs in a worker process while the parent holds the write lock (so the
    committed state it reads is the state the parent writes over). The model
    travels as its dict: its mappings are read-only proxies, which cannot be pickled.
    """
    model = model_from_dict(model_definition)
    as_of = local_date(now)
    q = Spelling(sqlite=True)
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=15)
    try:
        with bulk_allocation():
            sql, args = households_query(q, after_id=first_id - 1, last_id=last_id)
            households = connection.execute(q.placeholders(sql), args).fetchall()
            if not households:
                return ScoredRows([], [], [], 0)
            lookback = Lookback.for_models([model], as_of)
            rows = [
                connection.execute(q.placeholders(sql), _sqlite_args(args)).fetchall()
                for sql, args in fact_queries(q, households[0][0], households[-1][0], as_of, lookback)
            ]
            sql, args = previous_query(q, households[0][0], households[-1][0], model.version, as_of)
            previous = previous_from_rows(connection.execute(q.placeholders(sql), _sqlite_args(args)))
            scored = score_changed(
                households, rows, model, standards, now=now, trigger=trigger, sqlite=True, previous=previous
            )
            return scored._replace(snapshots=_not_stored(connection, scored.snapshots))
    finally:
        connection.close()


def _not_stored(connection: sqlite3.Connection, snapshots: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The snapshots whose digest is not stored yet (committed): only those travel to
    the writer. Re-scoring with facts unchanged (a new model, a periodic run) finds
    nearly all of them stored; the writer still inserts with ON CONFLICT DO NOTHING."""
    stored: set[str] = set()
    for start in range(0, len(snapshots), 500):
        digests = [digest for digest, _ in snapshots[start : start + 500]]
        marks = ", ".join("?" * len(digests))
        stored.update(
            row[0]
            for row in connection.execute(
                f"SELECT digest FROM index_snapshot WHERE digest IN ({marks})", digests
            )
        )
    return [(digest, body) for digest, body in snapshots if digest not in stored]


def _sqlite_args(args: Sequence[Any]) -> tuple[Any, ...]:
    # What Piccolo's SQLite adapters store: ISO dates, 1/0 booleans.
    return tuple(a.isoformat() if isinstance(a, date) else int(a) if isinstance(a, bool) else a for a in args)


def score_span_postgres(
    connect: dict[str, Any],
    snapshot_id: str,
    first_id: int,
    last_id: int,
    model_definition: dict[str, Any],
    standards: Sequence[Standard],
    now: datetime,
    trigger: str,
) -> ScoredRows:
    """Load and score the open households first_id…last_id on PostgreSQL, in a worker process.

    ``connect`` holds asyncpg's connection arguments; ``snapshot_id`` is what the
    parent's ``pg_export_snapshot()`` returned inside its write transaction, so
    every worker reads exactly the state the parent writes over, whatever commits
    meanwhile. The rows come back to the parent, which writes them in batches.
    """
    scored: list[ScoredRows] = []

    async def score() -> None:
        scored.append(
            await _score_span_postgres(
                connect, snapshot_id, first_id, last_id, model_definition, standards, now, trigger
            )
        )

    # Not the coroutine's return value: asyncio.run's SIGINT handling spells out the main
    # task, result included, twice (a full repr of every row: 0.08 s of CPU per 10,000
    # households, a tenth of the worker's time); the rows come back through a list instead.
    asyncio.run(score())
    return scored[0]


async def _score_span_postgres(
    connect: dict[str, Any],
    snapshot_id: str,
    first_id: int,
    last_id: int,
    model_definition: dict[str, Any],
    standards: Sequence[Standard],
    now: datetime,
    trigger: str,
) -> ScoredRows:
    import asyncpg  # only the PostgreSQL workers need the driver

    model = model_from_dict(model_definition)
    as_of = local_date(now)
    q = Spelling(sqlite=False)
    # No JIT: these reads are estimated costly enough to compile (15 ms a statement) and
    # run in tens of milliseconds without it.
    settings = {**connect.get("server_settings", {}), "jit": "off"}
    connection = await asyncpg.connect(**{**connect, "server_settings": settings})
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            await connection.execute(f"SET TRANSACTION SNAPSHOT '{_snapshot_literal(snapshot_id)}'")
            with bulk_allocation():
                sql, args = households_query(q, after_id=first_id - 1, last_id=last_id)
                households = await connection.fetch(q.placeholders(sql), *args)
                if not households:
                    return ScoredRows([], [], [], 0)
                lookback = Lookback.for_models([model], as_of)
                rows = [
                    await connection.fetch(q.placeholders(sql), *args)
                    for sql, args in fact_queries(q, households[0][0], households[-1][0], as_of, lookback)
                ]
                sql, args = previous_query(q, households[0][0], households[-1][0], model.version, as_of)
                previous = previous_from_rows(await connection.fetch(q.placeholders(sql), *args))
                scored = score_changed(
                    households, rows, model, standards, now=now, trigger=trigger, sqlite=False,
                    previous=previous,
                )  # fmt: skip
                digests = [digest for digest, _ in scored.snapshots]
                stored = {
                    row[0]
                    for row in await connection.fetch(
                        "SELECT digest FROM index_snapshot WHERE digest = ANY($1::varchar[])", digests
                    )
                }
            return scored._replace(snapshots=[(d, body) for d, body in scored.snapshots if d not in stored])
    finally:
        await connection.close()


def _snapshot_literal(snapshot_id: str) -> str:
    # SET TRANSACTION SNAPSHOT takes no parameter; the id is PostgreSQL's own ("00000003-0000001B-1").
    if not snapshot_id or any(c not in "0123456789ABCDEFabcdef-" for c in snapshot_id):
        raise ValueError(f"not a snapshot id: {snapshot_id!r:.40}")
    return snapshot_id
