"""Shared set-up for the sunshine tests (公示, objections, boards, supervision)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from relief_pwa.services import public_boards, ratelimit
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.applications import do_transition
from relief_pwa.services.publicity import do_close_due_notices, do_start_publicity
from tests.factories import make_intake, member


@pytest.fixture(autouse=True)
def fresh_public_state() -> Iterator[None]:
    """Rate-limit windows and cached boards must not leak between tests."""
    from relief_pwa.handlers.public import clear_rendered

    ratelimit.reset_all()
    public_boards.clear_cache()
    clear_rendered()
    yield
    ratelimit.reset_all()
    public_boards.clear_cache()
    clear_rendered()


async def eligible_application(world: Any, *, community: str = "370102001001", **draft: Any) -> Any:
    """An intake taken and found eligible by the station (verified_eligible)."""
    result = await make_intake(world, community=community, **draft)
    station = world.actor("station" if community.startswith("370102001") else "station_b")
    await do_transition(station, result.application_id, "start_investigation", now=world.now)
    await do_transition(
        station, result.application_id, "find_eligible", reason="人均收入低于标准", now=world.now
    )
    return result


async def active_application(
    world: Any, *, community: str = "370102001001", amount_fen: int = 55_000, **draft: Any
) -> Any:
    """An application taken all the way to active assistance, through a 公示."""
    result = await eligible_application(world, community=community, **draft)
    station = world.actor("station" if community.startswith("370102001") else "station_b")
    center = world.actor("center")
    await do_start_publicity(station, result.application_id, now=world.now, proposed_amount_fen=amount_fen)
    after = world.now + timedelta(days=8)
    await do_close_due_notices(after)
    await do_transition(center, result.application_id, "approve", reason="经审核符合条件", now=after)
    await do_transition(center, result.application_id, "activate", now=after)
    return result


def people(*names: str, **kwargs: Any) -> list[Any]:
    """Members with the first as head."""
    return [member(name, "head" if i == 0 else "spouse", **kwargs) for i, name in enumerate(names)]


async def end_as_system(application_id: int, now: datetime) -> None:
    await do_transition(SYSTEM_ACTOR, application_id, "end_publicity", now=now)
