"""Visits, the visit record (idempotent resend, conflicts), the ledger and the threshold."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from relief_pwa.adapters.photos import PhotoRejected
from relief_pwa.core.errors import (
    Conflict,
    DomainError,
    NotFoundOrForbidden,
    PermissionDenied,
    ValidationFailed,
)
from relief_pwa.core.fieldwork import PhotoPurpose, VisitKind, VisitStatus
from relief_pwa.services import hooks
from relief_pwa.services.audit import verify_chain
from relief_pwa.services.ledger import (
    VerifiedValue,
    discrepancy_threshold_pct,
    do_set_discrepancy_threshold,
    get_ledger,
)
from relief_pwa.services.photos import do_add_photo
from relief_pwa.services.visits import (
    ImageUpload,
    ScheduleRequest,
    VisitConflict,
    VisitRecord,
    access_visit,
    check_record_visit,
    do_cancel_visit,
    do_schedule_visit,
    list_my_visits,
)
from relief_pwa.tables import AuditEvent, MoneyItem, Photo, Verification, Visit
from tests.adapters import imagefactory
from tests.services.fieldwork_support import household_with_items, items_of, new_uuid, schedule, signature_png

CHANGES: list[tuple[int, str]] = []


@hooks.on_household_changed
async def _remember_change(household_id: int, trigger: str, now: datetime) -> None:
    CHANGES.append((household_id, trigger))


async def _actions(entity_type: str | None = None) -> list[str]:
    query = AuditEvent.select(AuditEvent.action).order_by(AuditEvent.seq)
    if entity_type:
        query = query.where(AuditEvent.entity_type == entity_type)
    return [r["action"] for r in await query]


def home_record(world: Any, visit_id: int, items: dict[str, dict[str, Any]], **overrides: Any) -> VisitRecord:
    values: dict[str, Any] = dict(
        client_uuid=new_uuid(),
        findings="家中两口人，丈夫打零工，妻子无业。",
        visit_id=visit_id,
        second_investigator_id=world.actor("investigator").staff_id,
        gps=(36.661389, 117.016667),
        verifications=(
            VerifiedValue(items["wages"]["id"], 900_00, "工资条"),
            VerifiedValue(items["deposits"]["id"], 5_000_00, "银行流水"),
        ),
        signature=ImageUpload(signature_png(), PhotoPurpose.SIGNATURE, name="signature.png"),
        photos=(ImageUpload(imagefactory.phone_jpeg(), name="IMG_1.jpg"),),
    )
    values.update(overrides)
    return VisitRecord(**values)


async def test_visits_are_scheduled_and_listed_as_overdue_today_and_upcoming(
    world: Any, now: datetime
) -> None:
    result = await household_with_items(world)
    today_id = await schedule(world, result.household_id)
    later_id = await schedule(
        world, result.household_id, kind=VisitKind.NEIGHBOUR, on=now.date() + timedelta(days=3)
    )
    await schedule(world, result.household_id, assignee="investigator")  # someone else's diary

    mine = await list_my_visits(world.actor("liaison"), now.date())
    assert [v.id for v in mine.due_today] == [today_id]
    assert [v.id for v in mine.upcoming] == [later_id]
    assert mine.overdue == []

    two_days_on = await list_my_visits(world.actor("liaison"), now.date() + timedelta(days=2))
    assert [v.id for v in two_days_on.overdue] == [today_id]
    assert [v.id for v in (await list_my_visits(world.actor("investigator"), now.date())).due_today] != [
        today_id
    ]
    assert (await _actions("visit")).count("visit.schedule") == 3


async def test_scheduling_refuses_the_past_strangers_and_other_areas(world: Any, now: datetime) -> None:
    result = await household_with_items(world)
    station = world.actor("station")
    with pytest.raises(DomainError) as past:
        await schedule(world, result.household_id, on=now.date() - timedelta(days=1))
    assert past.value.field == "scheduled_for"
    with pytest.raises(DomainError) as stranger:  # liaison_b works in another community
        await schedule(world, result.household_id, assignee="liaison_b")
    assert stranger.value.field == "assigned_to"
    with pytest.raises(PermissionDenied):
        await schedule(world, result.household_id, username="supervisor")
    with pytest.raises(NotFoundOrForbidden):
        await schedule(world, result.household_id, username="station_b", assignee="station_b")
    with pytest.raises(DomainError):
        await do_schedule_visit(
            station,
            ScheduleRequest(
                result.household_id,
                VisitKind.HOME,
                now.date(),
                world.actor("liaison").staff_id or 0,
                application_id=999999,
            ),
            now=now,
        )
    assert await Visit.count() == 0


async def test_home_visit_without_second_investigator_or_signature_is_refused_and_nothing_stored(
    world: Any, now: datetime
) -> None:
    result = await household_with_items(world)
    visit_id = await schedule(world, result.household_id)
    items = await items_of(result.household_id)
    record = home_record(world, visit_id, items, second_investigator_id=None, signature=None)
    with pytest.raises(ValidationFailed) as caught:
        await check_record_visit(world.actor("liaison"), record, now=now)
    assert {"second_investigator", "signature"} <= set(caught.value.errors)
    visit = await access_visit(world.actor("liaison"), visit_id)
    assert visit.status == VisitStatus.SCHEDULED and visit.version == 1
    assert await Photo.count() == 0 and await Verification.count() == 0
    # The second investigator must be someone else, and may see the household.
    for other in (world.actor("liaison").staff_id, world.actor("station_b").staff_id):
        with pytest.raises(ValidationFailed):
            await check_record_visit(
                world.actor("liaison"),
                home_record(world, visit_id, items, second_investigator_id=other),
                now=now,
            )


async def test_a_home_visit_records_everything_at_once_and_a_resend_is_the_same_record(
    world: Any, now: datetime
) -> None:
    result = await household_with_items(world)
    visit_id = await schedule(world, result.household_id)
    items = await items_of(result.household_id)
    liaison = world.actor("liaison")
    record = home_record(world, visit_id, items)
    CHANGES.clear()

    first = await check_record_visit(liaison, record, now=now)
    assert (first.visit_id, first.version, first.duplicate, first.photos_added) == (visit_id, 2, False, 2)
    visit = await access_visit(liaison, visit_id)
    assert (
        visit.status == VisitStatus.DONE and visit.has_signature and visit.client_uuid == record.client_uuid
    )
    assert visit.second_investigator_id == world.actor("investigator").staff_id
    assert (visit.gps_lat, visit.gps_lon) == (36.661389, 117.016667)
    photos = await Photo.select().order_by(Photo.id)
    assert [p["purpose"] for p in photos] == ["signature", "evidence"]
    assert photos[0]["sha256"] == visit.signature_key
    assert photos[1]["gps_lat"] is not None  # from the photo's EXIF, kept staff-only
    after = await items_of(result.household_id)
    assert after["wages"]["verified_fen"] == 900_00 and after["wages"]["verified_source"] == "home_visit"
    assert after["medical"]["verified_fen"] is None
    assert [(result.household_id, "verification")] == CHANGES
    events = await _actions()
    assert {"visit.record", "photo.add", "verification.record"} <= set(events)

    # The outbox sends the same record again (e.g. the answer was lost): nothing new.
    events_before = await AuditEvent.count()
    again = await check_record_visit(liaison, record, now=now + timedelta(minutes=5))
    assert again.duplicate and again.visit_id == visit_id and again.version == 2 and again.photos_added == 0
    assert await Visit.count() == 1 and await Photo.count() == 2 and await Verification.count() == 2
    assert await AuditEvent.count() == events_before
    assert (await verify_chain()).ok


async def test_an_edit_on_the_current_version_applies_and_an_outdated_one_is_a_conflict(
    world: Any, now: datetime
) -> None:
    result = await household_with_items(world)
    visit_id = await schedule(world, result.household_id)
    items = await items_of(result.household_id)
    liaison, investigator = world.actor("liaison"), world.actor("investigator")
    record = home_record(world, visit_id, items)
    await check_record_visit(liaison, record, now=now)

    # The investigator corrects the wages on version 2: accepted as version 3.
    correction = home_record(
        world,
        visit_id,
        items,
        client_uuid=record.client_uuid,
        base_version=2,
        signature=None,
        photos=(),
        findings=record.findings + " 补充：另有低保边缘补贴。",
        verifications=(VerifiedValue(items["wages"]["id"], 950_00, "单位证明"),),
    )
    edited = await check_record_visit(investigator, correction, now=now + timedelta(hours=1))
    assert edited.version == 3 and not edited.duplicate
    assert (await items_of(result.household_id))["wages"]["verified_fen"] == 950_00
    assert "visit.edit" in await _actions("visit")

    # The liaison's phone still holds version 2 and edits it offline: a conflict, nothing overwritten.
    stale = home_record(
        world,
        visit_id,
        items,
        client_uuid=record.client_uuid,
        base_version=2,
        signature=None,
        photos=(),
        findings="离线修改的版本",
    )
    with pytest.raises(VisitConflict) as caught:
        await check_record_visit(liaison, stale, now=now + timedelta(hours=2))
    conflict = caught.value
    assert isinstance(conflict, Conflict)
    assert conflict.current.version == 3 and "补充" in conflict.current.findings
    assert conflict.submitted.version == 2 and conflict.submitted.findings == "离线修改的版本"
    assert conflict.current.verifications[items["wages"]["id"]] == (950_00, "单位证明")
    assert (await access_visit(liaison, visit_id)).findings == correction.findings
    # Choosing "mine" means resending on top of the current version.
    chosen = await check_record_visit(
        liaison,
        home_record(
            world,
            visit_id,
            items,
            client_uuid=record.client_uuid,
            base_version=3,
            signature=None,
            photos=(),
            findings="离线修改的版本",
        ),
        now=now + timedelta(hours=3),
    )
    assert chosen.version == 4


async def test_a_second_record_of_a_done_visit_with_another_id_is_a_conflict(
    world: Any, now: datetime
) -> None:
    result = await household_with_items(world)
    visit_id = await schedule(world, result.household_id)
    items = await items_of(result.household_id)
    await check_record_visit(world.actor("liaison"), home_record(world, visit_id, items), now=now)
    with pytest.raises(VisitConflict):
        await check_record_visit(
            world.actor("investigator"),
            home_record(world, visit_id, items, second_investigator_id=world.actor("liaison").staff_id),
            now=now,
        )
    assert await Visit.count() == 1


async def test_an_unscheduled_visit_is_created_once_however_often_it_is_sent(
    world: Any, now: datetime
) -> None:
    result = await household_with_items(world)
    items = await items_of(result.household_id)
    record = VisitRecord(
        client_uuid=new_uuid(),
        findings="邻居反映其丈夫常年外出务工。",
        household_id=result.household_id,
        kind="neighbour",
        verifications=(VerifiedValue(items["wages"]["id"], 2_000_00, "邻居王某"),),
    )
    first = await check_record_visit(world.actor("liaison"), record, now=now)
    second = await check_record_visit(world.actor("liaison"), record, now=now)
    assert first.created and not first.duplicate and second.duplicate and first.visit_id == second.visit_id
    assert await Visit.count() == 1
    row = await Visit.select().first()
    assert row is not None and row["kind"] == "neighbour" and row["status"] == "done"
    ledger = await get_ledger(world.actor("station"), result.household_id, now=world.now)
    wages = next(line for line in ledger.lines if line.kind == "wages")
    assert wages.discrepancy is not None and wages.discrepancy.flagged and wages.source is not None
    assert ledger.flagged == 1 and ledger.unverified == 2
    # Outside the household's area the same record is not even found.
    with pytest.raises(NotFoundOrForbidden):
        await check_record_visit(world.actor("station_b"), record, now=now)


async def test_a_bad_photo_refuses_the_whole_record_and_stores_nothing(world: Any, now: datetime) -> None:
    result = await household_with_items(world)
    visit_id = await schedule(world, result.household_id)
    items = await items_of(result.household_id)
    record = home_record(world, visit_id, items, photos=(ImageUpload(imagefactory.truncated_jpeg()),))
    with pytest.raises(PhotoRejected):
        await check_record_visit(world.actor("liaison"), record, now=now)
    assert await Photo.count() == 0 and await Verification.count() == 0
    assert (await access_visit(world.actor("liaison"), visit_id)).status == VisitStatus.SCHEDULED


async def test_threshold_is_a_city_setting_and_moves_the_flags(world: Any, now: datetime) -> None:
    result = await household_with_items(world)
    items = await items_of(result.household_id)
    await check_record_visit(
        world.actor("liaison"),
        VisitRecord(
            client_uuid=new_uuid(),
            findings="核对存款",
            household_id=result.household_id,
            kind="letter",
            verifications=(VerifiedValue(items["deposits"]["id"], 6_000_00),),
        ),
        now=now,
    )
    assert await discrepancy_threshold_pct() == 20
    assert (
        await get_ledger(world.actor("station"), result.household_id, now=world.now)
    ).flagged == 0  # +20 % exactly
    await do_set_discrepancy_threshold(world.actor("city"), 10, now=now)
    assert await discrepancy_threshold_pct() == 10
    assert (await get_ledger(world.actor("station"), result.household_id, now=world.now)).flagged == 1
    with pytest.raises(PermissionDenied):
        await do_set_discrepancy_threshold(world.actor("station"), 30, now=now)
    setting = await AuditEvent.select().where(AuditEvent.action == "setting.update").first()
    assert setting is not None and json.loads(setting["before"]) == {"discrepancy_threshold_pct": 20}


async def test_cancel_and_photo_upload_rules(world: Any, now: datetime) -> None:
    result = await household_with_items(world)
    visit_id = await schedule(world, result.household_id)
    liaison = world.actor("liaison")
    first = await do_add_photo(liaison, visit_id, imagefactory.phone_jpeg(), now=now)
    retried = await do_add_photo(liaison, visit_id, imagefactory.phone_jpeg(), now=now)
    assert first.created and not retried.created and first.photo_id == retried.photo_id
    assert await Photo.count() == 1
    with pytest.raises(NotFoundOrForbidden):
        await do_add_photo(world.actor("station_b"), visit_id, imagefactory.phone_jpeg(), now=now)
    with pytest.raises(DomainError):
        await do_cancel_visit(liaison, visit_id, reason="", now=now)
    await do_cancel_visit(liaison, visit_id, reason="申请人住院，改期", now=now)
    assert (await access_visit(liaison, visit_id)).status == VisitStatus.CANCELLED
    with pytest.raises(DomainError):
        await do_add_photo(liaison, visit_id, imagefactory.webp(), now=now)
    with pytest.raises(DomainError):
        await check_record_visit(
            liaison, VisitRecord(client_uuid=new_uuid(), findings="x" * 10, visit_id=visit_id), now=now
        )
    assert "visit.cancel" in await _actions("visit")
    assert await MoneyItem.count() == 3
