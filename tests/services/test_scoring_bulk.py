"""The bulk path (model activation, benchmarks) computes and stores exactly what the single path does."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from relief_pwa.core.facts import select_standard
from relief_pwa.core.intake import ItemDraft
from relief_pwa.core.scoring import FACTOR_CODES, compute_points
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.bulk_scoring import Lookback, breakdown_json, local_date
from relief_pwa.services.scoring import (
    check_recompute,
    do_record_external_aid,
    do_record_shock,
    get_active_model,
    load_facts_bulk,
    load_household_facts,
    rescore_all,
    score_in_memory,
    snapshot_json,
    worker_spans,
)
from relief_pwa.services.standards import do_seed_standards, load_standards
from relief_pwa.tables import AidRecord, Household, HouseholdRank, IndexRecord, IndexSnapshot
from tests.factories import make_intake, member, new_id_number


async def test_bulk_facts_and_snapshot_equal_the_single_path(world: Any, now: Any) -> None:
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    from datetime import date

    made = [
        await make_intake(world),
        await make_intake(
            world,
            community="370102002001",
            username="center",
            housing="unsafe",
            members=[
                member(disability_grade="2", illness="serious"),
                member("李小", "child", id_number=new_id_number(date(2016, 1, 2)), schooling="primary"),
            ],
            items=[
                ItemDraft("income", "pension", "0", "", "320.5"),
                ItemDraft("asset", "deposits", "", "", "5000"),
                ItemDraft("expense", "medical", "", "住院", "12000"),
                ItemDraft("expense", "education", "", "", "800"),
            ],
        ),
        await make_intake(
            world, items=[ItemDraft("asset", "vehicle", "", "", "100")]
        ),  # no income: provisional
    ]
    station = world.actor("center")
    await do_record_shock(
        station,
        made[1].household_id,
        kind="disaster",
        occurred_on=now.date() - timedelta(days=20),
        note="",
        now=now,
    )
    await do_record_external_aid(
        station, made[1].household_id, value_fen=123_456, received_on=now.date(), note="慈善", now=now
    )
    model = await get_active_model(now=now)
    as_of = local_date(now)
    lookback = Lookback.for_models([model], as_of)
    city = await load_facts_bulk(as_of=as_of, lookback=lookback)
    assert set(city.facts) == {m.household_id for m in made}
    for result in made:
        single, _row, first = await load_household_facts(result.household_id, as_of, lookback)
        assert city.facts[result.household_id] == single
        assert json.loads(city.facts_json[result.household_id]) == single.to_dict()
        assert city.first_applied[result.household_id] == first


async def test_rescore_all_stores_reproducible_records(world: Any, now: Any) -> None:
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    made = [await make_intake(world) for _ in range(3)]
    model = await get_active_model(now=now)
    later = now + timedelta(days=1)
    # The city's first scoring: no record yet (a day later, the intakes' records would still
    # say the same, and no copy of them is stored).
    await _never_scored()
    result = await rescore_all(model, now=later, trigger="bench", chunk=2)
    assert result.count == 3 and result.skipped == 0
    for household in made:
        record = (
            await IndexRecord.select()
            .where((IndexRecord.household == household.household_id) & (IndexRecord.trigger == "bench"))
            .first()
        )
        assert record is not None
        check = await check_recompute(record["id"])
        assert check.matches
        points = json.loads(record["breakdown"])["points"]
        assert list(points) == list(FACTOR_CODES)
        assert sum(Decimal(v) for v in points.values()) == check.recomputed_total


def test_breakdown_json_is_valid_json() -> None:
    from datetime import date

    from relief_pwa.core.enums import AreaType
    from relief_pwa.core.facts import JINAN_DEMO_STANDARDS, HouseholdFacts
    from relief_pwa.core.scoring import DEFAULT_MODEL

    standard = JINAN_DEMO_STANDARDS[2]
    facts = HouseholdFacts(1, "x", AreaType.URBAN, standard.district_code, None)
    points = compute_points(facts, standard, DEFAULT_MODEL, date(2026, 1, 1))
    data = json.loads(breakdown_json(points))
    assert data["missing"] == list(points.missing) and data["points"] == points.points_by_factor()


async def _never_scored() -> None:
    """Every household as before its first scoring: no record, no current index."""
    await IndexRecord.delete(force=True)
    await Household.update({
        Household.current_index: None, Household.index_digest: None, Household.index_model_version: None,
        Household.index_holds_from: None, Household.index_holds_until: None,
    }, force=True)  # fmt: skip


async def _bench_records(trigger: str) -> dict[int, dict[str, Any]]:
    rows = await IndexRecord.select().where(IndexRecord.trigger == trigger)
    return {row["household"]: row for row in rows}


async def _stored_ranks() -> list[tuple[Any, ...]]:
    """Each stored row's partition and key, sorted: the ranking order of every partition."""
    return sorted(
        (r["scope"], r["category"], r["neg_centi"], r["first_applied"], r["file_no"], r["household"])
        for r in await HouseholdRank.select()
    )


