"""The data-subject export: everything the system holds on one person (docs/retention.md).

A resident may ask what the city holds about them (Personal Information
Protection Law, art. 45). The person is found by ID number through the blind
index (services/identifiers.py): their member rows, the household files they
belong to (the file's phone and one-card account in full only when they are
its head), the other members by name and relation only, applications, declared
and verified income and assets, visits, a list of the photos (not the images),
payments and other aid, bot pre-applications and objections sent from their
phone numbers, and the access log's reads of their files.

Producing it is a logged read (``subject.export`` in the access log, for every
household file it covers) and an audit event holding counts and the request
reference, never the number. Jurisdiction applies: a district centre exports
what its district holds; the city bureau, the whole city.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from relief_pwa.adapters import exports
from relief_pwa.clock import local_date
from relief_pwa.core.enums import AppState, Category, Channel, Relation, Sex
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.idnumber import mask_id_number, parse_id_number
from relief_pwa.core.money import fen_to_decimal
from relief_pwa.core.permissions import Capability
from relief_pwa.db import write_transaction
from relief_pwa.services import identifiers
from relief_pwa.services.access import in_scope
from relief_pwa.services.access_log import note_read
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.tables import (
    AccessLogEntry,
    AidRecord,
    Application,
    Household,
    HouseholdContact,
    Member,
    MoneyItem,
    Objection,
    PaymentLine,
    Photo,
    PreApplication,
    Visit,
)

MAX_REFERENCE = 200


@dataclass(frozen=True)
class Column:
    key: str  # the JSON key
    title: str  # English message id (the XLSX header)
    labels: type[Enum] | None = None  # codes shown by their translated label in the XLSX


@dataclass
class Section:
    key: str
    title: str  # English message id (the XLSX sheet)
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SubjectExport:
    generated_at: datetime
    masked_id: str
    reference: str
    sections: tuple[Section, ...]

    @property
    def row_count(self) -> int:
        return sum(len(s.rows) for s in self.sections)

    def to_json(self) -> bytes:
        def plain(value: Any) -> Any:
            if isinstance(value, datetime | date):
                return value.isoformat()
            if isinstance(value, Decimal):
                return str(value)
            return value

        document = {
            "generated_at": self.generated_at.isoformat(),
            "subject": self.masked_id,
            "request_reference": self.reference,
            **{s.key: [{k: plain(v) for k, v in row.items()} for row in s.rows] for s in self.sections},
        }
        return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")

    def to_xlsx(self, translate: Callable[[str], str]) -> bytes:
        """One sheet per section, headers and coded values in the reader's language (formula-safe)."""

        def shown(column: Column, value: Any) -> Any:
            if column.labels is not None and isinstance(value, str) and value:
                try:
                    return translate(column.labels(value).label)  # type: ignore[attr-defined]
                except ValueError:
                    return value
            return value

        return exports.write_xlsx(
            [
                exports.SheetSpec(
                    name=translate(section.title),
                    header=[translate(c.title) for c in section.columns],
                    rows=[[shown(c, row.get(c.key)) for c in section.columns] for row in section.rows],
                    freeze_header=True,
                    widths=[18] * len(section.columns),
                )
                for section in self.sections
            ]
        )


