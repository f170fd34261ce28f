"""The station's eligibility opinion (means test + decision + reasons) and household QR cards."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from relief_pwa.core.eligibility import EligibilityOutcome
from relief_pwa.core.enums import AppState
from relief_pwa.core.errors import DomainError, InvalidTransition, NotFoundOrForbidden, PermissionDenied
from relief_pwa.services.cards import do_issue_card, do_revoke_card, find_by_file_no, get_card, resolve_card
from relief_pwa.services.ledger import VerifiedValue
from relief_pwa.services.opinions import (
    do_record_opinion,
    do_start_investigation,
    get_opinion_page,
    run_means_test,
)
from relief_pwa.services.visits import VisitRecord, check_record_visit
from relief_pwa.tables import Application, AuditEvent, EligibilityOpinion, HouseholdCard
from tests.services.fieldwork_support import household_with_items, items_of, new_uuid, seed_standards


async def _state(application_id: int) -> str:
    row = await Application.select(Application.state).where(Application.id == application_id).first()
    assert row is not None
    return str(row["state"])


async def test_means_test_numbers_use_verified_values(world: Any, now: datetime) -> None:
    await seed_standards(world)
    result = await household_with_items(world)
    before = await run_means_test(result.household_id, as_of=now.date(), legal_supporter_able=None)
    income = before.result.rule("income_below_standard")
    # Two persons, 600 yuan declared: 300 per person, below Jinan's urban 821.
    assert income.passed and income.numbers["per_capita_income_fen"] == 300_00
    assert before.standard.dibao_monthly_fen == 821_00
    assert before.result.outcome == EligibilityOutcome.DIBAO

    items = await items_of(result.household_id)
    await check_record_visit(
        world.actor("liaison"),
        VisitRecord(
            client_uuid=new_uuid(),
            findings="工资条显示月收入2000元",
            household_id=result.household_id,
            kind="letter",
            verifications=(VerifiedValue(items["wages"]["id"], 2_000_00, "工资条"),),
        ),
        now=now,
    )
    after = await run_means_test(result.household_id, as_of=now.date(), legal_supporter_able=None)
    assert after.result.rule("income_below_standard").numbers["per_capita_income_fen"] == 1_000_00
    assert after.result.outcome == EligibilityOutcome.DIBAO_EDGE


async def test_the_station_records_an_opinion_that_moves_the_application(world: Any, now: datetime) -> None:
    await seed_standards(world)
    result = await household_with_items(world)
    station = world.actor("station")
    with pytest.raises(InvalidTransition):  # still "received": investigate first
        await do_record_opinion(
            station,
            result.application_id,
            decision="eligible",
            reasons="符合条件",
            legal_supporter_able=None,
            check_waiver="核对结果尚未返回，依走访结论先行认定",
            now=now,
        )
    await do_start_investigation(world.actor("investigator"), result.application_id, now=now)
    assert await _state(result.application_id) == AppState.INVESTIGATING

    with pytest.raises(PermissionDenied):
        await do_record_opinion(
            world.actor("liaison"),
            result.application_id,
            decision="eligible",
            reasons="符合条件",
            legal_supporter_able=None,
            check_waiver="核对结果尚未返回，依走访结论先行认定",
            now=now,
        )
    with pytest.raises(DomainError) as no_reason:
        await do_record_opinion(
            station,
            result.application_id,
            decision="eligible",
            reasons=" ",
            legal_supporter_able=None,
            check_waiver="核对结果尚未返回，依走访结论先行认定",
            now=now,
        )
    assert no_reason.value.field == "reasons"
    with pytest.raises(DomainError):
        await do_record_opinion(
            station,
            result.application_id,
            decision="maybe",
            reasons="不确定的情况",
            legal_supporter_able=None,
            check_waiver="核对结果尚未返回，依走访结论先行认定",
            now=now,
        )
    with pytest.raises(NotFoundOrForbidden):
        await do_record_opinion(
            world.actor("station_b"),
            result.application_id,
            decision="eligible",
            reasons="符合条件",
            legal_supporter_able=None,
            check_waiver="核对结果尚未返回，依走访结论先行认定",
            now=now,
        )
    assert await EligibilityOpinion.count() == 0

    later = now + timedelta(hours=1)
    await do_record_opinion(
        station,
        result.application_id,
        decision="eligible",
        reasons="人均收入300元，低于当地低保标准821元；存款在限额内。",
        legal_supporter_able=False,
        check_waiver="核对结果尚未返回，依走访结论先行认定",
        now=later,
    )
    assert await _state(result.application_id) == AppState.VERIFIED_ELIGIBLE
    opinion = await EligibilityOpinion.select().first()
    assert opinion is not None and opinion["decision"] == "eligible"
    stored = json.loads(opinion["means_test"])
    assert stored["outcome"] == "dibao" and stored["facts"]["has_legal_supporter_able"] is False
    assert {r["code"] for r in stored["rules"]} >= {"income_below_standard", "assets_within_limit"}
    actions = [r["action"] for r in await AuditEvent.select(AuditEvent.action).order_by(AuditEvent.seq)]
    assert actions[-2:] == ["application.find_eligible", "eligibility.opinion"]

    page = await get_opinion_page(station, result.application_id, as_of=later.date())
    assert not page.can_decide and len(page.opinions) == 1 and page.opinions[0].outcome == "dibao"
    # A stale page (old version) cannot decide again.
    with pytest.raises(DomainError):
        await do_record_opinion(
            station,
            result.application_id,
            decision="ineligible",
            reasons="重新考虑后不符合",
            legal_supporter_able=None,
            check_waiver="核对结果尚未返回，依走访结论先行认定",
            now=later,
        )


async def test_ineligible_opinion_and_stale_version(world: Any, now: datetime) -> None:
    await seed_standards(world)
    result = await household_with_items(world)
    station = world.actor("station")
    await do_start_investigation(station, result.application_id, now=now)
    version = (
        await Application.select(Application.version).where(Application.id == result.application_id).first()
        or {}
    )["version"]
    from relief_pwa.core.errors import Conflict

    with pytest.raises(Conflict):
        await do_record_opinion(
            station,
            result.application_id,
            decision="ineligible",
            reasons="收入超过标准",
            legal_supporter_able=None,
            check_waiver="核对结果尚未返回，依走访结论先行认定",
            now=now,
            expected_version=version - 1,
        )
    await do_record_opinion(
        station,
        result.application_id,
        decision="ineligible",
        reasons="收入超过标准",
        legal_supporter_able=None,
        check_waiver="核对结果尚未返回，依走访结论先行认定",
        now=now,
        expected_version=version,
    )
    assert await _state(result.application_id) == AppState.VERIFIED_INELIGIBLE


async def test_without_a_standard_the_page_says_why(world: Any, now: datetime) -> None:
    result = await household_with_items(world)
    page = await get_opinion_page(world.actor("station"), result.application_id, as_of=now.date())
    assert page.means_test is None and page.means_test_error is not None
    assert page.can_start_investigation


async def test_cards_are_opaque_revocable_and_reissuable(world: Any, now: datetime) -> None:
    result = await household_with_items(world)
    liaison = world.actor("liaison")
    token = await do_issue_card(liaison, result.household_id, now=now)
    assert len(token) >= 32 and result.file_no not in token
    card = await get_card(world.actor("station"), result.household_id, now=world.now)
    assert card.token == token and card.masked_head == "张*" and card.file_no == result.file_no

    assert await resolve_card(world.actor("investigator"), token) == result.household_id
    assert await resolve_card(world.actor("city"), token) == result.household_id
    for outsider in (None, world.actor("station_b"), world.actor("liaison_b")):
        assert await resolve_card(outsider, token) is None
    assert await resolve_card(liaison, "unknown-token") is None
    assert await resolve_card(liaison, "x" * 500) is None

    new_token = await do_issue_card(world.actor("station"), result.household_id, now=now + timedelta(days=1))
    assert new_token != token
    assert await resolve_card(liaison, token) is None
    assert await resolve_card(liaison, new_token) == result.household_id
    with pytest.raises(DomainError):
        await do_revoke_card(liaison, result.household_id, reason="", now=now)
    await do_revoke_card(liaison, result.household_id, reason="卡片遗失", now=now + timedelta(days=2))
    assert await resolve_card(liaison, new_token) is None
    assert (await get_card(liaison, result.household_id, now=world.now)).token is None
    with pytest.raises(DomainError):
        await do_revoke_card(liaison, result.household_id, reason="卡片遗失", now=now)
    with pytest.raises(PermissionDenied):
        await do_issue_card(world.actor("supervisor"), result.household_id, now=now)
    with pytest.raises(NotFoundOrForbidden):
        await do_issue_card(world.actor("station_b"), result.household_id, now=now)
    assert await HouseholdCard.count() == 2
    events = (
        await AuditEvent.select(AuditEvent.action, AuditEvent.after)
        .where(AuditEvent.entity_type == "household_card")
        .order_by(AuditEvent.seq)
    )
    assert [e["action"] for e in events] == ["card.issue", "card.revoke", "card.issue", "card.revoke"]
    assert all(token not in e["after"] and new_token not in e["after"] for e in events)

    assert await find_by_file_no(liaison, f" {result.file_no.lower()} ") == result.household_id
    with pytest.raises(NotFoundOrForbidden):
        await find_by_file_no(world.actor("station_b"), result.file_no)
