"""Jurisdiction: every role, every protected row kind, inside and outside its subtree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from relief_pwa.core.errors import NotFoundOrForbidden
from relief_pwa.services.access import access_application, access_household, access_member
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
