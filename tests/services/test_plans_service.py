"""Resources, drafting, adjusting and approving plans through the services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, PermissionDenied, ValidationFailed
from relief_pwa.services import plans as plan_service
from relief_pwa.services.funds import Overspending
from relief_pwa.services.plans import DraftScope
from relief_pwa.services.resources import (
    DonationDraft,
    ResourceDraft,
    do_record_donation,
    list_resources,
)
from relief_pwa.tables import AuditEvent, Fund, FundEntry, Plan, PlanLine, Resource
from tests.helpers import found
from tests.services.plans_support import pool, recipient

SCOPE = DraftScope()


async def test_draft_follows_rank_and_says_why(world):
    top = await recipient(world, index="80")
    second = await recipient(world, index="60")
    third = await recipient(world, index="40")
    await pool(world, budget_total="1000")
    view = await plan_service.get_draft(world.actor("center"), SCOPE, now=world.now)
    covered = [info.household_id for info, _rank, _lines in view.shown_lines]
    assert covered == [top, second]
    assert [p.household_id for p in view.draft.passed_over] == [third]
    reason = view.draft.passed_over[0].reasons[0]
    assert reason.code.value in ("budget_exhausted", "budget_insufficient")
    line = view.shown_lines[0][2][0]
    assert line.amount_fen == 50000 and "Rank" in line.reason


async def test_ties_break_by_earlier_application_then_file_number(world, clock):
    first = await recipient(world, index="50")
    second = await recipient(world, index="50")
    await pool(world, budget_total="500")
    view = await plan_service.get_draft(world.actor("center"), SCOPE, now=world.now)
    assert [info.household_id for info, _r, _l in view.shown_lines] == [first]
    assert view.draft.passed_over[0].household_id == second


async def test_statutory_dibao_gap_uses_the_local_standard(world):
    household = await recipient(world, income_yuan="600", index="70")
    await pool(world, name="低保金", statutory="dibao_gap", periodicity="monthly", months="3", unit_amount="")
    view = await plan_service.get_draft(world.actor("center"), SCOPE, now=world.now)
    ((info, _rank, lines),) = view.shown_lines
    assert info.household_id == household
    # Jinan urban standard 821 yuan (2021) − 600 yuan income, one person, monthly for 3 months.
    assert lines[0].amount_fen == 22100 and lines[0].months == 3 and lines[0].total_fen == 66300


async def test_what_if_shows_a_budget_change(world):
    await recipient(world, index="80")
    extra = await recipient(world, index="60")
    _, _, resource = await pool(world, budget_total="500")
    result = await plan_service.get_what_if(world.actor("center"), SCOPE, {resource: 50000}, now=world.now)
    assert result.result.newly_covered == (extra,)
    with pytest.raises(DomainError):
        await plan_service.get_what_if(world.actor("center"), SCOPE, {resource: -100000}, now=world.now)


async def test_approval_reserves_resource_and_fund_and_is_audited(world):
    household = await recipient(world, index="80")
    _, fund, resource = await pool(world, budget_total="2000", fund_yuan="1000")
    center = world.actor("center")
    (plan_id,) = await plan_service.do_save_drafts(center, SCOPE, now=world.now)
    await plan_service.do_approve_plan(world.actor("center_2"), plan_id, now=world.now)
    plan = found(await Plan.objects().where(Plan.id == plan_id).first())
    assert plan.status == "approved" and plan.household == household
    line = found(await PlanLine.objects().where(PlanLine.plan == plan_id).first())
    assert line.status == "approved" and line.start_month == "2026-11"
    row = found(await Resource.objects().where(Resource.id == resource).first())
    assert row.budget_reserved_fen == 50000
    fund_row = found(await Fund.objects().where(Fund.id == fund).first())
    assert (fund_row.available_fen, fund_row.reserved_fen) == (50000, 50000)
    kinds = [e["kind"] for e in await FundEntry.select(FundEntry.kind).order_by(FundEntry.id)]
    assert kinds == ["income", "reserve"]
    actions = {e["action"] for e in await AuditEvent.select(AuditEvent.action)}
    assert {"plan.draft", "plan.approve", "resource.create", "fund.create", "donation.record"} <= actions
    # The household now holds the need: a new draft does not give it again (no double benefit).
    view = await plan_service.get_draft(center, SCOPE, now=world.now)
    assert not view.shown_lines
    assert view.draft.passed_over[0].reasons[0].code.value == "already_receives_need"


async def test_overspending_a_fund_is_refused_and_changes_nothing(world):
    await recipient(world, index="80")
    await recipient(world, index="70")
    _, fund, resource = await pool(world, fund_yuan="600")
    center = world.actor("center")
    first, second = await plan_service.do_save_drafts(center, SCOPE, now=world.now)
    await plan_service.do_approve_plan(world.actor("center_2"), first, now=world.now)
    with pytest.raises(Overspending) as refused:
        await plan_service.do_approve_plan(world.actor("center_2"), second, now=world.now)
    assert "100.00" in str(refused.value.params) and refused.value.params["needed"] == "500.00"
    plan = found(await Plan.objects().where(Plan.id == second).first())
    assert plan.status == "draft"
    fund_row = found(await Fund.objects().where(Fund.id == fund).first())
    assert (fund_row.available_fen, fund_row.reserved_fen) == (10000, 50000)
    assert found(await Resource.objects().where(Resource.id == resource).first()).budget_reserved_fen == 0
    assert await FundEntry.count().where(FundEntry.kind == "reserve") == 1


async def test_overspending_a_resource_budget_is_refused(world):
    await recipient(world, index="80")
    await recipient(world, index="70")
    _, _, resource = await pool(world, budget_total="1000")
    center = world.actor("center")
    first, second = await plan_service.do_save_drafts(center, SCOPE, now=world.now)
    # Someone lowers the budget after the draft was made.
    await plan_service.do_approve_plan(world.actor("center_2"), first, now=world.now)
    await Resource.update({Resource.budget_total_fen: 60000}).where(Resource.id == resource)
    with pytest.raises(Overspending):
        await plan_service.do_approve_plan(world.actor("center_2"), second, now=world.now)


async def test_staff_adjust_within_limits_with_reasons(world):
    await recipient(world, index="80", members=3)
    await pool(world, unit="per_person", unit_amount="200")
    center = world.actor("center")
    (plan_id,) = await plan_service.do_save_drafts(center, SCOPE, now=world.now)
    line = found(await PlanLine.objects().where(PlanLine.plan == plan_id).first())
    assert line.amount_fen == 60000
    with pytest.raises(ValidationFailed):
        await plan_service.do_adjust_line(center, line.id, amount="600.01", reason="核减金额", now=world.now)
    with pytest.raises(ValidationFailed):
        await plan_service.do_adjust_line(center, line.id, amount="500", reason="", now=world.now)
    with pytest.raises(DomainError):
        await plan_service.do_adjust_line(center, line.id, amount="500.001", reason="核减金额", now=world.now)
    with pytest.raises(DomainError):
        await plan_service.do_adjust_line(center, line.id, amount="-5", reason="核减金额", now=world.now)
    await plan_service.do_adjust_line(center, line.id, amount="450", reason="家庭另有亲属资助", now=world.now)
    detail = await plan_service.get_plan(center, plan_id)
    assert detail.lines[0]["amount_fen"] == 45000
    assert detail.lines[0]["reason_data"]["adjustments"][0]["reason"] == "家庭另有亲属资助"
    await plan_service.do_adjust_line(center, line.id, remove=True, reason="重复救助，删除", now=world.now)
    with pytest.raises(DomainError):
        await plan_service.do_approve_plan(world.actor("center_2"), plan_id, now=world.now)


async def test_stale_version_is_a_conflict(world):
    await recipient(world, index="80")
    await pool(world)
    center = world.actor("center")
    (plan_id,) = await plan_service.do_save_drafts(center, SCOPE, now=world.now)
    line = found(await PlanLine.objects().where(PlanLine.plan == plan_id).first())
    await plan_service.do_adjust_line(
        center, line.id, amount="400", reason="核减金额", now=world.now, expected_version=1
    )
    with pytest.raises(DomainError):
        await plan_service.do_approve_plan(
            world.actor("center_2"), plan_id, now=world.now, expected_version=1
        )
    await plan_service.do_approve_plan(world.actor("center_2"), plan_id, now=world.now, expected_version=2)


async def test_cancel_releases_what_was_not_used(world):
    await recipient(world, index="80")
    _, fund, resource = await pool(world, budget_total="5000", periodicity="monthly", months="3")
    center = world.actor("center")
    (plan_id,) = await plan_service.do_save_drafts(center, SCOPE, now=world.now)
    await plan_service.do_approve_plan(world.actor("center_2"), plan_id, now=world.now)
    line = found(await PlanLine.objects().where(PlanLine.plan == plan_id).first())
    assert (
        found(await Resource.objects().where(Resource.id == resource).first()).budget_reserved_fen == 150000
    )
    await plan_service.do_cancel_line(center, line.id, reason="家庭收入已提高", now=world.now)
    assert found(await Resource.objects().where(Resource.id == resource).first()).budget_reserved_fen == 0
    fund_row = found(await Fund.objects().where(Fund.id == fund).first())
    assert (fund_row.available_fen, fund_row.reserved_fen) == (1000000, 0)


async def test_roles_and_jurisdiction(world):
    await recipient(world, index="80")
    await pool(world)
    with pytest.raises(PermissionDenied):
        await plan_service.do_save_drafts(world.actor("supervisor"), SCOPE, now=world.now)
    with pytest.raises(PermissionDenied):
        await plan_service.do_save_drafts(world.actor("station"), SCOPE, now=world.now)
    # The other district's centre sees neither the household nor the district resource.
    view = await plan_service.get_draft(world.actor("center_b"), SCOPE, now=world.now)
    assert view.candidates == 0 and not view.resources
    (plan_id,) = await plan_service.do_save_drafts(world.actor("center"), SCOPE, now=world.now)
    with pytest.raises(NotFoundOrForbidden):
        await plan_service.do_approve_plan(world.actor("center_b"), plan_id, now=world.now)


async def test_city_resource_rules_categories_index_and_area(world):
    in_area = await recipient(world, index="80")
    other_street = await recipient(world, community="370102002001", index="90")
    await recipient(world, index="20")  # below threshold
    await recipient(world, index="85", category="medical")  # category not covered
    await pool(
        world,
        username="city",
        fund_code="CITY-1",
        categories=["dibao"],
        min_index="30",
        area_codes="370102001",
    )
    resources = await list_resources(world.actor("center"))
    assert resources[0]["manageable"] is False  # a district sees the city resource but does not manage it
    view = await plan_service.get_draft(world.actor("center"), SCOPE, now=world.now)
    assert [info.household_id for info, _r, _l in view.shown_lines] == [in_area]
    codes = {p.household_id: p.reasons[0].code.value for p in view.draft.passed_over}
    assert codes[other_street] == "outside_area"
    assert sorted(codes.values()) == ["category_not_covered", "index_below_threshold", "outside_area"]


async def test_bad_resource_and_donation_input_is_refused(world):
    provider, fund, _ = await pool(world)
    center = world.actor("center")
    from relief_pwa.services.resources import do_create_resource

    with pytest.raises(ValidationFailed) as bad:
        await do_create_resource(
            center,
            ResourceDraft(
                provider_id=str(provider),
                fund_id=str(fund),
                name="x",
                kind="cash",
                need="living",
                unit="per_household",
                unit_amount="12.345",
                periodicity="one_off",
            ),
            now=world.now,
        )
    assert "unit_amount" in bad.value.errors
    with pytest.raises(ValidationFailed) as bad:
        await do_create_resource(
            center,
            ResourceDraft(
                provider_id=str(provider),
                name="x",
                kind="cash",
                need="living",
                unit="per_household",
                unit_amount="100",
                periodicity="one_off",
            ),
            now=world.now,
        )
    assert "fund_id" in bad.value.errors
    for amount in ("-100", "1.001", "abc"):
        with pytest.raises(ValidationFailed) as bad:
            await do_record_donation(
                center, DonationDraft(str(provider), fund_id=str(fund), amount=amount), now=world.now
            )
        assert "amount" in bad.value.errors
    fund_row = found(await Fund.objects().where(Fund.id == fund).first())
    assert fund_row.available_fen == 1000000
    assert Decimal(fund_row.available_fen) / 100 == Decimal("10000")
