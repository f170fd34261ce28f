"""Reviews that decide, 渐退, several forms of aid per household, 先行救助 and the
re-certification list (docs/reviews-and-aid.md)."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from relief_pwa.core.enums import AppState
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, PermissionDenied, ValidationFailed
from relief_pwa.services import aid, disbursement, followups, plans, reviews
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.applications import do_transition
from relief_pwa.services.ledger import VerifiedValue
from relief_pwa.services.plans import DraftScope
from relief_pwa.services.rules import do_set_rule
from relief_pwa.services.visits import VisitRecord, check_record_visit
from relief_pwa.tables import (
    Application,
    EmergencyGrant,
    MoneyItem,
    PaymentLine,
    Plan,
    PlanLine,
    ReviewDecision,
    Visit,
)
from tests.helpers import found
from tests.services.plans_support import REASON, pool, recipient

MONTHLY_DIBAO = {
    "name": "低保金",
    "statutory": "dibao_gap",
    "periodicity": "monthly",
    "months": "12",
    "unit_amount": "",
    "fund_yuan": "100000",
}


def at(day: date, hour: int = 10) -> datetime:
    from relief_pwa.clock import CHINA_TZ

    return datetime(day.year, day.month, day.day, hour, tzinfo=CHINA_TZ)


async def paid_recipient(world: Any, **kwargs: Any) -> tuple[int, int, int]:
    """An active 低保 recipient (one person, 600 yuan wages) with an approved monthly line
    of 221 yuan (Jinan's urban standard 821 − 600) from 2026-11 for 12 months."""
    household = await recipient(world, income_yuan="600", index="70", **kwargs)
    await pool(world, **MONTHLY_DIBAO)
    (plan_id,) = await plans.do_save_drafts(world.actor("center"), DraftScope(), now=world.now)
    await plans.do_approve_plan(world.actor("center_2"), plan_id, now=world.now)
    line = found(await PlanLine.objects().where(PlanLine.plan == plan_id).first())
    assert (line.amount_fen, line.start_month, line.months) == (22100, "2026-11", 12)
    application = found(await Application.objects().where(Application.household == household).first())
    return household, application.id, line.id


async def done_review(world: Any, household: int, *, wages_yuan: int | None, when: datetime) -> int:
    """The liaison records the household's scheduled review visit, verifying the wages."""
    visit = found(
        await Visit.objects()
        .where((Visit.household == household) & (Visit.kind == "review") & (Visit.status == "scheduled"))
        .first()
    )
    wages = found(
        await MoneyItem.objects()
        .where((MoneyItem.household == household) & (MoneyItem.kind == "wages"))
        .first()
    )
    verifications = () if wages_yuan is None else (VerifiedValue(wages.id, wages_yuan * 100, "工资条"),)
    await check_record_visit(
        world.actor("liaison"),
        VisitRecord(
            client_uuid=str(uuid.uuid4()),
            findings="入户复核，核实工资收入",
            visit_id=visit.id,
            verifications=verifications,
        ),
        now=when,
    )
    return int(visit.id)


async def payment_months(household: int) -> dict[str, int]:
    rows = await PaymentLine.select(PaymentLine.month, PaymentLine.amount_fen).where(
        (PaymentLine.household == household) & (PaymentLine.status != "cancelled")
    )
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["month"]] = totals.get(row["month"], 0) + int(row["amount_fen"])
    return totals


# --- review intervals by category -------------------------------------------------------------


def test_review_interval_depends_on_category():
    members = [followups.ReviewMember(date(1986, 1, 1), "full", "none", None, False)]
    as_of = date(2026, 11, 16)
    assert followups.review_interval_months(members, "urban", as_of)[0] == 1  # 低保: unemployed, able
    assert followups.review_interval_months(members, "urban", as_of, category="tekun")[0] == 12
    assert followups.review_interval_months(members, "urban", as_of, category="dibao_edge")[0] == 12


async def test_tekun_review_follows_its_own_rule(world):
    await do_set_rule(
        world.actor("city"), "review_months_tekun", 9, effective_from=world.now.date(), now=world.now
    )
    household = await recipient(world, category="tekun")
    review = found(
        await Visit.objects().where((Visit.household == household) & (Visit.kind == "review")).first()
    )
    assert review.scheduled_for == followups.add_months(world.now.date(), 9)