def _sections() -> dict[str, Section]:
    def s(key: str, title: str, *columns: Column) -> Section:
        return Section(key, title, columns)

    c = Column
    return {
        section.key: section
        for section in (
            s(
                "person",
                N_("The person"),
                c("file_no", N_("File number")),
                c("name", N_("Name")),
                c("id_number", N_("ID number")),
                c("sex", N_("Sex"), Sex),
                c("birth_date", N_("Date of birth")),
                c("relation", N_("Relation to the head"), Relation),
                c("disability_grade", N_("Disability grade")),
                c("illness", N_("Illness")),
                c("work_capacity", N_("Work capacity")),
                c("schooling", N_("Schooling")),
                c("phone", N_("Phone")),
                c("active", N_("Current member")),
            ),
            s(
                "households",
                N_("Household files"),
                c("file_no", N_("File number")),
                c("head_name", N_("Head of household")),
                c("address", N_("Address")),
                c("phone", N_("Phone")),
                c("onecard_account", N_("One-card account")),
                c("onecard_bank", N_("Bank")),
                c("is_open", N_("Open")),
                c("relief_index", N_("Relief index")),
                c("created_at", N_("Created")),
                c("anonymised_at", N_("Anonymised")),
            ),
            s(
                "contact_history",
                N_("Phone and one-card account over time"),
                c("file_no", N_("File number")),
                c("phone", N_("Phone")),
                c("onecard_account", N_("One-card account")),
                c("valid_from", N_("Valid from")),
                c("valid_to", N_("Valid until")),
            ),
            s(
                "household_members",
                N_("Other members"),
                c("file_no", N_("File number")),
                c("name", N_("Name")),
                c("relation", N_("Relation to the head"), Relation),
            ),
            s(
                "applications",
                N_("Applications"),
                c("file_no", N_("File number")),
                c("number", N_("Application number")),
                c("category", N_("Category"), Category),
                c("channel", N_("Channel"), Channel),
                c("state", N_("State"), AppState),
                c("received_on", N_("Received")),
                c("decided_on", N_("Decided")),
                c("reason", N_("Reason")),
                c("description", N_("Description")),
            ),
            s(
                "income_and_assets",
                N_("Income, assets and expenses"),
                c("file_no", N_("File number")),
                c("section", N_("Section")),
                c("kind", N_("Kind")),
                c("description", N_("Description")),
                c("declared_yuan", N_("Declared (yuan)")),
                c("verified_yuan", N_("Verified (yuan)")),
                c("verified_source", N_("Verified by")),
                c("own", N_("The person's own")),
            ),
            s(
                "visits",
                N_("Visits"),
                c("file_no", N_("File number")),
                c("kind", N_("Kind")),
                c("scheduled_for", N_("Date")),
                c("status", N_("Status")),
                c("outcome", N_("Outcome")),
                c("findings", N_("Findings")),
            ),
            s(
                "photos",
                N_("Photos"),
                c("file_no", N_("File number")),
                c("photo_id", N_("Photo")),
                c("purpose", N_("Purpose")),
                c("caption", N_("Caption")),
                c("taken_at", N_("Taken")),
                c("uploaded_at", N_("Uploaded")),
            ),
            s(
                "payments",
                N_("Payments and aid"),
                c("file_no", N_("File number")),
                c("kind", N_("Kind")),
                c("month", N_("Month")),
                c("amount_yuan", N_("Amount (yuan)")),
                c("status", N_("Status")),
                c("date", N_("Date")),
                c("note", N_("Note")),
            ),
            s(
                "pre_applications",
                N_("Pre-applications from the bot"),
                c("created_at", N_("Sent")),
                c("name", N_("Name")),
                c("category", N_("Category"), Category),
                c("status", N_("Status")),
                c("description", N_("Description")),
            ),
            s(
                "objections",
                N_("Objections and complaints filed"),
                c("tracking_code", N_("Tracking code")),
                c("kind", N_("Kind")),
                c("received_at", N_("Received")),
                c("status", N_("Status")),
                c("about", N_("About")),
                c("body", N_("Text")),
                c("answer", N_("Answer")),
            ),
            s(
                "access_log",
                N_("Reads of the files"),
                c("at", N_("Time")),
                c("staff", N_("Staff")),
                c("action", N_("What")),
                c("file_no", N_("File number")),
                c("purpose", N_("Purpose or detail")),
            ),
        )
    }


