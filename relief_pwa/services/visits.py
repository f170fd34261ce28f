"""Visits: scheduling, "my visits", and recording a visit — online or from the
phone's offline outbox (DESIGN §3 step 2, §8 PWA).

A visit record carries the phone's id (``client_uuid``): sending it again is
the same record, never a second one. An edit states the version it was based
on; when the stored visit moved on meanwhile, the edit is refused as a
:class:`VisitConflict` showing both versions, never silently applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from piccolo.columns import Column

from relief_pwa.adapters.photos import ProcessedPhoto
from relief_pwa.clock import local_date
from relief_pwa.core.errors import Conflict, DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.fieldwork import (
    FINDINGS_MAX_LENGTH,
    FollowUpOutcome,
    PhotoPurpose,
    RecordFacts,
    VisitKind,
    VisitStatus,
    bucket_of,
    check_client_uuid,
    check_schedule_date,
    check_visit_record,
    source_for_kind,
)
from relief_pwa.core.i18n import N_
from relief_pwa.core.masking import mask_name
from relief_pwa.core.permissions import Capability, can, roles_with
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services import hooks
from relief_pwa.services.access import access_household, in_scope
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.households import masked_household
from relief_pwa.services.ledger import VerifiedValue, record_verifications, visit_verifications
from relief_pwa.services.photos import link_photo, prepare_photo, store_photo
from relief_pwa.tables import Application, Household, MoneyItem, Staff, Visit

UPCOMING_DAYS = 14
TIME_WINDOW_MAX_LENGTH = 40


# --- reading ---------------------------------------------------------------


@dataclass(frozen=True)
class VisitView:
    id: int
    household_id: int
    application_id: int | None
    file_no: str
    head_name: str
    address: str
    kind: VisitKind
    status: VisitStatus
    scheduled_for: date
    time_window: str
    assigned_to_id: int | None
    assigned_to: str
    second_investigator_id: int | None
    second_investigator: str
    findings: str
    outcome: str
    has_signature: bool
    signature_key: str
    gps_lat: float | None
    gps_lon: float | None
    client_uuid: str | None
    version: int
    done_at: datetime | None
    created_at: datetime

    @property
    def outcome_label(self) -> str:
        return FollowUpOutcome(self.outcome).label if self.outcome else ""


_VISIT_COLUMNS = (
    Visit.id,
    Visit.household,
    Visit.application,
    Visit.kind,
    Visit.status,
    Visit.scheduled_for,
    Visit.time_window,
    Visit.assigned_to,
    Visit.second_investigator,
    Visit.findings,
    Visit.outcome,
    Visit.signature_key,
    Visit.gps_lat,
    Visit.gps_lon,
    Visit.client_uuid,
    Visit.version,
    Visit.done_at,
    Visit.created_at,
    Visit.org_path,
    Visit.household.file_no,
    Visit.household.head_name,
    Visit.household.address,
    Visit.assigned_to.display_name,
    Visit.second_investigator.display_name,
)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _view(row: dict[str, Any]) -> VisitView:
    return VisitView(
        id=row["id"],
        household_id=row["household"],
        application_id=row["application"],
        file_no=row["household.file_no"],
        head_name=row["household.head_name"],
        address=row["household.address"],
        kind=VisitKind(row["kind"]),
        status=VisitStatus(row["status"]),
        scheduled_for=row["scheduled_for"],
        time_window=row["time_window"],
        assigned_to_id=row["assigned_to"],
        assigned_to=row["assigned_to.display_name"] or "",
        second_investigator_id=row["second_investigator"],
        second_investigator=row["second_investigator.display_name"] or "",
        findings=row["findings"],
        outcome=row["outcome"],
        has_signature=bool(row["signature_key"]),
        signature_key=row["signature_key"],
        gps_lat=_float(row["gps_lat"]),
        gps_lon=_float(row["gps_lon"]),
        client_uuid=row["client_uuid"],
        version=row["version"],
        done_at=row["done_at"],
        created_at=row["created_at"],
    )


async def access_visit(actor: Actor, visit_id: int) -> VisitView:
    """One visit within the actor's jurisdiction, or NotFoundOrForbidden."""
    row = (
        await Visit.select(*_VISIT_COLUMNS)
        .where((Visit.id == visit_id) & in_scope(actor, Visit.org_path))
        .first()
    )
    if row is None or not actor.org_path:
        raise NotFoundOrForbidden()
    return _view(row)


