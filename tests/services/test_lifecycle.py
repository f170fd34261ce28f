"""Suspension, reinstatement, appeal and exit: entitlement periods, payment lines that
follow them, the termination notice, and the household file opening and closing."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, cast

import pytest

from relief_pwa.clock import CHINA_TZ
from relief_pwa.core import entitlement as rule
from relief_pwa.core.enums import AppState, ExitReason
from relief_pwa.core.errors import DomainError
from relief_pwa.services import disbursement, plans
from relief_pwa.services.applications import do_transition
from relief_pwa.services.plans import DraftScope
from relief_pwa.services.publicity import do_close_due_notices
from relief_pwa.tables import (
    Application,
    AuditEvent,
    DisbursementBatch,
    Entitlement,
    Household,
    PaymentLine,
    Plan,
    PublicNotice,
)
from tests.helpers import found
from tests.services.lifecycle_support import application_in
from tests.services.plans_support import pool, recipient
from tests.services.test_disbursement_service import approved

REASON = "经入户核查情况属实"


def at(day: date) -> datetime:
    return datetime.combine(day, time(10, 0), tzinfo=CHINA_TZ)


# --- the rule ---------------------------------------------------------------------------


def test_a_month_is_paid_when_the_household_was_a_recipient_on_one_of_its_days():
    assert rule.start_month(date(2026, 11, 16)) == "2026-11"
    # A restart inside a month already paid begins with the next month.
    assert rule.start_month(date(2026, 11, 20), previous_to_month="2026-12") == "2026-12"
    # A stop on the 1st: that month is not paid; later in the month: it is.
    assert rule.stop_month(date(2027, 3, 1), "2026-11") == "2027-03"
    assert rule.stop_month(date(2027, 3, 2), "2026-11") == "2027-04"
    assert rule.stop_month(date(2027, 1, 1), "2027-01") == "2027-01"  # never before the first month
    assert rule.covers("2026-11", "2027-03", "2027-02") and not rule.covers("2026-11", "2027-03", "2027-03")
    assert rule.covers("2026-11", None, "2030-01")


# --- periods --------------------------------------------------------------------------------


async def _periods(application_id: int) -> list[tuple[str, str | None, str, str]]:
    rows = (
        await Entitlement.select().where(Entitlement.application == application_id).order_by(Entitlement.id)
    )
    return [(r["from_month"], r["to_month"], r["opened_by"], r["closed_by"]) for r in rows]


async def test_suspend_reinstate_and_death_shape_the_entitlement_periods(world):
    intake = await application_in(world, AppState.ACTIVE)
    app_id, center, station = intake.application_id, world.actor("center"), world.actor("station")
    assert await _periods(app_id) == [("2026-11", None, "activate", "")]

    await do_transition(station, app_id, "suspend", reason=REASON, now=at(date(2026, 12, 1)))
    assert await _periods(app_id) == [("2026-11", "2026-12", "activate", "suspend")]
    await do_transition(center, app_id, "reinstate", reason=REASON, now=at(date(2027, 2, 10)))
    await do_transition(
        center,
        app_id,
        "exit",
        reason="户主于3月1日去世",
        exit_reason=ExitReason.DEATH,
        effective_on=date(2027, 3, 1),  # the date of death: March was still a recipient month
        now=at(date(2027, 3, 20)),
    )
    assert await _periods(app_id) == [
        ("2026-11", "2026-12", "activate", "suspend"),
        ("2027-02", "2027-04", "reinstate", "exit"),
    ]
    closed = found(await Entitlement.select().where(Entitlement.closed_by == "exit").first())
    assert closed["exit_reason"] == "death" and closed["closed_on"] == date(2027, 3, 1)
    actions = {r["action"] for r in await AuditEvent.select(AuditEvent.action)}
    assert {
        "entitlement.open",
        "entitlement.close",
        "application.suspend",
        "application.reinstate",
    } <= actions
    household = found(
        await Household.select(Household.is_open).where(Household.id == intake.household_id).first()
    )
    assert household["is_open"] is False  # the only application ended: the file closes


async def test_a_stop_on_the_day_of_the_start_covers_no_month(world):
    intake = await application_in(world, AppState.ACTIVE)
    await do_transition(
        world.actor("station"), intake.application_id, "suspend", reason=REASON, now=world.now
    )
    assert await _periods(intake.application_id) == [("2026-11", "2026-11", "activate", "suspend")]


async def test_an_exit_needs_a_reason_from_the_rules_and_a_date_within_a_year(world):
    intake = await application_in(world, AppState.ACTIVE)
    center = world.actor("center")
    with pytest.raises(DomainError) as missing:
        await do_transition(center, intake.application_id, "exit", reason=REASON, now=world.now)
    assert missing.value.field == "exit_reason"
    with pytest.raises(DomainError) as far:
        await do_transition(
            center,
            intake.application_id,
            "exit",
            reason=REASON,
            exit_reason=ExitReason.MOVED_AWAY,
            effective_on=world.now.date() + timedelta(days=400),
            now=world.now,
        )
    assert far.value.field == "effective_on"
    with pytest.raises(DomainError) as before_start:
        await do_transition(
            center,
            intake.application_id,
            "exit",
            reason=REASON,
            exit_reason=ExitReason.MOVED_AWAY,
            effective_on=world.now.date() - timedelta(days=30),
            now=world.now,
        )
    assert before_start.value.field == "effective_on"
    assert await _periods(intake.application_id) == [("2026-11", None, "activate", "")]
    # A death reported late, before assistance began: recorded, and no month is paid.
    await do_transition(
        center,
        intake.application_id,
        "exit",
        reason=REASON,
        exit_reason=ExitReason.DEATH,
        effective_on=world.now.date() - timedelta(days=30),
        now=world.now,
    )
    assert await _periods(intake.application_id) == [("2026-11", "2026-11", "activate", "exit")]


async def test_an_appeal_reopens_a_rejected_case_and_its_file(world):
    intake = await application_in(world, AppState.REJECTED)
    hh = intake.household_id
    assert (
        found(await Household.select(Household.is_open).where(Household.id == hh).first())["is_open"] is False
    )
    await do_transition(
        world.actor("center"), intake.application_id, "reopen", reason="申请人申请复议", now=world.now
    )
    assert (
        found(await Household.select(Household.is_open).where(Household.id == hh).first())["is_open"] is True
    )
    assert await AuditEvent.exists().where(AuditEvent.action == "household.reopen")


# --- termination notice ---------------------------------------------------------------------


async def test_a_dibao_exit_is_publicly_announced_and_the_clock_ends_the_notice(world):
    intake = await application_in(world, AppState.ACTIVE)
    await do_transition(
        world.actor("center"),
        intake.application_id,
        "exit",
        reason="复核发现收入超过标准",
        exit_reason=ExitReason.INCOME_ABOVE_STANDARD,
        now=world.now,
    )
    notice = found(await PublicNotice.select().where(PublicNotice.kind == "termination").first())
    assert notice["status"] == "running" and notice["application"] == intake.application_id
    assert notice["ends_on"] == world.now.date() + timedelta(days=6)
    await do_close_due_notices(world.now + timedelta(days=8))
    notice = found(await PublicNotice.select().where(PublicNotice.id == notice["id"]).first())
    assert notice["status"] == "ended"


async def test_a_medical_exit_has_no_termination_notice(world):
    intake = await application_in(world, AppState.ACTIVE, category="medical")
    await do_transition(
        world.actor("center"),
        intake.application_id,
        "exit",
        reason="医疗费用已报销完毕",
        exit_reason=ExitReason.FOUND_INELIGIBLE,
        now=world.now,
    )
    assert not await PublicNotice.exists().where(PublicNotice.kind == "termination")


# --- payments follow the state ------------------------------------------------------------


async def test_exit_pulls_lines_out_of_an_unsent_batch_and_the_next_month_gets_none(world):
    (first, second), fund = await approved(world, periodicity="monthly", months="12", unit_amount="300")
    center = world.actor("center")
    await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)
    await disbursement.do_generate_monthly_lines(center, "2026-12", now=world.now)
    batch = await disbursement.do_create_batch(center, fund, "2026-12", now=world.now)
    assert (batch.lines, batch.total_fen) == (4, 120_000)

    app_id = found(
        await PaymentLine.select(cast("Any", PaymentLine.plan_line).plan.application.as_alias("a"))
        .where(PaymentLine.household == first)
        .first()
    )["a"]
    await do_transition(
        center,
        app_id,
        "exit",
        reason="家庭已迁出本市",
        exit_reason=ExitReason.MOVED_AWAY,
        effective_on=date(2026, 12, 1),
        now=world.now,
    )
    lines = await PaymentLine.select().where(PaymentLine.household == first).order_by(PaymentLine.month)
    assert [(r["month"], r["status"]) for r in lines] == [("2026-11", "batched"), ("2026-12", "withdrawn")]
    assert lines[1]["batch"] is None and "application.exit" in lines[1]["failure_reason"]
    draft = found(await DisbursementBatch.select().where(DisbursementBatch.id == batch.batch_id).first())
    assert (draft["line_count"], draft["total_fen"]) == (3, 90_000)
    withdrawal = found(await AuditEvent.select().where(AuditEvent.action == "payment.withdraw").first())
    assert "2026-12" in withdrawal["after"]

    later = world.now + timedelta(days=20)
    result = await disbursement.do_generate_monthly_lines(center, "2027-01", now=later)
    assert (result.created, result.not_entitled) == (1, 1)
    assert {r["household"] for r in await PaymentLine.select().where(PaymentLine.month == "2027-01")} == {
        second
    }


async def test_building_a_batch_checks_again(world):
    (first, _second), fund = await approved(world, periodicity="monthly", months="12", unit_amount="300")
    center = world.actor("center")
    await disbursement.do_generate_monthly_lines(center, "2026-12", now=world.now)
    # The period closes behind the queue's back (no transition: as if written by another process).
    await Entitlement.update({Entitlement.to_month: "2026-12"}).where(Entitlement.household == first)
    batch = await disbursement.do_create_batch(center, fund, "2026-12", now=world.now)
    assert batch.lines == 1
    pulled = found(await PaymentLine.select().where(PaymentLine.household == first).first())
    assert pulled["status"] == "withdrawn" and "batch.create" in pulled["failure_reason"]


async def test_reinstatement_resumes_from_its_month_with_a_new_attempt(world):
    (first, _second), fund = await approved(world, periodicity="monthly", months="12", unit_amount="300")
    center, station = world.actor("center"), world.actor("station")
    app_id = found(
        await Entitlement.select(Entitlement.application).where(Entitlement.household == first).first()
    )["application"]
    await disbursement.do_generate_monthly_lines(center, "2026-12", now=world.now)
    await do_transition(
        station, app_id, "suspend", reason="拒不配合核查", effective_on=date(2026, 12, 1), now=world.now
    )
    assert (
        found(await PaymentLine.select().where(PaymentLine.household == first).first())["status"]
        == "withdrawn"
    )
    await do_transition(center, app_id, "reinstate", reason="已配合核查，情况属实", now=at(date(2026, 12, 3)))
    again = await disbursement.do_generate_monthly_lines(center, "2026-12", now=at(date(2026, 12, 3)))
    assert again.created == 1
    lines = await PaymentLine.select().where(PaymentLine.household == first).order_by(PaymentLine.id)
    assert [(r["status"], r["attempt"]) for r in lines] == [("withdrawn", 1), ("queued", 2)]
    assert lines[1]["line_id"].endswith("-2")
    # Retrying the reinstatement or the generation changes nothing.
    assert (
        await disbursement.do_generate_monthly_lines(center, "2026-12", now=at(date(2026, 12, 3)))
    ).created == 0
    assert len(await _periods(app_id)) == 2
    await disbursement.do_create_batch(center, fund, "2026-12", now=at(date(2026, 12, 3)))


async def test_a_plan_without_an_application_is_paid_while_the_household_holds_any_period(world):
    (first, _second), _fund = await approved(world, periodicity="monthly", months="12", unit_amount="300")
    await Plan.update({Plan.application: None}).where(Plan.household == first)
    center = world.actor("center")
    assert (await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)).created == 2
    await Entitlement.update({Entitlement.to_month: "2026-12"}).where(Entitlement.household == first)
    result = await disbursement.do_generate_monthly_lines(center, "2026-12", now=world.now)
    assert (result.created, result.not_entitled) == (1, 1)


async def test_an_approved_plan_pays_nothing_before_activation(world):
    household = await recipient(world, stop_after="approve")
    await pool(world, periodicity="monthly", months="6", unit_amount="300")
    center = world.actor("center")
    for plan_id in await plans.do_save_drafts(center, DraftScope(), now=world.now):
        await plans.do_approve_plan(world.actor("center_2"), plan_id, now=world.now)
    result = await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)
    assert (result.created, result.not_entitled) == (0, 1)
    app_id = found(await Application.select(Application.id).where(Application.household == household).first())
    await do_transition(center, app_id["id"], "activate", now=world.now)
    assert (await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)).created == 1
