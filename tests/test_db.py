"""The database engine as the project configures it."""

from __future__ import annotations

from typing import Any

import pytest
from piccolo.querystring import QueryString


async def test_postgresql_plans_every_statement_for_its_values(db: Any) -> None:
    """asyncpg prepares statements; PostgreSQL's generic plan for a reused one
    ignores the values (a dashboard query went from 150 ms to 12 s after five runs)."""
    if db.engine_type != "postgres":
        pytest.skip("PostgreSQL only: SQLite plans each statement as it is prepared")
    rows = await db.run_querystring(QueryString("SHOW plan_cache_mode"))
    assert [dict(row) for row in rows] == [{"plan_cache_mode": "force_custom_plan"}]


async def test_keyed_reads_keep_their_plans_and_others_still_plan_for_their_values(db: Any) -> None:
    """``one_connection(keyed=True)`` (the household file, the session): its reads go over a
    connection of the keyed pool, where a statement's plan is kept from run to run; reads
    outside it, and a transaction inside it, keep planning for their values."""
    from relief_pwa.db import one_connection, write_transaction

    if db.engine_type != "postgres":
        pytest.skip("PostgreSQL only: SQLite plans each statement as it is prepared")

    async def mode() -> str:
        rows = await db.run_querystring(QueryString("SHOW plan_cache_mode"))
        return str(dict(rows[0])["plan_cache_mode"])

    async with one_connection(db, keyed=True):
        assert await mode() == "auto"
        async with write_transaction(db):
            assert await mode() == "force_custom_plan"
    async with one_connection(db):
        assert await mode() == "force_custom_plan"
    assert await mode() == "force_custom_plan"


def test_foreign_keys_join_without_dir_and_no_reference_is_lazy() -> None:
    """relief_pwa/tables.py gives ForeignKey a cheap ``__dir__`` (Piccolo asks it on every
    attribute access to resolve lazy references). That holds only while no reference is lazy;
    and a join path must still build its join."""
    from piccolo.columns import ForeignKey
    from piccolo.columns.reference import LazyTableReference
    from piccolo.table import Table

    from relief_pwa import tables

    foreign_keys = [
        column
        for table in vars(tables).values()
        if isinstance(table, type) and issubclass(table, Table) and table is not Table
        for column in table._meta.foreign_key_columns
    ]
    assert len(foreign_keys) > 20
    lazy = [fk for fk in foreign_keys if isinstance(fk._foreign_key_meta.references, LazyTableReference)]
    assert lazy == []
    assert "_meta" in dir(tables.Application.household) and isinstance(
        tables.Application.household, ForeignKey
    )
    sql = str(tables.Application.select(tables.Application.household.org_unit.name))  # type: ignore[union-attr]
    assert sql.count("LEFT JOIN") == 2 and 'AS "household.org_unit.name"' in sql


async def test_postgresql_pool_sends_no_reset_query_when_it_takes_a_connection_back(db: Any) -> None:
    """relief_pwa/db.py: a pooled read is one round trip, not two (asyncpg's default reset
    query ran on every release), and a transaction-local setting does not outlive its
    transaction on the connection that goes back to the pool."""
    if db.engine_type != "postgres":
        pytest.skip("PostgreSQL only: the SQLite pool has no reset step")
    import asyncpg

    from relief_pwa.tables import Household

    sent: list[str] = []
    original = asyncpg.Connection.execute

    async def recording(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(query)
        return await original(self, query, *args, **kwargs)

    asyncpg.Connection.execute = recording
    try:
        for _ in range(3):
            await Household.count()
    finally:
        asyncpg.Connection.execute = original
    assert not [q for q in sent if "RESET ALL" in q or "pg_advisory_unlock_all" in q], sent

    async with db.transaction():
        await db.run_querystring(QueryString("SELECT set_config('application_name', 'leak-check', true)"))
    for _ in range(db.pool.get_size()):  # whichever pooled connection comes next
        rows = await db.run_querystring(QueryString("SELECT current_setting('application_name') AS name"))
        assert dict(rows[0])["name"] != "leak-check"


async def test_reads_in_one_connection_block_share_a_connection_and_overlapping_ones_do_not(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """relief_pwa/db.py ``one_connection``: the household file's dozen reads go over one pooled
    connection, taken from the pool once; reads started side by side inside the block still
    each get a connection, and a transaction inside it keeps its own."""
    import asyncio

    import asyncpg

    from relief_pwa.db import one_connection, write_transaction

    async def backend() -> Any:
        if db.engine_type != "postgres":
            return None
        rows = await db.run_querystring(QueryString("SELECT pg_backend_pid() AS pid, pg_sleep(0.05)"))
        return dict(rows[0])["pid"]

    # Counted, not compared by backend: the pool hands back its last connection first, so
    # reads one after another land on one backend with or without the block.
    taken: list[str] = []
    original_acquire = asyncpg.pool.Pool.acquire

    def counting_acquire(self: Any, *args: Any, **kwargs: Any) -> Any:
        taken.append("acquire")
        return original_acquire(self, *args, **kwargs)

    monkeypatch.setattr(asyncpg.pool.Pool, "acquire", counting_acquire)
    async with one_connection(db):
        after_block_took_one = len(taken)
        sequential = {await backend() for _ in range(4)}
        sequential_acquires = len(taken) - after_block_took_one
        overlapping = await asyncio.gather(backend(), backend(), backend())
        async with write_transaction(db):
            in_transaction = await backend()
    if db.engine_type != "postgres":
        assert sequential == {None}  # SQLite: the block changes nothing, and works
        return
    assert after_block_took_one == 1
    assert sequential_acquires == 0 and len(sequential) == 1  # four reads, no trip to the pool
    assert len(set(overlapping)) == 3  # none waited for, or collided on, the shared one
    assert in_transaction not in sequential