async def test_raise_due_reviews_starts_each_due_review_once(world):
    household = await recipient(world)
    review = found(
        await Visit.objects().where((Visit.household == household) & (Visit.kind == "review")).first()
    )
    assert await followups.raise_due_reviews(world.now) == 0  # not yet due
    later = at(review.scheduled_for)
    assert await followups.raise_due_reviews(later) == 1
    assert await followups.raise_due_reviews(later) == 0
    application = found(await Application.objects().where(Application.household == household).first())
    assert application.state == AppState.UNDER_REVIEW


# --- the decision ---------------------------------------------------------------------------


async def test_review_adjust_through_the_page_pays_the_new_amount_from_next_month(world, client):
    household, _application, old_line = await paid_recipient(world)
    visit = await done_review(world, household, wages_yuan=700, when=world.now)
    await client.login("station")
    page = await client.get(f"/visits/{visit}")
    assert page.status_code == 200 and f'action="/visits/{visit}/review-decision"' in page.text
    assert "review-exit" not in page.text  # the station does not exit households
    response = await client.post_form(
        f"/visits/{visit}/review-decision", {"decision": "adjust", "reason": "复核核实工资上涨至700元"}
    )
    assert response.status_code == 303
    decision = found(await ReviewDecision.objects().first())
    assert (decision.decision, decision.old_amount_fen, decision.new_amount_fen) == ("adjust", 22100, 12100)
    application = found(await Application.objects().where(Application.household == household).first())
    assert application.state == AppState.ACTIVE  # the review is completed
    # The re-drafted plan needs the centre's approval (four eyes: the station drafted it).
    assert decision.plan is not None
    await client.login("center")
    plan_page = await client.get(f"/plans/{decision.plan}")
    assert plan_page.status_code == 200 and "121.00" in plan_page.text
    approved = await client.post_form(f"/plans/{decision.plan}/approve", {"version": "1"})
    assert approved.status_code == 303
    assert found(await Plan.objects().where(Plan.id == decision.plan).first()).status == "approved"
    old = found(await PlanLine.objects().where(PlanLine.id == old_line).first())
    new = found(await PlanLine.objects().where(PlanLine.plan == decision.plan).first())
    assert (old.start_month, old.months) == ("2026-11", 1)
    assert (new.start_month, new.months, new.amount_fen, new.status) == ("2026-12", 11, 12100, "approved")
    center = world.actor("center")
    await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)
    await disbursement.do_generate_monthly_lines(center, "2026-12", now=world.now)
    assert await payment_months(household) == {"2026-11": 22100, "2026-12": 12100}
    # A retried form changes nothing; another decision on the same visit is refused.
    assert (
        await reviews.do_decide_review(
            world.actor("station"), visit, "adjust", reason="复核核实工资上涨至700元", now=world.now
        )
        == decision.id
    )
    with pytest.raises(DomainError):
        await reviews.do_decide_review(
            world.actor("station"), visit, "continue", reason="情况无变化", now=world.now
        )


async def test_adjust_with_the_same_facts_is_refused_and_continue_is_recorded(world):
    household, _application, _line = await paid_recipient(world)
    visit = await done_review(world, household, wages_yuan=None, when=world.now)
    station = world.actor("station")
    with pytest.raises(DomainError):
        await reviews.do_decide_review(station, visit, "adjust", reason="复核无变化", now=world.now)
    with pytest.raises(ValidationFailed):
        await reviews.do_decide_review(station, visit, "continue", reason="", now=world.now)
    with pytest.raises(PermissionDenied):
        await reviews.do_decide_review(
            world.actor("liaison"), visit, "continue", reason="情况无变化", now=world.now
        )
    await reviews.do_decide_review(station, visit, "continue", reason="家庭情况无变化", now=world.now)
    assert found(await ReviewDecision.objects().first()).decision == "continue"


