"""The relief index as a service: facts from the tables, the active model, stored records.

Every computed index is an ``IndexRecord`` holding the exact inputs (facts +
standard, as JSON), the model version, the trigger and the dates, so it can be
recomputed to the same total (``check_recompute``) and any past ranking can be
rebuilt. The household row carries the current index for lists.

Two paths compute the same numbers:

* one household (``recompute_household``): the hooks listener, run inside the
  caller's write transaction whenever facts, verified values, aid or
  applications change;
* many households (``rescore_batch``): a few big queries, ``compute_points``
  per household, and bulk writes — model activation and benchmarks.

The stored breakdown holds the points per factor and the missing facts; the
reasons in words are recomputed from the snapshot when someone looks (they
are a pure function of it), which keeps bulk re-scoring cheap.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.enums import (
    AreaType,
    Housing,
    Illness,
    OrgLevel,
    Relation,
    Schooling,
    Sex,
    ShockKind,
    WorkCapacity,
)
from relief_pwa.core.errors import Conflict, DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.facts import (
    MISSING_FACT_LABELS,
    AidReceived,
    HouseholdFacts,
    MemberFacts,
    MoneyItem,
    Shock,
    Standard,
    select_standard,
)
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.core.scoring import (
    DEFAULT_MODEL,
    FactorPoints,
    IndexBreakdown,
    ScoringModel,
    compute_index,
    compute_points,
    explain_for_applicant,
    model_from_dict,
    model_to_dict,
    points_hold_until,
)
from relief_pwa.db import advisory_xact_lock, is_sqlite, write_transaction
from relief_pwa.services import facts_history, hooks
from relief_pwa.services.access import access_application, access_household
from relief_pwa.services.access_log import note_read
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.bulk_scoring import (
    RANKED_STATES,
    RECORD_COLUMNS,
    BatchResult,
    LoadedCity,
    Lookback,
    RecordResult,
    ScoredRows,
    Spelling,
    StandardPicker,
    assemble_city,
    breakdown_json,
    bulk_allocation,
    categories_text,
    district_code_of,
    fact_queries,
    households_query,
    local_date,
    previous_from_rows,
    previous_query,
    score_rows,
    score_span_postgres,
    score_span_sqlite,
    snapshot_digest,
)
from relief_pwa.services.standards import load_standards
from relief_pwa.tables import (
    AidRecord,
    Application,
    Household,
    IndexRecord,
    IndexSnapshot,
    Member,
    OrgUnit,
    ReliefStandard,
    Verification,
)
from relief_pwa.tables import (
    MoneyItem as MoneyItemRow,
)
from relief_pwa.tables import (
    ScoringModel as ScoringModelRow,
)
from relief_pwa.tables import (
    Shock as ShockRow,
)

log = logging.getLogger(__name__)

SHOCK_KINDS: tuple[ShockKind, ...] = tuple(k for k in ShockKind if k is not ShockKind.NONE)
MODEL_STATUSES = ("draft", "active", "retired")


# --------------------------------------------------------------------------- models


_model_cache: dict[str, ScoringModel] = {}


def _parse_model(definition: str) -> ScoringModel:
    model = _model_cache.get(definition)
    if model is None:
        model = model_from_dict(json.loads(definition))
        _model_cache[definition] = model
    return model


async def city_path() -> str:
    row = await OrgUnit.select(OrgUnit.path).where(OrgUnit.level == OrgLevel.CITY).first()
    return str(row["path"]) if row else ""


async def get_active_model(*, now: datetime) -> ScoringModel:
    """The model in force; stores DEFAULT_MODEL as active "v1" when no model exists yet."""
    row = (
        await ScoringModelRow.select(ScoringModelRow.definition)
        .where(ScoringModelRow.status == "active")
        .first()
    )
    if row is not None:
        return _parse_model(row["definition"])
    engine = ScoringModelRow._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, "scoring-model")
        row = (
            await ScoringModelRow.select(ScoringModelRow.definition)
            .where(ScoringModelRow.status == "active")
            .first()
        )
        if row is not None:
            return _parse_model(row["definition"])
        if await ScoringModelRow.exists().where(ScoringModelRow.version == DEFAULT_MODEL.version):
            raise DomainError(N_("No scoring model is active. A city administrator must activate one."))
        definition = json.dumps(model_to_dict(DEFAULT_MODEL), ensure_ascii=False, sort_keys=True)
        stored = ScoringModelRow(
            version=DEFAULT_MODEL.version,
            effective_from=DEFAULT_MODEL.effective_from,
            definition=definition,
            description=DEFAULT_MODEL.description,
            status="active",
            created_at=now,
            activated_at=now,
        )
        await stored.save()
        await record_event(
            SYSTEM_ACTOR,
            "scoring_model.activate",
            "scoring_model",
            stored.id,
            org_path=await city_path(),
            now=now,
            before=None,
            after={"version": DEFAULT_MODEL.version, "status": "active", "default": True},
        )
        return _parse_model(definition)


async def load_model(version: str) -> ScoringModel:
    row = (
        await ScoringModelRow.select(ScoringModelRow.definition)
        .where(ScoringModelRow.version == version)
        .first()
    )
    if row is None:
        if version == DEFAULT_MODEL.version:
            return DEFAULT_MODEL
        raise DomainError(N_("Scoring model {version} does not exist."), version=version)
    return _parse_model(row["definition"])


# --------------------------------------------------------------------------- facts from rows


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _optional_date(value: Any) -> date | None:
    return None if value is None else _as_date(value)


def member_from_row(row: Mapping[str, Any]) -> MemberFacts:
    grade = row["disability_grade"]
    return MemberFacts(
        birth_date=_optional_date(row["birth_date"]),
        sex=Sex(row["sex"]),
        relation=Relation(row["relation"]),
        disability_grade=None if grade is None else int(grade),
        illness=Illness(row["illness"]),
        work_capacity=WorkCapacity(row["work_capacity"]),
        schooling=Schooling(row["schooling"]),
    )


@dataclass
class _FactRows:
    """Rows of one household, grouped while loading (bulk and single paths share it)."""

    members: list[MemberFacts] = field(default_factory=list)
    incomes: list[MoneyItem] = field(default_factory=list)
    assets: list[MoneyItem] = field(default_factory=list)
    expenses: list[MoneyItem] = field(default_factory=list)
    shocks: list[Shock] = field(default_factory=list)
    aid: list[AidReceived] = field(default_factory=list)
    categories: set[str] = field(default_factory=set)
    first_applied_on: date | None = None

    def add_item(self, row: Mapping[str, Any]) -> None:
        verified = row["verified_fen"]
        item = MoneyItem(
            str(row["kind"]), int(row["declared_fen"]), None if verified is None else int(verified)
        )
        section = row["section"]
        if section == "income":
            self.incomes.append(item)
        elif section == "asset":
            self.assets.append(item)
        elif section == "expense":
            self.expenses.append(item)

    def add_application(self, row: Mapping[str, Any]) -> None:
        received = _as_date(row["received_on"])
        if self.first_applied_on is None or received < self.first_applied_on:
            self.first_applied_on = received
        if row["state"] in RANKED_STATES:
            self.categories.add(str(row["category"]))

    def facts(self, household: Mapping[str, Any]) -> HouseholdFacts:
        housing = household["housing"]
        return HouseholdFacts(
            household_id=int(household["id"]),
            file_no=str(household["file_no"]),
            area_type=AreaType(household["area_type"]),
            district_code=district_code_of(str(household["org_path"])),
            housing=Housing(housing) if housing else None,
            members=tuple(self.members),
            incomes=tuple(self.incomes),
            assets=tuple(self.assets),
            expenses=tuple(self.expenses),
            shocks=tuple(self.shocks),
            aid=tuple(self.aid),
            categories=tuple(sorted(self.categories)),
        )


def snapshot_json(facts: HouseholdFacts, standard: Standard) -> str:
    return json.dumps(
        {"facts": facts.to_dict(), "standard": standard.to_dict()}, ensure_ascii=False, separators=(",", ":")
    )


def parse_breakdown_points(text: str) -> dict[str, Decimal]:
    """factor code → points of a stored breakdown (either format)."""
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    if "points" in data:
        return {code: Decimal(value) for code, value in data["points"].items()}
    return {line["code"]: Decimal(line["points"]) for line in data.get("lines", [])}


# --------------------------------------------------------------------------- one household


@dataclass(frozen=True)
class HouseholdScore:
    """What one computation produced (and whether a new record was written)."""

    household_id: int
    record_id: int | None
    total: Decimal
    provisional: bool
    missing: tuple[str, ...]
    model_version: str
    stored: bool


async def load_household_facts(
    household_id: int, as_of: date, lookback: Lookback, *, verified_before: datetime | None = None
) -> tuple[HouseholdFacts, dict[str, Any], date | None]:
    """The facts of one household valid on ``as_of`` (with its row and first application date).

    Members and items are the versions valid that day; housing, area and the
    district come from the household version valid then (services/facts_history.py).
    ``verified_before`` (for a past date): a value verified since then is read
    back from the verification history.
    """
    household = (
        await Household.select(
            Household.id,
            Household.file_no,
            Household.org_path,
            Household.area_type,
            Household.housing,
            Household.current_index,
            Household.index_provisional,
            Household.index_digest,
            Household.index_model_version,
            Household.index_holds_from,
            Household.index_holds_until,
        )
        .where(Household.id == household_id)
        .first()
    )
    if household is None:
        raise NotFoundOrForbidden()
    version = await facts_history.household_facts_on(household_id, as_of)
    if version is not None:
        household = {
            **household,
            "org_path": version["org_path"],
            "area_type": version["area_type"],
            "housing": version["housing"],
        }
    rows = _FactRows()
    for member in (
        await Member.select(
            Member.birth_date,
            Member.sex,
            Member.relation,
            Member.disability_grade,
            Member.illness,
            Member.work_capacity,
            Member.schooling,
        )
        .where((Member.household == household_id) & facts_history.member_valid_on(as_of))
        .order_by(Member.id)
    ):
        rows.members.append(member_from_row(member))
    items = (
        await MoneyItemRow.select(
            MoneyItemRow.id,
            MoneyItemRow.section,
            MoneyItemRow.kind,
            MoneyItemRow.declared_fen,
            MoneyItemRow.verified_fen,
            MoneyItemRow.verified_at,
        )
        .where((MoneyItemRow.household == household_id) & facts_history.item_valid_on(as_of))
        .order_by(MoneyItemRow.id)
    )
    if verified_before is not None:
        await verified_as_of(items, verified_before)
    for item in items:
        rows.add_item(item)
    for shock in (
        await ShockRow.select(ShockRow.kind, ShockRow.occurred_on)
        .where(
            (ShockRow.household == household_id)
            & (ShockRow.occurred_on > lookback.shocks_after)
            & (ShockRow.occurred_on <= as_of)
        )
        .order_by(ShockRow.occurred_on, ShockRow.id)
    ):
        rows.shocks.append(Shock(ShockKind(shock["kind"]), _as_date(shock["occurred_on"])))
    for aid in (
        await AidRecord.select(AidRecord.value_fen, AidRecord.received_on, AidRecord.source)
        .where(
            (AidRecord.household == household_id)
            & (AidRecord.received_on > lookback.aid_after)
            & (AidRecord.received_on <= as_of)
        )
        .order_by(AidRecord.received_on, AidRecord.id)
    ):
        rows.aid.append(AidReceived(int(aid["value_fen"]), _as_date(aid["received_on"]), str(aid["source"])))
    for application in await Application.select(
        Application.category, Application.state, Application.received_on
    ).where(Application.household == household_id):
        rows.add_application(application)
    return rows.facts(household), household, rows.first_applied_on


async def verified_as_of(items: list[dict[str, Any]], before: datetime) -> None:
    """Replace values verified at or after ``before`` with the latest one verified earlier."""
    later = [
        item["id"] for item in items if item["verified_at"] is not None and item["verified_at"] >= before
    ]
    if not later:
        return
    earlier: dict[int, int] = {}
    for row in (
        await Verification.select(Verification.money_item, Verification.verified_fen)
        .where(Verification.money_item.is_in(later) & (Verification.recorded_at < before))
        .order_by(Verification.recorded_at)
        .order_by(Verification.id)
    ):
        earlier[row["money_item"]] = row["verified_fen"]
    for item in items:
        if item["id"] in later:
            item["verified_fen"] = earlier.get(item["id"])


def end_of_day(day: date) -> datetime:
    """The first instant after ``day`` in bureau time: what was recorded before it belongs to ``day``."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=CHINA_TZ)


