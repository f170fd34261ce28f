"""Named locks across processes: only one holder of a name at a time, whatever runs where.

The scheduler's tick (docs/scheduler.md) and ``relief-pwa retention --run``
(docs/retention.md) each take one. PostgreSQL holds a session advisory lock
on a connection of the holder's own, so a process that dies drops the lock
with its connection. SQLite takes a lease row in ``scheduler_lease`` with a
conditional UPDATE under ``BEGIN IMMEDIATE``, renewed while the holder works
and free after ``LEASE_SECONDS`` if the holder died. Taking never waits: the
caller learns whether it holds the lock and decides what to do.
"""

from __future__ import annotations

import asyncio
import logging
import time as wall
import uuid
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from piccolo.engine.base import Engine

from relief_pwa.db import is_sqlite, write_transaction
from relief_pwa.tables import SchedulerLease

log = logging.getLogger("relief_pwa.locks")

LEASE_SECONDS = 120  # an SQLite lease lasts this long without renewal (a crashed holder frees it)
RENEW_EVERY_SECONDS = 30


def pg_lock_key(name: str) -> int:
    """The advisory lock key of ``name`` (the tick's key predates the other names: keep it)."""
    return zlib.crc32(f"relief-scheduler-{name}".encode()) - 2**31


@asynccontextmanager
async def named_lock(engine: Engine[Any], name: str) -> AsyncIterator[bool]:
    """Yield True when this caller holds the lock ``name`` (False: someone else holds it)."""
    if is_sqlite(engine):
        async with _sqlite_lease(engine, name) as held:
            yield held
        return
    # A session lock on a connection of its own: the holder's transactions come and go
    # on pooled connections, and a process that dies drops the lock with its connection.
    key = pg_lock_key(name)
    connection = await engine.get_new_connection()  # type: ignore[attr-defined]  # PostgresEngine
    try:
        held = bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", key))
        try:
            yield held
        finally:
            if held:
                await connection.execute("SELECT pg_advisory_unlock($1)", key)
    finally:
        await connection.close()


@asynccontextmanager
async def _sqlite_lease(engine: Engine[Any], name: str) -> AsyncIterator[bool]:
    holder = uuid.uuid4().hex
    held = await _take_lease(engine, name, holder)
    if not held:
        yield False
        return
    renewer = asyncio.create_task(_keep_lease(engine, name, holder), name=f"lease-{name}")
    try:
        yield True
    finally:
        renewer.cancel()
        with suppress(asyncio.CancelledError):
            await renewer
        async with write_transaction(engine):
            await SchedulerLease.update({SchedulerLease.holder: "", SchedulerLease.expires_epoch: 0}).where(
                (SchedulerLease.name == name) & (SchedulerLease.holder == holder)
            )


async def _take_lease(engine: Engine[Any], name: str, holder: str) -> bool:
    now_epoch = int(wall.time())
    async with write_transaction(engine):  # BEGIN IMMEDIATE: one taker at a time
        await SchedulerLease.insert(SchedulerLease(name=name, holder="", expires_epoch=0)).on_conflict(
            target=SchedulerLease.name, action="DO NOTHING"
        )
        taken = await SchedulerLease.raw(
            "UPDATE scheduler_lease SET holder = {}, expires_epoch = {} "
            "WHERE name = {} AND (holder = '' OR expires_epoch < {}) RETURNING id",
            holder,
            now_epoch + LEASE_SECONDS,
            name,
            now_epoch,
        )
    return bool(taken)


async def _keep_lease(engine: Engine[Any], name: str, holder: str) -> None:
    while True:
        await asyncio.sleep(RENEW_EVERY_SECONDS)
        try:
            async with write_transaction(engine):
                await SchedulerLease.update(
                    {SchedulerLease.expires_epoch: int(wall.time()) + LEASE_SECONDS}
                ).where((SchedulerLease.name == name) & (SchedulerLease.holder == holder))
        except Exception:  # a busy database: the lease has margin, try again soon
            log.warning("could not renew the %s lease; retrying", name, exc_info=True)
