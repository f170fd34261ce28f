"""Benchmark the quarterly assessment (docs/assessment.md) over the synthetic city.

Builds the city and the year of history of bench/bench_dashboard.py (60,000
households by default), then times the assessment of 2026-Q3 for the city
(districts ranked) and for one district (its streets ranked): "cold" (the cache
cleared before every run, as after any change) and as a repeat view.

Usage:
    .venv/bin/python bench/bench_assessment.py --households 60000
    RELIEF_DATABASE_URL=postgresql://relief:relief@127.0.0.1:PORT/relief_test \\
        .venv/bin/python bench/bench_assessment.py --households 60000
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import time

import bench._env  # noqa: F401  (first: selects the database)
from bench.bench_dashboard import add_history
from bench.bench_index import prepare_database
from bench.synthetic_city import BENCH_NOW, build_city
from relief_pwa.clock import local_date
from relief_pwa.core.enums import OrgLevel
from relief_pwa.core.periods import parse_period
from relief_pwa.services.actors import Actor
from relief_pwa.services.assessment import clear_cache, get_assessment, resolve_assessed_unit
from relief_pwa.services.auth import load_actor
from relief_pwa.tables import OrgUnit, Staff


async def _city_actor(username: str) -> Actor:
    staff = await Staff.select(Staff.id).where(Staff.username == username).first()
    assert staff is not None
    actor = await load_actor(int(staff["id"]))
    assert actor is not None
    return actor


async def main() -> None:
    parser = argparse.ArgumentParser(description="Quarterly assessment benchmark")
    parser.add_argument("--households", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from relief_pwa.db import close_engine
    from relief_pwa.piccolo_conf import DB

    await prepare_database(reset=True)
    print(f"engine: {DB.engine_type}")
    info = await build_city(args.households, now=BENCH_NOW)
    history = await add_history(BENCH_NOW)
    if DB.engine_type == "postgres":
        await DB.run_ddl("ANALYZE")
    print(
        f"synthetic city: {info.households} households; history: "
        + ", ".join(f"{v:,} {k}" for k, v in history.items())
    )
    actor = await _city_actor(info.city_username)
    today = local_date(BENCH_NOW)
    quarter = parse_period(quarter="2026-Q3", today=today)
    district_row = await OrgUnit.select(OrgUnit.code).where(OrgUnit.level == OrgLevel.DISTRICT).first()
    assert district_row is not None
    for label, code in (
        ("city (districts ranked)", None),
        ("one district (streets ranked)", district_row["code"]),
    ):
        unit = await resolve_assessed_unit(actor, code)
        cold: list[float] = []
        for _ in range(args.repeat):
            clear_cache()
            started = time.perf_counter()
            result = await get_assessment(actor, unit, quarter, today=today)
            cold.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        await get_assessment(actor, unit, quarter, today=today)
        warm = (time.perf_counter() - started) * 1000
        assert result.total is not None
        cases = {k: f.denominator for k, f in result.total.figures.items()}
        print(
            f"{label:<32} cold median {sorted(cold)[len(cold) // 2]:7.0f} ms, max {max(cold):7.0f} ms; "
            f"cached {warm:5.1f} ms; {len(result.rows)} units; cases per indicator {cases}"
        )
    await close_engine(DB)


if __name__ == "__main__":
    asyncio.run(main())