async def model_on(day: date, *, now: datetime) -> ScoringModel:
    """The scoring model in force at the end of ``day`` (the latest activated by then)."""
    row = (
        await ScoringModelRow.select(ScoringModelRow.definition)
        .where(ScoringModelRow.activated_at.is_not_null() & (ScoringModelRow.activated_at < end_of_day(day)))
        .order_by(ScoringModelRow.activated_at, ascending=False)
        .first()
    )
    if row is not None:
        return _parse_model(row["definition"])
    return await get_active_model(now=now)


@dataclass(frozen=True)
class IndexOnDate:
    """The index recomputed for a date from the facts valid then (stored nowhere)."""

    day: date
    breakdown: IndexBreakdown | None  # None: no standard in force for the district then
    facts: HouseholdFacts


async def index_on(household_id: int, day: date, *, now: datetime) -> IndexOnDate:
    """The pure scoring function of core applied to the household's facts on ``day``."""
    model = await model_on(day, now=now)
    past = day < local_date(now)
    facts, _household, _first = await load_household_facts(
        household_id,
        day,
        Lookback.for_models([model], day),
        verified_before=end_of_day(day) if past else None,
    )
    standards = await load_standards(facts.district_code)
    try:
        standard = select_standard(standards, facts.district_code, facts.area_type, day)
    except DomainError:
        return IndexOnDate(day, None, facts)
    return IndexOnDate(day, compute_index(facts, standard, model, day), facts)