async def test_review_exit_through_the_page_stops_payments_next_month(world, client):
    household, application, _line = await paid_recipient(world)
    visit = await done_review(world, household, wages_yuan=2000, when=world.now)
    await client.login("center")
    page = await client.get(f"/visits/{visit}")
    assert f'action="/visits/{visit}/review-exit"' in page.text
    response = await client.post_form(
        f"/visits/{visit}/review-exit",
        {"exit_reason": "income_above_standard", "reason": "复核工资2000元高于标准"},
    )
    assert response.status_code == 303
    row = found(await Application.objects().where(Application.id == application).first())
    assert row.state == AppState.EXITED
    center = world.actor("center")
    await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)
    await disbursement.do_generate_monthly_lines(center, "2026-12", now=world.now)
    assert await payment_months(household) == {"2026-11": 22100}
    # No further review is scheduled for an exited household.
    assert not await Visit.exists().where(
        (Visit.household == household) & (Visit.kind == "review") & (Visit.status == "scheduled")
    )
    # The station may not exit (the route needs the centre's capability).
    await client.login("station")
    refused = await client.post_form(
        f"/visits/{visit}/review-exit", {"exit_reason": "moved_away", "reason": "已迁出本市"}
    )
    assert refused.status_code == 403


async def test_gradual_exit_window_is_honoured(world, client):
    household, application, line_id = await paid_recipient(world)
    visit = await done_review(world, household, wages_yuan=900, when=world.now)  # 900 > 821 from work
    decision_id = await reviews.do_decide_review(
        world.actor("station"), visit, "gradual_exit", reason="就业后收入超过标准，渐退", now=world.now
    )
    decision = found(await ReviewDecision.objects().where(ReviewDecision.id == decision_id).first())
    assert decision.taper_until == "2027-05"  # six months (the rule's statutory value) after November
    await client.login("station")
    file_page = await client.get(f"/households/{household}")
    assert "渐退" in file_page.text and "2027-05" in file_page.text
    # Inside the window the household stays a recipient and is paid.
    center = world.actor("center")
    await disbursement.do_generate_monthly_lines(center, "2026-12", now=world.now)
    assert (await payment_months(household)).get("2026-12") == 22100
    may = at(date(2027, 5, 20))
    assert await reviews.finish_gradual_exits(may) == 0
    assert found(await Application.objects().where(Application.id == application).first()).state in (
        AppState.ACTIVE,
        AppState.UNDER_REVIEW,
    )
    await disbursement.do_generate_monthly_lines(center, "2027-05", now=may)
    assert (await payment_months(household)).get("2027-05") == 22100
    # After the window the household exits, once.
    june = at(date(2027, 6, 1))
    assert await reviews.finish_gradual_exits(june) == 1
    assert await reviews.finish_gradual_exits(june) == 0
    assert (
        found(await Application.objects().where(Application.id == application).first()).state
        == AppState.EXITED
    )
    line = found(await PlanLine.objects().where(PlanLine.id == line_id).first())
    assert line.months == 7  # 2026-11 … 2027-05
    await disbursement.do_generate_monthly_lines(center, "2027-06", now=june)
    assert "2027-06" not in await payment_months(household)


async def test_gradual_exit_needs_work_income_above_the_standard(world):
    household, _application, _line = await paid_recipient(world)
    visit = await done_review(world, household, wages_yuan=700, when=world.now)  # still below 821
    with pytest.raises(DomainError):
        await reviews.do_decide_review(
            world.actor("station"), visit, "gradual_exit", reason="渐退试算", now=world.now
        )


# --- several forms of aid -------------------------------------------------------------------