@dataclass(frozen=True)
class MyVisits:
    today: date
    overdue: list[VisitView]
    due_today: list[VisitView]
    upcoming: list[VisitView]
    recently_done: list[VisitView]

    @property
    def open_visits(self) -> list[VisitView]:
        return [*self.overdue, *self.due_today, *self.upcoming]


async def list_my_visits(actor: Actor, today: date) -> MyVisits:
    """The actor's open visits (overdue, today, next two weeks) and the last ones done."""
    mine = (Visit.assigned_to == actor.staff_id) | (Visit.second_investigator == actor.staff_id)
    scope = in_scope(actor, Visit.org_path) & mine
    open_rows = (
        await Visit.select(*_VISIT_COLUMNS)
        .where(
            scope
            & (Visit.status == VisitStatus.SCHEDULED)
            & (Visit.scheduled_for <= today + timedelta(days=UPCOMING_DAYS))
        )
        .order_by(Visit.scheduled_for)
        .order_by(Visit.id)
        .limit(300)
    )
    done_rows = (
        await Visit.select(*_VISIT_COLUMNS)
        .where(scope & (Visit.status == VisitStatus.DONE))
        .order_by(Visit.done_at, ascending=False)
        .limit(10)
    )
    buckets: dict[str, list[VisitView]] = {"overdue": [], "today": [], "upcoming": []}
    for row in open_rows:
        view = _view(row)
        buckets[bucket_of(view.scheduled_for, today)].append(view)
    return MyVisits(
        today, buckets["overdue"], buckets["today"], buckets["upcoming"], [_view(r) for r in done_rows]
    )


async def list_household_visits(actor: Actor, household_id: int) -> list[VisitView]:
    household = await access_household(actor, household_id)
    rows = (
        await Visit.select(*_VISIT_COLUMNS)
        .where(Visit.household == household.id)
        .order_by(Visit.scheduled_for, ascending=False)
        .order_by(Visit.id, ascending=False)
    )
    return [_view(r) for r in rows]


@dataclass(frozen=True)
class StaffOption:
    id: int
    name: str
    role: str


async def field_staff_for(household_org_path: str, *, exclude: int | None = None) -> list[StaffOption]:
    """Active field staff whose jurisdiction covers the household (may be assigned or co-sign)."""
    rows = (
        await Staff.select(Staff.id, Staff.display_name, Staff.role, Staff.org_path)
        .where(Staff.active.eq(True) & Staff.role.is_in(list(roles_with(Capability.VISIT_RECORD))))
        .order_by(Staff.role)
        .order_by(Staff.display_name)
    )
    return [
        StaffOption(r["id"], r["display_name"], r["role"])
        for r in rows
        if household_org_path.startswith(r["org_path"]) and r["id"] != exclude
    ]


async def _field_staff_ok(staff_id: int, household_org_path: str) -> bool:
    row = await Staff.select(Staff.role, Staff.org_path, Staff.active).where(Staff.id == staff_id).first()
    return bool(
        row
        and row["active"]
        and can(row["role"], Capability.VISIT_RECORD)
        and household_org_path.startswith(row["org_path"])
    )


@dataclass(frozen=True)
class LedgerItem:
    id: int
    section: str
    kind: str
    description: str
    declared_fen: int
    verified_fen: int | None


@dataclass
class VisitFormData:
    visit: VisitView | None
    household: dict[str, Any]
    items: list[LedgerItem]
    colleagues: list[StaffOption]
    recorded: dict[int, tuple[int, str]] = field(default_factory=dict)


async def get_visit_form(actor: Actor, visit_id: int) -> VisitFormData:
    visit = await access_visit(actor, visit_id)
    household = await access_household(actor, visit.household_id)
    return VisitFormData(
        visit=visit,
        household=masked_household(household.to_dict()),
        items=await _ledger_items(household.id),
        colleagues=await field_staff_for(household.org_path, exclude=visit.assigned_to_id),
        recorded=await visit_verifications(visit.id),
    )


async def get_new_visit_form(actor: Actor, household_id: int) -> VisitFormData:
    household = await access_household(actor, household_id)
    return VisitFormData(
        visit=None,
        household=masked_household(household.to_dict()),
        items=await _ledger_items(household.id),
        colleagues=await field_staff_for(household.org_path, exclude=actor.staff_id),
    )


