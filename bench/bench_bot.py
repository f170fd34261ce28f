"""Benchmark the Telegram outbox: 1,000 notices to 1,000 chats through the stub Bot API.

The real stack runs end to end: outbox rows in the database, the worker's
claim (head-of-line per chat), the pacer, python-telegram-bot's Bot and its
httpx request, HTTP to a local stub server, and the mark-sent write. Counting
happens on the stub's side: every chat must receive its notice exactly once.

Measured in the same run:
- baseline: the same pipeline with the pacer opened up (no rate limit), i.e.
  what the machinery can push at most;
- paced: the configured limit (RELIEF bot_rate_global_per_second, 30/s by
  default); target: at least 90 % of the limit;
- faults (``--faults``): the paced run again while the stub drops 2 % of the
  connections and answers 429 retry_after=1 twice: nothing lost or doubled.

Run from the repository root::

    .venv/bin/python -m bench.bench_bot
    .venv/bin/python -m bench.bench_bot -n 1000 --faults
    RELIEF_DATABASE_URL=postgresql://… .venv/bin/python -m bench.bench_bot
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import dataclasses
import random
import time
from collections import Counter
from typing import Any

import bench._env  # noqa: F401  (first: selects the database)
from bench.bench_index import prepare_database
from relief_pwa.bot.app import BotRuntime
from relief_pwa.bot.stubapi import StubBotAPI
from relief_pwa.clock import SystemClock
from relief_pwa.db import write_transaction
from relief_pwa.services.outbox import enqueue, outbox_counts
from relief_pwa.settings import Settings, load_settings
from relief_pwa.tables import OutboxMessage

FIRST_CHAT = 900_000_000


async def queue_notices(count: int, tag: str) -> float:
    """Write ``count`` notice rows, 100 per transaction as events would; returns seconds taken."""
    clock = SystemClock()
    started = time.perf_counter()
    for start in range(0, count, 100):
        async with write_transaction(OutboxMessage._meta.db):
            now = clock.now()
            for chat in range(FIRST_CHAT + start, FIRST_CHAT + min(count, start + 100)):
                await enqueue(
                    chat,
                    "visit_scheduled",
                    f"Home visit for application SQ-{chat}: 2026-11-19 09:00-11:00.",
                    f"visit_scheduled:{tag}:{chat}",
                    now,
                )
    return time.perf_counter() - started


async def run_phase(settings: Settings, stub: StubBotAPI, count: int, tag: str) -> dict[str, Any]:
    await OutboxMessage.delete(force=True)
    stub.calls.clear()
    queue_seconds = await queue_notices(count, tag)
    runtime = BotRuntime(settings, SystemClock())
    await runtime.initialize()
    started = time.perf_counter()
    runtime.worker.start()
    await runtime.worker.drain(timeout=count / settings.bot_rate_global_per_second * 3 + 60)
    elapsed = time.perf_counter() - started
    await runtime.stop()
    times = sorted(stub.send_times())
    per_chat = Counter(int(p["chat_id"]) for p in stub.sent())
    expected = set(range(FIRST_CHAT, FIRST_CHAT + count))
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return {
        "phase": tag,
        "sent": sum(per_chat.values()),
        "lost": len(expected - set(per_chat)),
        "duplicated": sum(n - 1 for n in per_chat.values() if n > 1),
        "rows": await outbox_counts(),
        "queue_seconds": queue_seconds,
        "elapsed": elapsed,
        "rate": (len(times) - 1) / span if span else float("inf"),
        "max_in_1s": max(sum(1 for t in times if s <= t < s + 1.0) for s in times) if times else 0,
        "retried": runtime.worker.retried,
    }


def show(result: dict[str, Any], limit: float | None) -> None:
    ratio = f"  {result['rate'] / limit:6.1%} of the {limit:g}/s limit" if limit else ""
    print(
        f"{result['phase']:<9} sent {result['sent']:>5}  lost {result['lost']}  "
        f"duplicated {result['duplicated']}  "
        f"rate {result['rate']:8.1f} msg/s{ratio}  busiest second {result['max_in_1s']:>4}  "
        f"drain {result['elapsed']:6.2f} s  queueing {result['queue_seconds']:5.2f} s  "
        f"retries {result['retried']}  rows {result['rows']}"
    )


async def main(count: int, faults: bool) -> int:
    await prepare_database(reset=True)
    stub = StubBotAPI()
    await stub.start()
    base = dataclasses.replace(
        load_settings(), bot_token=stub.token, bot_api_base_url=stub.base_url, bot_webhook_secret="bench"
    )
    limit = base.bot_rate_global_per_second
    print(
        f"{count} notices to {count} chats through the stub Bot API on {stub.base_url} "
        f"({base.database_url.split('@')[-1]})"
    )
    unlimited = dataclasses.replace(
        base, bot_rate_global_per_second=1_000_000.0, bot_rate_per_chat_seconds=0.0
    )
    baseline = await run_phase(unlimited, stub, count, "baseline")
    show(baseline, None)
    paced = await run_phase(base, stub, count, "paced")
    show(paced, limit)
    results = [baseline, paced]
    if faults:
        rng = random.Random(7)
        for _ in range(2):
            stub.fail_next("429", retry_after=1)
        for _ in range(int(count * 0.02)):
            stub.fail_next("drop", chat_id=FIRST_CHAT + rng.randrange(count))
        faulty = await run_phase(base, stub, count, "faults")
        show(faulty, limit)
        results.append(faulty)
    await stub.stop()
    print(
        f"paced / limit = {paced['rate'] / limit:.3f} (target >= 0.90); "
        f"headroom: baseline / limit = {baseline['rate'] / limit:.1f}x"
    )
    ok = paced["rate"] >= 0.9 * limit and paced["max_in_1s"] <= limit + 1
    ok = ok and all(r["lost"] == 0 and r["duplicated"] == 0 for r in results)
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--count", type=int, default=1000)
    parser.add_argument("--faults", action="store_true", help="also run with dropped connections and 429s")
    args = parser.parse_args()

    async def run() -> int:
        from relief_pwa.db import close_engine
        from relief_pwa.piccolo_conf import DB

        try:
            return await main(args.count, args.faults)
        finally:
            await close_engine(DB)

    raise SystemExit(asyncio.run(run()))
