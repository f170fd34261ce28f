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
    from tests.services.fieldwork_support import household_with_items, items_of, schedule

    register_listeners()
    result = await run_forwards("relief")
    assert result.success, result.message
    now = SystemClock().now()
    world = await build_world(now)
    household = await household_with_items(world)
    visit_id = await schedule(world, household.household_id)
    items = await items_of(household.household_id)
    info = {
        "household_id": household.household_id,
        "file_no": household.file_no,
        "visit_id": visit_id,
        "wages_item_id": items["wages"]["id"],
        "investigator_id": world.actor("investigator").staff_id,
    }
    await DB.close_pool()  # type: ignore[attr-defined]
    return info


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
