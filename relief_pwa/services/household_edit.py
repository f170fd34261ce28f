"""Changing a household's facts after intake: the file, its members and declared items.

Every change checks the version the user loaded (a stale edit is a conflict,
never a silent overwrite), is audited with before/after, and lets listeners
(the relief index) react in the same transaction. Nothing is overwritten: an
edit closes the current version of the facts today and inserts the next one
(services/facts_history.py), so the file can show the facts of any past date.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from relief_pwa.clock import local_date
from relief_pwa.core.enums import AreaType, Housing, Relation
from relief_pwa.core.errors import Conflict, DomainError, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.intake import ItemDraft, MemberDraft, check_item, check_member
from relief_pwa.core.permissions import Capability
from relief_pwa.core.phone import normalise_phone
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services import facts_history, hooks, identifiers
from relief_pwa.services.access import access_household, access_member
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.intake import DuplicateIdNumber
from relief_pwa.tables import Household, Member, MoneyItem

STALE = N_(
    "Someone else changed this household meanwhile. Your changes were not saved; reload and try again."
)


@dataclass(frozen=True)
class HouseholdFields:
    address: str
    area_type: str
    housing: str
    phone: str
    onecard_account: str


def _masked_id(row: Any) -> str:
    """The member's ID number masked for an audit payload (never in full)."""
    sealed_id = row.get("id_sealed", "")
    return identifiers.masked(identifiers.ID_NUMBER, sealed_id) if sealed_id else ""


def _member_snapshot(row: Any) -> dict[str, Any]:
    return {
        key: (value.isoformat() if hasattr(value, "isoformat") else value)
        for key, value in row.items()
        if key
        in {
            "name",
            "sex",
            "birth_date",
            "relation",
            "disability_grade",
            "illness",
            "work_capacity",
            "schooling",
            "active",
        }
    } | {"id_number": _masked_id(row)}


async def _open_household_for_edit(
    actor: Actor, household_id: int, expected_version: int, now: datetime
) -> Household:
    """Load within jurisdiction, refuse closed files, and claim the next version (or conflict)."""
    require(actor, Capability.HOUSEHOLD_EDIT)
    household = await access_household(actor, household_id)
    if not household.is_open:
        raise DomainError(N_("This household file is closed; open a new application to change it."))
    updated = (
        await Household.update({Household.version: Household.version + 1, Household.updated_at: now})
        .where((Household.id == household.id) & (Household.version == expected_version))
        .returning(Household.version)
    )
    if not updated:
        raise Conflict(STALE)
    return household


def _refuse_past_version(member: Member) -> None:
    """Only the version valid now may change; an older page names a version since replaced."""
    if not member.active:
        raise Conflict(STALE)


async def refuse_duplicate_id(actor: Actor, id_number: str, field: str, own_member_id: int | None) -> None:
    engine = Member._meta.db
    key = identifiers.index_of(identifiers.ID_NUMBER, id_number)
    await advisory_xact_lock(engine, f"intake-id:{key}")
    query = Member.select(
        Member.id, Member.household.id, Member.household.file_no, Member.household.org_path
    ).where(
        (Member.id_index == key) & (Member.active == True) & (Member.household.is_open == True)  # noqa: E712
    )
    for row in await query:
        if row["id"] == own_member_id:
            continue
        visible = actor.can_see(row["household.org_path"])
        raise ValidationFailed(
            {
                field: DuplicateIdNumber(
                    field,
                    row["household.file_no"] if visible else None,
                    row["household.id"] if visible else None,
                )
            }
        )


