"""The read replica: heavy pages read from a real streaming replica, and a browser
that just wrote reads from the primary (docs/scale.md).

Needs PostgreSQL and a replica of it: ``scripts/start-replica`` prints the URL to
put in RELIEF_TEST_DATABASE_REPLICA_URL (.ci/run starts one for its PostgreSQL
phase). Replay on the replica is paused to make the two servers differ, so a
page shows which one answered it.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from piccolo.querystring import QueryString

from relief_pwa.core.intake import ItemDraft
from relief_pwa.db import replica_reads
from relief_pwa.handlers.replica import WROTE_COOKIE
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.settings import get_settings
from relief_pwa.tables import Household
from tests.factories import make_intake

REPLICA_URL = os.environ.get("RELIEF_TEST_DATABASE_REPLICA_URL", "")

ON_SQLITE = get_settings().is_sqlite
NEEDS_POSTGRESQL = "the read replica needs PostgreSQL (RELIEF_TEST_DATABASE_URL)"
pytestmark = pytest.mark.skipif(ON_SQLITE, reason=NEEDS_POSTGRESQL)
needs_replica = pytest.mark.skipif(
    ON_SQLITE or not REPLICA_URL,
    reason=NEEDS_POSTGRESQL
    if ON_SQLITE
    else "no replica: set RELIEF_TEST_DATABASE_REPLICA_URL to what scripts/start-replica prints",
)


async def _caught_up(replica: asyncpg.Connection, database: Any) -> None:
    """Wait until the replica has replayed everything the primary has written.

    The insert position, not the write position: the test cluster commits
    asynchronously, so a commit may still sit in the primary's WAL buffers.
    """
    [row] = await database.run_querystring(QueryString("SELECT pg_current_wal_insert_lsn()::text AS lsn"))
    for _ in range(200):
        if await replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", row["lsn"]):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the replica did not catch up within 10 s")


@pytest.fixture()
async def replica(db: Any) -> AsyncIterator[asyncpg.Connection]:
    """The replica attached to the app's engine; a direct connection to it for the test."""
    connection = await asyncpg.connect(REPLICA_URL)
    await db.attach_replica(REPLICA_URL, min_size=1, max_size=2)
    try:
        yield connection
    finally:
        await connection.execute("SELECT pg_wal_replay_resume()")
        await db.detach_replica()
        await connection.close()


@pytest.fixture()
async def ranked(world: Any, now: Any) -> Any:
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    world.first = await make_intake(world, items=[ItemDraft("income", "wages", "0", "", "100")])
    return world


def _shown_index(html: str, household_id: int) -> str:
    """The index the ranking shows for one household (the first figure after its link)."""
    after = html.split(f'href="/households/{household_id}/index">', 1)[1]
    found = re.search(r"-?\d+\.\d\d", after)
    assert found is not None
    return found.group(0)


@needs_replica
async def test_replica_reads_go_to_the_standby_and_transactions_stay_on_the_primary(
    replica: asyncpg.Connection, db: Any
) -> None:
    ask = QueryString("SELECT pg_is_in_recovery() AS standby")
    assert (await db.run_querystring(ask))[0]["standby"] is False
    with replica_reads():
        assert (await db.run_querystring(ask))[0]["standby"] is True
        async with db.transaction():
            assert (await db.run_querystring(ask))[0]["standby"] is False
    assert (await db.run_querystring(ask))[0]["standby"] is False


@needs_replica
async def test_heavy_page_is_served_by_the_replica(
    replica: asyncpg.Connection, ranked: Any, client: Any, clock: Any, db: Any
) -> None:
    await client.login("city")
    clock.advance(timedelta(seconds=get_settings().replica_after_write_seconds + 1))  # the login was a write
    await _caught_up(replica, db)
    await replica.execute("SELECT pg_wal_replay_pause()")
    late = await make_intake(ranked, items=[ItemDraft("income", "wages", "0", "", "200")])

    page = await client.get("/ranking")
    assert page.status_code == 200
    assert ranked.first.file_no in page.text
    assert late.file_no not in page.text  # on the primary only: this page came from the replica
    # A page that is not marked for the replica reads the primary.
    assert late.file_no in (await client.get(f"/households/{late.household_id}/index")).text

    await replica.execute("SELECT pg_wal_replay_resume()")
    await _caught_up(replica, db)
    assert late.file_no in (await client.get("/ranking")).text


@needs_replica
async def test_the_writer_reads_its_own_write_then_the_replica_again(
    replica: asyncpg.Connection, ranked: Any, client: Any, clock: Any, db: Any
) -> None:
    household_id = ranked.first.household_id
    await client.login("station")
    window = timedelta(seconds=get_settings().replica_after_write_seconds + 1)
    clock.advance(window)
    await _caught_up(replica, db)
    before = _shown_index((await client.get("/ranking")).text, household_id)
    await replica.execute("SELECT pg_wal_replay_pause()")

    response = await client.post_form(
        f"/households/{household_id}/aid",
        {"value": "20000", "received_on": clock.now().date().isoformat(), "note": "区慈善总会"},
    )
    assert response.status_code == 303, response.text[:400]
    assert WROTE_COOKIE in response.headers.get("set-cookie", "")
    stored = await Household.select(Household.current_index).where(Household.id == household_id).first()
    assert stored is not None and f"{stored['current_index']:.2f}" != before

    # Right after the write the writer's ranking comes from the primary: the new index.
    assert _shown_index((await client.get("/ranking")).text, household_id) == f"{stored['current_index']:.2f}"
    # Once the marker is old, the same browser reads the (still paused) replica again.
    clock.advance(window)
    assert _shown_index((await client.get("/ranking")).text, household_id) == before
    # A refused write leaves no marker.
    refused = await client.post_form(
        f"/households/{household_id}/aid", {"value": "abc", "received_on": "", "note": ""}
    )
    assert refused.status_code == 422
    assert WROTE_COOKIE not in refused.headers.get("set-cookie", "")


async def test_a_replica_that_is_down_leaves_the_reads_on_the_primary(db: Any) -> None:
    # Nothing listens on port 1; the pool connects lazily, so attaching succeeds.
    await db.attach_replica("postgresql://relief:relief@127.0.0.1:1/relief_test", min_size=0, max_size=1)
    try:
        with replica_reads():
            rows = await db.run_querystring(QueryString("SELECT pg_is_in_recovery() AS standby"))
        assert [row["standby"] for row in rows] == [False]
    finally:
        await db.detach_replica()