async def _ledger_items(household_id: int) -> list[LedgerItem]:
    rows = (
        await MoneyItem.select(
            MoneyItem.id,
            MoneyItem.section,
            MoneyItem.kind,
            MoneyItem.description,
            MoneyItem.declared_fen,
            MoneyItem.verified_fen,
        )
        .where((MoneyItem.household == household_id) & MoneyItem.active.eq(True))
        .order_by(MoneyItem.id)
    )
    return [
        LedgerItem(r["id"], r["section"], r["kind"], r["description"], r["declared_fen"], r["verified_fen"])
        for r in rows
    ]


# --- scheduling ------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleRequest:
    household_id: int
    kind: VisitKind
    scheduled_for: date
    assigned_to: int
    application_id: int | None = None
    time_window: str = ""


async def do_schedule_visit(actor: Actor, request: ScheduleRequest, *, now: datetime) -> int:
    """Put a visit in a field worker's diary; audited; announces "visit.scheduled"."""
    require(actor, Capability.VISIT_RECORD)
    household = await access_household(actor, request.household_id)
    check_schedule_date(request.scheduled_for, local_date(now))
    if not await _field_staff_ok(request.assigned_to, household.org_path):
        raise DomainError(N_("Choose a field worker of this household's area."), field="assigned_to")
    if request.application_id is not None:
        application = (
            await Application.select(Application.household)
            .where(Application.id == request.application_id)
            .first()
        )
        if application is None or application["household"] != household.id:
            raise DomainError(
                N_("The application does not belong to this household."), field="application_id"
            )
    engine = Visit._meta.db
    async with write_transaction(engine):
        visit = Visit(
            household=household.id,
            application=request.application_id,
            org_path=household.org_path,
            kind=request.kind,
            scheduled_for=request.scheduled_for,
            time_window=request.time_window.strip()[:TIME_WINDOW_MAX_LENGTH],
            assigned_to=request.assigned_to,
            status=VisitStatus.SCHEDULED,
            created_by=actor.staff_id,
            created_at=now,
        )
        await visit.save()
        await record_event(
            actor,
            "visit.schedule",
            "visit",
            visit.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            after={
                "kind": request.kind.value,
                "scheduled_for": request.scheduled_for.isoformat(),
                "assigned_to": request.assigned_to,
                "application_id": request.application_id,
                "time_window": visit.time_window,
            },
        )
        await hooks.emit(
            "visit.scheduled",
            household_id=household.id,
            application_id=request.application_id,
            visit_id=visit.id,
            kind=request.kind.value,
            scheduled_for=request.scheduled_for,
            time_window=visit.time_window,
            now=now,
        )
    return int(visit.id)


async def do_cancel_visit(actor: Actor, visit_id: int, *, reason: str, now: datetime) -> None:
    require(actor, Capability.VISIT_RECORD)
    if len(reason.strip()) < 4:
        raise DomainError(N_("Please give a written reason (at least 4 characters)."), field="reason")
    async with write_transaction(Visit._meta.db):
        visit = await access_visit(actor, visit_id)
        if visit.status != VisitStatus.SCHEDULED:
            raise DomainError(N_("Only a scheduled visit can be cancelled."), field="reason")
        updated = (
            await Visit.update({Visit.status: VisitStatus.CANCELLED, Visit.version: Visit.version + 1})
            .where((Visit.id == visit.id) & (Visit.version == visit.version))
            .returning(Visit.id)
        )
        if not updated:
            raise Conflict(N_("Someone else changed this visit meanwhile. Reload it and try again."))
        await record_event(
            actor,
            "visit.cancel",
            "visit",
            visit.id,
            org_path=await _org_path(visit.id),
            now=now,
            household_id=visit.household_id,
            before={"status": visit.status.value},
            after={"status": VisitStatus.CANCELLED.value, "reason": reason.strip()[:500]},
        )


async def _org_path(visit_id: int) -> str:
    row = await Visit.select(Visit.org_path).where(Visit.id == visit_id).first()
    return str(row["org_path"]) if row else ""


# --- recording -------------------------------------------------------------


@dataclass(frozen=True)
class ImageUpload:
    data: bytes
    purpose: PhotoPurpose = PhotoPurpose.EVIDENCE
    caption: str = ""
    name: str = ""


