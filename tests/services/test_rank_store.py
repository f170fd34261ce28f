"""Stored ranks (services/rank_store.py) stay equal to ranking every household afresh."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from relief_pwa.core.intake import ItemDraft
from relief_pwa.db import write_transaction
from relief_pwa.services import rank_store
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.applications import do_transition
from relief_pwa.services.bulk_scoring import local_date
from relief_pwa.services.ranking import RankingQuery, list_ranking, ranked_keys
from relief_pwa.services.scoring import do_record_external_aid, do_record_shock, get_active_model, rescore_all
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.tables import Household, HouseholdRank, HouseholdRankTally, IndexRecord, MoneyItem
from tests.factories import make_intake


async def _stored() -> dict[tuple[str, str], list[int]]:
    """The stored rows of each (scope, category) in key order; its tally must count them."""
    rows = await HouseholdRank.select().order_by(
        HouseholdRank.neg_centi, HouseholdRank.first_applied, HouseholdRank.file_no, HouseholdRank.household
    )
    stored: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        stored.setdefault((r["scope"], r["category"]), []).append(r["household"])
    tallies = {(t["scope"], t["category"]): t["size"] for t in await HouseholdRankTally.select() if t["size"]}
    assert tallies == {partition: len(hids) for partition, hids in stored.items()}
    return stored


async def _fresh() -> dict[tuple[str, str], list[int]]:
    """What ranking every household afresh gives, in every stored scope and category."""
    wanted: dict[tuple[str, str], list[int]] = {}
    paths = {r["id"]: r["org_path"] for r in await Household.select(Household.id, Household.org_path)}
    scopes = {scope for path in paths.values() for scope in rank_store.scopes_of(path)}
    for scope in sorted(scopes):
        for category in ("", "dibao", "medical", "tekun"):
            keys = await ranked_keys(scope, category)
            if keys:
                wanted[(scope, category)] = [key[3] for key in keys]
    return wanted


async def test_recompute_transitions_and_bulk_rescore_keep_ranks_exact(world: Any, now: Any) -> None:
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    made = []
    for income, community, category in (
        ("300", "370102001001", "dibao"),
        ("300", "370102001002", "dibao"),
        ("800", "370102002001", "medical"),
        ("0", "370102001001", "dibao"),
        ("450", "370103002001", "dibao"),
        ("300", "370102001001", "medical"),
    ):
        username = "center_b" if community.startswith("370103") else "center"
        made.append(
            await make_intake(
                world,
                username=username,
                community=community,
                items=[ItemDraft("income", "wages", "0", "", str(income))],
                category=category,
            )
        )
    assert await _stored() == await _fresh()
    # An index moves (a shock): only its own rows change.
    await do_record_shock(
        world.actor("liaison"),
        made[0].household_id,
        kind="accident",
        occurred_on=now.date(),
        note="",
        now=now,
    )
    assert await _stored() == await _fresh()
    await do_transition(world.actor("station"), made[1].application_id, "start_investigation", now=now)
    assert await _stored() == await _fresh()
    # The bulk rescore stores everything afresh, and agrees with the single moves.
    before = await _stored()
    await rescore_all(await get_active_model(now=now), now=now, trigger="test")
    assert await _stored() == before == await _fresh()


async def test_sync_moves_match_a_rebuild(world: Any, now: Any) -> None:
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    made = [
        await make_intake(world, items=[ItemDraft("income", "wages", "0", "", str(income))])
        for income in ("100", "900", "500", "300", "700")
    ]
    ids = [m.household_id for m in made]
    for hid, index in zip(ids, ("10.00", "95.50", "10.00", "42.00", "70.25"), strict=True):
        await Household.update({Household.current_index: index}).where(Household.id == hid)
        async with write_transaction(Household._meta.db):
            await rank_store.sync_households([hid])
        synced = await _stored()
        async with write_transaction(Household._meta.db):
            await rank_store.rebuild_all()
        assert synced == await _stored() == await _fresh()
    # Closing a file takes it out of every scope.
    await Household.update({Household.is_open: False}).where(Household.id == ids[1])
    async with write_transaction(Household._meta.db):
        await rank_store.sync_households([ids[1]])
    assert all(ids[1] not in hids for hids in (await _stored()).values())
    assert await _stored() == await _fresh()


async def test_the_page_reads_stored_ranks_with_movement(world: Any, now: Any) -> None:
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    for income in ("300", "800", "0", "450"):
        await make_intake(world, items=[ItemDraft("income", "wages", "0", "", income)])
    page = await list_ranking(world.actor("station"), RankingQuery(), now=now)
    keys = await ranked_keys(world.actor("station").org_path)
    assert [r.household_id for r in page.rows] == [k[3] for k in keys]
    assert [r.rank for r in page.rows] == [1, 2, 3, 4] and page.total == 4
    # A page the stored ranks do not hold (past the end) falls back to the last one.
    late = await list_ranking(world.actor("station"), RankingQuery(page=9), now=now)
    assert late.page == 1 and len(late.rows) == 4


async def test_the_postgresql_rebuild_leaves_the_transaction_as_it_found_it(world: Any, now: Any) -> None:
    """It plans with nested loops off (stale statistics made one run for minutes) and sets
    them back: the rest of the caller's transaction plans as usual."""
    from relief_pwa.piccolo_conf import DB

    if DB.engine_type != "postgres":
        pytest.skip("PostgreSQL's rebuild (SQLite sorts in Python)")
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    await make_intake(world, items=[ItemDraft("income", "wages", "0", "", "300")])
    async with write_transaction(DB):
        written = await rank_store.rebuild_all()
        transaction = DB.current_transaction.get()
        assert transaction is not None
        settings = await transaction.connection.fetchrow(
            "SELECT current_setting('enable_nestloop'), current_setting('jit'), current_setting('work_mem')"
        )
        indexes = await transaction.connection.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'household_rank'"
        )
        primary_key = await transaction.connection.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'household_rank'::regclass AND contype = 'p'"
        )
    assert written == await HouseholdRank.count() > 0
    assert settings[0] == "on" and settings[2] != "64MB"
    assert indexes == 3  # the key and household indexes rebuilt, and the primary key
    assert primary_key == "PRIMARY KEY (id)"  # dropped for the filling, and back