async def totals_on(household_ids: Sequence[int], day: date, *, now: datetime) -> dict[int, Decimal]:
    """Totals of the given households recomputed for ``day`` from the facts valid then.

    For the ranking "as of" a date: the bulk loaders of every re-score, with the
    versions, household facts and verified values of that day. Households whose
    district had no standard then are left out (the caller keeps their stored record).
    """
    if not household_ids:
        return {}
    model = await model_on(day, now=now)
    lookback = Lookback.for_models([model], day)
    wanted = set(household_ids)
    low, high = min(wanted), max(wanted)
    q = RawSql()
    sql, args = households_query(q, after_id=low - 1, last_id=high, only_open=False)
    households = [row for row in await q.fetch(sql, *args) if row[0] in wanted]
    if not households:
        return {}
    versions = await facts_history.household_versions_on(low, high, day)
    households = [
        (row[0], row[1], *versions[row[0]]) if row[0] in versions else tuple(row) for row in households
    ]
    with bulk_allocation():
        rows = [
            await q.fetch(sql, *args)
            for sql, args in fact_queries(q, low, high, day, lookback, verified_before=end_of_day(day))
        ]
        city = assemble_city(households, rows, as_of=day, with_json=False)
    picker = StandardPicker(await load_standards(), day)
    totals: dict[int, Decimal] = {}
    for row in city.households:
        facts = city.facts[row[0]]
        try:
            standard = picker.pick(facts.district_code, facts.area_type)
        except DomainError:
            continue
        totals[row[0]] = compute_points(facts, standard, model, day).total
    return totals


async def _lock_household(household_id: int) -> None:
    """PostgreSQL: serialise recomputations of one household (SQLite's writer lock already does)."""
    engine = Household._meta.db
    if not is_sqlite(engine):
        await Household.select(Household.id).where(Household.id == household_id).lock_rows()


async def recompute_household(household_id: int, *, trigger: str, now: datetime) -> HouseholdScore | None:
    """Compute and store one household's index. Must run inside a write transaction.

    Returns None (and logs) when no assistance standard is in force for the
    household's district: the index stays "not yet computed" rather than a
    silent zero, and the index page says why. Either way the household's stored
    ranks follow its index and applications (services/rank_store.py).
    """
    from relief_pwa.services.rank_store import sync_households

    if Household._meta.db.current_transaction.get() is None:
        raise RuntimeError("recompute_household runs inside the caller's write transaction")
    await _lock_household(household_id)
    score = await _recompute_locked(household_id, trigger=trigger, now=now)
    await sync_households([household_id])
    return score


def _same_inputs_same_day(latest: dict[str, Any], digest: str, model_version: str, as_of: date) -> bool:
    return (
        latest["snapshot_digest"] == digest
        and latest["model_version"] == model_version
        and _as_date(latest["as_of"]) == as_of
    )


def _latest_says(latest: dict[str, Any], result: RecordResult) -> bool:
    return result.same_as(
        latest["snapshot_digest"],
        latest["model_version"],
        round(latest["total"] * 100),
        bool(latest["provisional"]),
        latest["breakdown"],
        latest["categories"],
    )


def _current_holds(
    household: Mapping[str, Any], points: FactorPoints, digest: str, model_version: str, day: date
) -> bool:
    """The household's stored index is this result, for this snapshot and model, and holds on ``day``."""
    holds_from = _optional_date(household["index_holds_from"])
    holds_until = _optional_date(household["index_holds_until"])
    current = household["current_index"]
    return (
        household["index_digest"] == digest
        and household["index_model_version"] == model_version
        and holds_from is not None
        and holds_until is not None
        and holds_from <= day < holds_until
        and current is not None
        and round(Decimal(str(current)) * 100) == points.total_centi
        and bool(household["index_provisional"]) == points.provisional
    )


@dataclass(frozen=True)
class _CurrentIndex:
    """A household's current index as the recompute stores it on the household row, with
    the snapshot, model and days it holds for (docs/scale.md, "A new day")."""

    household_id: int
    points: FactorPoints
    computed_at: datetime
    holds_from: date
    holds_until: date
    digest: str
    model_version: str

    async def save(self) -> None:
        await Household.update({
            Household.current_index: self.points.total,
            Household.index_provisional: self.points.provisional,
            Household.index_computed_at: self.computed_at,
            Household.index_holds_from: self.holds_from,
            Household.index_holds_until: self.holds_until,
            Household.index_digest: self.digest,
            Household.index_model_version: self.model_version,
        }).where(Household.id == self.household_id)  # fmt: skip


