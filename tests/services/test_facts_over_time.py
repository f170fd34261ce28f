"""Facts over time: edits close a version and open the next; the facts and index of any
past date are those stored then; the ranking as of a date uses that date's facts."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from relief_pwa.clock import local_date
from relief_pwa.core.intake import ItemDraft
from relief_pwa.core.life_events import RequestDraft
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.change_requests import do_decide_change, do_request_change
from relief_pwa.services.facts_history import items_on, members_on
from relief_pwa.services.household_edit import (
    HouseholdFields,
    do_add_item,
    do_add_member,
    do_remove_item,
    do_remove_member,
    do_update_household,
    do_update_member,
)
from relief_pwa.services.ranking import RankingQuery, list_ranking
from relief_pwa.services.scoring import index_on
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.tables import ChangeRequest, Household, IndexRecord, IndexSnapshot, Member, MoneyItem
from tests.factories import make_intake, member, new_id_number
from tests.helpers import found


@pytest.fixture()
async def scored(world: Any, now: Any) -> Any:
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    return world


async def _version(household_id: int) -> int:
    row = found(await Household.select(Household.version).where(Household.id == household_id).first())
    return int(row["version"])


def _day(start: datetime, days: int) -> datetime:
    return start + timedelta(days=days)


async def _approve(world: Any, household_id: int, draft: RequestDraft, when: datetime, **kwargs: Any) -> None:
    request_id = await do_request_change(world.actor("liaison"), household_id, draft, now=when, **kwargs)
    row = found(
        await ChangeRequest.select(ChangeRequest.version).where(ChangeRequest.id == request_id).first()
    )
    await do_decide_change(
        world.actor("center"), request_id, approve=True, reason="", expected_version=row["version"], now=when
    )


async def test_a_member_edit_closes_the_version_and_keeps_the_old_one(scored: Any, now: datetime) -> None:
    start = now - timedelta(days=30)
    intake = await make_intake(scored, members=[member("李四"), member("李小", relation="child")])
    hid = intake.household_id
    await Member.update({Member.valid_from: local_date(start)}).where(Member.household == hid)
    child = found(await Member.select().where((Member.household == hid) & (Member.name == "李小")).first())
    await do_update_member(
        scored.actor("station"),
        child["id"],
        member("李小", relation="child", id_number="", disability_grade="2"),
        expected_version=await _version(hid),
        now=now,
    )
    versions = await Member.select().where(Member.household == hid).order_by(Member.id)
    assert len(versions) == 3
    old, new = versions[1], versions[2]
    assert old["valid_to"] == local_date(now) and old["active"] is False
    assert old["disability_grade"] is None
    assert new["valid_from"] == local_date(now) and new["valid_to"] is None and new["active"] is True
    assert new["disability_grade"] == 2 and new["lineage"] == old["id"]
    yesterday = local_date(now) - timedelta(days=1)
    assert [m["disability_grade"] for m in await members_on(hid, yesterday)] == [None, None]
    assert sorted(str(m["disability_grade"]) for m in await members_on(hid, local_date(now))) == ["2", "None"]
    # The page of yesterday's version is stale: it cannot be edited any more.
    from relief_pwa.core.errors import Conflict

    with pytest.raises(Conflict):
        await do_update_member(
            scored.actor("station"),
            old["id"],
            member("李小", relation="child", id_number=""),
            expected_version=await _version(hid),
            now=now,
        )


async def test_facts_and_index_on_past_dates_equal_what_was_stored_then(scored: Any, now: datetime) -> None:
    """A household with a dozen changes over a year: every stored record is reproduced
    from the versions valid on its date."""
    start = now - timedelta(days=400)
    station = scored.actor("station")
    intake = await check_intake_at(scored, start)
    hid = intake
    steps: list[tuple[int, Any]] = []

    async def step(days: int, action: Any) -> None:
        when = _day(start, days)
        await action(when)
        steps.append((days, when))

    async def add_income(when: datetime, yuan: str) -> None:
        await do_add_item(
            station,
            hid,
            ItemDraft("income", "pension", "", "", yuan),
            expected_version=await _version(hid),
            now=when,
        )

    async def drop_first_income(when: datetime) -> None:
        item = found(
            await MoneyItem.select(MoneyItem.id)
            .where((MoneyItem.household == hid) & MoneyItem.active.eq(True) & (MoneyItem.section == "income"))
            .order_by(MoneyItem.id)
            .first()
        )
        await do_remove_item(
            station, item["id"], "收入已停止", expected_version=await _version(hid), now=when
        )

    async def add_child(when: datetime, name: str) -> None:
        await do_add_member(
            station,
            hid,
            member(name, relation="child", id_number=new_id_number(born=date(2012, 3, 4))),
            expected_version=await _version(hid),
            now=when,
        )

    async def set_illness(when: datetime, name: str, illness: str) -> None:
        row = found(await Member.select().where((Member.name == name) & Member.active.eq(True)).first())
        await do_update_member(
            station,
            row["id"],
            member(name, relation=row["relation"], id_number="", illness=illness),
            expected_version=await _version(hid),
            now=when,
        )

    async def set_housing(when: datetime, housing: str) -> None:
        await do_update_household(
            station,
            hid,
            HouseholdFields("解放路12号3单元201室", "urban", housing, "", ""),
            expected_version=await _version(hid),
            now=when,
        )

    async def child_leaves(when: datetime, name: str) -> None:
        row = found(
            await Member.select(Member.id).where((Member.name == name) & Member.active.eq(True)).first()
        )
        await do_remove_member(
            station, row["id"], "外出务工落户", expected_version=await _version(hid), now=when
        )

    async def expense(when: datetime, yuan: str) -> None:
        await do_add_item(
            station,
            hid,
            ItemDraft("expense", "medical", "", "", yuan),
            expected_version=await _version(hid),
            now=when,
        )

    await step(20, lambda w: add_income(w, "300"))
    await step(45, lambda w: add_child(w, "赵小一"))
    await step(70, lambda w: set_illness(w, "赵大", "serious"))
    await step(90, lambda w: expense(w, "8000"))
    await step(120, lambda w: drop_first_income(w))
    await step(150, lambda w: set_housing(w, "unsafe"))
    await step(180, lambda w: add_child(w, "赵小二"))
    await step(210, lambda w: add_income(w, "1500"))
    await step(240, lambda w: set_illness(w, "赵小一", "chronic"))
    await step(270, lambda w: child_leaves(w, "赵小二"))
    await step(300, lambda w: set_housing(w, "owned_adequate"))
    await step(330, lambda w: drop_first_income(w))
    # A death recorded late, dated back: the facts of day 350 on count it; earlier ones do not.
    elder = found(
        await Member.select(Member.id).where((Member.name == "赵小一") & Member.active.eq(True)).first()
    )
    await _approve(
        scored,
        hid,
        RequestDraft(
            kind="death",
            effective_on=local_date(_day(start, 350)).isoformat(),
            note="医院死亡证明",
            member_id=str(elder["id"]),
        ),
        _day(start, 380),
    )

    records = await IndexRecord.select().where(IndexRecord.household == hid).order_by(IndexRecord.id)
    last_per_day: dict[date, dict[str, Any]] = {}
    for record in records:
        last_per_day[record["as_of"]] = record
    assert len(last_per_day) >= 13
    for day, record in last_per_day.items():
        if day >= local_date(_day(start, 350)):
            continue  # recorded before the back-dated death was known
        recomputed = await index_on(hid, day, now=now)
        breakdown = found(recomputed.breakdown)
        assert breakdown.total == Decimal(record["total"]), day
        stored = json.loads(
            found(
                await IndexSnapshot.select().where(IndexSnapshot.digest == record["snapshot_digest"]).first()
            )["body"]
        )
        assert recomputed.facts.to_dict()["members"] == stored["facts"]["members"], day
        assert recomputed.facts.to_dict()["incomes"] == stored["facts"]["incomes"], day
        assert recomputed.facts.to_dict()["expenses"] == stored["facts"]["expenses"], day
        assert recomputed.facts.to_dict()["housing"] == stored["facts"]["housing"], day
    # The back-dated death: counted from its date, not before.
    before_death = local_date(_day(start, 349))
    after_death = local_date(_day(start, 351))
    assert "赵小一" in {m["name"] for m in await members_on(hid, before_death)}
    assert "赵小一" not in {m["name"] for m in await members_on(hid, after_death)}
    assert len(await items_on(hid, after_death)) >= 1


async def check_intake_at(world: Any, when: datetime) -> int:
    """An intake taken on ``when`` (its rows valid from that day)."""
    from relief_pwa.services.intake import check_and_create_intake
    from tests.factories import intake_draft

    draft = intake_draft(
        world.units["370102001001"],
        members=[member("赵大")],
        items=[ItemDraft("income", "wages", "0", "", "600")],
    )
    result = await check_and_create_intake(world.actor("station"), draft, now=when)
    return result.household_id


async def test_the_ranking_as_of_a_date_uses_the_facts_of_that_date(scored: Any, now: datetime) -> None:
    start = now - timedelta(days=60)
    first = await check_intake_at(scored, start)
    second = await check_intake_at(scored, start)
    station = scored.actor("station")
    # A late report: the first household had a large income since day 10, recorded on day 40.
    await do_add_item(
        station,
        first,
        ItemDraft("income", "wages", "", "", "3000"),
        expected_version=await _version(first),
        now=_day(start, 40),
    )
    await MoneyItem.update({MoneyItem.valid_from: local_date(_day(start, 10))}).where(
        (MoneyItem.household == first) & (MoneyItem.declared_fen == 300000)
    )
    day = local_date(_day(start, 20))
    page = await list_ranking(scored.actor("station"), RankingQuery(as_of=day.isoformat()), now=now)
    by_household = {row.household_id: row for row in page.rows}
    expected_first = found((await index_on(first, day, now=now)).breakdown).total
    assert by_household[first].index == expected_first
    assert by_household[first].index < by_household[second].index
    assert [row.household_id for row in page.rows] == [second, first]


async def test_a_value_verified_later_is_read_back_from_the_verification_history(
    scored: Any, now: datetime
) -> None:
    from relief_pwa.core.fieldwork import VerificationSource
    from relief_pwa.db import write_transaction
    from relief_pwa.services.ledger import VerifiedValue, record_verifications
    from relief_pwa.services.scoring import totals_on
    from relief_pwa.tables import Visit

    start = now - timedelta(days=40)
    hid = await check_intake_at(scored, start)
    item = found(await MoneyItem.select().where(MoneyItem.household == hid).first())
    station = scored.actor("station")
    household = found(await Household.select().where(Household.id == hid).first())

    async def verify(fen: int, when: datetime) -> None:
        visit = Visit(
            household=hid,
            org_path=household["org_path"],
            kind="home",
            scheduled_for=local_date(when),
            status="done",
            created_at=when,
        )
        await visit.save()
        async with write_transaction(Household._meta.db):
            await record_verifications(
                station,
                household,
                [VerifiedValue(item["id"], fen)],
                visit_id=visit.id,
                source=VerificationSource.HOME_VISIT,
                now=when,
            )

    await verify(150000, _day(start, 10))
    await verify(40000, _day(start, 30))
    days = [local_date(_day(start, n)) for n in (5, 20, 35)]
    incomes = [(await index_on(hid, day, now=now)).facts.incomes[0].verified_fen for day in days]
    assert incomes == [None, 150000, 40000]
    # The bulk loader of the ranking reads the same history.
    for day in days:
        single = found((await index_on(hid, day, now=now)).breakdown).total
        assert (await totals_on([hid], day, now=now))[hid] == single
    # And the stored records of those days are reproduced.
    for record in await IndexRecord.select().where(IndexRecord.household == hid):
        assert found((await index_on(hid, record["as_of"], now=now)).breakdown).total == Decimal(
            record["total"]
        )