async def do_subject_export(actor: Actor, id_number: str, *, reference: str, now: datetime) -> SubjectExport:
    """Everything held on the person with this ID number in the actor's jurisdiction; logged and audited."""
    require(actor, Capability.SUBJECT_EXPORT)
    reference = " ".join(reference.split())[:MAX_REFERENCE]
    if not reference:
        raise DomainError(N_("Give the reference of the person's request."), field="reference")
    number = parse_id_number(id_number, local_date(now)).number
    index = identifiers.index_of(identifiers.ID_NUMBER, number)
    sections = _sections()

    people = await Member.select(*Member.all_columns(), Member.household.file_no.as_alias("file_no")).where(
        (Member.id_index == index) & in_scope(actor, Member.org_path)
    )
    heads = await Household.select(Household.id).where(
        (Household.head_id_index == index) & in_scope(actor, Household.org_path)
    )
    household_ids = sorted({int(p["household"]) for p in people} | {int(h["id"]) for h in heads})
    member_ids = {int(p["id"]) for p in people}
    phones: set[str] = set()
    for p in people:
        phone = identifiers.opened(identifiers.PHONE, p["phone_sealed"])
        phones.add(phone)
        sections["person"].rows.append(
            {
                "file_no": p["file_no"],
                "name": p["name"],
                "id_number": number,
                "sex": p["sex"],
                "birth_date": p["birth_date"],
                "relation": p["relation"],
                "disability_grade": p["disability_grade"],
                "illness": p["illness"],
                "work_capacity": p["work_capacity"],
                "schooling": p["schooling"],
                "phone": phone,
                "active": bool(p["active"]),
            }
        )

    file_no: dict[int, str] = {}
    if household_ids:
        head_of = {int(h["id"]) for h in heads} | {
            int(p["household"]) for p in people if p["relation"] == Relation.HEAD
        }
        for h in await Household.select().where(Household.id.is_in(household_ids)).order_by(Household.id):
            hid = int(h["id"])
            file_no[hid] = str(h["file_no"])
            is_head = hid in head_of
            phone = identifiers.opened(identifiers.PHONE, h["phone_sealed"])
            if is_head:
                phones.add(phone)
            sections["households"].rows.append(
                {
                    "file_no": h["file_no"],
                    "head_name": h["head_name"],
                    "address": h["address"],
                    "phone": phone if is_head else identifiers.masked(identifiers.PHONE, h["phone_sealed"]),
                    "onecard_account": identifiers.opened(identifiers.ACCOUNT, h["account_sealed"])
                    if is_head
                    else identifiers.masked(identifiers.ACCOUNT, h["account_sealed"]),
                    "onecard_bank": h["onecard_bank"],
                    "is_open": bool(h["is_open"]),
                    "relief_index": h.get("current_index"),
                    "created_at": h["created_at"],
                    "anonymised_at": h.get("anonymised_at"),
                }
            )
        # Earlier phones and accounts (docs/facts-over-time.md): in full for the head, as above.
        for v in (
            await HouseholdContact.select()
            .where(HouseholdContact.household.is_in(household_ids))
            .order_by(HouseholdContact.id)
        ):
            full = int(v["household"]) in head_of
            if full:  # what was sent from an earlier phone is theirs too
                phones.add(identifiers.opened(identifiers.PHONE, v["phone_sealed"]))
            sections["contact_history"].rows.append(
                {
                    "file_no": file_no[int(v["household"])],
                    "phone": (identifiers.opened if full else identifiers.masked)(
                        identifiers.PHONE, v["phone_sealed"]
                    ),
                    "onecard_account": (identifiers.opened if full else identifiers.masked)(
                        identifiers.ACCOUNT, v["account_sealed"]
                    ),
                    "valid_from": v["valid_from"],
                    "valid_to": v["valid_to"],
                }
            )
        await _household_rows(sections, household_ids, member_ids, file_no)
    phones.discard("")
    await _linked_by_phone(actor, sections, phones, household_ids)

    export = SubjectExport(now, mask_id_number(number), reference, tuple(sections.values()))
    org_path = actor.org_path
    async with write_transaction(Household._meta.db):
        await record_event(
            actor,
            "subject.export",
            "person",
            0,
            org_path=org_path,
            now=now,
            after={
                "request_reference": reference,
                "households": len(household_ids),
                "rows": {s.key: len(s.rows) for s in export.sections},
            },
        )
    for hid in household_ids:
        note_read(
            actor,
            "subject.export",
            now=now,
            household_id=hid,
            entity_id=hid,
            purpose=reference,
        )
    if not household_ids:
        note_read(actor, "subject.export", now=now, entity_type="person", purpose=reference, detail="0")
    return export