async def _recompute_locked(household_id: int, *, trigger: str, now: datetime) -> HouseholdScore | None:
    model = await get_active_model(now=now)
    as_of = local_date(now)
    facts, household, _first = await load_household_facts(
        household_id, as_of, Lookback.for_models([model], as_of)
    )
    standards = await load_standards(facts.district_code)
    try:
        standard = select_standard(standards, facts.district_code, facts.area_type, as_of)
    except DomainError:
        log.warning("no standard for household %s (district %s)", household_id, facts.district_code)
        return None
    points = compute_points(facts, standard, model, as_of)
    holds_until = points_hold_until(facts, model, as_of)
    snapshot = snapshot_json(facts, standard)
    digest = snapshot_digest(snapshot)
    latest = (
        await IndexRecord.select(
            IndexRecord.id, IndexRecord.snapshot_digest, IndexRecord.model_version, IndexRecord.as_of,
            IndexRecord.total, IndexRecord.provisional, IndexRecord.breakdown, IndexRecord.categories,
        )
        .where(IndexRecord.household == household_id)
        .order_by(IndexRecord.computed_at, ascending=False)
        .order_by(IndexRecord.id, ascending=False)
        .first()
    )  # fmt: skip
    breakdown = breakdown_json(points)
    categories = categories_text(facts.categories)
    current = _CurrentIndex(household_id, points, now, as_of, holds_until, digest, model.version)
    if latest is not None and (
        _same_inputs_same_day(latest, digest, model.version, as_of)
        or _latest_says(latest, RecordResult(
            digest, model.version, round(points.total * 100), points.provisional, breakdown, categories
        ))
    ):  # fmt: skip
        # Nothing that the index reads has changed, or only the day and not the result: the
        # latest record still says it; keep history free of duplicates. Only the days the
        # result holds on may move.
        if not _current_holds(household, points, digest, model.version, as_of):
            await current.save()
        return HouseholdScore(
            household_id, latest["id"], points.total, points.provisional, points.missing, model.version, False
        )
    await IndexSnapshot.insert(IndexSnapshot(digest=digest, body=snapshot)).on_conflict(
        target=IndexSnapshot.digest, action="DO NOTHING"
    )
    record = IndexRecord(
        household=household_id,
        org_path=household["org_path"],
        computed_at=now,
        as_of=as_of,
        model_version=model.version,
        total=points.total,
        provisional=points.provisional,
        trigger=trigger[:60],
        snapshot_digest=digest,
        breakdown=breakdown,
        categories=categories,
    )
    await record.save()
    await current.save()
    return HouseholdScore(
        household_id, record.id, points.total, points.provisional, points.missing, model.version, True
    )


@hooks.on_household_changed
async def _on_household_changed(household_id: int, trigger: str, now: datetime) -> None:
    await recompute_household(household_id, trigger=trigger, now=now)


async def do_recompute_household(actor: Actor, household_id: int, *, now: datetime) -> HouseholdScore:
    """Staff ask for a fresh computation (e.g. after a new standard); audited."""
    require(actor, Capability.INDEX_RECOMPUTE)
    async with write_transaction(Household._meta.db):
        household = await access_household(actor, household_id)
        score = await recompute_household(household.id, trigger="manual", now=now)
        if score is None:
            raise DomainError(
                N_(
                    "No assistance standard is in force for this household's district;"
                    " the index cannot be computed."
                )
            )
        await record_event(
            actor,
            "index.recompute",
            "household",
            household.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            before={"index": None if household.current_index is None else str(household.current_index)},
            after={"index": str(score.total), "model": score.model_version, "record": score.record_id},
        )
    return score


# --------------------------------------------------------------------------- shocks and aid


async def do_record_shock(
    actor: Actor, household_id: int, *, kind: str, occurred_on: date | None, note: str, now: datetime
) -> int:
    """Record a sudden shock (disaster, accident, sudden illness); the index follows at once."""
    require(actor, Capability.INDEX_FACTS_RECORD)
    errors: dict[str, DomainError] = {}
    if kind not in {k.value for k in SHOCK_KINDS}:
        errors["kind"] = DomainError(N_("Please choose what happened."), field="kind")
    if occurred_on is None:
        errors["occurred_on"] = DomainError(N_("Please give the date it happened."), field="occurred_on")
    elif occurred_on > local_date(now):
        errors["occurred_on"] = DomainError(N_("The date cannot be in the future."), field="occurred_on")
    elif occurred_on < local_date(now) - timedelta(days=366 * 2):
        errors["occurred_on"] = DomainError(
            N_("Only events of the last two years can be recorded."), field="occurred_on"
        )
    if errors:
        raise ValidationFailed(errors)
    assert occurred_on is not None
    async with write_transaction(ShockRow._meta.db):
        household = await access_household(actor, household_id)
        row = ShockRow(
            household=household.id,
            org_path=household.org_path,
            kind=kind,
            occurred_on=occurred_on,
            note=note.strip()[:300],
            recorded_by=actor.staff_id,
            recorded_at=now,
        )
        await row.save()
        await record_event(
            actor,
            "shock.record",
            "shock",
            row.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            after={"kind": kind, "occurred_on": occurred_on.isoformat(), "note": note.strip()[:300]},
        )
        await hooks.household_changed(household.id, trigger="shock", now=now)
    return int(row.id)


async def add_aid_record(
    household_id: int,
    *,
    value_fen: int,
    received_on: date,
    source: str,
    reference: str | None,
    note: str,
    now: datetime,
) -> int:
    """Insert one AidRecord and recompute the index, inside the caller's transaction.

    For payments and hand-overs (other services call this with a unique
    ``reference`` such as "payment:<line id>", so a retry never counts aid twice:
    an existing reference returns the existing row).
    """
    if Household._meta.db.current_transaction.get() is None:
        raise RuntimeError("add_aid_record runs inside the caller's write transaction")
    if reference:
        existing = await AidRecord.select(AidRecord.id).where(AidRecord.reference == reference).first()
        if existing is not None:
            return int(existing["id"])
    household = await Household.select(Household.org_path).where(Household.id == household_id).first()
    if household is None:
        raise NotFoundOrForbidden()
    row = AidRecord(
        household=household_id,
        org_path=household["org_path"],
        value_fen=value_fen,
        received_on=received_on,
        source=source,
        reference=reference or None,
        note=note[:300],
        recorded_at=now,
    )
    await row.save()
    await hooks.household_changed(household_id, trigger=f"aid.{source}", now=now)
    return int(row.id)


