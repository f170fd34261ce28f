"""Background and scheduled work on a PostgreSQL-backed job queue (pgqueuer; docs/scale.md).

On PostgreSQL the web processes only *queue* work: re-scoring every household
after a model change and a caseload import uploaded on the page become rows
of pgqueuer's queue table, and ``relief-pwa worker`` processes (any number, on
any machine) take them with ``FOR UPDATE SKIP LOCKED``, so each job runs once.
A worker that dies leaves its job to another after the heartbeat timeout; a
failing job is retried with backoff (``DatabaseRetryEntrypointExecutor``) and
marked failed on our ``job`` row after the last attempt. Both kinds of job
save their progress on the ``job`` row, which every web process reads. The
workers also run the scheduler's daily tick on a cron schedule (the tick's
own lock keeps it to one at a time); `relief-pwa worker` also sends the bot's outbox.

On SQLite there is one process and no queue: the same jobs run as asyncio
tasks of the web process (``services/jobs.py``, ``services/caseload.py``), as
they always did, and the daily tick runs in the app (``scheduler_lifespan``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from relief_pwa.clock import Clock
from relief_pwa.db import is_sqlite, replica_reads
from relief_pwa.tables import Job

log = logging.getLogger("relief_pwa.queue")

RESCORE = "relief.rescore"
CASELOAD_IMPORT = "relief.caseload_import"
DAILY_TICK = "relief.daily_tick"
TICK_CRON = "*/10 * * * *"  # look for due daily work every 10 minutes (docs/scheduler.md)
MAX_ATTEMPTS = 5
PROGRESS_SECONDS = 1.0
SCHEMA_LOCK = 0x52454C51  # serialises installing the queue's tables between processes


def uses_queue() -> bool:
    """True on PostgreSQL: background work goes through the queue and ``relief-pwa worker``."""
    return not is_sqlite(Job._meta.db)


@asynccontextmanager
async def _connection() -> AsyncIterator[Any]:
    """An asyncpg connection of the app's pool (or a new one outside the app); the primary's."""
    engine: Any = Job._meta.db
    with replica_reads(False):
        pool = getattr(engine, "pool", None)
    if pool is not None:
        async with pool.acquire() as connection:
            yield connection
        return
    connection = await engine.get_new_connection()
    try:
        yield connection
    finally:
        await connection.close()


async def install_schema() -> None:
    """Create pgqueuer's tables when missing, or bring them to this version (idempotent)."""
    from pgqueuer import AsyncpgDriver, Queries

    async with _connection() as connection:
        await connection.execute("SELECT pg_advisory_lock($1)", SCHEMA_LOCK)
        try:
            queries = Queries(AsyncpgDriver(connection))
            if await queries.schema_is_installed():
                await queries.upgrade()
            else:
                await queries.install()
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", SCHEMA_LOCK)


async def enqueue(entrypoint: str, payload: bytes, *, dedupe_key: str) -> bool:
    """Queue one job; False when a job with that key is already waiting or running."""
    from pgqueuer import AsyncpgDriver, Queries

    async with _connection() as connection:
        ids = await Queries(AsyncpgDriver(connection)).enqueue(
            entrypoint, payload, dedupe_key=dedupe_key, on_conflict="skip"
        )
    return any(i is not None for i in ids)


# --- what the pages call ----------------------------------------------------------------------------


async def submit_rescore(job_id: int, clock: Clock) -> None:
    """Run a re-score job: queued for the workers on PostgreSQL, in this process on SQLite."""
    from relief_pwa.services import jobs

    if not uses_queue():
        jobs.start_job(job_id, clock)
        return
    await enqueue(RESCORE, json.dumps({"job": job_id}).encode(), dedupe_key=f"rescore:{job_id}")


async def resume_stale(clock: Clock) -> None:
    """SQLite: restart re-score jobs a restart cut off. PostgreSQL: the queue does that itself
    (a job whose worker stopped sending heartbeats is taken by another)."""
    from relief_pwa.services import jobs

    if not uses_queue():
        await jobs.resume_stale_jobs(clock)


def pack_import(header: dict[str, Any], data: bytes) -> bytes:
    return json.dumps(header, ensure_ascii=False).encode() + b"\n" + data


def unpack_import(payload: bytes) -> tuple[dict[str, Any], bytes]:
    head, _, data = payload.partition(b"\n")
    return json.loads(head), data