async def _household_rows(
    sections: dict[str, Section], household_ids: Sequence[int], member_ids: set[int], file_no: dict[int, str]
) -> None:
    for m in await Member.select(Member.id, Member.household, Member.name, Member.relation).where(
        Member.household.is_in(list(household_ids))
    ):
        if int(m["id"]) not in member_ids:
            sections["household_members"].rows.append(
                {"file_no": file_no[int(m["household"])], "name": m["name"], "relation": m["relation"]}
            )
    for a in await Application.select().where(Application.household.is_in(list(household_ids))):
        sections["applications"].rows.append(
            {
                "file_no": file_no[int(a["household"])],
                "number": a["number"],
                "category": a["category"],
                "channel": a["channel"],
                "state": a["state"],
                "received_on": a["received_on"],
                "decided_on": a["decided_on"],
                "reason": a["reason"],
                "description": a["description"],
            }
        )
    for item in await MoneyItem.select(
        MoneyItem.household,
        MoneyItem.member,
        MoneyItem.section,
        MoneyItem.kind,
        MoneyItem.description,
        MoneyItem.declared_fen,
        MoneyItem.verified_fen,
        MoneyItem.verified_source,
    ).where(MoneyItem.household.is_in(list(household_ids))):
        sections["income_and_assets"].rows.append(
            {
                "file_no": file_no[int(item["household"])],
                "section": item["section"],
                "kind": item["kind"],
                "description": item["description"],
                "declared_yuan": fen_to_decimal(int(item["declared_fen"])),
                "verified_yuan": None
                if item["verified_fen"] is None
                else fen_to_decimal(int(item["verified_fen"])),
                "verified_source": item["verified_source"],
                "own": item["member"] is not None and int(item["member"]) in member_ids,
            }
        )
    for v in await Visit.select(
        Visit.household, Visit.kind, Visit.scheduled_for, Visit.status, Visit.outcome, Visit.findings
    ).where(Visit.household.is_in(list(household_ids))):
        sections["visits"].rows.append(
            {
                "file_no": file_no[int(v["household"])],
                "kind": v["kind"],
                "scheduled_for": v["scheduled_for"],
                "status": v["status"],
                "outcome": v["outcome"],
                "findings": v["findings"],
            }
        )
    for ph in await Photo.select(
        Photo.id, Photo.household, Photo.purpose, Photo.caption, Photo.taken_at, Photo.uploaded_at
    ).where(Photo.household.is_in(list(household_ids))):
        sections["photos"].rows.append(
            {
                "file_no": file_no[int(ph["household"])],
                "photo_id": ph["id"],
                "purpose": ph["purpose"],
                "caption": ph["caption"],
                "taken_at": ph["taken_at"],
                "uploaded_at": ph["uploaded_at"],
            }
        )
    for line in await PaymentLine.select(
        PaymentLine.household,
        PaymentLine.month,
        PaymentLine.amount_fen,
        PaymentLine.status,
        PaymentLine.paid_at,
        PaymentLine.failure_reason,
    ).where(PaymentLine.household.is_in(list(household_ids))):
        sections["payments"].rows.append(
            {
                "file_no": file_no[int(line["household"])],
                "kind": "payment",
                "month": line["month"],
                "amount_yuan": fen_to_decimal(int(line["amount_fen"])),
                "status": line["status"],
                "date": line["paid_at"],
                "note": line["failure_reason"],
            }
        )
    for aid in await AidRecord.select(
        AidRecord.household, AidRecord.value_fen, AidRecord.received_on, AidRecord.source, AidRecord.note
    ).where(AidRecord.household.is_in(list(household_ids)) & (AidRecord.source != "payment")):
        sections["payments"].rows.append(
            {
                "file_no": file_no[int(aid["household"])],
                "kind": aid["source"],
                "month": "",
                "amount_yuan": fen_to_decimal(int(aid["value_fen"])),
                "status": "",
                "date": aid["received_on"],
                "note": aid["note"],
            }
        )
    for entry in (
        await AccessLogEntry.select(
            AccessLogEntry.at,
            AccessLogEntry.actor_label,
            AccessLogEntry.action,
            AccessLogEntry.household_id,
            AccessLogEntry.purpose,
            AccessLogEntry.detail,
        )
        .where(AccessLogEntry.household_id.is_in(list(household_ids)))
        .order_by(AccessLogEntry.id)
    ):
        sections["access_log"].rows.append(
            {
                "at": entry["at"],
                "staff": entry["actor_label"],
                "action": entry["action"],
                "file_no": file_no.get(int(entry["household_id"]), ""),
                "purpose": entry["purpose"] or entry["detail"],
            }
        )


async def _linked_by_phone(
    actor: Actor, sections: dict[str, Section], phones: set[str], household_ids: Sequence[int]
) -> None:
    """Pre-applications and objections sent from the person's phones (or for their applications)."""
    indexes = [identifiers.index_of(identifiers.PHONE, phone) for phone in phones]
    linked: Any = PreApplication.phone_index.is_in(indexes) if indexes else None
    if household_ids:
        by_file = PreApplication.application.household.is_in(list(household_ids))
        linked = by_file if linked is None else linked | by_file
    if linked is not None:
        for pre in await PreApplication.select(
            PreApplication.created_at,
            PreApplication.name,
            PreApplication.category,
            PreApplication.status,
            PreApplication.description,
        ).where(linked & in_scope(actor, PreApplication.org_path)):
            sections["pre_applications"].rows.append(dict(pre))
    if not phones:
        return
    # The filer's phone is sealed without a blind index (never searched by staff): open and compare.
    for objection in await Objection.select().where(
        in_scope(actor, Objection.org_path) & (Objection.contact_phone_sealed != "")
    ):
        if identifiers.opened(identifiers.PHONE, objection["contact_phone_sealed"]) in phones:
            sections["objections"].rows.append(
                {
                    "tracking_code": objection["tracking_code"],
                    "kind": objection["kind"],
                    "received_at": objection["received_at"],
                    "status": objection["status"],
                    "about": objection["about"],
                    "body": objection["body"],
                    "answer": objection["answer"],
                }
            )