async def do_record_external_aid(
    actor: Actor,
    household_id: int,
    *,
    value_fen: int | None,
    received_on: date | None,
    note: str,
    reference: str = "",
    now: datetime,
) -> int:
    """Record aid received from outside the system (another department, a donor); audited."""
    require(actor, Capability.INDEX_FACTS_RECORD)
    errors: dict[str, DomainError] = {}
    if value_fen is None or value_fen <= 0:
        errors["value"] = DomainError(N_("Please give the value of the aid in yuan."), field="value")
    if received_on is None:
        errors["received_on"] = DomainError(N_("Please give the date it was received."), field="received_on")
    elif received_on > local_date(now):
        errors["received_on"] = DomainError(N_("The date cannot be in the future."), field="received_on")
    if not note.strip():
        errors["note"] = DomainError(N_("Please say who gave the aid and what it was."), field="note")
    reference = reference.strip()[:60]
    if errors:
        raise ValidationFailed(errors)
    assert value_fen is not None and received_on is not None
    async with write_transaction(AidRecord._meta.db):
        household = await access_household(actor, household_id)
        ref = f"external:{reference}" if reference else None
        if ref and await AidRecord.exists().where(AidRecord.reference == ref):
            raise Conflict(N_("Aid with this reference number is already recorded."), field="reference")
        aid_id = await add_aid_record(
            household.id,
            value_fen=value_fen,
            received_on=received_on,
            source="external",
            reference=ref,
            note=note.strip(),
            now=now,
        )
        await record_event(
            actor,
            "aid.record_external",
            "aid_record",
            aid_id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            after={
                "value_fen": value_fen,
                "received_on": received_on.isoformat(),
                "note": note.strip()[:300],
                "reference": ref,
            },
        )
    return aid_id


# --------------------------------------------------------------------------- reading records


@dataclass(frozen=True)
class RecomputeCheck:
    record_id: int
    stored_total: Decimal
    recomputed_total: Decimal
    breakdown: IndexBreakdown
    standard: Standard
    facts: HouseholdFacts

    @property
    def matches(self) -> bool:
        return self.stored_total == self.recomputed_total


async def _recompute_row(row: Mapping[str, Any]) -> RecomputeCheck:
    stored = (
        await IndexSnapshot.select(IndexSnapshot.body)
        .where(IndexSnapshot.digest == row["snapshot_digest"])
        .first()
    )
    try:
        data = json.loads(stored["body"] if stored else "")
    except ValueError as exc:
        raise DomainError(N_("The stored household snapshot is malformed."), detail=str(exc)) from exc
    facts = HouseholdFacts.from_dict(data["facts"])
    standard = Standard.from_dict(data["standard"])
    model = await load_model(row["model_version"])
    breakdown = compute_index(facts, standard, model, _as_date(row["as_of"]))
    return RecomputeCheck(
        int(row["id"]),
        Decimal(row["total"]).quantize(Decimal("0.01")),
        breakdown.total,
        breakdown,
        standard,
        facts,
    )


async def check_recompute(record_id: int, actor: Actor | None = None) -> RecomputeCheck:
    """Recompute a stored index from its snapshot and model version (reproducibility)."""
    row = await IndexRecord.select().where(IndexRecord.id == record_id).first()
    if row is None or (actor is not None and not actor.can_see(row["org_path"])):
        raise NotFoundOrForbidden()
    return await _recompute_row(row)


@dataclass(frozen=True)
class HistoryItem:
    record_id: int
    computed_at: datetime
    as_of: date
    model_version: str
    trigger: str
    total: Decimal
    provisional: bool
    change: Decimal | None  # against the previous record


@dataclass(frozen=True)
class IndexView:
    household: dict[str, Any]
    check: RecomputeCheck | None
    record: dict[str, Any] | None
    history: list[HistoryItem]
    shocks: list[dict[str, Any]]
    aid: list[dict[str, Any]]
    missing_labels: list[str]
    no_standard: bool
    can_record: bool
    can_recompute: bool


async def get_index_view(
    actor: Actor, household_id: int, record_id: int | None = None, *, now: datetime
) -> IndexView:
    """The household's index: breakdown (of the latest or a chosen record), history, shocks and aid."""
    household = await access_household(actor, household_id)
    note_read(
        actor,
        "index.view",
        now=now,
        entity_id=household.id,
        household_id=household.id,
        org_path=household.org_path,
    )
    records = (
        await IndexRecord.select(
            IndexRecord.id,
            IndexRecord.computed_at,
            IndexRecord.as_of,
            IndexRecord.model_version,
            IndexRecord.trigger,
            IndexRecord.total,
            IndexRecord.provisional,
        )
        .where(IndexRecord.household == household.id)
        .order_by(IndexRecord.computed_at, ascending=False)
        .order_by(IndexRecord.id, ascending=False)
        .limit(60)
    )
    history: list[HistoryItem] = []
    for position, r in enumerate(records):
        previous = records[position + 1] if position + 1 < len(records) else None
        total = Decimal(r["total"]).quantize(Decimal("0.01"))
        change = None if previous is None else total - Decimal(previous["total"]).quantize(Decimal("0.01"))
        history.append(
            HistoryItem(
                r["id"],
                r["computed_at"],
                _as_date(r["as_of"]),
                r["model_version"],
                r["trigger"],
                total,
                bool(r["provisional"]),
                change,
            )
        )
    chosen_id = record_id if record_id is not None else (records[0]["id"] if records else None)
    check: RecomputeCheck | None = None
    chosen: dict[str, Any] | None = None
    if chosen_id is not None:
        row = (
            await IndexRecord.select()
            .where((IndexRecord.id == chosen_id) & (IndexRecord.household == household.id))
            .first()
        )
        if row is None:
            raise NotFoundOrForbidden()
        chosen = row
        check = await _recompute_row(row)
    shocks = (
        await ShockRow.select(
            ShockRow.id, ShockRow.kind, ShockRow.occurred_on, ShockRow.note, ShockRow.recorded_at
        )
        .where(ShockRow.household == household.id)
        .order_by(ShockRow.occurred_on, ascending=False)
        .limit(20)
    )
    aid = (
        await AidRecord.select(
            AidRecord.id,
            AidRecord.value_fen,
            AidRecord.received_on,
            AidRecord.source,
            AidRecord.note,
            AidRecord.reference,
        )
        .where(AidRecord.household == household.id)
        .order_by(AidRecord.received_on, ascending=False)
        .limit(30)
    )
    missing = list(check.breakdown.missing) if check else []
    no_standard = False
    if not records:
        district = district_code_of(household.org_path)
        no_standard = not await ReliefStandard.exists().where(
            (ReliefStandard.district_code == district) & (ReliefStandard.area_type == household.area_type)
        )
    writer = actor.can(Capability.INDEX_FACTS_RECORD)
    return IndexView(
        household=household.to_dict(),
        check=check,
        record=chosen,
        history=history,
        shocks=shocks,
        aid=aid,
        missing_labels=[MISSING_FACT_LABELS[code] for code in missing if code in MISSING_FACT_LABELS],
        no_standard=no_standard,
        can_record=writer,
        can_recompute=actor.can(Capability.INDEX_RECOMPUTE),
    )