async def test_worker_processes_store_what_one_process_stores(world: Any, now: Any) -> None:
    """The forked workers (SQLite, or PostgreSQL on an exported snapshot) read, score and
    spell snapshots exactly as the in-process path does, free text escaped as json.dumps does, and the text
    equals the single-household path's snapshot (so unchanged facts are recognised)."""
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    made = [
        await make_intake(world, items=[ItemDraft("income", "wages", "0", "", str(300 + 10 * n))])
        for n in range(5)
    ]
    await do_record_external_aid(
        world.actor("center"),
        made[0].household_id,
        value_fen=5_000,
        received_on=now.date(),
        note="街道慈善",
        now=now,
    )
    tricky = 'say "hi" \\ \n\t 慈善\x01'
    await AidRecord.update({AidRecord.source: tricky}).where(AidRecord.household == made[0].household_id)
    model = await get_active_model(now=now)
    later = now + timedelta(days=1)

    await _never_scored()  # a first scoring: every household gets its record
    alone = await rescore_all(model, now=later, trigger="alone", chunk=2)
    ranks_alone = await _stored_ranks()
    by_one = await _bench_records("alone")
    assert len(by_one) == 5
    # Without any record the workers must write all five again.
    await _never_scored()
    stored_snapshots, stored_records = await IndexSnapshot.count(), await IndexRecord.count()
    forked = await rescore_all(model, now=later, trigger="forked", chunk=1, workers=2)
    # The same ranks after either (every scope, both categories).
    assert await _stored_ranks() == ranks_alone and len(ranks_alone) >= 5 * 4
    # nothing changed: five new records, and their inputs are the snapshots already stored
    assert await IndexRecord.count() == stored_records + 5
    assert await IndexSnapshot.count() == stored_snapshots

    assert (forked.count, forked.skipped) == (alone.count, alone.skipped) == (5, 0)
    by_workers = await _bench_records("forked")
    compared = (
        "org_path",
        "as_of",
        "model_version",
        "total",
        "provisional",
        "snapshot_digest",
        "breakdown",
        "categories",
    )
    for household in made:
        one, other = by_one[household.household_id], by_workers[household.household_id]
        assert {k: one[k] for k in compared} == {k: other[k] for k in compared}
    as_of = local_date(later)
    facts, _row, _first = await load_household_facts(
        made[0].household_id, as_of, Lookback.for_models([model], as_of)
    )
    assert facts.aid[0].source == tricky
    standard = select_standard(await load_standards(), facts.district_code, facts.area_type, as_of)
    stored = await IndexSnapshot.select(IndexSnapshot.body).where(
        IndexSnapshot.digest == by_workers[made[0].household_id]["snapshot_digest"]
    )
    assert [row["body"] for row in stored] == [snapshot_json(facts, standard)]
    current = await Household.select(Household.id, Household.current_index).where(
        Household.id.is_in([m.household_id for m in made])
    )
    assert {r["id"]: Decimal(r["current_index"]) for r in current} == {
        hid: Decimal(row["total"]) for hid, row in by_workers.items()
    }


