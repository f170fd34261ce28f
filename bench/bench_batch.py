"""The monthly payment batch at scale: lines per second and peak memory (docs/scale.md).

Two steps, so that each measurement runs in a fresh process (its peak
resident memory is then the batch's own, not the build's):

    # a city of 50,000 households, 40% recipients (20,000 monthly lines), in a database kept
    RELIEF_DATABASE_URL=sqlite:///var/bench-batch.sqlite3 \
        .venv/bin/python bench/bench_batch.py build --households 50000
    # grow the same database to 200,000 (80,000 lines)
    RELIEF_DATABASE_URL=... .venv/bin/python bench/bench_batch.py build --households 150000 --grow
    # the lines and the batch of one month (each run takes a month not yet generated,
    # or gives it back with --rewind)
    RELIEF_DATABASE_URL=... .venv/bin/python bench/bench_batch.py measure --month 2026-07

``measure`` runs ``do_generate_monthly_lines`` and ``do_create_batch`` for the
city account and prints one JSON line: seconds of each step, lines per
second, the process's resident memory before and at its peak (``ru_maxrss``),
and the load average. ``--code DIR`` imports ``relief_pwa`` from another
checkout (to measure an older version on the same database).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if "--code" in sys.argv:  # the other checkout's package, imported before any bench module puts ours first
    sys.path.insert(0, sys.argv[sys.argv.index("--code") + 1])
    import relief_pwa  # noqa: F401

    sys.path.pop(0)

import argparse
import asyncio
import cProfile
import json
import os
import resource
import time
import tracemalloc
from datetime import datetime, timedelta
from typing import Any

import bench._env  # noqa: F401  (first: selects the database)
from bench.synthetic_city import BENCH_NOW, build_city_in_chunks
from relief_pwa.clock import CHINA_TZ

START_MONTH = "2026-06"  # the recipients' first entitled month; plan lines run 12 months from it


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _fund_and_resource() -> tuple[int, int]:
    from relief_pwa.tables import Fund, Resource

    fund = await Fund.select(Fund.id).where(Fund.code == "JN-DIBAO").first()
    monthly = await Resource.select(Resource.id).where(Resource.name == "城乡低保金").first()
    assert fund is not None and monthly is not None, "build the city first"
    return int(fund["id"]), int(monthly["id"])


# What a run writes, in the order it is taken back (lines point at batches).
REWOUND = ("payment_line", "disbursement_batch", "audit_event")


async def _top(table: str) -> int:
    from relief_pwa.tables import PaymentLine

    rows = await PaymentLine.raw(f"SELECT COALESCE(MAX(id), 0) AS top FROM {table}")
    return int(rows[0]["top"])


async def _rewind(tops: dict[str, int]) -> None:
    """Delete what the measured run wrote (its lines, its batch, the audit tail), so that
    the same month can be measured again on the same database. A benchmark database only."""
    from relief_pwa.db import write_transaction
    from relief_pwa.tables import PaymentLine

    async with write_transaction(PaymentLine._meta.db):
        for table in REWOUND:
            await PaymentLine.raw(f"DELETE FROM {table} WHERE id > {{}}", tops[table])


async def build(args: argparse.Namespace) -> None:
    from bench.bench_index import prepare_database
    from bench.bench_province import _analyze, approve_recipients, prepare

    started = time.perf_counter()
    if args.grow:
        await prepare_database(reset=False)
        _fund, resource_id = await _fund_and_resource()
    else:
        _actor, _fund, resource_id = await prepare()
    info = await build_city_in_chunks(args.households, seed=args.seed, accounts=True)
    recipients = await approve_recipients(info.household_ids, resource_id, START_MONTH)
    await _analyze()
    print(
        f"+{info.households:,} households, +{recipients:,} recipients "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from bench.bench_index import prepare_database
    from relief_pwa.services import disbursement
    from relief_pwa.services.caseload import actor_for_username

    await prepare_database(reset=False)
    actor = await actor_for_username("bench_city")
    fund_id, _resource = await _fund_and_resource()
    year, month = (int(part) for part in args.month.split("-"))
    now = datetime(year, month, 15, 10, 0, tzinfo=CHINA_TZ)
    assert now >= BENCH_NOW - timedelta(days=200)
    tops = {table: await _top(table) for table in REWOUND} if args.rewind else {}
    before = _rss_mb()
    profile = cProfile.Profile() if args.profile else None
    if profile:
        profile.enable()
    if args.tracemalloc:
        tracemalloc.start()
    began = time.perf_counter()
    generated = await disbursement.do_generate_monthly_lines(actor, args.month, now=now)
    generate_s = time.perf_counter() - began
    began = time.perf_counter()
    batch = await disbursement.do_create_batch(actor, fund_id, args.month, now=now)
    batch_s = time.perf_counter() - began
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None
    if profile:
        profile.disable()
        profile.dump_stats(args.profile)
    if args.rewind:
        await _rewind(tops)
    return {
        "engine": os.environ["RELIEF_DATABASE_URL"].split(":", 1)[0],
        "code": os.path.dirname(os.path.dirname(os.path.dirname(disbursement.__file__))),
        "month": args.month,
        "lines": generated.created,
        "already": generated.already,
        "batched": batch.lines,
        "held": batch.held_without_account,
        "generate_s": round(generate_s, 2),
        "batch_s": round(batch_s, 2),
        "lines_per_s": round(generated.created / (generate_s + batch_s)),
        "generate_lines_per_s": round(generated.created / generate_s),
        "batch_lines_per_s": round(batch.lines / batch_s),
        "rss_before_mb": round(before),
        "rss_peak_mb": round(_rss_mb()),
        "tracemalloc_peak_mb": round(traced) if traced is not None else None,
        "load": round(os.getloadavg()[0], 1),
    }


async def _main(args: argparse.Namespace) -> None:
    from relief_pwa.db import close_engine
    from relief_pwa.piccolo_conf import DB

    try:
        if args.command == "build":
            await build(args)
        else:
            print(json.dumps(await measure(args)), flush=True)
    finally:
        await close_engine(DB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grow = commands.add_parser("build", help="build (or grow) the city")
    grow.add_argument("--households", type=int, required=True)
    grow.add_argument("--grow", action="store_true", help="add to the city already there")
    grow.add_argument("--seed", type=int, default=2011)
    run = commands.add_parser("measure", help="generate and batch one month, in this fresh process")
    run.add_argument("--month", required=True, help="YYYY-MM, 2026-06 … 2027-05, each once")
    run.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    run.add_argument("--code", default="", help="import relief_pwa from this checkout")
    run.add_argument("--rewind", action="store_true", help="delete what the run wrote afterwards")
    run.add_argument("--profile", default="", help="write a cProfile of the two steps to this file")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