@dataclass(frozen=True)
class ApplicantExplanation:
    """What an applicant is told about their index (PIPL Art. 24): top factors in plain words."""

    household_id: int
    total: Decimal
    provisional: bool
    as_of: date
    model_version: str
    lines: list[str]
    missing: list[str]  # English message ids of missing facts (translate at the edge)


async def get_applicant_explanation(
    *,
    application_id: int | None = None,
    household_id: int | None = None,
    lang: str = "zh_Hans",
    actor: Actor | None = None,
    top: int = 3,
) -> ApplicantExplanation | None:
    """The applicant-facing explanation of the latest index (bot, printed notices).

    ``actor`` (when given) limits it to the actor's jurisdiction; the bot calls
    it for the application bound to the chat. Returns None before any index exists.
    """
    if application_id is not None:
        if actor is not None:
            application = await access_application(actor, application_id)
            household_id = int(application.household)
        else:
            row = (
                await Application.select(Application.household)
                .where(Application.id == application_id)
                .first()
            )
            if row is None:
                raise NotFoundOrForbidden()
            household_id = int(row["household"])
    if household_id is None:
        raise NotFoundOrForbidden()
    if actor is not None:
        await access_household(actor, household_id)
    row = (
        await IndexRecord.select()
        .where(IndexRecord.household == household_id)
        .order_by(IndexRecord.computed_at, ascending=False)
        .order_by(IndexRecord.id, ascending=False)
        .first()
    )
    if row is None:
        return None
    check = await _recompute_row(row)
    breakdown = check.breakdown
    return ApplicantExplanation(
        household_id=household_id,
        total=breakdown.total,
        provisional=breakdown.provisional,
        as_of=breakdown.as_of,
        model_version=breakdown.model_version,
        lines=explain_for_applicant(breakdown, lang, top),
        missing=[MISSING_FACT_LABELS[c] for c in breakdown.missing if c in MISSING_FACT_LABELS],
    )


# --------------------------------------------------------------------------- many households
#
class RawSql(Spelling):
    """Bulk statements on the project's engine, as plain tuples."""

    def __init__(self) -> None:
        self.engine = Household._meta.db
        super().__init__(sqlite=is_sqlite(self.engine))

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        """Rows as tuples, inside the current transaction when there is one."""
        text = self.placeholders(sql)
        transaction = self.engine.current_transaction.get()
        if self.sqlite:
            # Only the SQLite engines have get_connection(); self.sqlite guarantees one here.
            connection = transaction.connection if transaction else await self.engine.get_connection()  # type: ignore[attr-defined]
            try:
                previous = connection.row_factory
                connection.row_factory = None
                try:
                    cursor = await connection.execute(text, args)
                    rows: list[Sequence[Any]] = await cursor.fetchall()
                    await cursor.close()
                finally:
                    connection.row_factory = previous
            finally:
                if transaction is None:
                    await connection.close()
            return rows
        if transaction is not None:
            return list(await transaction.connection.fetch(text, *args))
        async with self.engine.pool.acquire() as connection:  # type: ignore[attr-defined]  # PostgresEngine's asyncpg pool
            return list(await connection.fetch(text, *args))


async def load_facts_bulk(
    *,
    as_of: date,
    lookback: Lookback,
    after_id: int = 0,
    limit: int | None = None,
    scope_path: str = "",
    only_open: bool = True,
    with_json: bool = True,
) -> LoadedCity:
    """Facts of households with id > ``after_id`` (ordered by id, at most ``limit``): a
    query per table, assembled by ``bulk_scoring.assemble_city``."""
    q = RawSql()
    sql, args = households_query(
        q, after_id=after_id, limit=limit, scope_path=scope_path, only_open=only_open
    )
    households = await q.fetch(sql, *args)
    if not households:
        return LoadedCity([], {}, {}, {})
    rows = [
        await q.fetch(sql, *args)
        for sql, args in fact_queries(q, households[0][0], households[-1][0], as_of, lookback)
    ]
    return assemble_city(households, rows, as_of=as_of, with_json=with_json)


