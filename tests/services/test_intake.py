"""Intake: one transaction, city-wide duplicate check, ID checks, missing materials once."""

from __future__ import annotations

from datetime import date

import pytest

from relief_pwa.core.errors import PermissionDenied, ValidationFailed
from relief_pwa.core.intake import ItemDraft
from relief_pwa.services.intake import DuplicateIdNumber
from relief_pwa.tables import Application, AuditEvent, Household, Member, MoneyItem
from tests.factories import make_intake, member, new_id_number
from tests.helpers import found


async def _counts() -> tuple[int, ...]:
    return (
        await Household.count(),
        await Member.count(),
        await MoneyItem.count(),
        await Application.count(),
        await AuditEvent.count(),
    )


async def test_intake_writes_the_whole_file_in_one_go(world):
    spouse_id = new_id_number(date(1972, 3, 1), male=False)
    # the factory moves the year back once its sequence wraps (after many earlier tests)
    spouse_born = date(int(spouse_id[6:10]), int(spouse_id[10:12]), int(spouse_id[12:14]))
    result = await make_intake(
        world,
        members=[
            member("张建国"),
            member("李秀英", "spouse", id_number=spouse_id),
        ],
        items=[
            ItemDraft("income", "wages", "0", "", "1,200.50"),
            ItemDraft("asset", "deposits", "", "", "3000"),
            ItemDraft("expense", "medical", "1", "住院", "8000"),
        ],
    )
    household = found(await Household.objects().get(Household.id == result.household_id))
    assert household.head_name == "张建国"
    assert household.org_path == "370100/370102/370102001/370102001001/"
    assert household.file_no == result.file_no == "370102-H000001"
    members = (
        await Member.select(Member.name, Member.sex, Member.birth_date)
        .where(Member.household == household.id)
        .order_by(Member.id)
    )
    assert [(m["name"], m["sex"]) for m in members] == [("张建国", "male"), ("李秀英", "female")]
    assert members[1]["birth_date"] == spouse_born
    items = await MoneyItem.select(MoneyItem.section, MoneyItem.declared_fen).order_by(MoneyItem.id)
    assert [(i["section"], i["declared_fen"]) for i in items] == [
        ("income", 120050),
        ("asset", 300000),
        ("expense", 800000),
    ]
    application = found(await Application.objects().get(Application.id == result.application_id))
    assert application.state == "received"
    assert application.number == "SQ370102001-2026-00001"
    actions = [
        e["action"]
        for e in await AuditEvent.select(AuditEvent.action).where(AuditEvent.household_id == household.id)
    ]
    assert "household.create" in actions and "application.receive" in actions


async def test_numbers_count_up_per_district_and_street(world):
    first = await make_intake(world)
    second = await make_intake(world, username="center", community="370102002001")
    third = await make_intake(world, username="center_b", community="370103002001")
    assert (first.file_no, second.file_no, third.file_no) == (
        "370102-H000001",
        "370102-H000002",
        "370103-H000001",
    )
    assert second.application_number == "SQ370102002-2026-00001"


async def test_missing_materials_are_listed_all_at_once(world):
    result = await make_intake(
        world,
        housing="rented",
        materials=["id_cards"],
        members=[
            member(disability_grade="2"),
            member("张小明", "child", schooling="primary", id_number=new_id_number(date(2016, 1, 1))),
        ],
    )
    codes = [m.code for m in result.missing]
    assert codes == [
        "hukou",
        "authorization",
        "income_proof",
        "disability_cert",
        "school_cert",
        "rental_contract",
    ]


async def test_duplicate_id_anywhere_in_the_city_blocks_intake(world):
    shared = new_id_number()
    await make_intake(world, members=[member(id_number=shared)])
    before = await _counts()
    # Seen from the same street: the message names the household and links to it.
    with pytest.raises(ValidationFailed) as caught:
        await make_intake(world, members=[member(id_number=shared)])
    error = caught.value.errors["members-0-id_number"]
    assert isinstance(error, DuplicateIdNumber) and error.household_id is not None
    assert error.params["file_no"] == "370102-H000001"
    # Seen from another district: blocked too, but nothing about the other file is revealed.
    with pytest.raises(ValidationFailed) as caught:
        await make_intake(
            world, username="center_b", community="370103002001", members=[member(id_number=shared)]
        )
    error = caught.value.errors["members-0-id_number"]
    assert (
        isinstance(error, DuplicateIdNumber) and error.household_id is None and "file_no" not in error.params
    )
    assert await _counts() == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"members": [member(id_number="370102197005171234")]}, "members-0-id_number"),  # checksum
        ({"members": [member(birth_date="1980-01-01")]}, "members-0-birth_date"),  # disagrees with the ID
        ({"members": [member(sex="female")]}, "members-0-sex"),
        ({"phone": "12345"}, "phone"),
        ({"category": "lottery"}, "category"),
        ({"address": ""}, "address"),
        ({"address": "<script>alert(1)</script>"}, "address"),
        ({"members": [member(relation="child")]}, "members"),  # no head
        ({"items": [ItemDraft("income", "wages", "0", "", "12.345")]}, "items-0-amount"),
        ({"items": [ItemDraft("income", "wages", "0", "", "-5")]}, "items-0-amount"),
        ({"items": [ItemDraft("asset", "wages", "", "", "5")]}, "items-0-kind"),
        ({"onecard_account": "12ab"}, "onecard_account"),
    ],
)
async def test_bad_input_is_refused_field_by_field_and_nothing_is_written(world, overrides, field):
    before = await _counts()
    with pytest.raises(ValidationFailed) as caught:
        await make_intake(world, **overrides)
    assert field in caught.value.errors
    assert await _counts() == before


@pytest.mark.parametrize("username", ["investigator", "city", "supervisor"])
async def test_roles_without_intake_are_refused(world, username):
    with pytest.raises(PermissionDenied):
        await make_intake(world, username=username)


async def test_a_community_outside_the_jurisdiction_is_refused(world):
    with pytest.raises(ValidationFailed) as caught:
        await make_intake(world, username="liaison", community="370102001002")
    assert "community_id" in caught.value.errors
    assert await Household.count() == 0
