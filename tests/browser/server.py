"""A real app server for browser tests: its own SQLite database and photo store,
a seeded piece of Jinan (tests.factories) and one home visit due today for the
liaison. Prints one JSON line with the ids once it listens.

    python -m tests.browser.server <port>        (environment set by the caller)
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


async def prepare() -> dict[str, Any]:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from relief_pwa.clock import SystemClock
    from relief_pwa.piccolo_conf import DB
    from relief_pwa.services.wiring import register_listeners
    from tests.factories import build_world
    from tests.services.fieldwork_support import household_with_items, items_of, schedule, seed_standards

    register_listeners()
    result = await run_forwards("relief")
    assert result.success, result.message
    now = SystemClock().now()
    world = await build_world(now)
    await seed_standards(world)
    household = await household_with_items(world)
    visit_id = await schedule(world, household.household_id)
    items = await items_of(household.household_id)
    info = {**await role_flows(world, now)}
    info |= {
        "household_id": household.household_id,
        "file_no": household.file_no,
        "visit_id": visit_id,
        "wages_item_id": items["wages"]["id"],
        "investigator_id": world.actor("investigator").staff_id,
    }
    await DB.close_pool()  # type: ignore[attr-defined]
    return info


async def role_flows(world: Any, now: Any) -> dict[str, Any]:
    """A case in every state a role's main job starts from: one under investigation
    (station opinion), one found eligible (station starts the 公示), one whose 公示
    ended (centre approval), one under a running 公示 (the public board), and an
    active recipient with a funded resource (centre plan and one-card batch)."""
    from datetime import timedelta

    from relief_pwa.services.applications import do_transition
    from relief_pwa.services.publicity import do_close_due_notices, do_start_publicity
    from relief_pwa.tables import BindToken
    from tests.factories import make_intake, member
    from tests.services.plans_support import pool, recipient
    from tests.services.publicity_support import eligible_application

    station = world.actor("station")
    investigating = await make_intake(world, members=[member("赵调查")])
    await do_transition(station, investigating.application_id, "start_investigation", now=now)
    eligible = await eligible_application(world, members=[member("钱合格")])
    deciding = await eligible_application(world, members=[member("孙待批")])
    await do_start_publicity(
        station, deciding.application_id, now=now - timedelta(days=8), proposed_amount_fen=58_000
    )
    await do_close_due_notices(now)
    public = await eligible_application(world, members=[member("李公示")])
    await do_start_publicity(station, public.application_id, now=now, proposed_amount_fen=61_000)
    # The Telegram link printed on its receipt at intake has lapsed: the station issues a new one.
    await BindToken.update({BindToken.expires_at: now - timedelta(days=1)}).where(
        BindToken.application == public.application_id
    )
    active_household = await recipient(world, index="80")
    _, fund_id, _ = await pool(world)
    return {
        "investigating_id": investigating.application_id,
        "investigating_household_id": investigating.household_id,
        "eligible_id": eligible.application_id,
        "deciding_id": deciding.application_id,
        "public_id": public.application_id,
        "recipient_household_id": active_household,
        "fund_id": fund_id,
    }


def main() -> None:
    import uvicorn

    from relief_pwa.app import create_app

    port = int(sys.argv[1])
    info = asyncio.run(prepare())
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.05)
        print(json.dumps(info), flush=True)
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main()