async def test_a_recipient_applies_for_medical_and_temporary_relief(world, client):
    household = await recipient(world)
    dibao = found(await Application.objects().where(Application.household == household).first())
    await client.login("station")
    form = await client.get(f"/households/{household}/applications/new")
    assert form.status_code == 200
    response = await client.post_form(
        f"/households/{household}/applications/new",
        {"category": "medical", "description": "住院自付费用较高", "materials": ["id_cards", "hukou"]},
    )
    assert response.status_code == 303
    receipt = await client.get(response.headers["location"])
    assert receipt.status_code == 200
    refused = await client.post_form(
        f"/households/{household}/applications/new", {"category": "dibao", "description": "再次申请低保"}
    )
    assert refused.status_code == 422 and dibao.number in refused.text
    temporary = await aid.do_add_application(
        world.actor("liaison"),
        household,
        category="temporary",
        description="突发火灾",
        materials=[],
        now=world.now,
    )
    medical = found(
        await Application.objects()
        .where((Application.household == household) & (Application.category == "medical"))
        .first()
    )
    assert "diagnosis" in medical.missing_materials and "id_cards" not in medical.missing_materials
    # Each runs its own lifecycle.
    station = world.actor("station")
    for action in ("start_investigation", "find_eligible", "start_publicity"):
        await do_transition(station, medical.id, action, reason=REASON, now=world.now)
    await do_transition(station, temporary.application_id, "withdraw", reason="申请人撤回申请", now=world.now)
    states = {
        r["category"]: r["state"]
        for r in await Application.select(Application.category, Application.state).where(
            Application.household == household
        )
    }
    assert states == {"dibao": "active", "medical": "publicized", "temporary": "withdrawn"}
    # A withdrawn temporary application no longer blocks a new one.
    await aid.do_add_application(
        station, household, category="temporary", description="再次突发困难", materials=[], now=world.now
    )
    page = await client.get(f"/households/{household}")
    assert page.text.count('class="application"') == 4
    # Someone outside the area neither sees nor adds.
    with pytest.raises(NotFoundOrForbidden):
        await aid.do_add_application(
            world.actor("station_b"),
            household,
            category="education",
            description="子女上学",
            materials=[],
            now=world.now,
        )


async def test_intake_of_a_person_in_another_open_household_links_to_adding_an_application(world, client):
    from tests.factories import make_intake, member, new_id_number

    number = new_id_number()
    first = await make_intake(world, members=[member("李四", id_number=number)])
    await client.login("station")
    response = await client.get("/intake/check-id", params={"members-0-id_number": number})
    assert response.status_code == 200
    assert f"/households/{first.household_id}/applications/new" in response.text
    await client.login("investigator")  # may not take intakes: no such route for them
    assert (await client.get(f"/households/{first.household_id}/applications/new")).status_code == 403


# --- 先行救助 -----------------------------------------------------------------------------------


async def test_emergency_grant_is_paid_at_once_and_capped(world, client):
    household = await recipient(world)
    _provider, _fund, resource = await pool(world)  # a one-off cash resource
    await client.login("station")
    form = await client.get(f"/households/{household}/emergency")
    assert form.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', form.text)
    assert token
    too_much = await client.post_form(
        f"/households/{household}/emergency",
        {"amount": "5000", "resource": str(resource), "reason": "房屋失火急需救助", "token": token.group(1)},
    )
    assert too_much.status_code == 422 and "3,000.00" in too_much.text
    assert await EmergencyGrant.count() == 0
    data = {"amount": "800", "resource": str(resource), "reason": "房屋失火急需救助", "token": token.group(1)}
    assert (await client.post_form(f"/households/{household}/emergency", data)).status_code == 303
    assert (await client.post_form(f"/households/{household}/emergency", data)).status_code == 303  # retried
    grant = found(await EmergencyGrant.objects().first())
    assert await EmergencyGrant.count() == 1 and grant.amount_fen == 80000
    application = found(await Application.objects().where(Application.id == grant.application).first())
    assert (application.category, application.state) == ("temporary", AppState.RECEIVED)
    line = found(await PlanLine.objects().where(PlanLine.id == grant.plan_line).first())
    assert (line.status, line.amount_fen, line.months, line.start_month) == ("approved", 80000, 1, "2026-11")
    assert found(await Plan.objects().where(Plan.id == line.plan).first()).application == application.id
    await disbursement.do_generate_monthly_lines(world.actor("center"), "2026-11", now=world.now)
    assert (await payment_months(household))["2026-11"] == 80000
    page = await client.get(f"/households/{household}")
    assert "先行救助" in page.text and "800.00" in page.text
    # The full lifecycle follows; the grantor took the intake, so another colleague approves.
    station = world.actor("station")
    for action in ("start_investigation", "find_eligible", "start_publicity"):
        await do_transition(station, application.id, action, reason=REASON, now=world.now)
    await do_transition(SYSTEM_ACTOR, application.id, "end_publicity", reason=REASON, now=world.now)
    await do_transition(world.actor("center"), application.id, "approve", reason=REASON, now=world.now)
    # The limit is a rule: lowered, 800 yuan is refused; a liaison may not grant at all.
    await do_set_rule(
        world.actor("city"), "emergency_grant_limit_yuan", 500, effective_from=world.now.date(), now=world.now
    )
    with pytest.raises(ValidationFailed):
        await aid.do_grant_emergency(
            station, household, amount="800", resource_id=str(resource), reason="再次急难", now=world.now
        )
    with pytest.raises(PermissionDenied):
        await aid.do_grant_emergency(
            world.actor("liaison"),
            household,
            amount="100",
            resource_id=str(resource),
            reason="急难",
            now=world.now,
        )


