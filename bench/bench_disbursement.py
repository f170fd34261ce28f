"""Benchmark resources, plans, funds and payments through the services on a synthetic city.

Prints, for the database named by RELIEF_DATABASE_URL (default: a fresh SQLite file):

1. drafting plans for N recipient households against R resources through
   ``services.plans.get_draft`` (load + rank + core draft; target < 5 s for
   60,000 × 200), against the pure core ``draft_plans`` on the same
   candidates measured in the same run (the ratio is the service overhead);
2. a monthly batch of M approved cash lines: ``do_generate_monthly_lines``,
   ``do_create_batch``, and the CSV and XLSX export through
   ``do_export_batch``, against the bare adapter export of the same lines.

Usage:
    .venv/bin/python bench/bench_disbursement.py --households 60000 --resources 200 --lines 20000
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import json
import random
import time
from typing import Any

import bench._env  # noqa: F401  (first: selects the database)
from bench.bench_index import prepare_database
from bench.synthetic_city import BENCH_NOW, build_city, bulk_insert
from relief_pwa.adapters import bankfiles
from relief_pwa.core import plans as core_plans
from relief_pwa.core.enums import Category
from relief_pwa.db import write_transaction
from relief_pwa.services import disbursement, identifiers
from relief_pwa.services import plans as plan_service
from relief_pwa.services.actors import Actor
from relief_pwa.tables import Fund, Household, OrgUnit, Provider, Resource


async def city_actor() -> Actor:
    city = await OrgUnit.select(OrgUnit.id, OrgUnit.path).where(OrgUnit.level == "city").first()
    assert city is not None
    return Actor(None, "bench", "bench", "city", city["id"], city["path"], "济南市")


async def make_pool(count: int, households: int, seed: int) -> tuple[int, int]:
    """``count`` resources of every shape over the city; returns (fund id, the monthly cash resource id)."""
    rng = random.Random(seed)
    city_path = (await city_actor()).org_path
    districts = [r["path"] for r in await OrgUnit.select(OrgUnit.path).where(OrgUnit.level == "district")]
    provider = Provider(name="济南市民政局", kind="government", org_path=city_path, created_at=BENCH_NOW)
    await provider.save()
    fund = Fund(
        code="BENCH",
        name="基准资金",
        provider=provider.id,
        org_path=city_path,
        available_fen=10**11,
        created_at=BENCH_NOW,
    )
    await fund.save()
    categories = [c.value for c in Category]
    # Like bench/bench_plans.py: a statutory dibao benefit for everyone on dibao/tekun, and
    # resources whose budget or quantity reaches 50 to N/150 households each, so many run out.
    rows: list[tuple[Any, ...]] = [
        (
            provider.id,
            fund.id,
            city_path,
            "城乡低保金",
            "cash",
            "living",
            "per_household",
            0,
            0,
            "monthly",
            12,
            None,
            0,
            None,
            0,
            json.dumps({"categories": ["dibao", "tekun"]}),
            "dibao_gap",
            0,
            None,
            None,
            True,
            BENCH_NOW,
        )
    ]
    for n in range(1, count):
        kind = rng.choice(["cash", "in_kind", "service"])
        unit = rng.choice(["per_person", "per_household"])
        reach = rng.randint(50, max(51, households // 150))
        per = 3 if unit == "per_person" else 1
        amount = rng.randint(5, 200) * 1000
        unit_quantity = 0 if kind == "cash" else rng.randint(1, 3)
        rule: dict[str, Any] = {
            "categories": rng.sample(categories, rng.randint(0, 3)),
            "min_index": str(rng.randint(0, 60)) if rng.random() < 0.5 else None,
            "area_prefixes": [rng.choice(districts)] if rng.random() < 0.4 else [],
        }
        rows.append(
            (
                provider.id,
                fund.id if kind == "cash" else None,
                city_path,
                f"资源{n:03d}",
                kind,
                f"need{rng.randint(1, 12)}",
                unit,
                amount if kind == "cash" else 0,
                unit_quantity,
                "one_off",
                1,
                amount * reach * per if kind == "cash" else None,
                0,
                None if kind == "cash" else unit_quantity * reach * per,
                0,
                json.dumps(rule),
                "",
                rng.randint(1, 500),
                None,
                None,
                True,
                BENCH_NOW,
            )
        )
    await bulk_insert(
        "resource",
        (
            "provider",
            "fund",
            "org_path",
            "name",
            "kind",
            "need",
            "unit",
            "unit_amount_fen",
            "unit_quantity",
            "periodicity",
            "months",
            "budget_total_fen",
            "budget_reserved_fen",
            "quantity_total",
            "quantity_reserved",
            "rule",
            "statutory",
            "priority",
            "period_start",
            "period_end",
            "active",
            "created_at",
        ),
        rows,
    )
    monthly = Resource(
        provider=provider.id,
        fund=fund.id,
        org_path=city_path,
        name="低保金（基准）",
        kind="cash",
        need="dibao_bench",
        unit="per_household",
        unit_amount_fen=42_000,
        periodicity="monthly",
        months=12,
        rule="{}",
        priority=9999,
        active=False,
        created_at=BENCH_NOW,
    )
    await monthly.save()
    return int(fund.id), int(monthly.id)


async def approve_lines(lines: int, resource_id: int) -> None:
    """``lines`` approved monthly cash lines (as approval leaves them), written in bulk."""
    households = await Household.select(Household.id, Household.org_path).order_by(Household.id).limit(lines)
    plan_rows = [(h["id"], h["org_path"], "approved", "", BENCH_NOW, BENCH_NOW, 1) for h in households]
    await bulk_insert(
        "plan", ("household", "org_path", "status", "note", "created_at", "approved_at", "version"), plan_rows
    )
    # One-card accounts are stored sealed with a blind index (services/identifiers.py).
    missing = await Household.select(Household.id).where(Household.account_index == "")
    async with write_transaction(Household._meta.db):
        for row in missing:
            account_sealed, account_key = identifiers.sealed(
                identifiers.ACCOUNT, f"6217{1000000000000000 + row['id']}"
            )
            await Household.update(
                {Household.account_sealed: account_sealed, Household.account_index: account_key}
            ).where(Household.id == row["id"])
    # Payment lines exist only inside an entitlement period (docs/lifecycle.md): each
    # household's first application is a recipient since the batch's month, as activation
    # leaves it.
    applications = await Household.raw(
        "SELECT MIN(id) AS id, household, MIN(org_path) AS org_path, MIN(category) AS category "
        "FROM application GROUP BY household"
    )
    wanted = {int(h["id"]) for h in households}
    day = BENCH_NOW.date()
    await bulk_insert(
        "entitlement",
        ("application", "household", "org_path", "category", "from_month", "to_month", "opened_on",
         "closed_on", "opened_by", "closed_by", "open_reason", "close_reason", "exit_reason", "created_at"),
        [(a["id"], a["household"], a["org_path"], a["category"], "2026-11", None, day, None, "activate", "",
          "", "", "", BENCH_NOW) for a in applications if int(a["household"]) in wanted],
    )  # fmt: skip
    plans = await Household.raw("SELECT id, household, org_path FROM plan ORDER BY id")
    line_rows = [
        (p["id"], p["household"], resource_id, p["org_path"], 42_000, 0, 12, "2026-11", "{}", "approved")
        for p in plans
    ]
    await bulk_insert(
        "plan_line",
        (
            "plan",
            "household",
            "resource",
            "org_path",
            "amount_fen",
            "quantity",
            "months",
            "start_month",
            "reason",
            "status",
        ),
        line_rows,
    )


def timed(label: str, seconds: float, baseline: float | None = None) -> None:
    ratio = f"   ({seconds / baseline:.2f}× the baseline)" if baseline else ""
    print(f"  {label:<58} {seconds:8.3f} s{ratio}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=60_000)
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--lines", type=int, default=20_000)
    args = parser.parse_args()
    await prepare_database(reset=True)
    started = time.perf_counter()
    info = await build_city(households=args.households, now=BENCH_NOW)
    # Every household a recipient, with a spread of indexes: the worst case for drafting.
    await Household._meta.db.run_ddl("UPDATE application SET state = 'active'")
    await Household._meta.db.run_ddl("UPDATE household SET current_index = (id * 7919 % 10000) / 100.0")
    fund_id, monthly = await make_pool(args.resources, args.households, 7)
    print(
        f"synthetic city: {info.households} households, {args.resources} resources "
        f"(built in {time.perf_counter() - started:.1f} s)"
    )
    actor = await city_actor()
    scope = plan_service.DraftScope()

    print("1. drafting plans")
    t0 = time.perf_counter()
    candidates, _ = await plan_service.load_candidates(actor, scope, now=BENCH_NOW)
    load = time.perf_counter() - t0
    pool, _ = await plan_service.load_pool(actor, scope, now=BENCH_NOW)
    t0 = time.perf_counter()
    core_draft = core_plans.draft_plans(candidates, pool)
    core_only = time.perf_counter() - t0
    t0 = time.perf_counter()
    view = await plan_service.get_draft(actor, scope, now=BENCH_NOW)
    service = time.perf_counter() - t0
    assert view.draft.households_covered == core_draft.households_covered
    timed(f"baseline: core draft_plans, {len(candidates)} × {len(pool)}", core_only)
    timed("  of the service: loading and ranking the candidates", load, core_only)
    timed("service get_draft (load + rank + draft)", service, core_only)
    print(
        f"  covered {view.draft.households_covered}, passed over {len(view.draft.passed_over)}, "
        f"{len(view.draft.lines)} lines; target < 5 s: {'met' if service < 5 else 'MISSED'}"
    )

    print(f"2. a monthly batch of {args.lines} lines")
    await approve_lines(args.lines, monthly)
    t0 = time.perf_counter()
    generated = await disbursement.do_generate_monthly_lines(actor, "2026-11", now=BENCH_NOW)
    generate = time.perf_counter() - t0
    t0 = time.perf_counter()
    batch = await disbursement.do_create_batch(actor, fund_id, "2026-11", now=BENCH_NOW)
    create = time.perf_counter() - t0
    t0 = time.perf_counter()
    csv_data, _ = await disbursement.do_export_batch(actor, batch.batch_id, "csv", now=BENCH_NOW)
    export_csv = time.perf_counter() - t0
    t0 = time.perf_counter()
    xlsx_data, _ = await disbursement.do_export_batch(actor, batch.batch_id, "xlsx", now=BENCH_NOW)
    export_xlsx = time.perf_counter() - t0
    row = await disbursement.access_batch(actor, batch.batch_id)
    lines = await disbursement._bank_lines(row)
    t0 = time.perf_counter()
    bankfiles.export_csv(row.batch_no, lines)
    bare_csv = time.perf_counter() - t0
    t0 = time.perf_counter()
    bankfiles.export_xlsx(row.batch_no, lines)
    bare_xlsx = time.perf_counter() - t0
    assert generated.created == args.lines and batch.lines == args.lines
    timed(f"generate {generated.created} payment lines", generate)
    timed(f"create batch {batch.batch_no} ({batch.lines} lines)", create)
    timed("baseline: adapter export_csv alone", bare_csv)
    timed(f"service export CSV ({len(csv_data) // 1024} KiB)", export_csv, bare_csv)
    timed("baseline: adapter export_xlsx alone", bare_xlsx)
    timed(f"service export XLSX ({len(xlsx_data) // 1024} KiB)", export_xlsx, bare_xlsx)
    timed("generate + batch + both exports", generate + create + export_csv + export_xlsx)

    from relief_pwa.db import close_engine
    from relief_pwa.piccolo_conf import DB

    await close_engine(DB)


if __name__ == "__main__":
    asyncio.run(main())