async def test_several_households_moved_at_once_keep_ranks_exact(world: Any, now: Any) -> None:
    """A batch sync replaces the rows of every given household that moved, past each other,
    and leaves every other household's rows as they were."""
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    made = [
        await make_intake(world, items=[ItemDraft("income", "wages", "0", "", str(income))])
        for income in ("100", "900", "500", "300", "700", "200")
    ]
    ids = [m.household_id for m in made]
    for hid, index in zip(ids, ("10.00", "20.00", "30.00", "40.00", "50.00", "60.00"), strict=True):
        await Household.update({Household.current_index: index}).where(Household.id == hid)
    async with write_transaction(Household._meta.db):
        await rank_store.rebuild_all()
    # The bottom three jump over the top three, in one call.
    for hid, index in zip(ids[:3], ("90.00", "80.00", "70.00"), strict=True):
        await Household.update({Household.current_index: index}).where(Household.id == hid)
    untouched = {
        r["id"]
        for r in await HouseholdRank.select(HouseholdRank.id).where(HouseholdRank.household.is_in(ids[3:]))
    }
    async with write_transaction(Household._meta.db):
        await rank_store.sync_households(ids)
    assert await _stored() == await _fresh()
    assert untouched == {
        r["id"]
        for r in await HouseholdRank.select(HouseholdRank.id).where(HouseholdRank.household.is_in(ids[3:]))
    }


async def _indexes() -> dict[int, Any]:
    return {
        r["id"]: r["current_index"] for r in await Household.select(Household.id, Household.current_index)
    }