async def do_update_household(
    actor: Actor, household_id: int, fields: HouseholdFields, *, expected_version: int, now: datetime
) -> None:
    errors: dict[str, DomainError] = {}
    address = " ".join(fields.address.split())
    if not address or len(address) > 120 or any(ch in address for ch in "<>"):
        errors["address"] = DomainError(
            N_("Enter the address (at most 120 characters, no < or >)."), field="address"
        )
    if fields.area_type not in {a.value for a in AreaType}:
        errors["area_type"] = DomainError(N_("Please choose a value from the list."), field="area_type")
    if fields.housing not in {h.value for h in Housing}:
        errors["housing"] = DomainError(N_("Please choose a value from the list."), field="housing")
    # Identifiers are not shown in full on the form: a blank field keeps the stored value.
    phone = ""
    if fields.phone.strip():
        try:
            phone = normalise_phone(fields.phone)
        except DomainError as exc:
            errors["phone"] = DomainError(exc.message, field="phone", **exc.params)
    account = "".join(fields.onecard_account.split())
    if account and not (account.isdecimal() and 12 <= len(account) <= 30):
        errors["onecard_account"] = DomainError(
            N_("The one-card account is 12 to 30 digits."), field="onecard_account"
        )
    if errors:
        raise ValidationFailed(errors)
    after: dict[str, Any] = {"address": address, "area_type": fields.area_type, "housing": fields.housing}
    async with write_transaction(Household._meta.db):
        household = await _open_household_for_edit(actor, household_id, expected_version, now)
        before = {key: getattr(household, key) for key in after}
        changes: dict[Any, Any] = {getattr(Household, key): value for key, value in after.items()}
        # The audit event says that an identifier changed, never what it is.
        contact: dict[str, str] = {}
        if phone:
            sealed_phone, phone_key = identifiers.sealed(identifiers.PHONE, phone)
            if phone_key != household.phone_index:
                changes.update({Household.phone_sealed: sealed_phone, Household.phone_index: phone_key})
                contact["phone_sealed"] = sealed_phone
                after["phone"] = "changed"
        if account:
            sealed_account, account_key = identifiers.sealed(identifiers.ACCOUNT, account)
            if account_key != household.account_index:
                changes.update(
                    {Household.account_sealed: sealed_account, Household.account_index: account_key}
                )
                contact["account_sealed"] = sealed_account
                after["onecard_account"] = "changed"
        await Household.update(changes).where(Household.id == household.id)
        if contact:  # the row holds the value valid now; the versions hold every value and when
            await facts_history.set_household_contact(
                household.to_dict(), contact, local_date(now), source=facts_history.Source.DECLARED, now=now
            )
        if any(before[key] != after[key] for key in ("address", "area_type", "housing")):
            await facts_history.set_household_facts(
                household.to_dict(),
                {key: after[key] for key in ("address", "area_type", "housing")},
                local_date(now),
                source=facts_history.Source.DECLARED,
                now=now,
            )
        await record_event(
            actor,
            "household.update",
            "household",
            household.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            before=before,
            after=after,
        )
        await hooks.household_changed(household.id, trigger="facts", now=now)


async def do_add_member(
    actor: Actor, household_id: int, draft: MemberDraft, *, expected_version: int, now: datetime
) -> int:
    errors: dict[str, DomainError] = {}
    clean = check_member("", draft, local_date(now), errors)
    if clean is not None and clean.relation == Relation.HEAD:
        errors["relation"] = DomainError(N_("The household already has a head."), field="relation")
    if errors or clean is None:
        raise ValidationFailed(errors)
    async with write_transaction(Household._meta.db):
        household = await _open_household_for_edit(actor, household_id, expected_version, now)
        await refuse_duplicate_id(actor, clean.id_number, "id_number", None)
        member = Member(
            household=household.id,
            org_path=household.org_path,
            name=clean.name,
            **identifiers.member_identifier_columns(id_number=clean.id_number, phone=clean.phone),
            sex=clean.sex,
            birth_date=clean.birth_date,
            relation=clean.relation,
            disability_grade=clean.disability_grade,
            illness=clean.illness,
            work_capacity=clean.work_capacity,
            schooling=clean.schooling,
            valid_from=local_date(now),
            source=facts_history.Source.DECLARED,
        )
        await member.save()
        await record_event(
            actor,
            "member.add",
            "member",
            member.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            after=_member_snapshot(member.to_dict()),
        )
        await hooks.household_changed(household.id, trigger="facts", now=now)
    return int(member.id)


async def do_update_member(
    actor: Actor, member_id: int, draft: MemberDraft, *, expected_version: int, now: datetime
) -> None:
    member = await access_member(actor, member_id)
    _refuse_past_version(member)
    errors: dict[str, DomainError] = {}
    # The form does not show the stored ID number or phone in full: blank keeps them.
    if not draft.id_number.strip():
        draft = replace(draft, id_number=identifiers.opened(identifiers.ID_NUMBER, member.id_sealed))
    if not draft.phone.strip():
        draft = replace(draft, phone=identifiers.opened(identifiers.PHONE, member.phone_sealed))
    clean = check_member("", draft, local_date(now), errors)
    if clean is not None and (clean.relation == Relation.HEAD) != (member.relation == Relation.HEAD):
        errors["relation"] = DomainError(
            N_("The head of household cannot be changed here."), field="relation"
        )
    if errors or clean is None:
        raise ValidationFailed(errors)
    async with write_transaction(Household._meta.db):
        household = await _open_household_for_edit(actor, member.household, expected_version, now)
        await refuse_duplicate_id(actor, clean.id_number, "id_number", member.id)
        before = _member_snapshot(member.to_dict())
        values = {
            "name": clean.name,
            **identifiers.member_identifier_columns(id_number=clean.id_number, phone=clean.phone),
            "sex": clean.sex,
            "birth_date": clean.birth_date,
            "relation": clean.relation,
            "disability_grade": clean.disability_grade,
            "illness": clean.illness,
            "work_capacity": clean.work_capacity,
            "schooling": clean.schooling,
        }
        await facts_history.supersede_member(
            member.to_dict(),
            values,
            local_date(now),
            source=facts_history.Source.DECLARED,
            today=local_date(now),
        )
        if clean.relation == Relation.HEAD:
            head_sealed, head_key = identifiers.sealed(identifiers.ID_NUMBER, clean.id_number)
            await Household.update(
                {
                    Household.head_name: clean.name,
                    Household.head_id_sealed: head_sealed,
                    Household.head_id_index: head_key,
                }
            ).where(Household.id == household.id)
        after = _member_snapshot({**values, "active": True})
        await record_event(
            actor,
            "member.update",
            "member",
            member.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            before=before,
            after=after,
        )
        await hooks.household_changed(household.id, trigger="facts", now=now)


