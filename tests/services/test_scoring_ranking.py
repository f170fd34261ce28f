"""The ranking service orders exactly as core.ranking.rank, within the actor's jurisdiction."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from relief_pwa.core.errors import PermissionDenied
from relief_pwa.core.intake import ItemDraft
from relief_pwa.core.ranking import RankEntry, rank
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.ranking import RankingQuery, list_ranking
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.tables import Application, Household
from tests.factories import make_intake


async def test_order_matches_core_rank_including_ties(world: Any, now: Any) -> None:
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    for income in ("300", "300", "300", "800", "0", "450"):  # three exact ties
        await make_intake(world, items=[ItemDraft("income", "wages", "0", "", income)])
    page = await list_ranking(world.actor("station"), RankingQuery(), now=now)
    households = await Household.select().where(Household.is_open.eq(True))
    first = {r["household"]: r["received_on"] for r in await Application.select()}
    expected = rank(
        RankEntry(
            h["id"], Decimal(h["current_index"]).quantize(Decimal("0.01")), first[h["id"]], h["file_no"]
        )
        for h in households
    )
    assert [(r.rank, r.household_id, r.index) for r in page.rows] == [
        (e.rank, e.entry.household_id, e.entry.index) for e in expected
    ]
    assert page.total == 6


async def test_district_user_never_sees_another_district(world: Any, now: Any) -> None:
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    mine = await make_intake(world)
    theirs = await make_intake(world, community="370103002001", username="center_b")
    paths = {r["id"]: r["org_path"] for r in await Household.select(Household.id, Household.org_path)}
    for username in ("center", "station", "supervisor_b", "center_b", "city"):
        actor = world.actor(username)
        seen = {r.household_id for r in (await list_ranking(actor, RankingQuery(), now=now)).rows}
        assert seen == {hid for hid, path in paths.items() if actor.can_see(path)}, username
    assert mine.household_id != theirs.household_id
    with pytest.raises(PermissionDenied):
        await list_ranking(world.actor("investigator"), RankingQuery(), now=now)