async def _bulk_write(rows: ScoredRows, *, snapshots_checked: bool = False) -> None:
    """Store snapshots not stored yet, insert index records and update households,
    with a few statements.

    ``snapshots_checked``: the rows come from a worker that already left out the
    snapshots stored before this transaction (the conflict still refuses one that an
    earlier span of this transaction stored)."""
    engine = IndexRecord._meta.db
    transaction = engine.current_transaction.get()
    if transaction is None:
        raise RuntimeError("bulk writes run inside a write transaction")
    connection = transaction.connection
    records, updates = rows.records, rows.updates
    if not (records or updates or rows.snapshots):
        return
    if is_sqlite(engine):
        await connection.executemany(
            "INSERT INTO index_snapshot (digest, body) VALUES (?, ?) ON CONFLICT DO NOTHING", rows.snapshots
        )
        await connection.executemany(
            f"INSERT INTO index_record ({', '.join(RECORD_COLUMNS)})"  # noqa: S608  (fixed column names)
            f" VALUES ({', '.join('?' * len(RECORD_COLUMNS))})",
            records,
        )
        await connection.executemany(
            "UPDATE household SET current_index = ?, index_provisional = ?, index_computed_at = ?,"
            " index_holds_from = ?, index_holds_until = ?, index_digest = ?, index_model_version = ?"
            " WHERE id = ?",
            updates,
        )
        return
    # Only the snapshots not stored yet travel (a repeated run or a model change finds nearly
    # all stored: sending their bodies to be refused by the conflict cost 2.4 s at 60,000).
    stored = (
        {
            row[0]
            for row in await connection.fetch(
                "SELECT digest FROM index_snapshot WHERE digest = ANY($1::varchar[])",
                [digest for digest, _ in rows.snapshots],
            )
        }
        if rows.snapshots and not snapshots_checked
        else set()
    )
    fresh = [(digest, body) for digest, body in rows.snapshots if digest not in stored]
    if fresh:
        await connection.execute(
            "INSERT INTO index_snapshot (digest, body) SELECT * FROM unnest($1::varchar[], $2::text[])"
            " ON CONFLICT DO NOTHING",
            [digest for digest, _ in fresh],
            [body for _, body in fresh],
        )
    # Households first: the records' foreign-key checks then find each household already
    # locked by this transaction and lock nothing more (a quarter less time than the other order).
    if updates:
        await connection.execute(
            "UPDATE household AS h SET current_index = v.total, index_provisional = v.provisional,"
            " index_computed_at = v.computed_at, index_holds_from = v.holds_from,"
            " index_holds_until = v.holds_until, index_digest = v.digest, index_model_version = v.model"
            " FROM unnest($1::numeric[], $2::boolean[], $3::timestamptz[], $4::date[], $5::date[],"
            " $6::varchar[], $7::varchar[], $8::integer[])"
            " AS v(total, provisional, computed_at, holds_from, holds_until, digest, model, id)"
            " WHERE h.id = v.id",
            *([u[i] for u in updates] for i in range(8)),
        )
    if records:
        await connection.copy_records_to_table("index_record", records=records, columns=RECORD_COLUMNS)


async def rescore_batch(
    model: ScoringModel,
    *,
    now: datetime,
    trigger: str,
    after_id: int = 0,
    limit: int | None = None,
    only_open: bool = True,
) -> BatchResult:
    """Score and store households with id > ``after_id`` (at most ``limit``), in bulk.

    Runs inside the caller's write transaction; the caller pages through the
    city with ``last_id``. Households whose district has no standard in force
    are skipped (counted), never scored as zero.
    """
    as_of = local_date(now)
    standards = await load_standards()
    with bulk_allocation():
        city = await load_facts_bulk(
            as_of=as_of,
            lookback=Lookback.for_models([model], as_of),
            after_id=after_id,
            limit=limit,
            only_open=only_open,
        )
        if not city.households:
            return BatchResult(0, 0, after_id)
        rows = score_rows(
            city, model, standards, now=now, trigger=trigger, sqlite=is_sqlite(Household._meta.db)
        )
    if rows.records:
        await _bulk_write(rows)
    return BatchResult(len(rows.records), rows.skipped, int(city.households[-1][0]))


async def score_in_memory(
    models: Sequence[ScoringModel], *, now: datetime, scope_path: str = ""
) -> tuple[list[dict[int, Decimal]], dict[int, tuple[date, str]]]:
    """Totals of every open household under each model, written nowhere (what-if preview).

    Returns:
        One {household id → total} per model, and the tie-break keys.
    """
    as_of = local_date(now)
    with bulk_allocation():
        city = await load_facts_bulk(
            as_of=as_of, lookback=Lookback.for_models(models, as_of), scope_path=scope_path, with_json=False
        )
    picker = StandardPicker(await load_standards(), as_of)
    totals: list[dict[int, Decimal]] = [{} for _ in models]
    tie_keys: dict[int, tuple[date, str]] = {}
    for row in city.households:
        hid = row[0]
        facts = city.facts[hid]
        try:
            standard = picker.pick(facts.district_code, facts.area_type)
        except DomainError:
            continue
        if not facts.categories:
            continue
        for position, model in enumerate(models):
            totals[position][hid] = compute_points(facts, standard, model, as_of).total
        tie_keys[hid] = (city.first_applied[hid], facts.file_no)
    return totals, tie_keys


async def rescore_all(
    model: ScoringModel, *, now: datetime, trigger: str, chunk: int = 5_000, workers: int = 0
) -> BatchResult:
    """Re-score every open household in one transaction (``relief-pwa rescore``, benchmarks).

    With ``workers`` > 0, that many forked processes load and score spans of
    about ``chunk`` households over their own connections while this process
    writes each span as it arrives (in a few batched statements): loading and
    scoring are Python, so more cores divide them; at most two spans per worker are
    out at once, so the parent's memory stays that of a few spans whatever the
    city's size. The workers read exactly the
    state this transaction writes over: on SQLite the committed state (this
    transaction took the write lock first and has written nothing yet), on
    PostgreSQL the snapshot it exports after locking households against other
    writers. Inside an outer transaction (which may hold uncommitted changes)
    the scoring always stays in-process. Forking
    is for a quiet process (the CLI, a benchmark); the web app's re-scoring
    job pages through ``rescore_batch`` instead.

    Otherwise one process loads the city with a few queries and overlaps
    work: while SQLite (in its own thread) writes one chunk, Python scores the next.

    Either way only what changed is written (``bulk_scoring.score_rows``): a
    household whose facts, model and as-of day are those of its latest record gets
    no new record, and only the households whose index moved get their stored
    ranking rows replaced (services/rank_store.py).
    """
    engine = Household._meta.db
    in_workers = workers > 0 and engine.current_transaction.get() is None
    async with write_transaction(engine):
        if in_workers:
            result, moved = await _rescore_in_workers(
                model, now=now, trigger=trigger, chunk=chunk, workers=workers
            )
        else:
            with bulk_allocation():
                result, moved = await _rescore_loaded(model, now=now, trigger=trigger, chunk=chunk)
        from relief_pwa.services.rank_store import sync_households

        # The moved households whose stored ranks are not brought up to date yet (the workers'
        # path does each span's as it writes it); none: the stored ranks stay as they are.
        await sync_households(moved)
        await record_event(
            SYSTEM_ACTOR,
            "index.rescore_all",
            "scoring_model",
            0,
            org_path=await city_path(),
            now=now,
            after={"model_version": model.version, "trigger": trigger, "households": result.count,
                   "skipped": result.skipped},
        )  # fmt: skip
    return result