@pytest.mark.parametrize("workers", [0, 2])
async def test_a_rescore_writes_only_what_changed_and_ranks_stay_exact(
    world: Any, now: Any, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Facts unchanged (same model, same day): no record, no update, no rank rows; another
    day with the same result: no record either. Facts changed behind the recompute's back:
    records for those households only, and the stored ranks exact again, whether those
    households' rows are replaced or the whole table is written afresh."""
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    made = [
        await make_intake(world, items=[ItemDraft("income", "wages", "0", "", str(income))])
        for income in ("100", "900", "500", "300", "700")
    ]
    ids = [m.household_id for m in made]
    model = await get_active_model(now=now)
    later = now + timedelta(minutes=5)  # the same local day as the intakes' scoring
    assert local_date(later) == local_date(now)
    first = await rescore_all(model, now=later, trigger="again", workers=workers)
    assert first.count == 5
    assert await IndexRecord.count().where(IndexRecord.trigger == "again") == 0
    assert await _stored() == await _fresh()

    async def change(hid: int, fen: int) -> None:
        # Straight into the table: no hook recomputes, so the stored rank goes stale.
        await MoneyItem.update({MoneyItem.verified_fen: fen, MoneyItem.declared_fen: fen}).where(
            (MoneyItem.household == hid) & (MoneyItem.section == "income")
        )

    await change(ids[0], 0)
    await change(ids[2], 9_000_000)
    # Latest records of another day, whose result held only until today: one that says what
    # today's scoring gives gets no copy (only the days it holds move); one whose breakdown
    # differs (its total the same) gets a new record.
    yesterday = local_date(now) - timedelta(days=1)
    await IndexRecord.update({IndexRecord.as_of: yesterday}).where(
        IndexRecord.household.is_in([ids[1], ids[3]])
    )
    await Household.update(
        {Household.index_holds_from: yesterday, Household.index_holds_until: local_date(now)}
    ).where(Household.id.is_in([ids[1], ids[3]]))
    await IndexRecord.update({IndexRecord.breakdown: '{"points":{}}'}).where(IndexRecord.household == ids[1])
    before = await _indexes()
    result = await rescore_all(model, now=later, trigger="changed", workers=workers)
    assert result.count == 5
    written = {r["household"] for r in await IndexRecord.select().where(IndexRecord.trigger == "changed")}
    assert written == {ids[0], ids[1], ids[2]}
    after = await _indexes()
    assert {hid for hid in ids if after[hid] != before[hid]} == {ids[0], ids[2]}
    renewed = await Household.select(Household.index_holds_from).where(Household.id == ids[3]).first()
    assert renewed is not None and renewed["index_holds_from"] == local_date(now)
    assert await _stored() == await _fresh()

    # Beyond the sync limit the whole table is written afresh: still exact.
    monkeypatch.setattr(rank_store, "SYNC_LIMIT", 0)
    await change(ids[0], 50_000)
    await change(ids[4], 0)
    await rescore_all(model, now=later, trigger="many", workers=workers)
    assert {r["household"] for r in await IndexRecord.select().where(IndexRecord.trigger == "many")} == {
        ids[0],
        ids[4],
    }
    assert await _stored() == await _fresh()


async def test_every_page_counts_its_ranks_and_movement_like_ranking_afresh(
    world: Any, now: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ranks of a page are counted from the rows before it, whether reached by Next, by
    Previous or by number, and each row's previous rank is its place by its previous index
    among the households as they stand now — what ranking every household afresh gives."""
    import bisect

    from relief_pwa.services import ranking

    monkeypatch.setattr(ranking, "PAGE_SIZE", 3)
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    made = [
        await make_intake(world, items=[ItemDraft("income", "wages", "0", "", str(income))])
        for income in ("100", "900", "500", "300", "700", "200", "650", "50")
    ]
    liaison = world.actor("liaison")
    for position in (0, 3, 6):  # three households move up (a second record each)
        household_id = made[position].household_id
        await do_record_shock(
            liaison, household_id, kind="accident", occurred_on=now.date(), note="", now=now
        )
    for position in (7, 5):  # and the top two move down, past pages that follow theirs
        household_id = made[position].household_id
        await do_record_external_aid(
            liaison,
            household_id,
            value_fen=3_000_000,
            received_on=now.date(),
            note="慰问金",
            reference="",
            now=now,
        )
    station = world.actor("station")
    keys = await ranked_keys(station.org_path)
    assert len(keys) == 8

    def expected_previous_rank(row: Any) -> int | None:
        if row.previous_index is None:
            return None
        key = next(k for k in keys if k[3] == row.household_id)
        previous_key = (-int(row.previous_index * 100), key[1], key[2], key[3])
        ahead = bisect.bisect_left(keys, previous_key) - (1 if key < previous_key else 0)
        return ahead + 1

    by_next: list[Any] = []
    page = await list_ranking(station, RankingQuery(), now=now)
    while True:
        by_next.append(page)
        if not page.has_next:
            break
        page = await list_ranking(station, RankingQuery(after=page.rows[-1].cursor), now=now)
    rows = [row for p in by_next for row in p.rows]
    assert [row.household_id for row in rows] == [k[3] for k in keys]
    assert [row.rank for row in rows] == list(range(1, 9))
    assert [p.page for p in by_next] == [1, 2, 3] and all(p.total == 8 for p in by_next)
    moved = [row for row in rows if row.previous_rank is not None]
    assert len(moved) == 5
    assert any(row.movement > 0 for row in moved) and any(row.movement < 0 for row in moved)
    assert [row.previous_rank for row in rows] == [expected_previous_rank(row) for row in rows]
    for number, shown in enumerate(by_next, start=1):
        jumped = await list_ranking(station, RankingQuery(page=number), now=now)
        assert jumped.rows == shown.rows and jumped.page == number
    back = await list_ranking(station, RankingQuery(before=by_next[2].rows[0].cursor), now=now)
    assert back.rows == by_next[1].rows and back.page == 2


async def test_counts_between_keys_match_the_stored_keys(world: Any, now: Any) -> None:
    """The rows between two keys, counted the way the page counts them, equal counting the
    stored keys: within one index in hundredths and across several, ties included, with
    keys that no household holds."""
    from itertools import combinations

    from relief_pwa.services import ranking
    from relief_pwa.services.scoring import RawSql

    await do_seed_standards(SYSTEM_ACTOR, now=now)
    made = [await make_intake(world, items=[ItemDraft("income", "wages", "0", "", "300")]) for _ in range(6)]
    for made_one, index in zip(made, ("10.00", "10.00", "10.00", "20.00", "30.00", "30.00"), strict=True):
        await Household.update({Household.current_index: index}).where(Household.id == made_one.household_id)
    async with write_transaction(Household._meta.db):
        await rank_store.rebuild_all()
    scope = world.actor("station").org_path
    keys = await ranked_keys(scope)
    assert len(keys) == 6
    probes = sorted(
        {*keys, (-3000, "0000", "", 0), (-2000, "9999", "", 0), (-1000, "0000", "", 0), (0, "", "", 0)}
    )
    intervals = list(combinations(probes, 2))
    counted = await ranking._interval_counts(RawSql(), scope, "", intervals)
    assert counted == [sum(1 for key in keys if low <= key < high) for low, high in intervals]
