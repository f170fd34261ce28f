"""Test data with meaningful defaults, created through the real services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from relief_pwa.core.enums import AreaType, OrgLevel, Role
from relief_pwa.core.idnumber import make_id_number
from relief_pwa.core.intake import IntakeDraft, ItemDraft, MemberDraft
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor
from relief_pwa.services.auth import hash_password, jurisdiction_of, load_actor
from relief_pwa.services.departments import do_create_department
from relief_pwa.services.intake import IntakeResult, check_and_create_intake
from relief_pwa.services.org_admin import NewOrgUnit, do_create_org_units
from relief_pwa.tables import OrgUnit, Staff
from tests.helpers import found

TEST_PASSWORD = "sunshine-test"

# Real Jinan codes: 历下区 (解放路街道, 千佛山街道) and 市中区 (大观园街道).
UNITS = [
    NewOrgUnit("370100", "济南市", OrgLevel.CITY, None, AreaType.URBAN),
    NewOrgUnit(
        "370102",
        "历下区",
        OrgLevel.DISTRICT,
        "370100",
        AreaType.URBAN,
        "历下区阳光救助服务中心",
        "历下区惠民路101号",
        "0531-86970102",
        "0531-86970102",
    ),
    NewOrgUnit(
        "370102001",
        "解放路街道",
        OrgLevel.STREET,
        "370102",
        AreaType.URBAN,
        "解放路街道服务站",
        "解放路1号",
        "0531-86970111",
        "0531-86970102",
    ),
    NewOrgUnit("370102001001", "解放路社区", OrgLevel.COMMUNITY, "370102001", AreaType.URBAN),
    NewOrgUnit("370102001002", "和平社区", OrgLevel.COMMUNITY, "370102001", AreaType.URBAN),
    NewOrgUnit("370102002", "千佛山街道", OrgLevel.STREET, "370102", AreaType.URBAN),
    NewOrgUnit("370102002001", "千佛山社区", OrgLevel.COMMUNITY, "370102002", AreaType.URBAN),
    NewOrgUnit("370103", "市中区", OrgLevel.DISTRICT, "370100", AreaType.URBAN),
    NewOrgUnit("370103002", "大观园街道", OrgLevel.STREET, "370103", AreaType.URBAN),
    NewOrgUnit("370103002001", "大观园社区", OrgLevel.COMMUNITY, "370103002", AreaType.URBAN),
]

# username → (role, org code). The "_b" accounts sit in the other district/street.
STAFF = {
    "liaison": (Role.LIAISON, "370102001001"),
    "liaison_b": (Role.LIAISON, "370102001002"),
    "investigator": (Role.INVESTIGATOR, "370102001"),
    "station": (Role.STATION, "370102001"),
    "station_b": (Role.STATION, "370102002"),
    "center": (Role.CENTER, "370102"),
    # A second clerk of the same centre: four eyes need one to approve what the other drafted.
    "center_2": (Role.CENTER, "370102"),
    "center_b": (Role.CENTER, "370103"),
    "city": (Role.CITY, "370100"),
    "supervisor": (Role.SUPERVISOR, "370100"),
    "supervisor_b": (Role.SUPERVISOR, "370103"),
    # The education bureau of 历下区 (a relief department, DEPARTMENT_UNITS).
    "department": (Role.DEPARTMENT, "370102D01"),
}

# Relief departments of the test world: (kind, the city or district served, name); their
# codes are given in order, 370102D01 first.
DEPARTMENT_UNITS = [("education", "370102", "历下区教育局")]


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return hash_password(TEST_PASSWORD)


@dataclass
class World:
    now: datetime
    units: dict[str, int] = field(default_factory=dict)  # code → id
    actors: dict[str, Actor] = field(default_factory=dict)

    def actor(self, username: str) -> Actor:
        return self.actors[username]


async def build_world(now: datetime) -> World:
    world = World(now=now)
    await do_create_org_units(SYSTEM_ACTOR, UNITS, now=now)
    for kind, parent_code, name in DEPARTMENT_UNITS:
        await do_create_department(SYSTEM_ACTOR, kind=kind, parent_code=parent_code, name=name, now=now)
    for row in await OrgUnit.select(OrgUnit.id, OrgUnit.code, OrgUnit.path):
        world.units[row["code"]] = row["id"]
    for username, (role, code) in STAFF.items():
        await add_staff(world, username, role, code)
    return world


async def add_staff(world: World, username: str, role: str, code: str) -> Actor:
    """One more staff account (password ``TEST_PASSWORD``), e.g. a second clerk for four eyes."""
    unit = found(await OrgUnit.select().where(OrgUnit.code == code).first())
    staff = Staff(
        username=username,
        display_name=username,
        password_hash=_password_hash(),
        role=role,
        org_unit=unit["id"],
        org_path=await jurisdiction_of(unit),
        created_at=world.now,
        demo_password=False,
    )
    await staff.save()
    actor = await load_actor(staff.id)
    assert actor is not None
    world.actors[username] = actor
    return actor


_sequence = [100]


def new_id_number(born: date | None = None, male: bool = True, area: str = "370102") -> str:
    """A valid, unique synthetic ID number. A given birth date is kept exactly (tests
    depend on it); without one the year moves back every 500 numbers to stay unique."""
    _sequence[0] += 2
    seq = _sequence[0] % 998 + (1 if male else 0)
    seq = seq if seq % 2 == (1 if male else 0) else seq + 1
    if born is None:
        born = date(1970 - _sequence[0] // 998, 5, 17)
    return make_id_number(area, born, seq % 1000)


def member(name: str = "张三", relation: str = "head", **kwargs: Any) -> MemberDraft:
    values = {
        "name": name,
        "id_number": kwargs.pop("id_number", None) or new_id_number(),
        "relation": relation,
        "work_capacity": "partial",
        "schooling": "not_in_school",
        "illness": "none",
    }
    values.update(kwargs)
    return MemberDraft(**values)


def intake_draft(community_id: int, **kwargs: Any) -> IntakeDraft:
    values: dict[str, Any] = {
        "community_id": str(community_id),
        "address": "解放路12号3单元201室",
        "area_type": "urban",
        "housing": "rented_heavy",
        "phone": "13912345678",
        "category": "dibao",
        "channel": "window",
        "members": [member()],
        "items": [ItemDraft("income", "wages", "0", "", "600")],
        "materials": ["id_cards", "hukou"],
    }
    values.update(kwargs)
    return IntakeDraft(**values)


async def make_intake(
    world: World, username: str = "station", community: str = "370102001001", **kwargs: Any
) -> IntakeResult:
    draft = intake_draft(world.units[community], **kwargs)
    return await check_and_create_intake(world.actor(username), draft, now=world.now)
