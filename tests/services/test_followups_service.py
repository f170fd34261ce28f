"""Follow-up visits, alerts, periodic reviews and in-kind hand-over."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest

from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, PermissionDenied, ValidationFailed
from relief_pwa.services import followups, handover, plans
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.cards import do_issue_card, do_revoke_card
from relief_pwa.services.followups import ReviewMember, add_months, review_interval_months
from relief_pwa.services.plans import DraftScope
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.services.visits import VisitRecord, check_record_visit
from relief_pwa.tables import AidRecord, Handover, Household, Photo, PlanLine, Visit
from tests.adapters.imagefactory import phone_jpeg
from tests.helpers import found
from tests.services.plans_support import pool, recipient

AS_OF = date(2026, 11, 16)


def person(
    age: int, *, work: str = "none", illness: str = "none", grade: int | None = None, income: bool = False
) -> ReviewMember:
    return ReviewMember(date(AS_OF.year - age, 1, 1), work, illness, grade, income)


@pytest.mark.parametrize(
    ("members", "area", "months"),
    [
        ([person(40, work="full")], "urban", 1),  # unemployed, able to work, urban: monthly
        ([person(40, work="partial")], "rural", 3),  # rural: quarterly
        ([person(40, work="full", income=True), person(70, illness="serious")], "urban", 12),
        ([person(30, work="none", grade=2)], "urban", 12),
        ([person(65), person(62)], "urban", 6),  # stable: half-yearly
        ([person(15, work="full")], "urban", 6),  # a child is not of working age
        ([person(40, work="full"), person(70, illness="serious")], "urban", 1),  # the most frequent rule wins
    ],
)
def test_review_interval_by_household_type(members, area, months):
    assert review_interval_months(members, area, AS_OF)[0] == months


def test_add_months_clamps_to_month_end():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 16), 12) == date(2027, 11, 16)
    assert add_months(date(2026, 12, 1), 1) == date(2027, 1, 1)


async def in_kind_plan(world, **resource) -> tuple[int, int]:
    household = await recipient(world, index="80", members=2)
    values = {
        "name": "冬季棉被",
        "kind": "in_kind",
        "need": "bedding",
        "unit": "per_person",
        "unit_amount": "150",
        "unit_quantity": "1",
        "quantity_total": "10",
    }
    values.update(resource)
    await pool(world, **values)
    center = world.actor("center")
    (plan_id,) = await plans.do_save_drafts(center, DraftScope(), now=world.now)
    await plans.do_approve_plan(world.actor("center_2"), plan_id, now=world.now)
    line = found(await PlanLine.objects().where(PlanLine.plan == plan_id).first())
    return household, line.id


async def test_handover_by_card_with_photo_feeds_aid_and_schedules_follow_up(world):
    await do_seed_standards(SYSTEM_ACTOR, now=world.now)
    household, line_id = await in_kind_plan(world)
    before = found(await Household.objects().where(Household.id == household).first()).current_index
    liaison = world.actor("liaison")
    token = await do_issue_card(liaison, household, now=world.now)
    assert await handover.resolve_household(liaison, token=f"https://x.example/c/{token}") == household
    page = await handover.get_handover_page(liaison, household)
    assert [(p.line_id, p.remaining) for p in page.pending] == [(line_id, 2)]
    with pytest.raises(ValidationFailed):
        await handover.do_confirm_handover(
            liaison, line_id, method="qr", quantity="2", photo=b"", now=world.now
        )
    with pytest.raises(DomainError):
        await handover.do_confirm_handover(
            liaison, line_id, method="qr", quantity="2", photo=b"not a photo", now=world.now
        )
    assert await Handover.count() == 0
    await handover.do_confirm_handover(
        liaison, line_id, method="qr", quantity="1", photo=phone_jpeg(), now=world.now
    )
    aid = found(await AidRecord.objects().first())
    assert (aid.source, aid.value_fen) == ("handover", 15000)
    assert found(await Photo.objects().first()).purpose == "handover"
    line = found(await PlanLine.objects().where(PlanLine.id == line_id).first())
    assert line.status == "implemented"
    after = found(await Household.objects().where(Household.id == household).first()).current_index
    assert after < before
    assert await Visit.count().where(Visit.kind == "follow_up") == 1
    # The second blanket by file number; a third is more than was approved.
    file_no = found(await Household.objects().where(Household.id == household).first()).file_no
    assert await handover.resolve_household(liaison, file_no=file_no.lower()) == household
    await handover.do_confirm_handover(
        liaison, line_id, method="file_no", quantity="1", photo=phone_jpeg(), now=world.now
    )
    with pytest.raises(ValidationFailed):
        await handover.do_confirm_handover(
            liaison, line_id, method="file_no", quantity="1", photo=phone_jpeg(), now=world.now
        )
    assert await Visit.count().where(Visit.kind == "follow_up") == 1  # one follow-up per item
    assert not (await handover.get_handover_page(liaison, household)).pending


async def test_revoked_or_foreign_cards_do_not_resolve(world):
    household, _ = await in_kind_plan(world)
    token = await do_issue_card(world.actor("liaison"), household, now=world.now)
    with pytest.raises(DomainError):
        await handover.resolve_household(world.actor("liaison_b"), token=token)
    with pytest.raises(NotFoundOrForbidden):
        await handover.resolve_household(world.actor("liaison_b"), file_no="370102-H000001")
    await do_revoke_card(world.actor("liaison"), household, reason="卡片遗失补办", now=world.now)
    with pytest.raises(DomainError):
        await handover.resolve_household(world.actor("liaison"), token=token)


async def test_follow_up_delay_is_configurable_and_not_received_alerts_the_centre(world):
    await followups.do_set_followup_delay(world.actor("city"), "7", now=world.now)
    with pytest.raises(ValidationFailed):
        await followups.do_set_followup_delay(world.actor("city"), "0", now=world.now)
    _household, line_id = await in_kind_plan(world)
    liaison = world.actor("liaison")
    await handover.do_confirm_handover(
        liaison, line_id, method="qr", quantity="2", photo=phone_jpeg(), now=world.now
    )
    visit = found(await Visit.objects().where(Visit.kind == "follow_up").first())
    assert visit.scheduled_for == world.now.date() + timedelta(days=7) and visit.plan_line_id == line_id
    later = world.now + timedelta(days=8)
    lists = await followups.get_followup_lists(liaison, now=later)
    assert [v["id"] for v in lists.overdue] == [visit.id] and lists.overdue[0]["days_late"] == 1
    await check_record_visit(
        liaison,
        VisitRecord(
            client_uuid=str(uuid.uuid4()),
            findings="户主称未收到棉被",
            visit_id=visit.id,
            outcome="none",
        ),
        now=later,
    )
    center = world.actor("center")
    alerts = (await followups.get_followup_lists(center, now=later)).alerts
    assert [(a.visit_id, a.outcome) for a in alerts] == [(visit.id, "none")]
    assert (await followups.get_followup_lists(world.actor("center_b"), now=later)).alerts == []
    with pytest.raises(ValidationFailed):
        await followups.do_resolve_alert(center, visit.id, note="", now=later)
    await followups.do_resolve_alert(center, visit.id, note="已补发并电话确认", now=later)
    assert (await followups.get_followup_lists(center, now=later)).alerts == []
    with pytest.raises(DomainError):
        await followups.do_resolve_alert(center, visit.id, note="再次处理", now=later)


async def test_received_in_full_raises_no_alert(world):
    _, line_id = await in_kind_plan(world)
    liaison = world.actor("liaison")
    await handover.do_confirm_handover(
        liaison, line_id, method="qr", quantity="2", photo=phone_jpeg(), now=world.now
    )
    visit = found(await Visit.objects().where(Visit.kind == "follow_up").first())
    await check_record_visit(
        liaison,
        VisitRecord(
            client_uuid=str(uuid.uuid4()),
            findings="已全部收到",
            visit_id=visit.id,
            outcome="full",
        ),
        now=world.now,
    )
    assert (await followups.get_followup_lists(world.actor("center"), now=world.now)).alerts == []


async def test_activation_schedules_a_periodic_review_and_done_reviews_schedule_the_next(world):
    household = await recipient(world)  # one member aged ~56, partly able to work, with wages: stable
    review = await Visit.objects().where((Visit.kind == "review") & (Visit.household == household)).first()
    assert review is not None and review.status == "scheduled"
    assert review.scheduled_for == add_months(world.now.date(), 6)
    # Scheduling again adds nothing while one is open.
    assert await followups.do_schedule_reviews(world.actor("center"), now=world.now) == 0
    later = datetime.combine(review.scheduled_for + timedelta(days=3), world.now.timetz())
    lists = await followups.get_followup_lists(world.actor("station"), now=later, kind="review")
    assert [v["id"] for v in lists.overdue] == [review.id]
    await check_record_visit(
        world.actor("liaison"),
        VisitRecord(
            client_uuid=str(uuid.uuid4()),
            findings="家庭情况无变化",
            visit_id=review.id,
        ),
        now=later,
    )
    upcoming = found(
        await Visit.objects()
        .where((Visit.kind == "review") & (Visit.status == "scheduled") & (Visit.household == household))
        .first()
    )
    assert upcoming.scheduled_for == add_months(later.date(), 6)


async def test_schedule_reviews_covers_recipients_without_one(world):
    household = await recipient(world)
    await Visit.delete().where(Visit.household == household)
    assert await followups.do_schedule_reviews(world.actor("center"), now=world.now) == 1
    with pytest.raises(PermissionDenied):
        await followups.do_schedule_reviews(world.actor("liaison"), now=world.now)