async def test_the_parent_holds_a_bounded_number_of_spans(
    world: Any, now: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many spans the city splits into, at most two per worker are out at once
    (the parent's memory does not grow with the city), and every span is written."""
    from concurrent.futures import Future, ProcessPoolExecutor

    from relief_pwa.services import scoring

    submitted: list[Future[Any]] = []
    most = [0]

    class CountingPool(ProcessPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            # Counted in the caller's thread only: this span and those not finished yet.
            most[0] = max(most[0], 1 + sum(not earlier.done() for earlier in submitted))
            submitted.append(super().submit(fn, *args, **kwargs))
            return submitted[-1]

    monkeypatch.setattr(scoring, "ProcessPoolExecutor", CountingPool)
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    made = [
        await make_intake(world, items=[ItemDraft("income", "wages", "0", "", str(200 + 50 * n))])
        for n in range(7)
    ]
    model = await get_active_model(now=now)
    later = now + timedelta(days=1)
    await _never_scored()  # a first scoring: every household gets its record
    result = await rescore_all(model, now=later, trigger="bounded", chunk=1, workers=1)
    assert result.count == 7
    assert set(await _bench_records("bounded")) == {m.household_id for m in made}
    assert len(submitted) == 7  # seven spans of one household, one worker
    assert 1 <= most[0] <= 2


@pytest.mark.engine_free
@pytest.mark.parametrize(
    ("first_id", "last_id", "count", "chunk", "workers"),
    [(1, 60_000, 52_202, 5_000, 2), (7, 7, 1, 5_000, 2), (1, 100, 100, 30, 3), (5, 1_000, 400, 5_000, 4)],
)
def test_worker_spans_cover_every_id_once_in_a_multiple_of_the_workers(
    first_id, last_id, count, chunk, workers
):
    spans = worker_spans(first_id, last_id, count, chunk=chunk, workers=workers)
    covered = [i for low, high in spans for i in range(low, high + 1)]
    assert covered == list(range(first_id, last_id + 1))
    if last_id - first_id + 1 >= workers:
        assert len(spans) % workers == 0 or len(spans) == last_id - first_id + 1
    assert len(worker_spans(1, 60_000, 52_202, chunk=5_000, workers=2)) == 12  # 11 would leave one alone
    assert len(worker_spans(1, 60_000, 60_000, chunk=5_000, workers=2)) == 12


@pytest.mark.parametrize("workers", [0, 2])
async def test_a_new_day_computes_only_the_results_that_may_have_moved(
    world: Any, now: Any, workers: int
) -> None:
    """On a later day a household whose facts are those of its latest record, inside the days
    its result holds (core.scoring.points_hold_until), gets no record and no update; on the day
    a member turns 16 that household alone is computed and gets its new index, which equals a
    computation from scratch; a shock's household is computed every day while it decays."""
    from datetime import date

    await do_seed_standards(SYSTEM_ACTOR, now=now)
    today = local_date(now)
    turns_on = today + timedelta(days=3)
    heads_turn_60 = date(2040, 5, 17)

    def head() -> Any:
        return member(id_number=new_id_number(date(1980, 5, 17)))

    adult = await make_intake(world, members=[head()])
    child = await make_intake(
        world,
        members=[
            head(),
            member(
                "李小",
                "child",
                id_number=new_id_number(date(turns_on.year - 16, turns_on.month, turns_on.day)),
            ),
        ],
    )
    shocked = await make_intake(world, community="370102002001", username="center")
    await do_record_shock(
        world.actor("center"), shocked.household_id, kind="disaster",
        occurred_on=today - timedelta(days=2), note="", now=now,
    )  # fmt: skip
    ids = [adult.household_id, child.household_id, shocked.household_id]
    model = await get_active_model(now=now)

    async def households() -> dict[int, dict[str, Any]]:
        rows = await Household.select().where(Household.id.is_in(ids))
        return {row["id"]: row for row in rows}

    async def rescore_on(day: int, trigger: str) -> tuple[dict[int, dict[str, Any]], set[int]]:
        before = await households()
        moment = now + timedelta(days=day)
        await rescore_all(model, now=moment, trigger=trigger, workers=workers, chunk=1)
        after = await households()
        written = {r["household"] for r in await IndexRecord.select().where(IndexRecord.trigger == trigger)}
        # What computing every household from scratch gives on that day.
        [fresh], _ = await score_in_memory([model], now=moment)
        assert {hid: Decimal(after[hid]["current_index"]) for hid in ids} == {hid: fresh[hid] for hid in ids}
        return {hid: row for hid, row in after.items() if row != before[hid]}, written

    holds = await households()
    assert holds[adult.household_id]["index_holds_until"] == heads_turn_60
    assert holds[child.household_id]["index_holds_until"] == turns_on
    assert holds[shocked.household_id]["index_holds_until"] == today + timedelta(days=1)

    updated, written = await rescore_on(1, "day one")
    assert written == {shocked.household_id}  # its points fell by a day's decay
    assert set(updated) == {shocked.household_id}
    updated, written = await rescore_on(2, "day two")
    assert set(updated) == {shocked.household_id}

    updated, written = await rescore_on(3, "turns 16")
    assert child.household_id in written and adult.household_id not in written
    assert set(updated) - {shocked.household_id} == {child.household_id}
    row = updated[child.household_id]
    assert row["index_holds_from"] == turns_on
    assert row["index_holds_until"] == heads_turn_60
    assert row["current_index"] != holds[child.household_id]["current_index"]
