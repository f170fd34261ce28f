"""Background jobs with visible progress: re-scoring every household after a model change.

On SQLite the job runs as an asyncio task in the web process; on PostgreSQL
a ``relief-pwa worker`` takes it from the job queue (services/queue.py). Either
way it commits one short write transaction per batch, so pages keep working
while it runs. Its cursor (the
last household id done) is saved with every batch: a job interrupted by a
restart resumes where it stopped (``resume_stale_jobs``) and a batch done
twice would only store an identical record again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from relief_pwa.clock import Clock
from relief_pwa.core.errors import NotFoundOrForbidden
from relief_pwa.db import write_transaction
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.audit import record_event
from relief_pwa.services.rank_store import rebuild_all as rebuild_ranks
from relief_pwa.services.scoring import city_path, load_model, rescore_batch
from relief_pwa.services.scoring_models import RESCORE_JOB
from relief_pwa.tables import Job
from relief_pwa.tables import ScoringModel as ScoringModelRow

log = logging.getLogger(__name__)

BATCH_SIZE = 2000
STALE_AFTER = timedelta(seconds=60)  # a running job without a heartbeat for this long is resumed

_tasks: dict[int, asyncio.Task[None]] = {}


@dataclass(frozen=True)
class JobView:
    id: int
    kind: str
    status: str
    done: int
    total: int
    error: str
    model_version: str
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def percent(self) -> int:
        return (
            100
            if self.total == 0 and self.status == "done"
            else (100 * self.done // self.total if self.total else 0)
        )

    @property
    def running(self) -> bool:
        return self.status in {"queued", "running"}


def _view(row: dict[str, Any]) -> JobView:
    params = json.loads(row["params"] or "{}")
    return JobView(
        row["id"],
        row["kind"],
        row["status"],
        row["progress_done"],
        row["progress_total"],
        row["error"],
        str(params.get("model_version", "")),
        row["started_at"],
        row["finished_at"],
    )


async def get_job(job_id: int) -> JobView:
    row = await Job.select().where(Job.id == job_id).first()
    if row is None:
        raise NotFoundOrForbidden()
    return _view(row)


async def latest_jobs(kind: str = RESCORE_JOB, limit: int = 5) -> list[JobView]:
    rows = await Job.select().where(Job.kind == kind).order_by(Job.id, ascending=False).limit(limit)
    return [_view(r) for r in rows]


def start_job(job_id: int, clock: Clock, *, batch_size: int = BATCH_SIZE) -> asyncio.Task[None]:
    """Run the job in the background of this process (idempotent while it runs)."""
    task = _tasks.get(job_id)
    if task is None or task.done():
        task = asyncio.get_running_loop().create_task(run_rescore_job(job_id, clock, batch_size=batch_size))
        _tasks[job_id] = task
        task.add_done_callback(lambda _t: _tasks.pop(job_id, None) if _tasks.get(job_id) is _t else None)
    return task


async def wait_for(job_id: int) -> JobView:
    """Await a job started in this process (tests, CLI)."""
    task = _tasks.get(job_id)
    if task is not None:
        await task
    return await get_job(job_id)


async def run_rescore_job(
    job_id: int, clock: Clock, *, batch_size: int = BATCH_SIZE, raise_errors: bool = False
) -> None:
    """Re-score every open household with the job's model, batch by batch, saving progress.

    ``raise_errors``: the queue will try again, so a failure leaves the job running at its
    cursor and propagates; otherwise the job is marked failed.
    """
    engine = Job._meta.db
    try:
        row = await Job.select().where(Job.id == job_id).first()
        if row is None or row["status"] in {"done", "failed"}:
            return
        params = json.loads(row["params"] or "{}")
        version = str(params["model_version"])
        model = await load_model(version)
        now = clock.now()
        await Job.update({Job.status: "running", Job.started_at: row["started_at"] or now}).where(
            Job.id == job_id
        )
        while True:
            now = clock.now()
            async with write_transaction(engine):
                current = (
                    await Job.select(Job.params, Job.progress_done, Job.status)
                    .where(Job.id == job_id)
                    .first()
                )
                if current is None or current["status"] not in {"queued", "running"}:
                    return
                active = (
                    await ScoringModelRow.select(ScoringModelRow.version)
                    .where(ScoringModelRow.status == "active")
                    .first()
                )
                if active is None or active["version"] != version:
                    # A newer model was activated meanwhile: its own job takes over.
                    await Job.update(
                        {Job.status: "done", Job.finished_at: now, Job.error: "superseded by a newer model"}
                    ).where(Job.id == job_id)
                    return
                state = json.loads(current["params"] or "{}")
                result = await rescore_batch(
                    model,
                    now=now,
                    trigger=f"model:{version}",
                    after_id=int(state.get("cursor", 0)),
                    limit=batch_size,
                )
                finished = result.count == 0 and result.skipped == 0
                state.update(cursor=result.last_id, heartbeat=now.isoformat())
                state["skipped"] = int(state.get("skipped", 0)) + result.skipped
                values: dict[Any, Any] = {
                    Job.params: json.dumps(state),
                    Job.progress_done: current["progress_done"] + result.count + result.skipped,
                }
                if finished:
                    values.update({Job.status: "done", Job.finished_at: now})
                    await Job.update(values).where(Job.id == job_id)
                    await rebuild_ranks()  # the city re-scored: every scope stored afresh
                    await record_event(
                        SYSTEM_ACTOR,
                        "job.done",
                        "job",
                        job_id,
                        org_path=await city_path(),
                        now=now,
                        after={
                            "kind": RESCORE_JOB,
                            "model_version": version,
                            "households": current["progress_done"],
                            "skipped": state["skipped"],
                        },
                    )
                    return
                await Job.update(values).where(Job.id == job_id)
            await asyncio.sleep(0)  # let requests in between batches
    except Exception as exc:  # the job must end visibly, never hang as "running"
        if raise_errors:
            log.warning("job %s failed; the queue tries it again", job_id, exc_info=True)
            raise
        log.exception("job %s failed", job_id)
        await Job.update(
            {Job.status: "failed", Job.error: str(exc)[:2000], Job.finished_at: clock.now()}
        ).where(Job.id == job_id)


async def resume_stale_jobs(clock: Clock) -> list[int]:
    """Restart queued/running jobs that no task in this process runs and whose heartbeat is old."""
    now = clock.now()
    resumed: list[int] = []
    for row in await Job.select().where(Job.status.is_in(["queued", "running"]) & (Job.kind == RESCORE_JOB)):
        if row["id"] in _tasks:
            continue
        params = json.loads(row["params"] or "{}")
        heartbeat = params.get("heartbeat")
        try:
            beat = datetime.fromisoformat(heartbeat) if heartbeat else None
        except ValueError:
            beat = None
        if row["status"] == "running" and beat is not None and now - beat < STALE_AFTER:
            continue  # another worker is on it
        # Claim it: only one worker's heartbeat update matches the old params.
        params["heartbeat"] = now.isoformat()
        claimed = (
            await Job.update({Job.params: json.dumps(params)})
            .where((Job.id == row["id"]) & (Job.params == row["params"]))
            .returning(Job.id)
        )
        if claimed:
            start_job(row["id"], clock)
            resumed.append(row["id"])
    return resumed