def worker_spans(
    first_id: int, last_id: int, count: int, *, chunk: int, workers: int
) -> list[tuple[int, int]]:
    """first_id…last_id cut into spans of equal id width (ids are dense enough that their
    sizes come out close), about ``chunk`` households each, as many as a multiple of the
    workers so that they finish together: 11 spans on 2 workers left one of them scoring
    the last span alone, 0.1 s of a 2.1 s re-score."""
    workers = max(1, workers)
    wanted = -(-max(1, count) // max(1, chunk))
    wanted = -(-wanted // workers) * workers
    width = max(1, -(-(last_id - first_id + 1) // wanted))
    return [(low, min(low + width - 1, last_id)) for low in range(first_id, last_id + 1, width)]


async def _rescore_in_workers(
    model: ScoringModel, *, now: datetime, trigger: str, chunk: int, workers: int
) -> tuple[BatchResult, list[int]]:
    q = RawSql()
    # Two index probes; counting the open households read all of them (37 ms on PostgreSQL
    # at 60,000, before any worker could start). The id range bounds their number.
    bounds = "SELECT MIN(id), MAX(id) FROM household WHERE is_open = {}"
    [(first_id, last_id)] = await q.fetch(bounds, True)
    if first_id is None:
        return BatchResult(0, 0, 0), []
    spans = worker_spans(first_id, last_id, last_id - first_id + 1, chunk=chunk, workers=workers)
    standards = await load_standards()
    definition = model_to_dict(model)
    score_span: Callable[..., ScoredRows]
    if q.sqlite:
        path = str(q.engine.path)  # type: ignore[attr-defined]  # an SQLite engine's file
        score_span = partial(score_span_sqlite, path)
    else:
        score_span = partial(score_span_postgres, *await _export_snapshot(q))
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("fork")  # the children inherit the imported modules
    # Children that never run the cyclic collector over the parent's objects never
    # copy their pages (copy-on-write): freeze them, and keep the collector off there.
    gc.freeze()
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(spans)), mp_context=context, initializer=gc.disable
    )
    from relief_pwa.services.rank_store import SYNC_LIMIT, sync_households

    waiting = iter(spans)
    running: set[asyncio.Future[ScoredRows]] = set()

    def submit_next() -> None:
        span = next(waiting, None)
        if span is not None:
            running.add(loop.run_in_executor(pool, score_span, *span, definition, standards, now, trigger))

    try:
        # At most two spans per worker are out at once (one being scored, one scored and
        # waiting to be written): the parent holds a bounded number of rows whatever the
        # city's size, instead of every span that finished while it was writing.
        for _ in range(2 * workers):
            submit_next()
        scored = skipped = 0
        moved: list[int] = []
        while running:
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            running -= finished
            for future in finished:  # write each span as soon as it is scored
                rows = future.result()
                submit_next()
                scored += rows.households
                skipped += rows.skipped
                # Beyond SYNC_LIMIT the stored ranks are written afresh: which households
                # moved no longer matters, only that more than that many did.
                moved += rows.moved[: max(0, SYNC_LIMIT + 1 - len(moved))]
                await _bulk_write(rows, snapshots_checked=True)
                if len(moved) <= SYNC_LIMIT:
                    # Their stored ranks now, while the workers score the next spans, rather
                    # than all at the end (0.2 s of a new day's 1.8 s, with the cores idle).
                    await sync_households(rows.moved)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        gc.unfreeze()
    return BatchResult(scored, skipped, int(last_id)), moved if len(moved) > SYNC_LIMIT else []


async def _export_snapshot(q: RawSql) -> tuple[dict[str, Any], str]:
    """PostgreSQL: the worker processes' connection arguments and the snapshot they import.

    Households are locked against other writers first (a recompute committing
    between the snapshot and this transaction's writes would be overwritten with
    older facts; SQLite's write lock gives the same guarantee), and the mode
    conflicts with itself, so two full rescores queue instead of interleaving.
    """
    await q.fetch("LOCK TABLE household IN SHARE ROW EXCLUSIVE MODE")
    [(snapshot_id,)] = await q.fetch("SELECT pg_export_snapshot()")
    config = dict(q.engine.config)  # type: ignore[attr-defined]  # a PostgresEngine's asyncpg arguments
    return config, str(snapshot_id)


async def _rescore_loaded(
    model: ScoringModel, *, now: datetime, trigger: str, chunk: int
) -> tuple[BatchResult, list[int]]:
    as_of = local_date(now)
    city = await load_facts_bulk(as_of=as_of, lookback=Lookback.for_models([model], as_of))
    if not city.households:
        return BatchResult(0, 0, 0), []
    q = RawSql()
    # Read before the first write below changes any household's current index.
    low, high = int(city.households[0][0]), int(city.households[-1][0])
    sql, args = previous_query(q, low, high, model.version, as_of)
    previous = previous_from_rows(await q.fetch(sql, *args))
    standards = await load_standards()
    sqlite = is_sqlite(Household._meta.db)
    count = skipped = 0
    moved: list[int] = []
    pending: asyncio.Future[None] | None = None
    for start in range(0, len(city.households), chunk):
        part = LoadedCity(city.households[start : start + chunk], city.facts, city.facts_json, {})
        rows = score_rows(part, model, standards, now=now, trigger=trigger, sqlite=sqlite, previous=previous)
        count += rows.households
        skipped += rows.skipped
        moved += rows.moved
        if pending is not None:
            await pending
        pending = asyncio.ensure_future(_bulk_write(rows))
        await asyncio.sleep(0)  # let the write start in SQLite's thread before scoring the next chunk
    if pending is not None:
        await pending
    return BatchResult(count, skipped, int(city.households[-1][0])), moved
