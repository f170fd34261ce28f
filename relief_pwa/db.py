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
import logging
import sqlite3
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import aiosqlite
import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory
from piccolo.querystring import QueryString

log = logging.getLogger(__name__)

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

    async def execute_fetchall(self, sql: str, parameters: Any = None) -> Any:
        return await self._raw.execute_fetchall(sql, parameters)

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
            # One trip to the connection's thread (execute, fetch and close the cursor there):
            # a cursor context takes three, and a page sends a dozen statements.
            rows = await raw.execute_fetchall(query, args or [])
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
        return await connection.execute_fetchall(query, args or [])

    async def close_pool(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


# Set by the web layer for a request that may read from the replica (handlers/replica.py).
_replica_reads: ContextVar[bool] = ContextVar("relief_replica_reads", default=False)


@contextmanager
def replica_reads(enabled: bool = True) -> Iterator[None]:
    """Within this block, reads outside a transaction may be served by the replica."""
    token = _replica_reads.set(enabled)
    try:
        yield
    finally:
        _replica_reads.reset(token)


class _SharedConnection:
    """A pooled connection lent to the reads of one ``one_connection`` block."""

    __slots__ = ("busy", "connection", "pool")

    def __init__(self, connection: Any, pool: Any) -> None:
        self.connection = connection
        self.pool = pool
        self.busy = False


_shared_connection: ContextVar[_SharedConnection | None] = ContextVar(
    "relief_shared_connection", default=None
)


@asynccontextmanager
async def one_connection(engine: Engine[Any], *, keyed: bool = False) -> AsyncIterator[None]:
    """Within this block, reads outside a transaction share one pooled connection.

    A page that sends a dozen statements (the household file) otherwise takes and
    returns a pooled connection for each: on PostgreSQL a fifth of the page's Python
    calls (docs/scale.md, "Cheaper requests, second pass"). Reads that overlap (tasks
    started inside the block) take connections of their own, as do transactions and
    replica reads; SQLite's pool is untouched.

    ``keyed``: every read of the block finds its rows by a key (an id, a session key,
    a household's rows): the connection comes from the pool whose statements keep
    their plan from run to run (``ReplicatedPostgresEngine``, "keyed pool").
    """
    if (
        not isinstance(engine, ReplicatedPostgresEngine)
        or engine.current_transaction.get() is not None
        or _shared_connection.get() is not None
        or engine.pool is None
        or engine.pool is not engine._primary_pool  # replica reads: not shared
    ):
        yield
        return
    pool = engine.pool
    source = engine.keyed_pool if keyed and engine.keyed_pool is not None else pool
    async with source.acquire() as connection:
        # Stands in for the primary pool's connections: the reads that would take one take it.
        token = _shared_connection.set(_SharedConnection(connection, pool))
        try:
            yield
        finally:
            _shared_connection.reset(token)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset step: nothing to reset (``ReplicatedPostgresEngine.start_connection_pool``)."""


class ReplicatedPostgresEngine(PostgresEngine):
    """The primary, and optionally a streaming replica for heavy read-only pages.

    Every query goes to the primary except a query outside a transaction run
    while :func:`replica_reads` is on and a replica is attached: Piccolo's
    queries, and the bulk readers that take a connection from ``pool``, all
    acquire through ``pool``, so choosing the pool is the one switch.
    Transactions always run on the primary (writes open one through
    ``write_transaction``); a stray write outside a transaction during replica
    reads fails on the read-only replica instead of being lost. A replica that
    cannot be reached leaves its reads on the primary (``_ReplicaPool``).
    """

    def __init__(self, config: dict[str, Any], replica_config: dict[str, Any] | None = None) -> None:
        self._primary_pool: Any = None
        self.keyed_pool: Any = None
        super().__init__(config=config)
        self.replica: PostgresEngine | None = (
            PostgresEngine(config=replica_config) if replica_config is not None else None
        )

    @property
    def pool(self) -> Any:
        replica = self.replica
        if replica is not None and replica.pool is not None and _replica_reads.get():
            return _ReplicaPool(replica.pool, self._primary_pool)
        return self._primary_pool

    @pool.setter
    def pool(self, value: Any) -> None:
        self._primary_pool = value

    async def _run_in_pool(self, query: str, args: Any = None) -> Any:
        shared = _shared_connection.get()
        # Only a connection of the pool this read would use (a replica read gets its own),
        # and only one statement at a time on it.
        if shared is None or shared.busy or shared.pool is not self.pool:
            return await super()._run_in_pool(query, args)
        shared.busy = True
        try:
            return await shared.connection.fetch(query, *(args or ()))
        finally:
            shared.busy = False

    async def start_connection_pool(self, **kwargs: Any) -> None:
        # asyncpg resets a connection as the pool takes it back (unlock all, close cursors,
        # unlisten, reset settings): a second round trip for each of a page's statements.
        # Pooled connections carry no session state here: session locks and LISTEN take
        # connections of their own (services/locks.py, the job queue's listener) and settings
        # are transaction-local (set_config(..., true)). asyncpg still rolls back a
        # transaction left open before it takes a connection back.
        kwargs.setdefault("reset", _keep_session)
        await super().start_connection_pool(**kwargs)
        # The keyed pool: its connections let PostgreSQL keep a statement's plan from run to
        # run (plan_cache_mode auto), for reads that find rows by a key, where the plan does
        # not depend on the value. The main pool plans every run for its values (see
        # postgres_config), which costs a page's keyed reads more than running them: about
        # 1.2 ms of server CPU per household file, three times its execution.
        # Half the main pool's size: its reads are short, one at a time per request.
        if self.keyed_pool is None:
            keyed_settings = {**self.config.get("server_settings", {}), "plan_cache_mode": "auto"}
            keyed_size = max(2, int(kwargs.get("max_size", 10)) // 2)
            self.keyed_pool = await asyncpg.create_pool(
                **{**self.config, "server_settings": keyed_settings},
                **{**kwargs, "min_size": 0, "max_size": keyed_size},
            )
        if self.replica is not None:
            # Connect lazily: the app starts, and serves from the primary, while the replica is down.
            await self.replica.start_connection_pool(**{**kwargs, "min_size": 0})

    async def close_connection_pool(self) -> None:
        with replica_reads(False):
            await super().close_connection_pool()
        keyed, self.keyed_pool = self.keyed_pool, None
        if keyed is not None:
            await keyed.close()
        if self.replica is not None:
            await self.replica.close_connection_pool()

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return _PrimaryTransaction(engine=self, allow_nested=allow_nested)

    async def attach_replica(self, replica_url: str, **pool_options: Any) -> None:
        """Route replica reads to ``replica_url`` from now on (tests; the app uses the settings)."""
        await self.detach_replica()
        self.replica = PostgresEngine(config=postgres_config(replica_url))
        await self.replica.start_connection_pool(**{"reset": _keep_session, **pool_options})

    async def detach_replica(self) -> None:
        replica, self.replica = self.replica, None
        if replica is not None:
            await replica.close_connection_pool()


class _ReplicaPool:
    """The replica's pool, as the readers use it (``async with pool.acquire()``).

    A connection the replica cannot give (down, refusing connections) is taken
    from the primary instead, so the heavy pages keep working while a replica
    is rebuilt; each such fall-back is logged.
    """

    def __init__(self, replica: Any, primary: Any) -> None:
        self._replica = replica
        self._primary = primary

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        try:
            connection = await self._replica.acquire()
        except (OSError, TimeoutError, asyncpg.exceptions.PostgresConnectionError) as exc:
            log.warning("replica unavailable (%s); reading from the primary", type(exc).__name__)
            async with self._primary.acquire() as connection:
                yield connection
            return
        try:
            yield connection
        finally:
            await self._replica.release(connection)


class _PrimaryTransaction(PostgresTransaction):
    """Takes its connection from, and gives it back to, the primary's pool."""

    async def get_connection(self) -> Any:
        with replica_reads(False):
            return await super().get_connection()  # type: ignore[no-untyped-call]

    async def __aexit__(self, *exc_info: Any) -> Any:
        with replica_reads(False):
            return await super().__aexit__(*exc_info)


def postgres_config(database_url: str) -> dict[str, Any]:
    """asyncpg's connection arguments for a postgresql:// URL."""
    parsed = urlparse(database_url)
    return {
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


def make_engine(database_url: str, sqlite_max_connections: int = 4, replica_url: str = "") -> Engine[Any]:
    """Build the Piccolo engine named by a database URL (and its replica's, PostgreSQL only)."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        _enable_wal(path)
        return BoundedSQLiteEngine(path=str(path), max_connections=sqlite_max_connections)
    return ReplicatedPostgresEngine(
        postgres_config(database_url), postgres_config(replica_url) if replica_url else None
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
