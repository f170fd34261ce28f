"""Database engines and the one write-transaction helper.

SQLite (the embedded default): the stock Piccolo engine opens a new
connection, and so a new OS thread, for every query; under load that falls
to ~80 queries/s. ``BoundedSQLiteEngine`` keeps a small pool of connections
instead. Write transactions on SQLite must be ``BEGIN IMMEDIATE``: a deferred
transaction that reads and then writes fails with "database is locked" under
contention, and the busy timeout cannot help a lock upgrade.

PostgreSQL: Piccolo's asyncpg pool, started in the app lifespan.
"""

from __future__ import annotations

import asyncio
import sqlite3
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory
from piccolo.querystring import QueryString

_PRAGMAS = (
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 15000",
    "PRAGMA synchronous = NORMAL",
)


class _PooledConnection:
    """An aiosqlite connection whose ``close()`` returns it to the pool."""

    def __init__(self, raw: aiosqlite.Connection, pool: _ConnectionPool) -> None:
        self._raw = raw
        self._pool = pool

    def execute(self, sql: str, parameters: Any = None) -> Any:
        return self._raw.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any) -> Any:
        return self._raw.executemany(sql, parameters)

    async def commit(self) -> None:
        await self._raw.commit()

    @property
    def row_factory(self) -> Any:
        return self._raw.row_factory

    @row_factory.setter
    def row_factory(self, value: Any) -> None:
        self._raw.row_factory = value

    async def close(self) -> None:
        await self._pool.release(self._raw)


class _ConnectionPool:
    """At most ``size`` open connections, created lazily, bound to one event loop."""

    def __init__(self, connection_kwargs: dict[str, Any], size: int) -> None:
        self._kwargs = connection_kwargs
        self._size = size
        self._idle: list[aiosqlite.Connection] = []
        self._all: list[aiosqlite.Connection] = []
        self._available = asyncio.Semaphore(size)
        self.loop = asyncio.get_running_loop()

    async def acquire(self) -> aiosqlite.Connection:
        await self._available.acquire()
        try:
            if self._idle:
                return self._idle.pop()
            raw = await aiosqlite.connect(**self._kwargs)
            raw.row_factory = dict_factory  # type: ignore[assignment]
            for pragma in _PRAGMAS:
                await raw.execute(pragma)
            self._all.append(raw)
            return raw
        except BaseException:
            self._available.release()
            raise

    async def release(self, raw: aiosqlite.Connection) -> None:
        if raw.in_transaction:
            # A failed statement can leave a transaction open; never hand that on.
            await raw.execute("ROLLBACK")
        raw.row_factory = dict_factory  # type: ignore[assignment]
        self._idle.append(raw)
        self._available.release()

    async def close(self) -> None:
        for raw in self._all:
            await raw.close()
        self._all.clear()
        self._idle.clear()


class _CancelSafeTransaction(SQLiteTransaction):
    """A transaction that never keeps its connection when BEGIN is interrupted.

    Piccolo's ``__aenter__`` does not hand the connection back when the task
    is cancelled during ``BEGIN IMMEDIATE`` (a worker stopped mid-claim): the
    connection stayed checked out with the write lock held, and every later
    writer got "database is locked".
    """

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()  # type: ignore[no-untyped-call]
        try:
            await self.begin()  # type: ignore[no-untyped-call]
        except BaseException:
            await asyncio.shield(self._give_back())
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def _give_back(self) -> None:
        # Statements run in order on the connection's thread: this waits for a BEGIN
        # still running there, so the pool sees the transaction and rolls it back.
        with suppress(Exception):
            await self.connection.execute("SELECT 1")
        await self.connection.close()


