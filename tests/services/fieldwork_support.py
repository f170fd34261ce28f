"""Shared set-up for the field-work tests (visits, ledger, photos, cards, opinions)."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta
from typing import Any

from PIL import Image

from relief_pwa.core.fieldwork import VisitKind
from relief_pwa.core.intake import ItemDraft
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.services.visits import ScheduleRequest, do_schedule_visit
from relief_pwa.tables import MoneyItem
from tests.factories import World, make_intake, member, new_id_number


def signature_png() -> bytes:
    """A drawn signature as the phone's canvas sends it (PNG, strokes on white)."""
    image = Image.new("RGB", (600, 220), (255, 255, 255))
    for x in range(40, 560):
        y = 110 + int(40 * ((x % 90) / 90 - 0.5))
        for dy in range(3):
            image.putpixel((x, y + dy), (0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def new_uuid() -> str:
    return str(uuid.uuid4())


async def household_with_items(world: World, community: str = "370102001001", **kwargs: Any) -> Any:
    """A household of two with wages 600 yuan/month, deposits 5,000 and medical costs 3,000."""
    kwargs.setdefault(
        "members",
        [member("张三", "head"), member("李四", "spouse", id_number=new_id_number(male=False), sex="female")],
    )
    kwargs.setdefault(
        "items",
        [
            ItemDraft("income", "wages", "0", "", "600"),
            ItemDraft("asset", "deposits", "", "", "5000"),
            ItemDraft("expense", "medical", "", "住院自付", "3000"),
        ],
    )
    return await make_intake(world, community=community, **kwargs)


async def items_of(household_id: int) -> dict[str, dict[str, Any]]:
    rows = await MoneyItem.select().where(MoneyItem.household == household_id).order_by(MoneyItem.id)
    return {row["kind"]: row for row in rows}


async def schedule(
    world: World,
    household_id: int,
    *,
    kind: VisitKind = VisitKind.HOME,
    username: str = "station",
    assignee: str = "liaison",
    on: date | None = None,
    application_id: int | None = None,
) -> int:
    return await do_schedule_visit(
        world.actor(username),
        ScheduleRequest(
            household_id=household_id,
            kind=kind,
            scheduled_for=on or world.now.date(),
            assigned_to=world.actor(assignee).staff_id or 0,
            application_id=application_id,
        ),
        now=world.now,
    )


async def seed_standards(world: World) -> None:
    await do_seed_standards(SYSTEM_ACTOR, now=world.now - timedelta(days=1))
