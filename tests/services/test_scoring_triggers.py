"""The relief index follows every change of a household, in the same transaction."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from relief_pwa.core.errors import PermissionDenied, ValidationFailed
from relief_pwa.core.intake import ItemDraft
from relief_pwa.db import write_transaction
from relief_pwa.services import hooks
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.applications import do_transition
from relief_pwa.services.bulk_scoring import snapshot_digest
from relief_pwa.services.scoring import (
    add_aid_record,
    check_recompute,
    do_recompute_household,
    do_record_external_aid,
    do_record_shock,
    get_applicant_explanation,
    get_index_view,
)
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.tables import AuditEvent, Household, IndexRecord, IndexSnapshot, MoneyItem, ScoringModel
from tests.factories import make_intake, member, new_id_number


@pytest.fixture()
async def scored(world: Any, now: Any) -> Any:
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    return world


async def _household(household_id: int) -> dict[str, Any]:
    row = await Household.select().where(Household.id == household_id).first()
    assert row is not None
    return row


async def _records(household_id: int) -> list[dict[str, Any]]:
    return await IndexRecord.select().where(IndexRecord.household == household_id).order_by(IndexRecord.id)


async def test_intake_computes_the_index_and_stores_v1(scored: Any) -> None:
    result = await make_intake(scored)
    household = await _household(result.household_id)
    records = await _records(result.household_id)
    assert len(records) == 1
    record = records[0]
    assert record["trigger"] == "intake"
    assert record["model_version"] == "v1"
    assert record["categories"] == ",dibao,"
    assert Decimal(household["current_index"]) == Decimal(record["total"])
    assert household["index_provisional"] is False
    assert household["index_computed_at"] is not None
    model = await ScoringModel.select().where(ScoringModel.status == "active").first()
    assert model is not None and model["version"] == "v1"
    # The default model's activation is itself audited.
    assert await AuditEvent.exists().where(AuditEvent.action == "scoring_model.activate")


async def test_snapshot_round_trip_reproduces_the_total(scored: Any) -> None:
    result = await make_intake(
        scored,
        members=[
            member(disability_grade="2"),
            member("李四", "child", id_number=new_id_number(date(2015, 3, 1)), schooling="primary"),
        ],
        items=[
            ItemDraft("income", "wages", "0", "", "450"),
            ItemDraft("asset", "deposits", "", "", "30000"),
            ItemDraft("expense", "medical", "", "", "8000"),
        ],
    )
    record = (await _records(result.household_id))[0]
    check = await check_recompute(record["id"])
    assert check.matches
    assert check.recomputed_total == Decimal(record["total"]).quantize(Decimal("0.01"))
    stored = await IndexSnapshot.select().where(IndexSnapshot.digest == record["snapshot_digest"]).first()
    assert stored is not None and snapshot_digest(stored["body"]) == record["snapshot_digest"]
    snapshot = json.loads(stored["body"])
    assert snapshot["standard"]["district_code"] == "370102"
    assert len(snapshot["facts"]["members"]) == 2
    assert (
        sum(Decimal(p) for p in json.loads(record["breakdown"])["points"].values()) == check.recomputed_total
    )


async def test_verified_value_change_recomputes(scored: Any, now: Any) -> None:
    result = await make_intake(scored, items=[ItemDraft("income", "wages", "0", "", "600")])
    before = Decimal((await _household(result.household_id))["current_index"])
    item = await MoneyItem.select().where(MoneyItem.household == result.household_id).first()
    assert item is not None
    # What the verification service does: write the verified value, then fire the hook.
    async with write_transaction(MoneyItem._meta.db):
        await MoneyItem.update({MoneyItem.verified_fen: 20000, MoneyItem.verified_at: now}).where(
            MoneyItem.id == item["id"]
        )
        await hooks.household_changed(result.household_id, trigger="verification", now=now)
    after = Decimal((await _household(result.household_id))["current_index"])
    assert after > before  # verified income 200 < declared 600: larger gap
    records = await _records(result.household_id)
    assert [r["trigger"] for r in records] == ["intake", "verification"]


async def test_aid_received_lowers_the_index(scored: Any, now: Any) -> None:
    result = await make_intake(scored)
    before = Decimal((await _household(result.household_id))["current_index"])
    await do_record_external_aid(
        scored.actor("station"),
        result.household_id,
        value_fen=300_000,
        received_on=now.date(),
        note="区慈善总会 春节慰问金",
        reference="CS-2026-001",
        now=now,
    )
    after = Decimal((await _household(result.household_id))["current_index"])
    assert after < before
    assert (await _records(result.household_id))[-1]["trigger"] == "aid.external"
    assert await AuditEvent.exists().where(AuditEvent.action == "aid.record_external")
    # The same reference twice is refused, and nothing is lost or counted twice.
    with pytest.raises(Exception, match="already recorded"):
        await do_record_external_aid(
            scored.actor("station"),
            result.household_id,
            value_fen=300_000,
            received_on=now.date(),
            note="again",
            reference="CS-2026-001",
            now=now,
        )
    # Payments use add_aid_record with a unique reference: retries are no-ops.
    async with write_transaction(Household._meta.db):
        first = await add_aid_record(
            result.household_id,
            value_fen=50_000,
            received_on=now.date(),
            source="payment",
            reference="payment:L1",
            note="",
            now=now,
        )
        second = await add_aid_record(
            result.household_id,
            value_fen=50_000,
            received_on=now.date(),
            source="payment",
            reference="payment:L1",
            note="",
            now=now,
        )
    assert first == second


async def test_shock_raises_the_index_and_bad_input_is_refused(scored: Any, now: Any) -> None:
    result = await make_intake(scored)
    before = Decimal((await _household(result.household_id))["current_index"])
    with pytest.raises(ValidationFailed) as refused:
        await do_record_shock(
            scored.actor("liaison"),
            result.household_id,
            kind="meteor",
            occurred_on=now.date() + timedelta(days=3),
            note="",
            now=now,
        )
    assert set(refused.value.errors) == {"kind", "occurred_on"}
    with pytest.raises(PermissionDenied):
        await do_record_shock(
            scored.actor("supervisor"),
            result.household_id,
            kind="disaster",
            occurred_on=now.date(),
            note="",
            now=now,
        )
    await do_record_shock(
        scored.actor("liaison"),
        result.household_id,
        kind="accident",
        occurred_on=now.date() - timedelta(days=10),
        note="工伤",
        now=now,
    )
    after = Decimal((await _household(result.household_id))["current_index"])
    assert after > before


async def test_application_transition_recomputes_and_closing_removes_categories(
    scored: Any, now: Any
) -> None:
    result = await make_intake(scored)
    await do_transition(
        scored.actor("station"), result.application_id, "withdraw", reason="本人撤回", now=now
    )
    records = await _records(result.household_id)
    assert records[-1]["categories"] == ""
    assert records[-1]["trigger"] == "application.withdraw"


async def test_unchanged_facts_do_not_duplicate_history(scored: Any, now: Any) -> None:
    result = await make_intake(scored)
    async with write_transaction(Household._meta.db):
        await hooks.household_changed(result.household_id, trigger="noop", now=now)
    assert len(await _records(result.household_id)) == 1


async def test_incomplete_facts_give_a_provisional_index_not_a_crash(scored: Any) -> None:
    # Unknown housing is allowed at intake? If not, an empty income list is the incomplete fact.
    result = await make_intake(scored, items=[ItemDraft("asset", "deposits", "", "", "100")])
    household = await _household(result.household_id)
    assert household["current_index"] is not None
    assert household["index_provisional"] is True
    view = await get_index_view(scored.actor("station"), result.household_id, now=scored.now)
    assert view.check is not None and view.check.matches
    assert "income" in view.check.breakdown.missing
    assert view.missing_labels


async def test_no_standard_leaves_the_index_uncomputed(world: Any) -> None:
    result = await make_intake(world)  # no standards seeded
    household = await _household(result.household_id)
    assert household["current_index"] is None
    view = await get_index_view(world.actor("station"), result.household_id, now=world.now)
    assert view.no_standard


async def test_applicant_explanation_in_both_languages(scored: Any) -> None:
    result = await make_intake(scored, members=[member(disability_grade="1")])
    zh = await get_applicant_explanation(application_id=result.application_id, lang="zh_Hans")
    en = await get_applicant_explanation(household_id=result.household_id, lang="en")
    assert zh is not None and en is not None
    assert zh.total == en.total
    assert 1 <= len(zh.lines) <= 3
    assert "收入差距" in zh.lines[0] or "残疾" in "".join(zh.lines)
    assert any("points" in line for line in en.lines)


async def test_seed_standards_is_idempotent_and_audited(world: Any, now: Any) -> None:
    added = await do_seed_standards(SYSTEM_ACTOR, now=now)
    assert added == 2 * 4  # two districts in the test world × four rows
    assert await do_seed_standards(SYSTEM_ACTOR, now=now) == 0
    assert await AuditEvent.count().where(AuditEvent.action == "standard.create") == added
    with pytest.raises(PermissionDenied):
        await do_seed_standards(world.actor("station"), now=now)
    assert date(2021, 1, 1)  # documented assumption of the demo figures


async def test_a_later_day_with_the_same_result_stores_no_copy(scored: Any, now: Any) -> None:
    """Records are stored when the index or its explanation changes, not every day: a day
    later the facts give the same result, so the latest record still says it. A shock's
    points fall day by day, so its household gets a new record each day it is re-scored."""
    steady = await make_intake(scored, items=[ItemDraft("income", "wages", "0", "", "600")])
    shaken = await make_intake(scored, items=[ItemDraft("income", "wages", "0", "", "600")])
    await do_record_shock(
        scored.actor("liaison"),
        shaken.household_id,
        kind="disaster",
        occurred_on=now.date() - timedelta(days=10),
        note="",
        now=now,
    )
    center = scored.actor("center")
    later = now + timedelta(days=1)
    [kept] = await _records(steady.household_id)
    again = await do_recompute_household(center, steady.household_id, now=later)
    assert again.record_id == kept["id"] and not again.stored
    assert [r["id"] for r in await _records(steady.household_id)] == [kept["id"]]
    before = await _records(shaken.household_id)
    moved = await do_recompute_household(center, shaken.household_id, now=later)
    assert moved.stored and moved.total < Decimal(before[-1]["total"])  # a day of decay
    assert len(await _records(shaken.household_id)) == len(before) + 1


async def test_the_single_recompute_keeps_the_days_its_index_holds(scored: Any, now: Any) -> None:
    """The recompute stores, with the index, the snapshot, model and days it holds for. A
    later day inside them writes nothing; on the day a member turns 16 the index moves and
    the days start again from it."""
    today = now.date()
    turns_on = today + timedelta(days=5)
    made = await make_intake(
        scored,
        members=[
            member(id_number=new_id_number(date(1980, 5, 17))),
            member("李小", "child", id_number=new_id_number(turns_on.replace(year=turns_on.year - 16))),
        ],
    )
    center = scored.actor("center")

    async def row() -> dict[str, Any]:
        found = await Household.select().where(Household.id == made.household_id).first()
        assert found is not None
        return found

    first = await row()
    assert (first["index_holds_from"], first["index_holds_until"]) == (today, turns_on)
    assert first["index_model_version"] and first["index_digest"]
    await do_recompute_household(center, made.household_id, now=now + timedelta(days=2))
    assert await row() == first  # inside the days it holds: nothing written
    moved = await do_recompute_household(center, made.household_id, now=now + timedelta(days=5))
    after = await row()
    assert moved.stored and after["current_index"] != first["current_index"]
    assert after["index_holds_from"] == turns_on and after["index_holds_until"] == date(2040, 5, 17)