async def do_remove_member(
    actor: Actor, member_id: int, reason: str, *, expected_version: int, now: datetime
) -> None:
    """A member leaves the household (moved out, died): kept on file, no longer counted."""
    member = await access_member(actor, member_id)
    _refuse_past_version(member)
    if member.relation == Relation.HEAD:
        raise DomainError(N_("The head of household cannot be removed."))
    if len(reason.strip()) < 4:
        raise ValidationFailed(
            {
                "reason": DomainError(
                    N_("Please give a written reason (at least 4 characters)."), field="reason"
                )
            }
        )
    async with write_transaction(Household._meta.db):
        household = await _open_household_for_edit(actor, member.household, expected_version, now)
        today = local_date(now)
        await facts_history.close_member(member.id, today, reason="left", today=today)
        await record_event(
            actor,
            "member.remove",
            "member",
            member.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            before={"active": True},
            after={"active": False, "reason": reason.strip()[:300]},
        )
        await hooks.household_changed(household.id, trigger="facts", now=now)


async def do_add_item(
    actor: Actor, household_id: int, draft: ItemDraft, *, expected_version: int, now: datetime
) -> int:
    household_for_members = await access_household(actor, household_id)
    member_ids = {
        r["id"]: r["id"]
        for r in await Member.select(Member.id).where(
            (Member.household == household_for_members.id) & (Member.active == True)  # noqa: E712
        )
    }
    errors: dict[str, DomainError] = {}
    clean = check_item("", draft, member_ids, errors)
    if errors or clean is None:
        raise ValidationFailed(errors)
    async with write_transaction(Household._meta.db):
        household = await _open_household_for_edit(actor, household_id, expected_version, now)
        item = MoneyItem(
            household=household.id,
            org_path=household.org_path,
            section=clean.section,
            kind=clean.kind,
            member=clean.member_index,
            description=clean.description,
            declared_fen=clean.amount_fen,
            valid_from=local_date(now),
            source=facts_history.Source.DECLARED,
        )
        await item.save()
        await record_event(
            actor,
            "item.add",
            "money_item",
            item.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            after={
                "section": clean.section,
                "kind": clean.kind,
                "declared_fen": clean.amount_fen,
                "member": clean.member_index,
                "description": clean.description,
            },
        )
        await hooks.household_changed(household.id, trigger="facts", now=now)
    return int(item.id)


async def do_remove_item(
    actor: Actor, item_id: int, reason: str, *, expected_version: int, now: datetime
) -> None:
    item = await MoneyItem.objects().where(MoneyItem.id == item_id).first() if 0 < item_id < 2**63 else None
    if item is None:
        from relief_pwa.core.errors import NotFoundOrForbidden

        raise NotFoundOrForbidden()
    await access_household(actor, item.household)
    if len(reason.strip()) < 4:
        raise ValidationFailed(
            {
                "reason": DomainError(
                    N_("Please give a written reason (at least 4 characters)."), field="reason"
                )
            }
        )
    async with write_transaction(Household._meta.db):
        household = await _open_household_for_edit(actor, item.household, expected_version, now)
        await facts_history.close_item(item.id, local_date(now), today=local_date(now))
        await record_event(
            actor,
            "item.remove",
            "money_item",
            item.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            before={"section": item.section, "kind": item.kind, "declared_fen": item.declared_fen},
            after={"active": False, "reason": reason.strip()[:300]},
        )
        await hooks.household_changed(household.id, trigger="facts", now=now)
