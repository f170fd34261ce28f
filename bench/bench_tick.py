"""Benchmark one daily tick of the scheduler over a synthetic city with a year of history.

Builds the synthetic city of the relief-index benchmark (bench/synthetic_city.py:
60,000 households by default) and the year of history of the dashboard
benchmark (bench/bench_dashboard.py ``add_history``), then adds what the daily
tasks act on: a running 公示 for every application on notice (windows ending
over the coming week), and a bound Telegram chat for every application with a
visit scheduled. The first tick (the day after the city's "now") catches up:
it raises every investigation and review already overdue. The timed tick is
the next day's, the steady state: only that day's notices, newly overdue
items, time-driven re-scores and reminders. Target: under 10 s.

Usage:
    .venv/bin/python bench/bench_tick.py --households 60000
    RELIEF_DATABASE_URL=postgresql://relief:relief@127.0.0.1:PORT/relief_test \\
        .venv/bin/python bench/bench_tick.py --households 60000
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import random
import time
from datetime import datetime, timedelta
from typing import Any

import bench._env  # noqa: F401  (first: selects the database)
from bench.bench_dashboard import add_history
from bench.bench_index import prepare_database
from bench.synthetic_city import BENCH_NOW, build_city, bulk_insert
from relief_pwa.services.scheduler import TickReport, run_tick
from relief_pwa.tables import Application, Household, Visit

TARGET_SECONDS = 10.0
CHAT_BASE = 900_000_000


async def add_tick_work(now: datetime, seed: int = 15) -> dict[str, int]:
    """Running 公示 for the applications on notice, and bound chats for visited households."""
    rng = random.Random(seed)
    today = now.date()
    on_notice = await Application.select(
        Application.id, Application.household, Application.org_path, Application.category
    ).where(Application.state == "publicized")
    notices: list[tuple[Any, ...]] = []
    for app in on_notice:
        starts = today - timedelta(days=rng.randint(0, 6))
        notices.append(
            (
                app["id"],
                app["household"],
                app["org_path"],
                1,
                starts,
                starts + timedelta(days=6),
                "running",
                "张**",
                app["category"],
                2,
                50_000,
                now,
            )
        )
    await bulk_insert(
        "public_notice",
        (
            "application",
            "household",
            "org_path",
            "notice_round",
            "starts_on",
            "ends_on",
            "status",
            "masked_name",
            "category",
            "household_size",
            "proposed_amount_fen",
            "created_at",
        ),
        notices,
    )
    visited = await Visit.select(Visit.application).where(
        (Visit.status == "scheduled") & (Visit.scheduled_for > today) & Visit.application.is_not_null()
    )
    applications = sorted({int(v["application"]) for v in visited})
    chats = [(CHAT_BASE + i, "zh_Hans", False, now) for i in range(len(applications))]
    await bulk_insert("bot_chat", ("chat_id", "language", "blocked", "created_at"), chats)
    bindings = [(CHAT_BASE + i, app_id, True, now) for i, app_id in enumerate(applications)]
    await bulk_insert("bot_binding", ("chat_id", "application", "active", "bound_at"), bindings)
    return {"running notices": len(notices), "bound chats": len(chats)}


def _print(label: str, report: TickReport, seconds: float) -> None:
    parts = ", ".join(f"{o.task} {o.count}" for o in report.outcomes)
    print(f"{label} ({report.day}): {seconds:.2f} s — {parts}")


async def main() -> None:
    parser = argparse.ArgumentParser(description="Daily tick benchmark")
    parser.add_argument("--households", type=int, default=60_000)
    args = parser.parse_args()

    from relief_pwa.db import close_engine
    from relief_pwa.piccolo_conf import DB

    await prepare_database(reset=True)
    print(f"engine: {DB.engine_type}")
    info = await build_city(args.households, now=BENCH_NOW)
    started = time.perf_counter()
    history = await add_history(BENCH_NOW)
    extra = await add_tick_work(BENCH_NOW)
    if DB.engine_type == "postgres":
        await DB.run_ddl("ANALYZE")
    print(
        f"synthetic city: {info.households} households, {info.applications} applications, "
        f"{info.aid} aid records, {info.shocks} shocks (built in {info.seconds:.1f} s); history: "
        + ", ".join(f"{v:,} {k}" for k, v in {**history, **extra}.items())
        + f" (added in {time.perf_counter() - started:.1f} s)"
    )
    print(f"open households: {await Household.count().where(Household.is_open.eq(True)):,}")
    # Ticks at 09:00 local (after the reminders' 08:00).
    first_day = BENCH_NOW.replace(hour=9, minute=0) + timedelta(days=1)
    started = time.perf_counter()
    catch_up = await run_tick(first_day)
    _print("first tick, catching up", catch_up, time.perf_counter() - started)
    started = time.perf_counter()
    daily = await run_tick(first_day + timedelta(days=1))
    seconds = time.perf_counter() - started
    _print("daily tick", daily, seconds)
    started = time.perf_counter()
    again = await run_tick(first_day + timedelta(days=1, minutes=10))
    _print("the same day again (nothing to do)", again, time.perf_counter() - started)
    failed = [o for o in catch_up.outcomes + daily.outcomes if o.status == "failed"]
    if failed:
        print("FAILED: " + "; ".join(f"{o.task}: {o.error}" for o in failed))
    verdict = "met" if seconds < TARGET_SECONDS else "NOT met"
    print(f"daily tick over {args.households:,} households: {seconds:.2f} s — target < 10 s: {verdict}")
    await close_engine(DB)


if __name__ == "__main__":
    asyncio.run(main())
