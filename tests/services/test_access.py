"""Jurisdiction: every role, every protected row kind, inside and outside its subtree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from relief_pwa.core.errors import NotFoundOrForbidden
from relief_pwa.services.access import (
    access_application,
    access_department_token,
    access_department_unit,
    access_household,
    access_household_by_file_no,
    access_member,
    access_referral,
)
from relief_pwa.services.actors import Actor
from relief_pwa.tables import Application, Household, Member
from tests.factories import make_intake
from tests.helpers import found

# Household A lives in 解放路社区 (历下区 / 解放路街道), household B in 大观园社区 (市中区).
SEES_A = {"liaison", "investigator", "station", "center", "city", "supervisor"}
SEES_B = {"center_b", "city", "supervisor", "supervisor_b"}
EVERYONE = [
    "liaison",
    "liaison_b",
    "investigator",
    "station",
    "station_b",
    "center",
    "center_b",
    "city",
    "supervisor",
    "supervisor_b",
]


@pytest.fixture()
async def two_households(world):
    a = await make_intake(world, username="station")
    b = await make_intake(world, username="center_b", community="370103002001")
    member_a = found(await Member.select(Member.id).where(Member.household == a.household_id).first())
    member_b = found(await Member.select(Member.id).where(Member.household == b.household_id).first())
    return {"A": (a, member_a["id"]), "B": (b, member_b["id"])}


@pytest.mark.parametrize("username", EVERYONE)
async def test_access_matrix(world, two_households, username):
    actor = world.actor(username)
    for name, allowed in (("A", SEES_A), ("B", SEES_B)):
        result, member_id = two_households[name]
        loaders: list[tuple[Callable[[Actor, int], Awaitable[Household | Member | Application]], int]] = [
            (access_household, result.household_id),
            (access_member, member_id),
            (access_application, result.application_id),
        ]
        for loader, row_id in loaders:
            if username in allowed:
                row = await loader(actor, row_id)
                assert row.id == row_id
            else:
                with pytest.raises(NotFoundOrForbidden):
                    await loader(actor, row_id)


async def test_missing_and_forbidden_rows_look_the_same(world, two_households):
    actor = world.actor("liaison_b")
    with pytest.raises(NotFoundOrForbidden) as missing:
        await access_household(actor, 999_999)
    with pytest.raises(NotFoundOrForbidden) as forbidden:
        await access_household(actor, two_households["A"][0].household_id)
    assert str(missing.value) == str(forbidden.value)


# --- rows scoped by more than the subtree (services/access.py) ---------------------------


@pytest.mark.parametrize("username", EVERYONE)
async def test_a_file_number_opens_only_a_household_in_reach(world, two_households, username):
    actor = world.actor(username)
    for name, allowed in (("A", SEES_A), ("B", SEES_B)):
        result, _member = two_households[name]
        if username in allowed:
            assert (await access_household_by_file_no(actor, result.file_no)).id == result.household_id
        else:
            with pytest.raises(NotFoundOrForbidden):
                await access_household_by_file_no(actor, result.file_no)


async def test_a_referral_reaches_its_department_and_the_area_only(world, two_households, now):
    from relief_pwa.services.actors import SYSTEM_ACTOR
    from relief_pwa.services.departments import do_create_department
    from relief_pwa.services.referrals import do_refer
    from relief_pwa.tables import OrgUnit
    from tests.factories import add_staff

    await do_create_department(
        SYSTEM_ACTOR, kind="education", parent_code="370103", name="市中区教育局", now=now
    )
    other_department = await add_staff(world, "education_b", "department", "370103D01")
    lixia = found(await OrgUnit.select(OrgUnit.id).where(OrgUnit.code == "370102D01").first())["id"]
    result, _member = two_households["A"]
    referral_id = await do_refer(
        world.actor("station"),
        result.household_id,
        to_unit=lixia,
        category="education",
        request="学费",
        now=now,
    )
    for actor in (world.actor("department"), *(world.actor(u) for u in sorted(SEES_A))):
        assert (await access_referral(actor, referral_id)).id == referral_id
    for actor in (other_department, *(world.actor(u) for u in EVERYONE if u not in SEES_A)):
        with pytest.raises(NotFoundOrForbidden):
            await access_referral(actor, referral_id)


async def test_department_units_and_their_tokens_belong_to_the_area(world, now):
    from relief_pwa.services.departments import do_create_token
    from relief_pwa.tables import DepartmentToken, OrgUnit

    unit = found(await OrgUnit.select(OrgUnit.id).where(OrgUnit.code == "370102D01").first())["id"]
    community = found(await OrgUnit.select(OrgUnit.id).where(OrgUnit.code == "370102001001").first())["id"]
    await do_create_token(world.actor("city"), unit, label="教育局系统", now=now)
    token = found(await DepartmentToken.select(DepartmentToken.id).first())["id"]
    for username in ("city", "center", "supervisor"):
        assert (await access_department_unit(world.actor(username), unit)).id == unit
        assert (await access_department_token(world.actor(username), token))["id"] == token
    for username in ("center_b", "supervisor_b"):
        with pytest.raises(NotFoundOrForbidden):
            await access_department_unit(world.actor(username), unit)
        with pytest.raises(NotFoundOrForbidden):
            await access_department_token(world.actor(username), token)
    with pytest.raises(NotFoundOrForbidden):  # a community is no department
        await access_department_unit(world.actor("city"), community)
