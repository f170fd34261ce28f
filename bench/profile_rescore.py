"""Profile one full re-score of an already-built benchmark database (no rebuild).

Runs ``rescore_all`` once at the benchmark's day plus ``--days`` (and ``--minutes``),
and prints where the parent's time went: each statement it sent (by its first
words), the wait for the workers' spans, the stored ranks, the audit event, with
the load average before and after. Build the database once with
``bench/bench_index.py`` (same ``RELIEF_DATABASE_URL``), then iterate with this:

    RELIEF_DATABASE_URL=postgresql://…/relief_bench .venv/bin/python bench/profile_rescore.py \\
        --days 1 --workers 2

Each run needs a later moment than the last (the latest record wins): ``--days 1``
is "a new day" (every record new), ``--days 91`` "90 days after the last scoring".
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import os
import resource
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from piccolo.engine.postgres import PostgresEngine

import bench._env  # noqa: F401  (first: selects the database)
from bench.synthetic_city import BENCH_NOW
from relief_pwa.db import close_engine
from relief_pwa.services import rank_store, scoring
from relief_pwa.services.scoring import get_active_model, rescore_all

_TIMES: dict[str, list[float]] = defaultdict(list)
_PARENT = os.getpid()


def _label(sql: str) -> str:
    words = " ".join(sql.split()[:4])
    return words[:48]


def _timed_method(cls: Any, name: str) -> None:
    original = getattr(cls, name)

    async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        if os.getpid() != _PARENT:
            return await original(self, *args, **kwargs)
        started = time.perf_counter()
        try:
            return await original(self, *args, **kwargs)
        finally:
            label = f"{name}: {_label(args[0])}" if args and isinstance(args[0], str) else name
            _TIMES[label].append(time.perf_counter() - started)

    setattr(cls, name, timed)


def _timed_function(module: Any, name: str, label: str) -> None:
    original: Callable[..., Awaitable[Any]] = getattr(module, name)

    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            _TIMES[label].append(time.perf_counter() - started)

    setattr(module, name, timed)


async def _backend_pid(db: Any) -> int:
    if db.engine_type != "postgres":
        return 0
    rows = await db._run_in_pool("SELECT pg_backend_pid() AS pid")  # the pool has one idle connection
    return int(rows[0]["pid"])


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a local process (0 when unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _server_cpu(pg_dir: str) -> float:
    """CPU seconds of a local PostgreSQL server: the postmaster, its live children and the
    children it reaped (backends that ended). 0 without ``--pg-dir``."""
    if not pg_dir:
        return 0.0
    postmaster = int(Path(pg_dir, "postmaster.pid").read_text().split()[0])
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(f) for f in fields[11:15]) / ticks  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == postmaster:
            total += (int(stat[11]) + int(stat[12])) / ticks
    return total


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--minutes", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=5_000, help="households per span (rescore_all's chunk)")
    parser.add_argument("--pg-dir", default="", help="the local server's data directory: count its CPU")
    args = parser.parse_args()

    from relief_pwa.piccolo_conf import DB

    if isinstance(DB, PostgresEngine):
        import asyncpg

        await DB.start_connection_pool(min_size=1, max_size=1)
        for method in ("execute", "fetch", "fetchrow", "copy_records_to_table", "executemany"):
            _timed_method(asyncpg.connection.Connection, method)
    _timed_function(scoring, "_bulk_write", "_bulk_write (one span, all its statements)")
    _timed_function(rank_store, "sync_households", "stored ranks (sync_households)")
    now = BENCH_NOW + timedelta(days=args.days, minutes=args.minutes)
    model = await get_active_model(now=now)
    backend = await _backend_pid(DB)
    backend_cpu = _proc_cpu(backend)
    own_cpu = time.process_time()
    children_cpu = _children_cpu()
    server_cpu = _server_cpu(args.pg_dir)
    load_before = os.getloadavg()
    started = time.perf_counter()
    result = await rescore_all(model, now=now, trigger="profile", workers=args.workers, chunk=args.chunk)
    seconds = time.perf_counter() - started
    own_cpu = time.process_time() - own_cpu
    backend_cpu = _proc_cpu(backend) - backend_cpu
    load_after = os.getloadavg()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"{DB.engine_type}, {args.workers} workers, as of {now.date()}: {result.count} households "
        f"in {seconds:.2f} s; load {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
        f"peak RSS parent {peak:.0f} MB, largest child {children:.0f} MB"
    )
    await asyncio.sleep(1)  # the pool's processes exit and are reaped: their CPU is counted
    children_cpu = _children_cpu() - children_cpu
    server_cpu = _server_cpu(args.pg_dir) - server_cpu
    print(
        f"  CPU: this process {own_cpu:.2f} s, its database backend {backend_cpu:.2f} s, "
        f"worker processes {children_cpu:.2f} s, the whole server {server_cpu:.2f} s"
    )
    for label, samples in sorted(_TIMES.items(), key=lambda item: -sum(item[1])):
        print(f"  {sum(samples):7.3f} s  ×{len(samples):<4} {label}")
    await close_engine(DB)


if __name__ == "__main__":
    asyncio.run(main())
