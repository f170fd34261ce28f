"""Benchmark the analytics dashboards over a synthetic city with a year of history.

Builds the synthetic city of the relief-index benchmark (bench/synthetic_city.py:
60,000 households by default), then adds a year of history in bulk: audit
events for findings, approvals, rejections and exits; two index records per
scored household; follow-up and review visits; funds, resources, plans, six
months of payment lines in disbursement batches (some failed); objections.

Prints p50/p95 per page for a city user (city dashboard, a district, a street,
the households behind a number, the monthly report, an XLSX export of every
table) and a street user, against a bare page (/healthz) in the same run.
Target: p95 under 300 ms for the city dashboard. Dashboards are cached under the
audit chain's head, so each page is timed twice: "cold" (cache cleared before
every request, as after any state change in the city) and as a repeat view.

Usage:
    .venv/bin/python bench/bench_dashboard.py --households 60000
    RELIEF_DATABASE_URL=postgresql://relief:relief@127.0.0.1:PORT/relief_test \\
        .venv/bin/python bench/bench_dashboard.py --households 60000
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

import bench._env  # noqa: F401  (first: selects the database)
from bench.bench_index import prepare_database
from bench.synthetic_city import BENCH_NOW, BENCH_PASSWORD, CityInfo, build_city, bulk_insert, bulk_update
from relief_pwa.clock import CHINA_TZ, FixedClock
from relief_pwa.services.analytics import clear_cache
from relief_pwa.services.bulk_scoring import snapshot_digest
from relief_pwa.tables import Application, AuditEvent, Household, OrgUnit

DECIDED = {"approved", "active", "under_review", "exited"}
NO_FACTS = snapshot_digest("{}")  # history records carry an empty snapshot: dashboards read totals only


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=CHINA_TZ) + timedelta(hours=hour)


async def _scalar(sql: str) -> int:
    rows = await Household.raw(sql)
    return int(next(iter(rows[0].values())) or 0) if rows else 0


async def add_history(now: datetime, seed: int = 8) -> dict[str, int]:
    """A year of what the other areas record, written straight into their tables."""
    rng = random.Random(seed)
    today = now.date()
    apps = await Application.select(
        Application.id,
        Application.household,
        Application.org_path,
        Application.state,
        Application.received_on,
    ).order_by(Application.id)
    seq = await _scalar("SELECT MAX(seq) AS m FROM audit_event") + 1
    audit: list[tuple[Any, ...]] = []
    index: list[tuple[Any, ...]] = []
    visits: list[tuple[Any, ...]] = []
    found_on: list[tuple[date, int]] = []
    active: list[dict[str, Any]] = []

    def event(action: str, app: dict[str, Any], when: datetime) -> None:
        nonlocal seq
        audit.append(
            (
                seq,
                when,
                None,
                "bench",
                action,
                "application",
                app["id"],
                app["household"],
                app["org_path"],
                "",
                "",
                f"{seq - 1:064d}",
                f"{seq:064d}",
            )
        )
        seq += 1

    for app in apps:
        state, received = app["state"], app["received_on"]
        if state not in ("received", "investigating", "withdrawn"):
            found = received + timedelta(days=rng.choice([4, 9, 14, 19, 26]))
            if found < today:
                event(
                    "application.find_eligible" if state != "rejected" else "application.find_ineligible",
                    app,
                    _at(found, 15),
                )
                found_on.append((found, app["id"]))  # as do_transition keeps it
                decided = min(today - timedelta(days=1), found + timedelta(days=rng.randint(8, 20)))
                if state in DECIDED:
                    event("application.approve", app, _at(decided, 11))
                if state == "rejected":
                    event("application.reject", app, _at(decided, 11))
                if state == "exited":
                    event(
                        "application.exit",
                        app,
                        _at(
                            min(today - timedelta(days=1), decided + timedelta(days=rng.randint(30, 200))), 9
                        ),
                    )
        if state not in ("rejected", "exited", "withdrawn"):
            first = round(rng.uniform(5, 95), 2)
            index.append(
                (
                    app["household"],
                    app["org_path"],
                    _at(received, 12),
                    received,
                    "v1",
                    Decimal(str(first)),
                    False,
                    "bench",
                    NO_FACTS,
                    "{}",
                    "",
                )
            )
            later = received + timedelta(days=rng.randint(20, 200))
            if later < today:
                index.append(
                    (
                        app["household"],
                        app["org_path"],
                        _at(later, 12),
                        later,
                        "v1",
                        Decimal(str(round(min(100.0, max(0.0, first + rng.uniform(-15, 15))), 2))),
                        False,
                        "bench",
                        NO_FACTS,
                        "{}",
                        "",
                    )
                )
        if state in ("active", "under_review"):
            active.append(app)
            kind = "follow_up" if rng.random() < 0.7 else "review"
            scheduled = today - timedelta(days=rng.randint(-60, 300))
            done = scheduled < today and rng.random() < 0.8
            visits.append(
                (
                    app["household"],
                    app["id"],
                    app["org_path"],
                    kind,
                    scheduled,
                    "",
                    "done" if done else "scheduled",
                    _at(scheduled + timedelta(days=rng.choice([0, 0, 1, 5])), 16) if done else None,
                    now,
                )
            )
    await bulk_insert(
        "audit_event",
        (
            "seq",
            "at",
            "actor",
            "actor_label",
            "action",
            "entity_type",
            "entity_id",
            "household_id",
            "org_path",
            "before",
            "after",
            "prev_hash",
            "hash",
        ),
        audit,
    )
    await bulk_update("application", "found_on", found_on)
    await bulk_insert("index_snapshot", ("digest", "body"), [(NO_FACTS, "{}")])
    await bulk_insert(
        "index_record",
        (
            "household",
            "org_path",
            "computed_at",
            "as_of",
            "model_version",
            "total",
            "provisional",
            "trigger",
            "snapshot_digest",
            "breakdown",
            "categories",
        ),
        index,
    )
    await Household.raw(
        "UPDATE household SET current_index = (SELECT r.total FROM index_record r WHERE "
        "r.household = household.id "
        "ORDER BY r.computed_at DESC LIMIT 1)"
    )
    await bulk_insert(
        "visit",
        (
            "household",
            "application",
            "org_path",
            "kind",
            "scheduled_for",
            "time_window",
            "status",
            "done_at",
            "created_at",
        ),
        visits,
    )

    # money: a city fund and one fund per district, one resource each, plans and six months of payments
    districts = await OrgUnit.select(OrgUnit.code, OrgUnit.path).where(OrgUnit.level == "district")
    city = await OrgUnit.select(OrgUnit.path).where(OrgUnit.level == "city").first()
    assert city is not None
    providers = [
        (
            i + 1,
            f"提供方{i + 1}",
            "government" if i == 0 else "social_org",
            city["path"] if i == 0 else d["path"],
            now,
        )
        for i, d in enumerate([{"path": city["path"]}, *districts])
    ]
    await bulk_insert("provider", ("id", "name", "kind", "org_path", "created_at"), providers)
    funds = [
        (p[0], f"F{p[0]:03d}", f"专户{p[0]}", p[0], p[3], 50_000_000_000, 2_000_000_000, 1_500_000_000, now)
        for p in providers
    ]
    await bulk_insert(
        "fund",
        (
            "id",
            "code",
            "name",
            "provider",
            "org_path",
            "available_fen",
            "reserved_fen",
            "paid_fen",
            "created_at",
        ),
        funds,
    )
    await bulk_insert(
        "resource",
        (
            "id",
            "provider",
            "fund",
            "org_path",
            "name",
            "kind",
            "need",
            "unit",
            "unit_amount_fen",
            "periodicity",
            "months",
            "budget_total_fen",
            "budget_reserved_fen",
            "created_at",
        ),
        [
            (
                p[0],
                p[0],
                p[0],
                p[3],
                f"低保金{p[0]}",
                "cash",
                "living",
                "per_household",
                60_000,
                "monthly",
                12,
                90_000_000_000,
                3_000_000_000,
                now,
            )
            for p in providers
        ],
    )
    fund_of_district = {d["path"]: i + 2 for i, d in enumerate(districts)}
    plans, lines, payments = [], [], []
    batches: dict[tuple[int, str, str], int] = {}
    months = [f"{(today.replace(day=1) - timedelta(days=31 * k)):%Y-%m}" for k in range(1, 7)]
    for n, app in enumerate(active):
        district_path = "/".join(app["org_path"].split("/")[:2]) + "/"
        fund = 1 if n % 3 == 0 else fund_of_district.get(district_path, 1)
        plans.append((n + 1, app["household"], app["id"], app["org_path"], "approved", now))
        lines.append((n + 1, n + 1, app["household"], fund, app["org_path"], 60_000, "approved"))
        for month in months:
            key = (fund, district_path, month)
            if key not in batches:
                batches[key] = len(batches) + 1
            failed = rng.random() < 0.03
            paid_at = None if failed else _at(date.fromisoformat(month + "-25"))
            payments.append(
                (
                    f"P{n}-{month}",
                    n + 1,
                    app["household"],
                    fund,
                    batches[key],
                    app["org_path"],
                    month,
                    60_000,
                    "failed" if failed else "paid",
                    paid_at,
                    now,
                )
            )
    await bulk_insert("plan", ("id", "household", "application", "org_path", "status", "created_at"), plans)
    await bulk_insert(
        "plan_line", ("id", "plan", "household", "resource", "org_path", "amount_fen", "status"), lines
    )
    await bulk_insert(
        "disbursement_batch",
        ("id", "batch_no", "fund", "org_path", "month", "status", "created_at"),
        [
            (bid, f"B{bid:05d}", fund, path, month, "reconciled", _at(date.fromisoformat(month + "-20")))
            for (fund, path, month), bid in batches.items()
        ],
    )
    await bulk_insert(
        "payment_line",
        (
            "line_id",
            "plan_line",
            "household",
            "fund",
            "batch",
            "org_path",
            "month",
            "amount_fen",
            "status",
            "paid_at",
            "created_at",
        ),
        payments,
    )
    objections = []
    for n in range(2000):
        app = apps[rng.randrange(len(apps))]
        received = _at(today - timedelta(days=rng.randint(1, 365)), 9)
        answered = received + timedelta(days=rng.randint(2, 30)) if rng.random() < 0.85 else None
        objections.append(
            (
                f"BO{n:06d}",
                rng.choice(["objection", "complaint"]),
                app["id"],
                app["org_path"],
                "…",
                "answered" if answered else "received",
                received.date() + timedelta(days=21),
                received,
                answered if answered and answered < now else None,
            )
        )
    await bulk_insert(
        "objection",
        (
            "tracking_code",
            "kind",
            "application",
            "org_path",
            "body",
            "status",
            "deadline",
            "received_at",
            "answered_at",
        ),
        objections,
    )
    return {
        "audit events": len(audit),
        "index records": len(index),
        "visits": len(visits),
        "payment lines": len(payments),
        "batches": len(batches),
        "objections": len(objections),
    }


async def _timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


async def bench_pages(info: CityInfo, repeat: int) -> dict[str, list[float]]:
    from relief_pwa.app import create_app
    from relief_pwa.settings import load_settings

    app = create_app(load_settings(), FixedClock(BENCH_NOW))
    district = info.street_code[:6]
    pages = {
        info.city_username: [
            "/healthz",
            "/analytics",
            f"/analytics/{district}",
            f"/analytics/{info.street_code}",
            "/analytics?month=2026-10",
            "/analytics/370100/households?measure=state&value=active&page=20",
            "/analytics/report?month=2026-10",
            "/analytics?format=xlsx",
        ],
        info.station_username: ["/healthz", "/analytics"],
    }
    results: dict[str, list[float]] = {}
    for username, urls in pages.items():
        # Litestar's precise ASGI signature is not assignable to httpx's loose _ASGIApp alias.
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50002))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            login_page = await client.get("/login")
            token = login_page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
            response = await client.post(
                "/login",
                data={
                    "username": username,
                    "password": BENCH_PASSWORD,
                    "next": "/analytics",
                    "_csrf_token": token,
                },
            )
            assert response.status_code == 303, response.text[:300]
            for url in urls:

                async def fetch(url: str = url) -> None:
                    page = await client.get(url)
                    assert page.status_code == 200, (url, page.status_code, page.text[:300])

                async def fetch_cold(url: str = url) -> None:
                    clear_cache()  # as after any state change anywhere: every figure recomputed
                    await fetch(url)

                await fetch()  # warm-up
                # (the report is left out cold: it includes the integrity flags, measured on their own)
                if url.startswith("/analytics") and not any(
                    k in url for k in ("format=", "households", "report")
                ):
                    results[f"{url} ({username}) cold"] = await _timed(fetch_cold, repeat)
                results[f"{url} ({username})"] = await _timed(fetch, repeat)
    return results


async def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the figures
    parser = argparse.ArgumentParser(description="Analytics dashboard benchmark")
    parser.add_argument("--households", type=int, default=60_000)
    parser.add_argument("--pages", type=int, default=20, help="requests to time per page")
    args = parser.parse_args()

    from relief_pwa.db import close_engine
    from relief_pwa.piccolo_conf import DB

    await prepare_database(reset=True)
    print(f"engine: {DB.engine_type}")
    info = await build_city(args.households, now=BENCH_NOW)
    started = time.perf_counter()
    history = await add_history(BENCH_NOW)
    if DB.engine_type == "postgres":
        await DB.run_ddl("ANALYZE")
    print(
        f"synthetic city: {info.households} households, {info.applications} applications "
        f"(built in {info.seconds:.1f} s); history: "
        + ", ".join(f"{v:,} {k}" for k, v in history.items())
        + f" (added in {time.perf_counter() - started:.1f} s)"
    )
    print(f"audit events in total: {await AuditEvent.count():,}")
    results = await bench_pages(info, args.pages)
    for name, samples in results.items():
        p50, p95 = _percentiles(samples)
        print(f"{name:<78} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
    for username in (info.city_username, info.station_username):
        bare = statistics.median(results[f"/healthz ({username})"])
        page = statistics.median(results[f"/analytics ({username})"])
        print(f"dashboard / bare page ({username}): {page / bare:.0f}× (bare p50 {bare:.1f} ms)")
    verdicts = (
        (f"/analytics ({info.city_username}) cold", "this year, recomputed (cache cleared)"),
        (f"/analytics?month=2026-10 ({info.city_username}) cold", "a past month, recomputed (cache cleared)"),
        (f"/analytics ({info.city_username})", "repeat view (cached until the next audited change)"),
    )
    for name, label in verdicts:
        p95 = _percentiles(results[name])[1]
        verdict = "met" if p95 < 300 else "NOT met"
        print(f"city dashboard, {label}: p95 {p95:.0f} ms — target < 300 ms: {verdict}")
    await close_engine(DB)


if __name__ == "__main__":
    asyncio.run(main())
