"""Benchmark a community notice board with 300 recipients under concurrent load.

Seeds one community with ``--recipients`` active households (1–5 members each)
and ``--notices`` running 公示, then drives the ASGI app through httpx with
``--concurrency`` clients for ``--seconds`` per page, and prints requests/s
and latency for:

- the bare page (/healthz: routing and middleware; it touches no table),
- the board as served (data cached for a few seconds, HTML cached by ETag),
- the board with its data rebuilt on every request (all queries + digest check),
- the board with nothing cached (queries, digest check and Jinja rendering),
- a conditional GET answered 304 from the ETag,
- a 429 refusal from the rate limiter,

as ratios against the bare page measured in the same run. The rate limiter is
lifted for the load (one client address would otherwise be refused after 120
requests a minute) except in the 429 row.

Usage:
    .venv/bin/python bench/bench_board.py
    RELIEF_DATABASE_URL=postgresql://USER@127.0.0.1:PORT/DB .venv/bin/python bench/bench_board.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import logging
import random
import statistics
import time
from datetime import date, datetime, timedelta
from typing import Any

import httpx

import bench._env  # noqa: F401  (first: selects the database)
from bench.bench_index import prepare_database
from relief_pwa.clock import CHINA_TZ, FixedClock
from relief_pwa.core.enums import AreaType, OrgLevel
from relief_pwa.core.idnumber import make_id_number
from relief_pwa.services import identifiers

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=CHINA_TZ)
COMMUNITY = "370102001001"
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢"
GIVEN = "秀英桂兰玉梅凤华建国志强永军海燕丽娟明辉文静红霞淑珍春生德胜金凤家乐子涵浩然欣怡雨轩"


async def seed(recipients: int, notices: int) -> None:
    from relief_pwa.services.actors import SYSTEM_ACTOR
    from relief_pwa.services.org_admin import NewOrgUnit, do_create_org_units
    from relief_pwa.tables import Application, Household, Member, OrgUnit, PublicNotice

    await do_create_org_units(SYSTEM_ACTOR, [
        NewOrgUnit("370100", "济南市", OrgLevel.CITY, None, AreaType.URBAN),
        NewOrgUnit("370102", "历下区", OrgLevel.DISTRICT, "370100", AreaType.URBAN, "历下区阳光救助服务中心",
                   "历下区惠民路101号", "0531-86970102", "0531-86970102"),
        NewOrgUnit("370102001", "解放路街道", OrgLevel.STREET, "370102", AreaType.URBAN, "解放路街道服务站",
                   "解放路1号", "0531-86970111", "0531-86970102"),
        NewOrgUnit(COMMUNITY, "解放路社区", OrgLevel.COMMUNITY, "370102001", AreaType.URBAN),
    ], now=NOW)  # fmt: skip
    unit = await OrgUnit.select(OrgUnit.id, OrgUnit.path).where(OrgUnit.code == COMMUNITY).first()
    assert unit is not None
    rng = random.Random(6)
    households = [
        Household(
            file_no=f"JN{n:08d}",
            org_unit=unit["id"],
            org_path=unit["path"],
            address=f"解放路{n}号",
            area_type="urban",
            housing="rented",
            head_name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
            **identifiers.identifier_columns(
                head_id=make_id_number("370102", date(1950 + n % 40, 1 + n % 12, 1 + n % 28), n % 999),
                phone=f"139{n:08d}",
                account="",
            ),
            created_at=NOW,
            updated_at=NOW,
        )
        for n in range(recipients + notices)
    ]
    await Household.insert(*households)
    rows = await Household.select(Household.id, Household.head_name, Household.head_id_sealed).order_by(
        Household.id
    )
    members, applications = [], []
    for index, row in enumerate(rows):
        size = rng.randint(1, 5)
        for m in range(size):
            members.append(Member(
                household=row["id"], org_path=unit["path"], name=row["head_name"] if m == 0 else "家属",
                **identifiers.member_identifier_columns(
                    id_number=identifiers.opened(identifiers.ID_NUMBER, row["head_id_sealed"])
                    if m == 0 else f"X{row['id']:08d}{m}",
                    phone="",
                ),
                sex="male",
                birth_date=date(1960, 1, 1), relation="head" if m == 0 else "child", work_capacity="partial",
                schooling="not_in_school",
            ))  # fmt: skip
        active = index < recipients
        applications.append(Application(
            number=f"A{row['id']:08d}", household=row["id"], org_path=unit["path"], category="dibao",
            channel="window", state="active" if active else "publicized", received_on=NOW.date(),
            state_changed_at=NOW, created_at=NOW,
            decided_on=(NOW - timedelta(days=90)).date() if active else None,
        ))  # fmt: skip
    await Member.insert(*members)
    await Application.insert(*applications)
    pending = await Application.select(Application.id, Application.household).where(
        Application.state == "publicized"
    )
    await PublicNotice.insert(*[
        PublicNotice(
            application=p["id"], household=p["household"], org_path=unit["path"], starts_on=NOW.date(),
            ends_on=NOW.date() + timedelta(days=6), status="running", masked_name="王*明", category="dibao",
            household_size=2, proposed_amount_fen=60_000, created_at=NOW,
        )
        for p in pending
    ])  # fmt: skip


async def load(client: httpx.AsyncClient, url: str, seconds: float, concurrency: int,
               headers: dict[str, str] | None = None, expect: int = 200) -> dict[str, float]:  # fmt: skip
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.get(url, headers=headers or {})
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != expect:
                raise SystemExit(f"{url}: {response.status_code} (expected {expect})")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "n": len(latencies),
    }


async def main(args: argparse.Namespace) -> None:
    await prepare_database(reset=True)
    await seed(args.recipients, args.notices)

    from relief_pwa.app import create_app
    from relief_pwa.db import close_engine
    from relief_pwa.handlers import public
    from relief_pwa.piccolo_conf import DB
    from relief_pwa.services import public_boards, ratelimit
    from relief_pwa.settings import load_settings

    app = create_app(load_settings(), FixedClock(NOW))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 50000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        ratelimit.PUBLIC_READS.limit = 10**9
        board_url = f"/board/{COMMUNITY}"
        first = await client.get(board_url)
        assert first.status_code == 200, first.text[:300]
        rows = first.text.count("<tr>") - 2
        print(f"engine: {DB.engine_type}; board {board_url}: {len(first.content) / 1024:.0f} KiB HTML, "
              f"{args.recipients} recipients, {args.notices} running notices, table rows {rows}; "
              f"concurrency {args.concurrency}, {args.seconds:.0f} s per page")  # fmt: skip
        await load(client, "/healthz", 1, args.concurrency)  # warm-up
        results: dict[str, dict[str, float]] = {}
        results["bare page (/healthz)"] = await load(client, "/healthz", args.seconds, args.concurrency)
        results["board, as served"] = await load(client, board_url, args.seconds, args.concurrency)
        cache_seconds, rendered_max = public_boards.CACHE_SECONDS, public.RENDERED_MAX
        public_boards.CACHE_SECONDS = 0.0
        public_boards.clear_cache()
        results["board, data rebuilt per request"] = await load(
            client, board_url, args.seconds, args.concurrency
        )
        public.RENDERED_MAX = 0
        results["board, nothing cached"] = await load(client, board_url, args.seconds, args.concurrency)
        public.RENDERED_MAX = rendered_max
        public_boards.CACHE_SECONDS = cache_seconds
        results["board, 304 by ETag"] = await load(
            client, board_url, args.seconds, args.concurrency, {"if-none-match": first.headers["etag"]}, 304
        )
        ratelimit.PUBLIC_READS.limit = 1
        ratelimit.PUBLIC_READS.reset()
        await client.get(board_url)
        results["board, refused 429"] = await load(
            client, board_url, args.seconds, args.concurrency, expect=429
        )
    bare = results["bare page (/healthz)"]["rps"]
    print(f"{'page':32} {'req/s':>8} {'vs bare':>8} {'p50 ms':>8} {'p95 ms':>8} {'requests':>9}")
    for name, r in results.items():
        print(
            f"{name:32} {r['rps']:8.0f} {r['rps'] / bare:8.2f} {r['p50']:8.1f} {r['p95']:8.1f} {r['n']:9.0f}"
        )
    await close_engine(DB)


def parse(argv: list[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=300)
    parser.add_argument("--notices", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