# --- the worker ---------------------------------------------------------------------------------------


@dataclass
class WorkerOptions:
    tick_cron: str = TICK_CRON
    batch_size: int = 5


async def _rescore_entry(job: Any, clock: Clock) -> None:
    from relief_pwa.services import jobs

    job_id = int(json.loads(job.payload or b"{}")["job"])
    await jobs.run_rescore_job(job_id, clock, raise_errors=job.attempts < MAX_ATTEMPTS)


async def _import_entry(job: Any, clock: Clock) -> None:
    from relief_pwa.services import caseload

    header, data = unpack_import(job.payload or b"{}\n")
    job_id = int(header["job"])
    flusher = asyncio.create_task(_flush_import_progress(job_id), name=f"import-progress-{job_id}")
    try:
        await caseload.run_queued_import(job_id, header, data)
    finally:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher


async def _flush_import_progress(job_id: int) -> None:
    """The import's progress, kept in this process's memory, onto its row for the pages."""
    from relief_pwa.services import caseload

    while True:
        await asyncio.sleep(PROGRESS_SECONDS)
        try:
            await caseload.save_progress(job_id)
        except Exception:
            log.warning("could not save the progress of import %s", job_id, exc_info=True)


def build_queuer(connection: Any, clock: Clock, options: WorkerOptions) -> Any:
    """The pgqueuer application of a worker: its entrypoints and the daily tick's schedule."""
    from pgqueuer import PgQueuer
    from pgqueuer.executors import DatabaseRetryEntrypointExecutor

    from relief_pwa.services.scheduler import run_tick

    pgq = PgQueuer.from_asyncpg_connection(connection)

    def retrying(params: Any) -> Any:
        return DatabaseRetryEntrypointExecutor(
            parameters=params, max_attempts=MAX_ATTEMPTS, initial_delay=timedelta(seconds=2)
        )

    async def rescore(job: Any) -> None:
        await _rescore_entry(job, clock)

    async def caseload_import(job: Any) -> None:
        await _import_entry(job, clock)

    async def daily_tick(schedule: Any) -> None:
        report = await run_tick(clock.now())
        log.info("worker tick for %s: %s", report.day, "locked out" if report.locked_out else report.ran)

    # One re-score at a time across every worker (they all write the whole city); an
    # import is one transaction, also one at a time so two rosters never race.
    pgq.entrypoint(RESCORE, concurrency_limit=1, accepts_context=False, executor_factory=retrying)(rescore)
    # An import is not retried: it is all or nothing, and a failure is the file's (shown on its page).
    pgq.entrypoint(CASELOAD_IMPORT, concurrency_limit=1, accepts_context=False)(caseload_import)
    pgq.schedule(DAILY_TICK, options.tick_cron, accepts_context=False)(daily_tick)
    return pgq


async def run_worker(
    database_url: str,
    clock: Clock,
    *,
    options: WorkerOptions | None = None,
    started: Callable[[], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """``relief-pwa worker``: take queued jobs and run the schedule until ``stop`` (the command
    also runs an outbox sender beside it)."""
    import asyncpg

    options = options or WorkerOptions()
    await install_schema()
    # pgqueuer listens for new jobs (LISTEN/NOTIFY) on a connection of its own.
    connection = await asyncpg.connect(dsn=database_url)
    try:
        pgq = build_queuer(connection, clock, options)
        runner = asyncio.create_task(pgq.run(batch_size=options.batch_size), name="queue-worker")
        if started is not None:
            started()
        waiter = asyncio.create_task((stop or asyncio.Event()).wait())
        done, _ = await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if waiter in done:
            pgq.shutdown.set()
        else:
            waiter.cancel()
        await runner
    finally:
        await connection.close()


async def drain(clock: Clock) -> None:
    """Run every queued job in this process until none is left, then return (tests;
    ``relief-pwa worker --drain`` for a one-off catch-up)."""
    import asyncpg
    from pgqueuer.types import QueueExecutionMode

    from relief_pwa.settings import get_settings

    connection = await asyncpg.connect(dsn=get_settings().database_url)
    try:
        pgq = build_queuer(connection, clock, WorkerOptions())
        await pgq.qm.run(mode=QueueExecutionMode.drain, batch_size=5, dequeue_timeout=timedelta(seconds=1))
    finally:
        await connection.close()