class BoundedSQLiteEngine(SQLiteEngine):
    """SQLiteEngine with a bounded, reused set of connections."""

    def __init__(self, path: str, max_connections: int = 4) -> None:
        super().__init__(path=path, timeout=15)
        self.max_connections = max_connections
        self._pool: _ConnectionPool | None = None

    def _current_pool(self) -> _ConnectionPool:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool.loop is not loop:
            # Test clients and CLI commands may run several event loops in turn.
            self._pool = _ConnectionPool(self.connection_kwargs, self.max_connections)
        return self._pool

    def transaction(
        self, transaction_type: TransactionType = TransactionType.deferred, allow_nested: bool = True
    ) -> SQLiteTransaction:
        return _CancelSafeTransaction(
            engine=self, transaction_type=transaction_type, allow_nested=allow_nested
        )

    async def get_connection(self) -> Any:  # used by transactions
        pool = self._current_pool()
        return _PooledConnection(await pool.acquire(), pool)

    async def _run_in_new_connection(
        self,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: Any = None,
    ) -> Any:
        pool = self._current_pool()
        raw = await pool.acquire()
        try:
            async with raw.execute(query, args or []) as cursor:
                rows = await cursor.fetchall()
            if raw.in_transaction:
                await raw.commit()
            return rows
        finally:
            await pool.release(raw)

    async def _run_in_existing_connection(
        self,
        connection: Any,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: Any = None,
    ) -> Any:
        # Piccolo sends "PRAGMA foreign_keys = 1" before every statement of a transaction:
        # one more trip to the connection's thread per query, and a no-op inside a
        # transaction anyway. Pooled connections have foreign keys on from the start.
        connection.row_factory = dict_factory
        async with connection.execute(query, args or []) as cursor:
            return await cursor.fetchall()

    async def close_pool(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def make_engine(database_url: str, sqlite_max_connections: int = 4) -> Engine[Any]:
    """Build the Piccolo engine named by a database URL."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        _enable_wal(path)
        return BoundedSQLiteEngine(path=str(path), max_connections=sqlite_max_connections)
    parsed = urlparse(database_url)
    return PostgresEngine(
        config={
            "host": parsed.hostname or "127.0.0.1",
            "port": parsed.port or 5432,
            "user": unquote(parsed.username or ""),
            "password": unquote(parsed.password or ""),
            "database": parsed.path.lstrip("/"),
            # asyncpg prepares every statement; after five runs PostgreSQL may switch a
            # statement to a generic plan that ignores the values. For the dashboards'
            # prefix and date-range filters that plan took 12 s instead of 150 ms.
            "server_settings": {"plan_cache_mode": "force_custom_plan"},
        }
    )


def _enable_wal(path: Path) -> None:
    """WAL is persistent in the database file: set it once, synchronously."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")


def is_sqlite(engine: Engine[Any]) -> bool:
    return engine.engine_type == "sqlite"


@asynccontextmanager
async def write_transaction(engine: Engine[Any]) -> AsyncIterator[None]:
    """The only way services open a transaction that writes.

    SQLite: ``BEGIN IMMEDIATE`` takes the write lock up front. Nested calls join
    the outer transaction.
    """
    if is_sqlite(engine):
        async with engine.transaction(transaction_type=TransactionType.immediate):
            yield
        return
    async with engine.transaction():
        yield


async def advisory_xact_lock(engine: Engine[Any], key: str) -> None:
    """Serialise writers of ``key`` until the current transaction ends.

    SQLite needs nothing (``BEGIN IMMEDIATE`` already serialises writers);
    PostgreSQL's READ COMMITTED would otherwise let two writers read the same
    head (e.g. of the audit chain) and both append after it.
    """
    if is_sqlite(engine):
        return
    await engine.run_querystring(
        QueryString("SELECT pg_advisory_xact_lock({})", zlib.crc32(key.encode()) - 2**31)
    )


async def close_engine(engine: Engine[Any]) -> None:
    """Close the engine's pooled connections (CLI commands, benchmarks).

    SQLite connections run in worker threads that keep the interpreter alive
    until they are closed.
    """
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()
    elif isinstance(engine, BoundedSQLiteEngine):
        await engine.close_pool()
