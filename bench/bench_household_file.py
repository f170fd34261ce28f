"""The household-file page with five years of effective-dated history vs. one with none.

Seeds a small demo city into a throw-away database (RELIEF_DATABASE_URL to use
another), gives one household of the demo community five years of monthly
changes through the same services as the pages (incomes added and ended,
members' facts changed, housing changed: each a closed version and a new one,
each recomputing the index), then fetches the file page of that household and
of one without history as the station, and the history household's page for a
date in the past ("facts on …", the index recomputed for that date).

Target: p95 of the page with history within 2x of the page without.

    .venv/bin/python bench/bench_household_file.py [--households N] [--requests N] [--years N]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench._env  # noqa: F401  (environment before the project is imported)

TARGET_RATIO = 2.0


async def _seed(households: int, years: int) -> tuple[int, int, int, datetime]:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from relief_pwa.core.intake import ItemDraft, MemberDraft
    from relief_pwa.demo import DEMO_STREET, seed_demo
    from relief_pwa.services.auth import load_actor
    from relief_pwa.services.household_edit import (
        HouseholdFields,
        do_add_item,
        do_remove_item,
        do_update_household,
        do_update_member,
    )
    from relief_pwa.services.wiring import register_listeners
    from relief_pwa.tables import Household, Member, MoneyItem, Staff

    register_listeners()
    result = await run_forwards("relief")
    assert result.success, result.message
    await seed_demo(households=households)
    community = f"{DEMO_STREET}001"
    rows = (
        await Household.select(Household.id)
        .where(Household.org_path.like(f"%/{community}/") & Household.is_open.eq(True))
        .order_by(Household.id)
        .limit(2)
    )
    plain, history = rows[0]["id"], rows[1]["id"]
    staff = await Staff.select(Staff.id).where(Staff.username == "station").first()
    assert staff is not None
    actor = await load_actor(staff["id"])
    assert actor is not None
    today = datetime.now().astimezone()
    start = today - timedelta(days=365 * years)
    changes = 0

    async def version() -> int:
        row = await Household.select(Household.version).where(Household.id == history).first()
        return int(row["version"]) if row else 0

    for month in range(12 * years):
        when = start + timedelta(days=30 * month)
        await do_add_item(
            actor,
            history,
            ItemDraft("income", "wages", "", "", str(500 + 10 * month)),
            expected_version=await version(),
            now=when,
        )
        changes += 1
        if month:
            oldest = (
                await MoneyItem.select(MoneyItem.id)
                .where(
                    (MoneyItem.household == history) & MoneyItem.active.eq(True) & (MoneyItem.kind == "wages")
                )
                .order_by(MoneyItem.id)
                .first()
            )
            if oldest is not None:
                await do_remove_item(
                    actor, oldest["id"], "收入变化重新申报", expected_version=await version(), now=when
                )
                changes += 1
        if month % 3 == 0:
            head = await Member.select().where((Member.household == history) & Member.active.eq(True)).first()
            assert head is not None
            illness = "chronic" if month % 6 == 0 else "none"
            await do_update_member(
                actor,
                head["id"],
                MemberDraft(
                    name=head["name"],
                    relation=head["relation"],
                    work_capacity=head["work_capacity"],
                    schooling=head["schooling"],
                    illness=illness,
                ),
                expected_version=await version(),
                now=when,
            )
            changes += 1
        if month % 12 == 6:
            household = await Household.select().where(Household.id == history).first()
            assert household is not None
            housing = "rented_heavy" if household["housing"] != "rented_heavy" else "rented"
            await do_update_household(
                actor,
                history,
                HouseholdFields(household["address"], household["area_type"], housing, "", ""),
                expected_version=await version(),
                now=when,
            )
            changes += 1
    return plain, history, changes, start + timedelta(days=365 * years // 2)


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def measure(households: int, requests: int, years: int) -> dict[str, Any]:
    import httpx

    from relief_pwa.app import create_app
    from relief_pwa.demo import DEMO_PASSWORD
    from relief_pwa.settings import load_settings

    plain, history, changes, middle = await _seed(households, years)
    app: Any = create_app(load_settings())
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    timings: dict[str, list[float]] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        login = await client.get("/login")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', login.text)
        assert token
        await client.post(
            "/login",
            data={
                "username": "station",
                "password": DEMO_PASSWORD,
                "next": "/",
                "_csrf_token": token.group(1),
            },
        )
        pages = {
            "no history": f"/households/{plain}",
            f"{years} years of history": f"/households/{history}",
            "history, facts on a past date": f"/households/{history}?on={middle.date().isoformat()}",
        }
        for path in pages.values():  # warm up templates and caches
            response = await client.get(path)
            assert response.status_code == 200, (path, response.status_code)
        for _round in range(requests):
            for name, path in pages.items():
                began = time.perf_counter()
                response = await client.get(path)
                timings.setdefault(name, []).append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200
    from relief_pwa.piccolo_conf import DB

    close = getattr(DB, "close_pool", None)
    if close is not None:
        await close()
    return {"timings": timings, "changes": changes, "pages": pages}


def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=40)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--years", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(measure(args.households, args.requests, args.years))
    print(f"Household file page, {args.requests} requests each; {result['changes']} changes of history")
    print(f"  {'page':<34}{'p50 ms':>10}{'p95 ms':>10}")
    p95: dict[str, float] = {}
    for name, samples in result["timings"].items():
        p95[name] = _percentile(samples, 0.95)
        print(f"  {name:<34}{statistics.median(samples):>10.1f}{p95[name]:>10.1f}")
    names = list(p95)
    ratio = p95[names[1]] / p95[names[0]]
    verdict = "within" if ratio <= TARGET_RATIO else "OVER"
    print(f"\np95 with history / without: {ratio:.2f}x ({verdict} the {TARGET_RATIO:.0f}x target)")


if __name__ == "__main__":
    main()
