"""Shared set-up of the relief-department tests: households an education bureau should and
should not see."""

from __future__ import annotations

from datetime import date
from typing import Any

from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.tables import Application
from tests.factories import make_intake, member, new_id_number
from tests.services.publicity_support import active_application

ACCOUNT = "6222020200112233445"


def schoolchild(name: str = "李小明") -> Any:
    return member(name, "child", id_number=new_id_number(born=date(2015, 3, 1)), schooling="primary")


async def seed_city(world: Any, now: Any) -> dict[str, int]:
    """Households of 历下区 and 市中区: with and without a schoolchild, receiving or only applying."""
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    with_child = await active_application(
        world, members=[member("王芳"), schoolchild()], onecard_account=ACCOUNT
    )
    without_child = await active_application(world, members=[member("赵强")])
    applying = await make_intake(world, members=[member("孙丽"), schoolchild("孙小")])
    elsewhere = await make_intake(
        world, username="center_b", community="370103002001", members=[member("周敏"), schoolchild("周小")]
    )
    await Application.update({Application.state: "active"}).where(Application.id == elsewhere.application_id)
    return {
        "with_child": with_child.household_id,
        "without_child": without_child.household_id,
        "applying": applying.household_id,
        "elsewhere": elsewhere.household_id,
    }
