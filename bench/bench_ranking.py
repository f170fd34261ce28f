"""The ranking page at city scale, measured like ``bench_pages.py --floor``.

Builds the synthetic benchmark city (bench/synthetic_city.py, 60,000 households by
default) on the database named by RELIEF_DATABASE_URL (default: a throw-away SQLite
file), scores it (which numbers the stored ranks), and measures the ranking pages
against the bare Jinja page served by the same stack in the same run: requests per
second with ``--concurrency`` in-process clients (ASGI, no network), p50 and p95.

    .venv/bin/python bench/bench_ranking.py [--households 60000] [--requests 200]

``--reuse`` measures a database that already holds the city (built by an earlier run
with the same RELIEF_DATABASE_URL) instead of building it again.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench._env  # noqa: F401  (environment before the project is imported)
from bench.bench_pages import _bare_app, _client_for, _load, print_floor


async def _city(households: int, reuse: bool) -> tuple[str, str, str]:
    """(city username, station username, a district code) of a scored benchmark city."""
    from bench.bench_index import prepare_database
    from bench.synthetic_city import BENCH_NOW, CityInfo, build_city
    from relief_pwa.piccolo_conf import DB
    from relief_pwa.services.scoring import get_active_model, rescore_all
    from relief_pwa.tables import HouseholdRank, OrgUnit

    if not reuse:
        await prepare_database(reset=True)
        await build_city(households, now=BENCH_NOW)
        began = time.perf_counter()
        scored = await rescore_all(
            await get_active_model(now=BENCH_NOW), now=BENCH_NOW, trigger="bench", workers=2
        )
        print(f"{scored.count} households scored and ranked in {time.perf_counter() - began:.1f} s")
    else:
        await prepare_database(reset=False)
    if DB.engine_type == "postgres":
        await DB.run_ddl("ANALYZE")
    print(f"engine {DB.engine_type}: {await HouseholdRank.count()} stored ranks")
    district = await OrgUnit.select(OrgUnit.code).where(OrgUnit.level == "district").first()
    assert district is not None
    info = CityInfo()
    return info.city_username, info.station_username, str(district["code"])


async def measure(households: int, requests: int, concurrency: int, reuse: bool) -> list[Any]:
    from bench.synthetic_city import BENCH_NOW, BENCH_PASSWORD
    from relief_pwa.app import create_app
    from relief_pwa.clock import FixedClock
    from relief_pwa.settings import load_settings

    city_user, station_user, district = await _city(households, reuse)
    app = create_app(load_settings(), FixedClock(BENCH_NOW))
    city = await _client_for(app, city_user, BENCH_PASSWORD)
    station = await _client_for(app, station_user, BENCH_PASSWORD)
    bare = await _client_for(_bare_app(compressed=True), None, "")  # gzip, as the pages
    first = (await city.get("/ranking")).text
    found = re.search(r'href="(/ranking\?[^"]*after=[^"]+)" rel="next"', first)
    assert found, "the first page has a Next link with a cursor"
    next_url = found.group(1).replace("&amp;", "&")
    plan = [
        ("bare Jinja page (same stack)", bare, "/bare"),
        ("ranking, city user", city, "/ranking"),
        ("ranking, city user, Next (cursor)", city, next_url),
        ("ranking, city user, page 100", city, "/ranking?page=100"),
        ("ranking, city user, a district", city, f"/ranking?org={district}"),
        ("ranking, city user, dibao", city, "/ranking?category=dibao"),
        ("ranking, station user", station, "/ranking"),
    ]
    rows = []
    for name, client, url in plan:
        await _load(client, url, min(10, requests), 1)  # warm up templates and caches
        rate, latencies = await _load(client, url, requests, concurrency)
        ordered = sorted(latencies)
        p50 = ordered[len(ordered) // 2]
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        rows.append((name, rate, p50, p95))
    for client in (city, station, bare):
        await client.aclose()
    return rows


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("relief_pwa.access").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=60_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--reuse", action="store_true", help="measure the city already in the database")
    args = parser.parse_args()
    rows = asyncio.run(measure(args.households, args.requests, args.concurrency, args.reuse))
    print_floor(rows, args.concurrency)


if __name__ == "__main__":
    main()
