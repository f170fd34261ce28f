"""Validation of an intake form: a household, its members, declared items, one application.

The edge hands in what was typed (strings), the core returns clean typed
values or every problem at once, keyed by form field name, so the form can
re-render with field-level messages and the user's values kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from relief_pwa.core.enums import (
    AreaType,
    AssetKind,
    Category,
    Channel,
    ExpenseKind,
    Housing,
    Illness,
    IncomeKind,
    Relation,
    Schooling,
    Sex,
    WorkCapacity,
)
from relief_pwa.core.errors import DomainError, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.idnumber import IdNumber, check_id_matches, parse_id_number
from relief_pwa.core.money import parse_yuan
from relief_pwa.core.phone import normalise_phone

MAX_MEMBERS = 15
MAX_ITEMS = 40
SECTIONS: dict[str, type[IncomeKind] | type[AssetKind] | type[ExpenseKind]] = {
    "income": IncomeKind,
    "asset": AssetKind,
    "expense": ExpenseKind,
}


@dataclass
class MemberDraft:
    name: str = ""
    id_number: str = ""
    sex: str = ""
    birth_date: str = ""
    relation: str = ""
    disability_grade: str = ""
    illness: str = Illness.NONE.value
    work_capacity: str = ""
    schooling: str = ""
    phone: str = ""

    def is_blank(self) -> bool:
        return not any(getattr(self, f).strip() for f in ("name", "id_number", "birth_date", "phone"))


@dataclass
class ItemDraft:
    section: str = ""
    kind: str = ""
    member: str = ""  # index into the members list, or "" for the household
    description: str = ""
    amount: str = ""

    def is_blank(self) -> bool:
        return not (self.amount.strip() or self.description.strip())


@dataclass
class IntakeDraft:
    community_id: str = ""
    address: str = ""
    area_type: str = ""
    housing: str = ""
    phone: str = ""
    onecard_account: str = ""
    category: str = ""
    channel: str = ""
    description: str = ""
    members: list[MemberDraft] = field(default_factory=list)
    items: list[ItemDraft] = field(default_factory=list)
    materials: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CleanMember:
    name: str
    id_number: str
    sex: Sex
    birth_date: date
    relation: Relation
    disability_grade: int | None
    illness: Illness
    work_capacity: WorkCapacity
    schooling: Schooling
    phone: str


@dataclass(frozen=True)
class CleanItem:
    section: str
    kind: str
    member_index: int | None
    description: str
    amount_fen: int


@dataclass(frozen=True)
class CleanIntake:
    community_id: int
    address: str
    area_type: AreaType
    housing: Housing
    phone: str
    onecard_account: str
    category: Category
    channel: Channel
    description: str
    members: tuple[CleanMember, ...]
    items: tuple[CleanItem, ...]
    materials: tuple[str, ...]

    @property
    def head(self) -> CleanMember:
        return next(m for m in self.members if m.relation == Relation.HEAD)


def _choice(enum: type, raw: str, field_name: str, errors: dict[str, DomainError]) -> object:
    try:
        return enum(raw.strip())
    except ValueError:
        errors[field_name] = DomainError(N_("Please choose a value from the list."), field=field_name)
        return None


def _text(raw: str, field_name: str, errors: dict[str, DomainError], *, required: bool, max_len: int) -> str:
    value = " ".join(raw.split())
    if required and not value:
        errors[field_name] = DomainError(N_("This field is required."), field=field_name)
    elif len(value) > max_len:
        errors[field_name] = DomainError(N_("At most {max} characters."), field=field_name, max=max_len)
    elif any(ch in value for ch in "<>"):
        errors[field_name] = DomainError(N_("The characters < and > are not allowed."), field=field_name)
    return value


def _date(raw: str, field_name: str, errors: dict[str, DomainError]) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[field_name] = DomainError(N_("Enter a date as YYYY-MM-DD."), field=field_name)
        return None


def _clean_member(
    prefix: str, draft: MemberDraft, as_of: date, errors: dict[str, DomainError]
) -> CleanMember | None:
    before = len(errors)
    name = _text(draft.name, prefix + "name", errors, required=True, max_len=40)
    parsed: IdNumber | None = None
    try:
        parsed = parse_id_number(draft.id_number, as_of)
    except DomainError as exc:
        errors[prefix + "id_number"] = DomainError(exc.message, field=prefix + "id_number", **exc.params)
    sex = _choice(Sex, draft.sex, prefix + "sex", errors) if draft.sex.strip() else None
    birth = _date(draft.birth_date, prefix + "birth_date", errors)
    if parsed is not None:
        for problem in check_id_matches(parsed, birth, sex):  # type: ignore[arg-type]
            name_of_field = prefix + (problem.field or "id_number")
            errors[name_of_field] = DomainError(problem.message, field=name_of_field, **problem.params)
        sex = sex or parsed.sex
        birth = birth or parsed.birth_date
    relation = _choice(Relation, draft.relation, prefix + "relation", errors)
    grade: int | None = None
    if draft.disability_grade.strip():
        if draft.disability_grade.strip() in {"1", "2", "3", "4"}:
            grade = int(draft.disability_grade.strip())
        else:
            errors[prefix + "disability_grade"] = DomainError(
                N_("Disability grade is 1 to 4, or empty."), field=prefix + "disability_grade"
            )
    illness = _choice(Illness, draft.illness or Illness.NONE, prefix + "illness", errors)
    work = _choice(WorkCapacity, draft.work_capacity, prefix + "work_capacity", errors)
    schooling = _choice(Schooling, draft.schooling, prefix + "schooling", errors)
    phone = ""
    if draft.phone.strip():
        try:
            phone = normalise_phone(draft.phone)
        except DomainError as exc:
            errors[prefix + "phone"] = DomainError(exc.message, field=prefix + "phone", **exc.params)
    if len(errors) > before or parsed is None or birth is None or sex is None:
        return None
    return CleanMember(
        name=name,
        id_number=parsed.number,
        sex=sex,  # type: ignore[arg-type]
        birth_date=birth,
        relation=relation,  # type: ignore[arg-type]
        disability_grade=grade,
        illness=illness,  # type: ignore[arg-type]
        work_capacity=work,  # type: ignore[arg-type]
        schooling=schooling,  # type: ignore[arg-type]
        phone=phone,
    )


def check_item(
    prefix: str, item: ItemDraft, member_index_map: dict[int, int], errors: dict[str, DomainError]
) -> CleanItem | None:
    """Clean one declared item; problems go into ``errors`` under ``prefix + field``.

    ``member_index_map`` maps the form's member index (or, when editing a file,
    a member id) to the value stored in ``CleanItem.member_index``.
    """
    before = len(errors)
    section = item.section.strip()
    kinds = SECTIONS.get(section)
    if kinds is None:
        errors[prefix + "section"] = DomainError(
            N_("Please choose a value from the list."), field=prefix + "section"
        )
    elif item.kind.strip() not in {k.value for k in kinds}:
        errors[prefix + "kind"] = DomainError(
            N_("Please choose a value from the list."), field=prefix + "kind"
        )
    amount = 0
    try:
        amount = parse_yuan(item.amount, field=prefix + "amount")
    except DomainError as exc:
        errors[prefix + "amount"] = DomainError(exc.message, field=prefix + "amount", **exc.params)
    member_index: int | None = None
    if item.member.strip():
        raw_index = item.member.strip()
        if raw_index.isdecimal() and int(raw_index) in member_index_map:
            member_index = member_index_map[int(raw_index)]
        else:
            errors[prefix + "member"] = DomainError(N_("Please choose a member."), field=prefix + "member")
    text = _text(item.description, prefix + "description", errors, required=False, max_len=100)
    if len(errors) > before:
        return None
    return CleanItem(section, item.kind.strip(), member_index, text, amount)


def check_member(
    prefix: str, draft: MemberDraft, as_of: date, errors: dict[str, DomainError]
) -> CleanMember | None:
    """Clean one member (ID checksum, birth date and sex against the ID, choices, phone)."""
    return _clean_member(prefix, draft, as_of, errors)


def validate_intake(draft: IntakeDraft, as_of: date) -> CleanIntake:
    """Return the clean intake or raise ValidationFailed with every problem."""
    errors: dict[str, DomainError] = {}
    community_id = 0
    if draft.community_id.strip().isdecimal() and len(draft.community_id.strip()) < 10:
        community_id = int(draft.community_id.strip())
    else:
        errors["community_id"] = DomainError(N_("Please choose the community."), field="community_id")
    address = _text(draft.address, "address", errors, required=True, max_len=120)
    area_type = _choice(AreaType, draft.area_type, "area_type", errors)
    housing = _choice(Housing, draft.housing, "housing", errors)
    category = _choice(Category, draft.category, "category", errors)
    channel = _choice(Channel, draft.channel, "channel", errors)
    description = _text(draft.description, "description", errors, required=False, max_len=1000)
    phone = ""
    try:
        phone = normalise_phone(draft.phone)
    except DomainError as exc:
        errors["phone"] = DomainError(exc.message, field="phone", **exc.params)
    account = "".join(draft.onecard_account.split())
    if account and not (account.isdigit() and 12 <= len(account) <= 30):
        errors["onecard_account"] = DomainError(
            N_("The one-card account is 12 to 30 digits."), field="onecard_account"
        )

    member_drafts = [m for m in draft.members[: MAX_MEMBERS + 1]]
    if len(draft.members) > MAX_MEMBERS:
        errors["members"] = DomainError(N_("At most {max} members."), field="members", max=MAX_MEMBERS)
    members: list[CleanMember] = []
    filled = [(i, m) for i, m in enumerate(member_drafts) if not m.is_blank()]
    if not filled:
        errors["members"] = DomainError(N_("Enter at least the head of household."), field="members")
    # Items name a member by its form row. Every filled row counts: a member with
    # a mistake of its own is reported there, not again on each item naming it
    # (and with any mistake nothing is saved, so the positions are only used
    # when every member is clean).
    index_map = {i: position for position, (i, _) in enumerate(filled)}
    for i, member_draft in filled:
        clean = _clean_member(f"members-{i}-", member_draft, as_of, errors)
        if clean is not None:
            members.append(clean)
    heads = [m for m in members if m.relation == Relation.HEAD]
    if members and len(heads) != 1 and "members" not in errors:
        errors["members"] = DomainError(
            N_("Exactly one member must be the head of household."), field="members"
        )
    seen: dict[str, int] = {}
    for i, member_draft in filled:
        number = member_draft.id_number.strip().upper()
        if number and number in seen:
            errors[f"members-{i}-id_number"] = DomainError(
                N_("The same ID number is entered twice."), field=f"members-{i}-id_number"
            )
        seen.setdefault(number, i)

    items: list[CleanItem] = []
    if len(draft.items) > MAX_ITEMS:
        errors["items"] = DomainError(N_("At most {max} items."), field="items", max=MAX_ITEMS)
    for i, item in enumerate(draft.items[:MAX_ITEMS]):
        if item.is_blank():
            continue
        clean_item = check_item(f"items-{i}-", item, index_map, errors)
        if clean_item is not None:
            items.append(clean_item)

    from relief_pwa.core.materials import MATERIALS  # local: keeps the module graph flat

    materials = tuple(code for code in dict.fromkeys(draft.materials) if code in MATERIALS)
    if errors:
        raise ValidationFailed(errors)
    return CleanIntake(
        community_id=community_id,
        address=address,
        area_type=area_type,  # type: ignore[arg-type]
        housing=housing,  # type: ignore[arg-type]
        phone=phone,
        onecard_account=account,
        category=category,  # type: ignore[arg-type]
        channel=channel,  # type: ignore[arg-type]
        description=description,
        members=tuple(members),
        items=tuple(items),
        materials=materials,
    )
