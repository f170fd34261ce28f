"""The job queue and the shared public limits on PostgreSQL (docs/scale.md).

The processes themselves are in tests/test_processes.py; here one process plays
the worker (``queue.drain``) and two limiter objects play two app processes.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest

from relief_pwa.core.intake import ItemDraft
from relief_pwa.core.scoring import DEFAULT_MODEL, model_to_dict
from relief_pwa.services import jobs, queue
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.ratelimit import SharedLimiter, SlidingWindowLimiter
from relief_pwa.services.scoring import rescore_batch
from relief_pwa.services.scoring_models import do_activate_model, do_create_model_draft
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.tables import Household, IndexRecord, Job
from tests.factories import make_intake, member

pytestmark = pytest.mark.skipif(
    not os.environ.get("RELIEF_TEST_DATABASE_URL", "").startswith("postgres"),
    reason="the job queue and the shared limits are PostgreSQL's (SQLite runs jobs in the app)",
)


async def test_a_rescore_job_that_fails_is_retried_and_finishes_once(
    world: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await do_seed_standards(SYSTEM_ACTOR, now=world.now)
    for income in ("100", "300"):
        await make_intake(world, items=[ItemDraft("income", "wages", "0", "", income)], members=[member()])
    real_batch = rescore_batch
    calls = {"n": 0}

    async def flaky_batch(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("the database went away for a moment")
        return await real_batch(*args, **kwargs)

    monkeypatch.setattr(jobs, "rescore_batch", flaky_batch)
    city = world.actor("city")
    clock.advance(timedelta(hours=1))
    definition = model_to_dict(DEFAULT_MODEL) | {"version": "v2", "effective_from": "2026-11-01"}
    job_id = await do_activate_model(
        city, await do_create_model_draft(city, definition, now=clock.now()), now=clock.now()
    )
    await queue.submit_rescore(job_id, clock)
    assert not await queue.enqueue(queue.RESCORE, b"{}", dedupe_key=f"rescore:{job_id}")  # queued once
    await queue.drain(clock)
    row = await Job.select().where(Job.id == job_id).first()
    assert row is not None and row["status"] == "done", row
    assert calls["n"] >= 2  # the first attempt failed, a retry finished it
    open_households = await Household.count().where(Household.is_open.eq(True))
    assert await IndexRecord.count().where(IndexRecord.trigger == "model:v2") == open_households


async def test_reads_counted_by_one_process_hold_back_another(db: Any) -> None:
    first = SharedLimiter("reads", SlidingWindowLimiter(limit=10, window_seconds=3600))
    second = SharedLimiter("reads", SlidingWindowLimiter(limit=10, window_seconds=3600))
    first.shared = second.shared = True
    assert all(first.hit("203.0.113.9").allowed for _ in range(6))
    await first.flush()
    assert all(second.hit("203.0.113.9").allowed for _ in range(3))
    await second.flush()  # adds its 3 and learns the fleet's 9
    assert second.hit("203.0.113.9").allowed
    refused = second.hit("203.0.113.9")
    assert not refused.allowed and refused.retry_after_seconds > 0
    assert second.hit("198.51.100.7").allowed  # another address is its own


async def test_writes_are_counted_exactly_across_processes(db: Any) -> None:
    first = SharedLimiter("writes", SlidingWindowLimiter(limit=3, window_seconds=3600))
    second = SharedLimiter("writes", SlidingWindowLimiter(limit=3, window_seconds=3600))
    first.shared = second.shared = True
    answers = [
        (await limiter.hit_now("203.0.113.9")).allowed for limiter in (first, second, first, second, first)
    ]
    assert answers == [True, True, True, False, False]


async def test_the_workers_schedule_runs_the_daily_tick(world: Any, clock: Any) -> None:
    import asyncpg

    from relief_pwa.settings import get_settings
    from relief_pwa.tables import ScheduledRun

    connection = await asyncpg.connect(dsn=get_settings().database_url)
    try:
        pgq = queue.build_queuer(connection, clock, queue.WorkerOptions())
        [executor] = [
            e
            for key, e in pgq.sm.registry.items()
            if key.entrypoint == queue.DAILY_TICK and key.expression == queue.TICK_CRON
        ]
        await executor.parameters.func(None)  # what the schedule fires every ten minutes
    finally:
        await connection.close()
    done = await ScheduledRun.select(ScheduledRun.task).where(ScheduledRun.status == "done")
    assert {"close_due_notices", "raise_overdue"} <= {r["task"] for r in done}