@dataclass(frozen=True)
class VisitRecord:
    """A filled visit form, as sent by the page or the offline outbox.

    Either ``visit_id`` (a scheduled visit) or ``household_id`` and ``kind``
    (a visit made without an appointment) names what is recorded.
    """

    client_uuid: str
    findings: str
    visit_id: int | None = None
    household_id: int | None = None
    kind: str = ""
    base_version: int | None = None
    outcome: str = ""
    second_investigator_id: int | None = None
    gps: tuple[float, float] | None = None
    verifications: tuple[VerifiedValue, ...] = ()
    signature: ImageUpload | None = None
    photos: tuple[ImageUpload, ...] = ()


@dataclass(frozen=True)
class RecordResult:
    visit_id: int
    household_id: int
    version: int
    created: bool  # a visit row was made for an unscheduled visit
    duplicate: bool  # the same record had been received before: nothing changed
    photos_added: int = 0


@dataclass(frozen=True)
class VersionSnapshot:
    """One side of a conflict, as shown to the user."""

    version: int | None
    findings: str
    outcome: str
    second_investigator: str
    gps: tuple[float, float] | None
    verifications: dict[int, tuple[int, str]]
    recorded_by: str = ""
    done_at: datetime | None = None


class VisitConflict(Conflict):
    """An edit based on an outdated version: both versions travel with the error."""

    def __init__(self, visit_id: int, current: VersionSnapshot, submitted: VersionSnapshot) -> None:
        super().__init__(
            N_(
                "This visit was changed by someone else after your copy was made. "
                "Compare both versions and choose which to keep."
            )
        )
        self.visit_id = visit_id
        self.current = current
        self.submitted = submitted


def _gps_of(lat: Any, lon: Any) -> tuple[float, float] | None:
    if lat is None or lon is None:
        return None
    return round(float(lat), 6), round(float(lon), 6)


async def _snapshot(row: dict[str, Any]) -> VersionSnapshot:
    names = await _names([row["second_investigator"], row["assigned_to"]])
    return VersionSnapshot(
        version=row["version"],
        findings=row["findings"],
        outcome=row["outcome"],
        second_investigator=names.get(row["second_investigator"], ""),
        gps=_gps_of(row["gps_lat"], row["gps_lon"]),
        verifications=await visit_verifications(row["id"]),
        recorded_by=names.get(row["assigned_to"], ""),
        done_at=row["done_at"],
    )