# --- the re-certification list ------------------------------------------------------------------


async def test_recertification_list_counts_due_reviewed_outstanding_and_overdue(world, client):
    first, _app, _line = await paid_recipient(world)
    second = await recipient(world, account="6217000011112222444")
    await recipient(world, account="6217000011112222555")
    await recipient(world, community="370102002001", account="6217000011112222666")
    visit = await done_review(world, first, wages_yuan=None, when=world.now)
    await reviews.do_decide_review(
        world.actor("station"), visit, "continue", reason="家庭情况无变化", now=world.now
    )
    # The second household's review date has already passed.
    await Visit.update({Visit.scheduled_for: world.now.date() - timedelta(days=10)}).where(
        (Visit.household == second) & (Visit.kind == "review") & (Visit.status == "scheduled")
    )
    result = await reviews.get_recertification(world.actor("center"), year=2026, now=world.now)
    figures = {r.station_name: (r.due, r.reviewed, r.outstanding, r.overdue) for r in result.rows}
    assert figures == {"解放路街道": (3, 1, 2, 1), "千佛山街道": (1, 0, 1, 0)}
    assert (result.total.due, result.total.reviewed) == (4, 1)
    (station_a,) = [r for r in result.rows if r.station_name == "解放路街道"]
    assert station_a.waiting[0]["id"] == second  # the overdue household first
    assert first not in {w["id"] for w in station_a.waiting}
    own = await reviews.get_recertification(world.actor("station"), year=2026, now=world.now)
    assert [r.station_name for r in own.rows] == ["解放路街道"]
    await client.login("center")
    page = await client.get("/reviews/recertification?year=2026")
    assert page.status_code == 200 and "解放路街道" in page.text
    await client.login("liaison")
    assert (await client.get("/reviews/recertification")).status_code == 403


async def test_a_review_recorded_without_an_appointment_decides_on_the_running_application(world):
    household, application, _line = await paid_recipient(world)
    result = await check_record_visit(
        world.actor("liaison"),
        VisitRecord(
            client_uuid=str(uuid.uuid4()), findings="临时入户复核", household_id=household, kind="review"
        ),
        now=world.now,
    )
    decision_id = await reviews.do_decide_review(
        world.actor("station"), result.visit_id, "continue", reason="家庭情况无变化", now=world.now
    )
    decision = found(await ReviewDecision.objects().where(ReviewDecision.id == decision_id).first())
    assert decision.application == application
    view = found(await reviews.get_review_decision(world.actor("station"), result.visit_id, now=world.now))
    assert view.decided is not None and view.options


async def test_the_household_file_reads_the_same_sent_together_or_one_by_one(world, monkeypatch):
    """The file's sections are read in one statement on PostgreSQL (services/prepared.py,
    ``prefetched``): every section comes out as the reads sent one by one give it."""
    from contextlib import asynccontextmanager

    from relief_pwa.services import households

    household, _application, _line = await paid_recipient(world)
    visit = await done_review(world, household, wages_yuan=900, when=world.now)
    await reviews.do_decide_review(
        world.actor("station"), visit, "gradual_exit", reason="就业后收入超过标准，渐退", now=world.now
    )
    station = world.actor("station")
    together = await households.get_household_file(station, household, now=world.now)
    assert together.aid is not None and together.aid.tapers and together.aid.history
    assert together.changes and together.timeline and together.datachecks is not None

    @asynccontextmanager
    async def one_by_one(reads: Any) -> Any:
        yield

    monkeypatch.setattr(households, "prefetched", one_by_one)
    alone = await households.get_household_file(station, household, now=world.now)
    assert together == alone
