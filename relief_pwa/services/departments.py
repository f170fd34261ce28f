"""Relief departments on the same system (部门联动, docs/departments.md).

A department is an org unit (level "department", a ``department_kind``) attached
to the city or a district; its staff see the area it serves (the parent's
subtree), but only through the functions here: the households qualifying for
its relief (core.departments.QUALIFICATIONS) or referred to it, each as a
field-level view (core.departments.FIELDS_BY_KIND). Its staff never hold
``cases.read``, so the full household file stays closed to them. The relief a
department gives is an AidRecord (it lowers the relief index) and may draw on
one of its own resources in the pool.

Departments' own systems read the same views through a read-only API with a
token per department (handlers/department_api.py): each token belongs to an
inactive "api.<code>" staff account of the department, so a token call is
scoped, checked and logged exactly like its staff.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from relief_pwa.clock import local_date
from relief_pwa.core.departments import (
    QUALIFICATIONS,
    HouseholdSummary,
    MemberSummary,
    age_on,
    fields_for,
    qualifies,
)
from relief_pwa.core.enums import AppState, DepartmentKind, OrgLevel, Role
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import parse_yuan
from relief_pwa.core.permissions import Capability
from relief_pwa.db import write_transaction
from relief_pwa.services import access_log, identifiers
from relief_pwa.services.access import (
    access_department_token,
    access_department_unit,
    access_household,
    access_org_unit_by_code,
    access_own_resource,
    in_scope,
)
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.auth import actor_from_rows, jurisdiction_of
from relief_pwa.tables import (
    AidRecord,
    Application,
    DepartmentToken,
    Household,
    Member,
    MoneyItem,
    OrgUnit,
    Referral,
    Resource,
    Staff,
)

# Households counted as receiving a category: the application was approved and runs.
RECEIVING = (AppState.APPROVED.value, AppState.ACTIVE.value, AppState.UNDER_REVIEW.value)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# --- the departments -------------------------------------------------------------------


@dataclass(frozen=True)
class Department:
    id: int
    code: str
    name: str
    kind: str
    path: str
    serves_path: str  # the area it serves: its parent's subtree

    @property
    def kind_label(self) -> str:
        return DepartmentKind(self.kind).label


async def list_departments(*, covering: str = "", within: str = "") -> list[Department]:
    """Active departments, those serving the org path ``covering`` (a household's), or those
    attached inside the area ``within`` (an administrator's jurisdiction)."""
    where = (OrgUnit.level == OrgLevel.DEPARTMENT) & OrgUnit.active.eq(True)
    if within:
        where = where & OrgUnit.path.like(f"{within}%")
    rows = await OrgUnit.select(
        OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.department_kind, OrgUnit.path, OrgUnit.parent.path
    ).where(where)
    found = [
        Department(r["id"], r["code"], r["name"], r["department_kind"], r["path"], r["parent.path"] or "")
        for r in rows
    ]
    if covering:
        found = [d for d in found if d.serves_path and covering.startswith(d.serves_path)]
    return sorted(found, key=lambda d: (d.kind, d.code))


async def department_of(unit_id: int) -> Department | None:
    for department in await list_departments():
        if department.id == unit_id:
            return department
    return None


async def do_create_department(actor: Actor, *, kind: str, parent_code: str, name: str, now: datetime) -> int:
    """Add a department unit under the city or a district (city administrators), audited."""
    require(actor, Capability.DEPARTMENTS_MANAGE)
    errors: dict[str, DomainError] = {}
    if kind not in DepartmentKind._value2member_map_:
        errors["kind"] = DomainError(N_("Choose the kind of department."), field="kind")
    name = " ".join(name.split())[:100]
    if not name:
        errors["name"] = DomainError(N_("Enter the department's name."), field="name")
    parent: OrgUnit | None
    try:
        parent = await access_org_unit_by_code(actor, parent_code)
    except NotFoundOrForbidden:
        parent = None
    if parent is None or parent.level not in (OrgLevel.CITY, OrgLevel.DISTRICT):
        errors["parent_code"] = DomainError(
            N_("A department is attached to the city or a district of your area."), field="parent_code"
        )
    if errors:
        raise ValidationFailed(errors)
    assert parent is not None
    async with write_transaction(OrgUnit._meta.db):
        taken = {
            r["code"] for r in await OrgUnit.select(OrgUnit.code).where(OrgUnit.code.like(f"{parent.code}D%"))
        }
        number = next(n for n in range(1, 1000) if f"{parent.code}D{n:02d}" not in taken)
        code = f"{parent.code}D{number:02d}"
        row = OrgUnit(
            code=code,
            name=name,
            level=OrgLevel.DEPARTMENT,
            parent=parent.id,
            path=f"{parent.path}{code}/",
            area_type=parent.area_type,
            department_kind=kind,
        )
        await row.save()
        await record_event(
            actor,
            "department.create",
            "org_unit",
            row.id,
            org_path=row.path,
            now=now,
            after={"code": code, "name": name, "kind": kind, "parent": parent.code},
        )
    return int(row.id)


# One department of each kind at the city, shipped with ``init`` (names as the bureau uses them).
SHIPPED_DEPARTMENTS: tuple[tuple[DepartmentKind, str], ...] = (
    (DepartmentKind.MEDICAL_INSURANCE, "市医疗保障局"),
    (DepartmentKind.EDUCATION, "市教育局"),
    (DepartmentKind.HOUSING, "市住房和城乡建设局"),
    (DepartmentKind.EMPLOYMENT, "市人力资源和社会保障局"),
    (DepartmentKind.LEGAL_AID, "市司法局法律援助中心"),
    (DepartmentKind.DISABLED_FEDERATION, "市残疾人联合会"),
    (DepartmentKind.TRADE_UNION, "市总工会"),
    (DepartmentKind.CHARITY_FEDERATION, "市慈善总会"),
    (DepartmentKind.RED_CROSS, "市红十字会"),
)


async def do_load_shipped_departments(actor: Actor, city_code: str, *, now: datetime) -> int:
    """Add the shipped city departments whose kind the city does not have yet."""
    city = await OrgUnit.select(OrgUnit.id).where(OrgUnit.code == city_code).first()
    if city is None:
        return 0
    have = {
        r["department_kind"]
        for r in await OrgUnit.select(OrgUnit.department_kind).where(
            (OrgUnit.parent == city["id"]) & (OrgUnit.level == OrgLevel.DEPARTMENT)
        )
    }
    created = 0
    for kind, name in SHIPPED_DEPARTMENTS:
        if kind.value not in have:
            await do_create_department(actor, kind=kind.value, parent_code=city_code, name=name, now=now)
            created += 1
    return created


# --- who qualifies ----------------------------------------------------------------------


def _require_department(actor: Actor) -> str:
    require(actor, Capability.DEPARTMENT_HOUSEHOLDS_READ)
    if not actor.department_kind:
        raise NotFoundOrForbidden()
    return actor.department_kind


async def household_summaries(household_ids: list[int], today: date) -> dict[int, HouseholdSummary]:
    """The facts the qualification rules read, for many households at once."""
    if not household_ids:
        return {}
    categories: dict[int, set[str]] = {}
    for row in await Application.select(Application.household, Application.category).where(
        Application.household.is_in(household_ids) & Application.state.is_in(list(RECEIVING))
    ):
        categories.setdefault(row["household"], set()).add(row["category"])
    members: dict[int, list[MemberSummary]] = {}
    for m in await Member.select(
        Member.household,
        Member.birth_date,
        Member.schooling,
        Member.disability_grade,
        Member.illness,
        Member.work_capacity,
    ).where(Member.household.is_in(household_ids) & Member.active.eq(True)):
        members.setdefault(m["household"], []).append(
            MemberSummary(
                age_on(m["birth_date"], today),
                m["schooling"],
                m["disability_grade"],
                m["illness"],
                m["work_capacity"],
            )
        )
    housing = {
        r["id"]: r["housing"]
        for r in await Household.select(Household.id, Household.housing).where(
            Household.id.is_in(household_ids)
        )
    }
    return {
        hid: HouseholdSummary(
            frozenset(categories.get(hid, ())), housing.get(hid, ""), tuple(members.get(hid, ()))
        )
        for hid in household_ids
    }


@dataclass(frozen=True)
class QualifyingPage:
    kind: str
    rows: list[dict[str, Any]]  # id, file_no, head_name (masked), categories
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


async def _qualifying_ids(actor: Actor, kind: str, today: date) -> list[int]:
    rule = QUALIFICATIONS[DepartmentKind(kind)]
    candidates = sorted(
        {
            int(r["household"])
            for r in await Application.select(Application.household).where(
                in_scope(actor, Application.org_path)
                & Application.state.is_in(list(RECEIVING))
                & Application.category.is_in(sorted(rule.categories))
            )
        }
    )
    summaries: dict[int, HouseholdSummary] = {}
    for start in range(0, len(candidates), 500):
        summaries.update(await household_summaries(candidates[start : start + 500], today))
    return [hid for hid in candidates if qualifies(kind, summaries[hid])]


async def qualifying_households(
    actor: Actor, *, now: datetime, page: int = 1, page_size: int = PAGE_SIZE
) -> QualifyingPage:
    """The households in the department's area that qualify for its relief, a page at a time."""
    kind = _require_department(actor)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    ids = await _qualifying_ids(actor, kind, local_date(now))
    page = max(1, page)
    chosen = ids[(page - 1) * page_size : page * page_size]
    rows: list[dict[str, Any]] = []
    if chosen:
        households = {
            r["id"]: r
            for r in await Household.select(Household.id, Household.file_no, Household.head_name).where(
                Household.id.is_in(chosen)
            )
        }
        summaries = await household_summaries(chosen, local_date(now))
        rows = [
            {
                "id": hid,
                "file_no": households[hid]["file_no"],
                "head_name": households[hid]["head_name"],
                "categories": sorted(summaries[hid].categories),
            }
            for hid in chosen
        ]
    access_log.note_read(
        actor, "department.list", now=now, entity_type="household", purpose=kind, detail=f"page {page}"
    )
    return QualifyingPage(kind, rows, len(ids), page, page_size)


# --- the field-level view -----------------------------------------------------------------


async def access_household_for_department(actor: Actor, household_id: int, today: date) -> Household:
    """The household, if in the department's area and qualifying for its relief or referred to it."""
    kind = _require_department(actor)
    household = await access_household(actor, household_id)
    if await Referral.exists().where(
        (Referral.household == household.id) & (Referral.to_unit == actor.org_unit_id)
    ):
        return household
    summary = (await household_summaries([household.id], today))[household.id]
    if not qualifies(kind, summary):
        raise NotFoundOrForbidden()
    return household


@dataclass(frozen=True)
class DepartmentView:
    household_id: int
    kind: str
    fields: dict[str, Any]  # only the kind's fields (core.departments.FIELDS_BY_KIND)
    members: list[dict[str, Any]] = field(default_factory=list)
    member_columns: list[tuple[str, str]] = field(default_factory=list)  # (column, view field) shown


_MEMBER_FIELDS = {
    "member_age": "age",
    "member_schooling": "schooling",
    "member_disability": "disability_grade",
    "member_illness": "illness",
    "member_work": "work_capacity",
}


async def build_view(household: Household, kind: str, today: date) -> DepartmentView:
    """The department's view of one household: only the fields its kind may see."""
    allowed = fields_for(kind)
    values: dict[str, Any] = {}
    if "file_no" in allowed:
        values["file_no"] = household.file_no
    if "head_name" in allowed:
        values["head_name"] = household.head_name
    if "address" in allowed:
        values["address"] = household.address
    if "phone" in allowed:
        values["phone"] = identifiers.masked(identifiers.PHONE, household.phone_sealed)
    if "head_id_masked" in allowed:
        values["head_id_masked"] = identifiers.masked(identifiers.ID_NUMBER, household.head_id_sealed)
    if "bank_account_masked" in allowed:
        values["bank_account_masked"] = identifiers.masked(identifiers.ACCOUNT, household.account_sealed)
    if "housing" in allowed:
        values["housing"] = household.housing
    if "categories" in allowed:
        summary = (await household_summaries([household.id], today))[household.id]
        values["categories"] = sorted(summary.categories)
    if "index" in allowed:
        values["index"] = str(household.current_index) if household.current_index is not None else ""
    if {"income", "assets"} & allowed:
        items = await MoneyItem.select(
            MoneyItem.section, MoneyItem.declared_fen, MoneyItem.verified_fen
        ).where((MoneyItem.household == household.id) & MoneyItem.active.eq(True))
        for section, name in (("income", "income"), ("asset", "assets")):
            if name in allowed:
                values[name] = sum(
                    (i["verified_fen"] if i["verified_fen"] is not None else i["declared_fen"])
                    for i in items
                    if i["section"] == section
                )
    members: list[dict[str, Any]] = []
    if "members" in allowed:
        for m in (
            await Member.select(
                Member.name,
                Member.birth_date,
                Member.relation,
                Member.schooling,
                Member.disability_grade,
                Member.illness,
                Member.work_capacity,
            )
            .where((Member.household == household.id) & Member.active.eq(True))
            .order_by(Member.id)
        ):
            row: dict[str, Any] = {"name": m["name"], "relation": m["relation"]}
            for name, column in _MEMBER_FIELDS.items():
                if name in allowed:
                    row[column] = age_on(m["birth_date"], today) if column == "age" else m[column]
            members.append(row)
    columns = [(column, name) for name, column in _MEMBER_FIELDS.items() if name in allowed]
    return DepartmentView(household.id, kind, values, members, columns)


async def department_view(
    actor: Actor, household_id: int, *, now: datetime, purpose: str = ""
) -> DepartmentView:
    """One household as the actor's department sees it (read logged)."""
    household = await access_household_for_department(actor, household_id, local_date(now))
    view = await build_view(household, actor.department_kind, local_date(now))
    access_log.note_read(
        actor,
        "department.view",
        now=now,
        entity_id=household.id,
        household_id=household.id,
        org_path=household.org_path,
        purpose=purpose or actor.department_kind,
    )
    return view


# --- the relief a department gives ------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentAid:
    amount: str
    received_on: str
    note: str
    resource_id: str = ""
    token: str = ""  # the form's one-time token: a retried submit records nothing twice


async def own_resources(actor: Actor) -> list[dict[str, Any]]:
    """The department's own active resources in the pool (what its relief may draw on)."""
    if not actor.unit_path:
        return []
    return list(
        await Resource.select(
            Resource.id, Resource.name, Resource.budget_total_fen, Resource.budget_reserved_fen
        ).where(Resource.org_path.like(f"{actor.unit_path}%") & Resource.active.eq(True))
    )


async def record_relief(
    actor: Actor,
    household: Household,
    *,
    value_fen: int,
    received_on: date,
    note: str,
    reference: str,
    resource_id: int | None,
    now: datetime,
) -> int:
    """An AidRecord of a department's relief (inside the caller's transaction), drawn from one of
    its resources when given; the index is recomputed by ``add_aid_record``."""
    from relief_pwa.services.scoring import add_aid_record

    if await AidRecord.exists().where(AidRecord.reference == reference):
        existing = await AidRecord.select(AidRecord.id).where(AidRecord.reference == reference).first()
        return int(existing["id"]) if existing else 0
    if resource_id is not None:
        try:
            resource = await access_own_resource(actor, resource_id)
        except NotFoundOrForbidden:
            raise DomainError(N_("Choose one of your department's resources."), field="resource_id") from None
        total, reserved = resource["budget_total_fen"], resource["budget_reserved_fen"]
        if total is not None and reserved + value_fen > total:
            raise DomainError(N_("The resource's budget does not cover this amount."), field="amount")
        await Resource.update({Resource.budget_reserved_fen: reserved + value_fen}).where(
            Resource.id == resource_id
        )
    aid_id = await add_aid_record(
        household.id,
        value_fen=value_fen,
        received_on=received_on,
        source="department",
        reference=reference,
        note=f"{actor.org_name}: {note}"[:300],
        now=now,
    )
    await record_event(
        actor,
        "department.aid_record",
        "aid_record",
        aid_id,
        org_path=household.org_path,
        now=now,
        household_id=household.id,
        after={
            "value_fen": value_fen,
            "received_on": received_on.isoformat(),
            "note": note[:300],
            "department": actor.department_kind,
            "resource_id": resource_id,
        },
    )
    return aid_id


def parse_aid(draft: DepartmentAid, *, now: datetime) -> tuple[int, date, str, int | None]:
    errors: dict[str, DomainError] = {}
    value_fen = 0
    try:
        value_fen = parse_yuan(draft.amount, field="amount")
    except DomainError as exc:
        errors["amount"] = exc
    if not errors and value_fen <= 0:
        errors["amount"] = DomainError(N_("Please give the value of the aid in yuan."), field="amount")
    received_on = local_date(now)
    if draft.received_on.strip():
        try:
            received_on = date.fromisoformat(draft.received_on.strip())
        except ValueError:
            errors["received_on"] = DomainError(
                N_("Please give the date it was received."), field="received_on"
            )
    if received_on > local_date(now):
        errors["received_on"] = DomainError(N_("The date cannot be in the future."), field="received_on")
    note = " ".join(draft.note.split())[:300]
    if not note:
        errors["note"] = DomainError(N_("Please say what relief was given."), field="note")
    resource_id = int(draft.resource_id) if draft.resource_id.strip().isdecimal() else None
    if errors:
        raise ValidationFailed(errors)
    return value_fen, received_on, note, resource_id


async def do_record_department_aid(
    actor: Actor, household_id: int, draft: DepartmentAid, *, now: datetime
) -> int:
    """A department records the relief it gave a household in its view; lowers the index."""
    require(actor, Capability.DEPARTMENT_AID_RECORD)
    value_fen, received_on, note, resource_id = parse_aid(draft, now=now)
    token = "".join(ch for ch in draft.token if ch.isalnum() or ch == "-")[:40] or secrets.token_hex(8)
    async with write_transaction(AidRecord._meta.db):
        household = await access_household_for_department(actor, household_id, local_date(now))
        return await record_relief(
            actor,
            household,
            value_fen=value_fen,
            received_on=received_on,
            note=note,
            reference=f"department:{token}",
            resource_id=resource_id,
            now=now,
        )


# --- API tokens -------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenRow:
    id: int
    label: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class DepartmentAdmin:
    department: Department
    tokens: list[TokenRow]


async def list_department_admin(actor: Actor) -> list[DepartmentAdmin]:
    require(actor, Capability.DEPARTMENTS_MANAGE)
    departments = await list_departments(within=actor.org_path)
    tokens = await DepartmentToken.select().order_by(DepartmentToken.id)
    return [
        DepartmentAdmin(
            d,
            [
                TokenRow(row["id"], row["label"], row["created_at"], row["revoked_at"])
                for row in tokens
                if row["org_unit"] == d.id
            ],
        )
        for d in departments
    ]


async def _api_account(unit: dict[str, Any], now: datetime) -> int:
    """The department's API staff account (inactive: it cannot log in; tokens act as it)."""
    username = f"api.{unit['code']}".lower()
    row = await Staff.select(Staff.id).where(Staff.username == username).first()
    if row is not None:
        return int(row["id"])
    staff = Staff(
        username=username,
        display_name=f"{unit['name']} API"[:60],
        password_hash="!",  # noqa: S106 - not a hash: no password opens this account
        role=Role.DEPARTMENT.value,
        org_unit=unit["id"],
        org_path=await jurisdiction_of(unit),
        active=False,
        created_at=now,
        demo_password=False,
    )
    await staff.save()
    return int(staff.id)


async def do_create_token(actor: Actor, department_id: int, *, label: str, now: datetime) -> str:
    """A new API token for a department; returns it once (only its hash is stored)."""
    require(actor, Capability.DEPARTMENTS_MANAGE)
    unit = (await access_department_unit(actor, department_id)).to_dict()
    token = "dept_" + secrets.token_urlsafe(32)
    async with write_transaction(DepartmentToken._meta.db):
        staff_id = await _api_account(unit, now)
        row = DepartmentToken(
            org_unit=unit["id"],
            staff=staff_id,
            token_hash=token_hash(token),
            label=" ".join(label.split())[:100],
            created_by=actor.staff_id,
            created_at=now,
        )
        await row.save()
        await record_event(
            actor,
            "department.token_create",
            "department_token",
            row.id,
            org_path=unit["path"],
            now=now,
            after={"department": unit["code"], "label": row.label},
        )
    return token


async def do_revoke_token(actor: Actor, token_id: int, *, now: datetime) -> None:
    require(actor, Capability.DEPARTMENTS_MANAGE)
    async with write_transaction(DepartmentToken._meta.db):
        row = await access_department_token(actor, token_id)
        if row["revoked_at"] is not None:
            return
        await DepartmentToken.update({DepartmentToken.revoked_at: now}).where(DepartmentToken.id == token_id)
        await record_event(
            actor,
            "department.token_revoke",
            "department_token",
            token_id,
            org_path=row["org_unit.path"],
            now=now,
        )


async def actor_for_token(token: str) -> Actor | None:
    """The department API actor a bearer token stands for, or None (unknown or revoked)."""
    if not token.startswith("dept_") or len(token) > 100:
        return None
    row = (
        await DepartmentToken.select(DepartmentToken.staff, DepartmentToken.revoked_at)
        .where(DepartmentToken.token_hash == token_hash(token))
        .first()
    )
    if row is None or row["revoked_at"] is not None:
        return None
    staff = await Staff.select().where(Staff.id == row["staff"]).first()
    if staff is None:
        return None
    org = (
        await OrgUnit.select(OrgUnit.name, OrgUnit.path, OrgUnit.department_kind)
        .where(OrgUnit.id == staff["org_unit"])
        .first()
    )
    return actor_from_rows(staff, org)