async def _names(ids: list[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = await Staff.select(Staff.id, Staff.display_name).where(Staff.id.is_in(wanted))
    return {r["id"]: r["display_name"] for r in rows}


async def _submitted_snapshot(record: VisitRecord) -> VersionSnapshot:
    names = await _names([record.second_investigator_id])
    return VersionSnapshot(
        version=record.base_version,
        findings=record.findings.strip(),
        outcome=record.outcome,
        second_investigator=names.get(record.second_investigator_id or -1, ""),
        gps=record.gps,
        verifications={v.money_item_id: (v.verified_fen, v.note.strip()) for v in record.verifications},
    )


async def _same_content(row: dict[str, Any], record: VisitRecord) -> bool:
    """Whether the stored visit already says what this record says (a resend)."""
    if row["status"] != VisitStatus.DONE:
        return False
    stored = await visit_verifications(row["id"])
    submitted = {v.money_item_id: (v.verified_fen, v.note.strip()[:300]) for v in record.verifications}
    return (
        row["findings"] == record.findings.strip()
        and row["outcome"] == record.outcome
        and row["second_investigator"] == record.second_investigator_id
        and _gps_of(row["gps_lat"], row["gps_lon"]) == record.gps
        and all(stored.get(item) == value for item, value in submitted.items())
    )


def _check_record_shape(record: VisitRecord) -> VisitRecord:
    uuid = check_client_uuid(record.client_uuid)
    if record.visit_id is None and record.household_id is None:
        raise DomainError(N_("The record names no visit and no household."), field="visit_id")
    if len(record.findings) > FINDINGS_MAX_LENGTH:
        raise ValidationFailed(
            {
                "findings": DomainError(
                    N_("The findings are too long (at most {limit} characters)."),
                    field="findings",
                    limit=FINDINGS_MAX_LENGTH,
                )
            }
        )
    return VisitRecord(
        client_uuid=uuid,
        findings=record.findings.strip(),
        visit_id=record.visit_id,
        household_id=record.household_id,
        kind=record.kind,
        base_version=record.base_version,
        outcome=record.outcome.strip(),
        second_investigator_id=record.second_investigator_id,
        gps=record.gps,
        verifications=record.verifications,
        signature=record.signature,
        photos=record.photos,
    )


async def check_record_visit(actor: Actor, record: VisitRecord, *, now: datetime) -> RecordResult:
    """Record (or edit) a visit with its verified values, signature and photos, atomically.

    Raises:
        ValidationFailed: the record is incomplete (e.g. a home visit without
            the second investigator or the signature).
        PhotoRejected: a photo or the signature is not an acceptable image.
        VisitConflict: the record was based on an outdated version.
        NotFoundOrForbidden: the visit or household is outside the actor's area.
    """
    require(actor, Capability.VISIT_RECORD)
    record = _check_record_shape(record)

    # A resend of a record already stored: answer at once, touch nothing.
    existing = await Visit.select().where(Visit.client_uuid == record.client_uuid).first()
    if existing is not None:
        if not actor.can_see(existing["org_path"]) or not actor.org_path:
            raise NotFoundOrForbidden()
        if not record.photos and not record.signature and await _same_content(existing, record):
            return RecordResult(existing["id"], existing["household"], existing["version"], False, True)

    # Images are validated and cleaned before any row is written: a bad photo loses nothing.
    signature = await prepare_photo(record.signature.data) if record.signature else None
    photos: list[tuple[ImageUpload, ProcessedPhoto]] = []
    for upload in record.photos:
        photos.append((upload, await prepare_photo(upload.data)))
    for processed in [signature, *(p for _, p in photos)]:
        if processed is not None:
            await store_photo(processed)

    engine = Visit._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, f"visit-record:{record.client_uuid}")
        row = await _visit_to_record(actor, record, now)
        visit_ref = {"id": row["id"], "household": row["household"], "org_path": row["org_path"]}
        if row["client_uuid"] == record.client_uuid and await _same_content(row, record):
            # The same record again (a resend, or two sends that raced): only
            # photos it carries that are not stored yet are linked.
            added = await _link_all(actor, visit_ref, signature, photos, now)
            return RecordResult(row["id"], row["household"], row["version"], False, True, added)
        household = (
            await Household.select(Household.id, Household.org_path)
            .where(Household.id == row["household"])
            .first()
        )
        assert household is not None
        stale = record.base_version is not None and record.base_version != row["version"]
        taken = row["client_uuid"] not in (None, record.client_uuid)
        if row["_created"] is False and (stale or taken or record.base_version is None):
            raise VisitConflict(row["id"], await _snapshot(row), await _submitted_snapshot(record))
        kind = VisitKind(row["kind"])
        second = record.second_investigator_id
        check_visit_record(
            RecordFacts(
                kind=kind,
                findings=record.findings,
                outcome=record.outcome,
                recorder_id=actor.staff_id,
                assigned_id=row["assigned_to"],
                second_investigator_id=second,
                second_investigator_ok=second is not None
                and await _field_staff_ok(second, household["org_path"]),
                has_signature=signature is not None or bool(row["signature_key"]),
            )
        )
        first_record = row["status"] != VisitStatus.DONE
        values: dict[Column | str, Any] = {
            Visit.findings: record.findings,
            Visit.outcome: record.outcome,
            Visit.second_investigator: second,
            Visit.status: VisitStatus.DONE,
            Visit.client_uuid: record.client_uuid,
            Visit.version: Visit.version + 1,
            Visit.gps_lat: Decimal(str(record.gps[0])) if record.gps else row["gps_lat"],
            Visit.gps_lon: Decimal(str(record.gps[1])) if record.gps else row["gps_lon"],
        }
        if signature is not None:
            values[Visit.signature_key] = signature.sha256
        if first_record:
            values[Visit.done_at] = now
        updated = (
            await Visit.update(values)
            .where((Visit.id == row["id"]) & (Visit.version == row["version"]))
            .returning(Visit.version)
        )
        if not updated:
            raise VisitConflict(row["id"], await _snapshot(row), await _submitted_snapshot(record))
        added = await _link_all(actor, visit_ref, signature, photos, now)
        await record_event(
            actor,
            "visit.record" if first_record else "visit.edit",
            "visit",
            row["id"],
            org_path=row["org_path"],
            now=now,
            household_id=row["household"],
            before=None
            if first_record
            else {
                "version": row["version"],
                "findings": row["findings"],
                "outcome": row["outcome"],
                "second_investigator": row["second_investigator"],
            },
            after={
                "version": int(updated[0]["version"]),
                "client_uuid": record.client_uuid,
                "kind": kind.value,
                "findings": record.findings,
                "outcome": record.outcome,
                "second_investigator": second,
                "signature": signature.sha256 if signature else row["signature_key"],
                "gps": list(record.gps) if record.gps else None,
                "photos_added": added,
            },
        )
        # Values identical to those this visit already recorded are not written again.
        already = await visit_verifications(row["id"])
        changed = [
            v
            for v in record.verifications
            if already.get(v.money_item_id) != (v.verified_fen, v.note.strip()[:300])
        ]
        await record_verifications(
            actor, household, changed, visit_id=row["id"], source=source_for_kind(kind), now=now
        )
        await hooks.emit(
            "visit.done",
            household_id=row["household"],
            application_id=row["application"],
            visit_id=row["id"],
            kind=kind.value,
            outcome=record.outcome,
            first_record=first_record,
            now=now,
        )
    return RecordResult(
        row["id"], row["household"], int(updated[0]["version"]), bool(row["_created"]), False, added
    )


async def _link_all(
    actor: Actor,
    visit_ref: dict[str, Any],
    signature: ProcessedPhoto | None,
    photos: list[tuple[ImageUpload, ProcessedPhoto]],
    now: datetime,
) -> int:
    added = 0
    if signature is not None:
        _, created = await link_photo(
            actor, visit_ref, signature, purpose=PhotoPurpose.SIGNATURE, caption="", now=now
        )
        added += int(created)
    for upload, processed in photos:
        # Only the signature field makes a signature: a photo cannot pose as one.
        purpose = upload.purpose if upload.purpose != PhotoPurpose.SIGNATURE else PhotoPurpose.EVIDENCE
        _, created = await link_photo(
            actor, visit_ref, processed, purpose=purpose, caption=upload.caption, now=now
        )
        added += int(created)
    return added


async def _visit_to_record(actor: Actor, record: VisitRecord, now: datetime) -> dict[str, Any]:
    """The visit row this record applies to; an unscheduled visit gets a new row."""
    by_uuid = await Visit.select().where(Visit.client_uuid == record.client_uuid).first()
    if by_uuid is not None:
        if not actor.can_see(by_uuid["org_path"]):
            raise NotFoundOrForbidden()
        if record.visit_id is not None and record.visit_id != by_uuid["id"]:
            raise DomainError(N_("The record's id belongs to another visit."), field="client_uuid")
        return {**by_uuid, "_created": False}
    if record.visit_id is not None:
        row = (
            await Visit.select()
            .where((Visit.id == record.visit_id) & in_scope(actor, Visit.org_path))
            .first()
        )
        if row is None or not actor.org_path:
            raise NotFoundOrForbidden()
        if row["status"] == VisitStatus.CANCELLED:
            raise DomainError(N_("This visit was cancelled."), field="visit_id")
        first_record = row["status"] == VisitStatus.SCHEDULED and row["client_uuid"] is None
        # A scheduled visit recorded for the first time needs no version: nobody could have edited it.
        if first_record and record.base_version in (None, row["version"]):
            return {**row, "_created": None}
        return {**row, "_created": False}
    # An unscheduled visit (no appointment): made now, by the actor.
    assert record.household_id is not None
    household = await access_household(actor, record.household_id)
    try:
        kind = VisitKind(record.kind)
    except ValueError:
        raise ValidationFailed(
            {"kind": DomainError(N_("Please choose the kind of visit."), field="kind")}
        ) from None
    visit = Visit(
        household=household.id,
        org_path=household.org_path,
        kind=kind,
        scheduled_for=local_date(now),
        assigned_to=actor.staff_id,
        status=VisitStatus.SCHEDULED,
        created_by=actor.staff_id,
        created_at=now,
    )
    await visit.save()
    await record_event(
        actor,
        "visit.create",
        "visit",
        visit.id,
        org_path=household.org_path,
        now=now,
        household_id=household.id,
        after={"kind": kind.value, "unscheduled": True},
    )
    row = await Visit.select().where(Visit.id == visit.id).first()
    assert row is not None
    return {**row, "_created": True}


# --- household card data for a visit list --------------------------------


def masked_head(view: VisitView) -> str:
    return mask_name(view.head_name)
