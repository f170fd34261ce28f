"""Intake (采集录入): open a household's electronic file with its first application."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from relief_pwa.clock import local_date
from relief_pwa.core.enums import AppState, Channel
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.idnumber import mask_id_number, parse_id_number
from relief_pwa.core.intake import CleanIntake, IntakeDraft, validate_intake
from relief_pwa.core.materials import Material, MemberNeeds, missing_materials, required_materials
from relief_pwa.core.permissions import Capability
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services import hooks, identifiers
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.identifiers import identifier_columns, member_identifier_columns
from relief_pwa.services.numbers import application_number, household_file_no, next_value
from relief_pwa.services.org import access_community
from relief_pwa.tables import Application, Household, Member, MoneyItem


class DuplicateIdNumber(DomainError):
    """An ID number is already in an open household somewhere in the city."""

    def __init__(self, field: str, file_no: str | None, household_id: int | None) -> None:
        if household_id is not None:
            super().__init__(
                N_("This ID number already belongs to open household {file_no}."),
                field=field,
                file_no=file_no or "",
            )
        else:
            super().__init__(
                N_(
                    "This ID number already belongs to an open household in another area; "
                    "please contact the city bureau."
                ),
                field=field,
            )
        self.household_id = household_id


@dataclass(frozen=True)
class IntakeResult:
    household_id: int
    file_no: str
    application_id: int
    application_number: str
    missing: tuple[Material, ...]


def materials_needed(clean: CleanIntake) -> list[Material]:
    incomes_by_member = {item.member_index for item in clean.items if item.section == "income"}
    needs = [
        MemberNeeds(m.disability_grade, m.illness, m.schooling, has_income=i in incomes_by_member)
        for i, m in enumerate(clean.members)
    ]
    has_expenses = any(item.section == "expense" for item in clean.items)
    return required_materials(clean.category, needs, clean.housing, has_expenses)


async def _find_duplicates(actor: Actor, clean: CleanIntake) -> None:
    keys = [identifiers.index_of(identifiers.ID_NUMBER, m.id_number) for m in clean.members]
    rows = await Member.select(
        Member.id_index, Member.household.id, Member.household.file_no, Member.household.org_path
    ).where(Member.id_index.is_in(keys) & Member.active.eq(True) & (Member.household.is_open == True))  # noqa: E712
    if not rows:
        return
    errors: dict[str, DomainError] = {}
    for row in rows:
        index = keys.index(row["id_index"])
        visible = actor.can_see(row["household.org_path"])
        errors[f"members-{index}-id_number"] = DuplicateIdNumber(
            f"members-{index}-id_number",
            row["household.file_no"] if visible else None,
            row["household.id"] if visible else None,
        )
    raise ValidationFailed(errors)


async def check_id_number(actor: Actor, raw: str, field: str, *, now: datetime) -> DomainError | None:
    """One member's ID number checked while the form is being filled: its checksum
    and date, and whether an open household anywhere in the city already has it
    (named only when the actor may open it). None when it is fine so far."""
    require(actor, Capability.INTAKE_CREATE)
    try:
        number = parse_id_number(raw, local_date(now)).number
    except DomainError as exc:
        return DomainError(exc.message, field=field, **exc.params)
    row = (
        await Member.select(Member.household.id, Member.household.file_no, Member.household.org_path)
        .where(
            (Member.id_index == identifiers.index_of(identifiers.ID_NUMBER, number))
            & Member.active.eq(True)
            & (Member.household.is_open == True)  # noqa: E712
        )
        .first()
    )
    if row is None:
        return None
    visible = actor.can_see(row["household.org_path"])
    return DuplicateIdNumber(
        field,
        row["household.file_no"] if visible else None,
        row["household.id"] if visible else None,
    )


async def check_and_create_intake(actor: Actor, draft: IntakeDraft, *, now: datetime) -> IntakeResult:
    """Validate the form, refuse city-wide duplicates, write everything in one transaction."""
    require(actor, Capability.INTAKE_CREATE)
    clean = validate_intake(draft, local_date(now))
    try:
        community = await access_community(actor, clean.community_id)
    except NotFoundOrForbidden:
        raise ValidationFailed(
            {"community_id": DomainError(N_("Please choose the community."), field="community_id")}
        ) from None
    if clean.channel == Channel.WINDOW and not actor.can(Capability.INTAKE_AT_WINDOW):
        pass  # a liaison may still record a window application handed to them
    path_codes = [c for c in community.path.split("/") if c]
    district_code, street_code = path_codes[1], path_codes[2]
    needed = materials_needed(clean)
    missing = missing_materials(needed, clean.materials)

    engine = Household._meta.db
    async with write_transaction(engine):
        for member in clean.members:
            # Two intakes of the same person at once must not both pass the check.
            await advisory_xact_lock(
                engine, f"intake-id:{identifiers.index_of(identifiers.ID_NUMBER, member.id_number)}"
            )
        await _find_duplicates(actor, clean)
        file_no = household_file_no(district_code, await next_value(f"household:{district_code}"))
        head = clean.head
        household = Household(
            file_no=file_no,
            org_unit=community.id,
            org_path=community.path,
            address=clean.address,
            area_type=clean.area_type,
            housing=clean.housing,
            head_name=head.name,
            **identifier_columns(head_id=head.id_number, phone=clean.phone, account=clean.onecard_account),
            created_by=actor.staff_id,
            created_at=now,
            updated_at=now,
        )
        await household.save()
        member_ids: list[int] = []
        for member in clean.members:
            row = Member(
                household=household.id,
                org_path=community.path,
                name=member.name,
                **member_identifier_columns(id_number=member.id_number, phone=member.phone),
                sex=member.sex,
                birth_date=member.birth_date,
                relation=member.relation,
                disability_grade=member.disability_grade,
                illness=member.illness,
                work_capacity=member.work_capacity,
                schooling=member.schooling,
            )
            await row.save()
            member_ids.append(row.id)
        for item in clean.items:
            await MoneyItem.insert(
                MoneyItem(
                    household=household.id,
                    org_path=community.path,
                    section=item.section,
                    kind=item.kind,
                    member=member_ids[item.member_index] if item.member_index is not None else None,
                    description=item.description,
                    declared_fen=item.amount_fen,
                )
            )
        number = application_number(
            street_code, now.year, await next_value(f"application:{street_code}:{now.year}")
        )
        application = Application(
            number=number,
            household=household.id,
            org_path=community.path,
            category=clean.category,
            channel=clean.channel,
            state=AppState.RECEIVED,
            description=clean.description,
            missing_materials=[m.code for m in missing],
            received_on=local_date(now),
            state_changed_at=now,
            submitted_by=actor.staff_id,
            created_at=now,
        )
        await application.save()
        await record_event(
            actor,
            "household.create",
            "household",
            household.id,
            org_path=community.path,
            now=now,
            household_id=household.id,
            after={
                "file_no": file_no,
                "members": [
                    {"name": m.name, "id_number": mask_id_number(m.id_number), "relation": m.relation}
                    for m in clean.members
                ],
                "items": [
                    {"section": i.section, "kind": i.kind, "declared_fen": i.amount_fen} for i in clean.items
                ],
            },
        )
        await record_event(
            actor,
            "application.receive",
            "application",
            application.id,
            org_path=community.path,
            now=now,
            household_id=household.id,
            after={
                "number": number,
                "category": clean.category,
                "channel": clean.channel,
                "state": AppState.RECEIVED,
                "missing_materials": [m.code for m in missing],
            },
        )
        await hooks.household_changed(household.id, trigger="intake", now=now)
    return IntakeResult(household.id, file_no, application.id, number, tuple(missing))
