"""A province in a benchmark: the same city grown from 60,000 to 1,000,000 households.

One database (RELIEF_DATABASE_URL; PostgreSQL is the point, SQLite works for a
quick look) is filled with the synthetic city (bench/synthetic_city.py, bulk
COPY path) and grown size by size. At each size it measures:

1. a full re-score of every open household (``rescore_all``, two worker
   processes), which also numbers every stored rank;
2. the main pages with in-process clients (httpx ASGI transport, as
   bench/bench_pages.py --floor): case list, household file, ranking for a
   city and a station user, the city dashboard cached and cold — p50/p95;
3. a monthly disbursement batch for 40% of the households as recipients
   (``do_generate_monthly_lines`` + ``do_create_batch``; 400,000 lines at 1M);
4. at the largest size (``--import-at all`` for every size) a caseload import
   of about 100,000 member rows as Excel saves them (``import_caseload``).

Each step's peak resident memory is sampled (this process plus its forked
workers; PostgreSQL's own memory is not counted). At the end: the growth
exponent (log-log slope) between sizes and over the whole range, against the
targets: page p95 flat within 2×, re-score and batch linear (exponent ≈ 1),
memory flat.

Usage (docs/scale.md, "A province"):
    RELIEF_DATABASE_URL=postgresql://relief:relief@127.0.0.1:PORT/relief_test \\
        .venv/bin/python bench/bench_province.py [--sizes 60000,240000,1000000] [--json out.json]
    .venv/bin/python bench/bench_province.py --sizes 10000,40000   # a quick run
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import itertools
import json
import logging
import math
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import bench._env  # noqa: F401  (first: selects the database)
from bench.synthetic_city import BENCH_NOW, BENCH_PASSWORD, build_city_in_chunks, bulk_insert

RECIPIENT_SHARE = 0.4
MONTHLY_FEN = 42_000
PAGE_TARGET_RATIO = 2.0  # page p95 at the largest size within 2× the smallest
LINEAR_TARGET = 1.2  # re-score and batch: exponent ≈ 1 (up to 1.2 counts as linear)
FLAT_MEMORY_TARGET = 0.2  # memory exponent near 0
_PAGE_SIZE = 4096


# --- peak memory of a step ------------------------------------------------------


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE_SIZE // 1024
    except (OSError, IndexError, ValueError):
        return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(child) for child in handle.read().split())
    except OSError:
        pass
    return found


class PeakMemory:
    """Samples this process's resident memory plus its children's (the re-score's
    forked workers) every 50 ms while a step runs; ``peak_mb`` is the largest sum."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        me = os.getpid()
        total = _rss_kb(me) + sum(_rss_kb(child) for child in _children(me))
        self.peak_kb = max(self.peak_kb, total)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._sample()

    def __enter__(self) -> PeakMemory:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


# --- results --------------------------------------------------------------------


@dataclass
class Step:
    name: str
    seconds: float
    peak_mb: float
    detail: str = ""


@dataclass
class Page:
    name: str
    rate: float
    p50: float
    p95: float


@dataclass
class SizeResult:
    households: int
    build_seconds: float = 0.0
    load: float = 0.0
    steps: list[Step] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)


@contextmanager
def measured(result: SizeResult, name: str) -> Iterator[Step]:
    step = Step(name, 0.0, 0.0)
    with PeakMemory() as memory:
        began = time.perf_counter()
        yield step
        step.seconds = time.perf_counter() - began
    step.peak_mb = memory.peak_mb
    result.steps.append(step)
    print(f"    {name}: {step.seconds:.1f} s, peak {step.peak_mb:,.0f} MB {step.detail}", flush=True)


# --- set-up ---------------------------------------------------------------------


async def prepare() -> tuple[Any, int, int]:
    """A fresh schema, the org network, staff, and the city's dibao fund and monthly
    cash resource (what the import and the batches pay from). Returns (actor, fund, resource)."""
    from bench.bench_index import prepare_database
    from bench.synthetic_city import build_city
    from relief_pwa.services.caseload import actor_for_username
    from relief_pwa.services.funds import FundDraft, do_create_fund
    from relief_pwa.services.resources import (
        DonationDraft,
        ProviderDraft,
        ResourceDraft,
        do_create_provider,
        do_create_resource,
        do_record_donation,
    )

    await prepare_database(reset=True)
    await build_city(0)  # org network, standards, the model, the two bench accounts
    day = BENCH_NOW - timedelta(days=400)
    actor = await actor_for_username("bench_city")
    provider = await do_create_provider(actor, ProviderDraft("济南市民政局", "government"), now=day)
    fund = await do_create_fund(actor, FundDraft("JN-DIBAO", "城乡低保资金专户", str(provider)), now=day)
    await do_record_donation(
        actor, DonationDraft(str(provider), fund_id=str(fund), amount="900,000,000"), now=day
    )
    resource = await do_create_resource(
        actor,
        ResourceDraft(provider_id=str(provider), fund_id=str(fund), name="城乡低保金", kind="cash",
                      need="living", unit="per_household", unit_amount="1", periodicity="monthly",
                      months="12", categories=["dibao", "tekun"], priority="1"),
        now=day,
    )  # fmt: skip
    return actor, int(fund), int(resource)


async def _analyze() -> None:
    from relief_pwa.piccolo_conf import DB

    if DB.engine_type == "postgres":
        await DB.run_ddl("ANALYZE")


async def _scalar(sql: str) -> int:
    from relief_pwa.tables import Household

    rows = await Household.raw(sql)
    return int(next(iter(rows[0].values())) or 0) if rows else 0


async def approve_recipients(household_ids: list[int], resource_id: int, start_month: str) -> int:
    """Every fifth household twice over (40%) made a recipient as approval and activation
    leave one, written in bulk: an entitlement period open since ``start_month`` on its
    application, and an approved plan with one monthly cash line."""
    from relief_pwa.tables import Application

    chosen = set(hid for hid in household_ids if hid % 5 < 2)
    applications: list[dict[str, Any]] = []
    ordered = sorted(chosen)
    for start in range(0, len(ordered), 20_000):
        part = ordered[start : start + 20_000]
        applications.extend(
            await Application.select(
                Application.id, Application.household, Application.org_path, Application.category
            ).where(Application.household.is_in(part))
        )
    applications.sort(key=lambda a: int(a["id"]))
    day = BENCH_NOW.date()
    await bulk_insert(
        "entitlement",
        ("application", "household", "org_path", "category", "from_month", "to_month", "opened_on",
         "closed_on", "opened_by", "closed_by", "open_reason", "close_reason", "exit_reason", "created_at"),
        [(a["id"], a["household"], a["org_path"], a["category"], start_month, None, day, None, "activate", "",
          "", "", "", BENCH_NOW) for a in applications],
    )  # fmt: skip
    next_plan = await _scalar("SELECT MAX(id) AS m FROM plan") + 1
    plan_rows = [
        (next_plan + n, a["household"], a["id"], a["org_path"], "approved", "", BENCH_NOW, BENCH_NOW, 1)
        for n, a in enumerate(applications)
    ]
    await bulk_insert(
        "plan",
        (
            "id",
            "household",
            "application",
            "org_path",
            "status",
            "note",
            "created_at",
            "approved_at",
            "version",
        ),
        plan_rows,
    )
    line_rows = [
        (plan_id, hid, resource_id, path, MONTHLY_FEN, 0, 12, start_month, "{}", "approved")
        for plan_id, hid, _, path, *_ in plan_rows
    ]
    columns = ("plan", "household", "resource", "org_path", "amount_fen", "quantity", "months",
               "start_month", "reason", "status")  # fmt: skip
    await bulk_insert("plan_line", columns, line_rows)
    return len(plan_rows)


def _months(count: int) -> list[str]:
    """``count`` consecutive months ending with the one after BENCH_NOW (payments go one month ahead)."""
    last = BENCH_NOW.year * 12 + BENCH_NOW.month  # the month after, zero-based
    numbers = range(last - count + 1, last + 1)
    return [f"{n // 12:04d}-{n % 12 + 1:02d}" for n in numbers]


# --- pages ----------------------------------------------------------------------


async def _sample(fn: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def _p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


async def measure_pages(
    station_street: str, requests: int, concurrency: int, now_offset: timedelta, cold: int
) -> list[Page]:
    from bench.bench_pages import _bare_app, _client_for, _load
    from relief_pwa.app import create_app, freeze_startup_objects
    from relief_pwa.clock import FixedClock
    from relief_pwa.services.analytics import clear_cache
    from relief_pwa.settings import load_settings
    from relief_pwa.tables import Household

    household = await (
        Household.select(Household.id)
        .where(Household.org_path.like(f"%/{station_street}%/") & (Household.is_open == True))  # noqa: E712
        .order_by(Household.id, ascending=False)
        .first()
    )
    assert household is not None
    app = create_app(load_settings(), FixedClock(BENCH_NOW + now_offset))  # fresh per size: no stale caches
    city = await _client_for(app, "bench_city", BENCH_PASSWORD)
    station = await _client_for(app, "bench_station", BENCH_PASSWORD)
    bare = await _client_for(_bare_app(compressed=True), None, "")  # gzip, as the pages above
    freeze_startup_objects()  # as the app's startup does (the in-process clients run no lifespan)
    plan = [
        ("bare Jinja page (same stack)", bare, "/bare"),
        ("case list, first page (city)", city, "/cases"),
        ("case list filtered (city)", city, "/cases?state=active&category=dibao"),
        ("case list (station)", station, "/cases"),
        ("household file (station)", station, f"/households/{household['id']}"),
        ("ranking, city user", city, "/ranking"),
        ("ranking, city user, page 100", city, "/ranking?page=100"),
        ("ranking, station user", station, "/ranking"),
        ("city dashboard (cached)", city, "/analytics"),
    ]
    pages: list[Page] = []
    for name, client, url in plan:
        await _load(client, url, min(5, requests), 1)  # warm up templates and caches
        rate, latencies = await _load(client, url, requests, concurrency)
        p50, p95 = _p50_p95(latencies)
        pages.append(Page(name, rate, p50, p95))

    async def dashboard_cold() -> None:
        clear_cache()  # as after any audited change in the city
        response = await city.get("/analytics")
        assert response.status_code == 200, response.status_code

    latencies = await _sample(dashboard_cold, cold)
    p50, p95 = _p50_p95(latencies)
    pages.append(Page("city dashboard (cold, one client)", 1000 / statistics.mean(latencies), p50, p95))
    for client in (city, station, bare):
        await client.aclose()
    return pages


# --- the import -----------------------------------------------------------------


def write_roster(member_rows: int, folder: Path, seed: int) -> tuple[Path, int]:
    """A roster of about ``member_rows`` member rows as Excel saves it (bench/bench_import.py)."""
    from bench.bench_import import generate, roster_rows, write_excel_like

    households = max(1, round(member_rows / 1.8))
    rows = list(roster_rows(generate(households, seed=seed)))
    path = folder / f"roster-{seed}.xlsx"
    write_excel_like(path, rows)
    return path, len(rows) - 1


# --- one size -------------------------------------------------------------------


async def grow_to(
    result: SizeResult,
    *,
    stage: int,
    month: str,
    start_month: str,
    actor: Any,
    fund_id: int,
    resource_id: int,
    args: argparse.Namespace,
    do_import: bool,
) -> None:
    from relief_pwa.services import disbursement
    from relief_pwa.services.caseload import import_caseload
    from relief_pwa.services.scoring import get_active_model, rescore_all
    from relief_pwa.tables import Household

    have = await Household.count()
    now_offset = timedelta(minutes=10 * stage)  # each size's re-score is a new run, not a repeat
    now = BENCH_NOW + now_offset
    with measured(result, "build (bulk COPY)") as step:
        info = await build_city_in_chunks(result.households - have, seed=2011 + have, accounts=True)
        recipients = await approve_recipients(info.household_ids, resource_id, start_month)
        await _analyze()
        step.detail = f"(+{info.households:,} households, {info.members:,} people; {recipients:,} recipients)"
    result.build_seconds = result.steps[-1].seconds
    with measured(result, "full re-score") as step:
        model = await get_active_model(now=now)
        scored = await rescore_all(model, now=now, trigger="bench", workers=args.workers)
        step.detail = f"({scored.count:,} households scored and ranked)"
    await _analyze()
    with measured(result, "pages") as step:
        result.pages = await measure_pages(
            info.street_code or "", args.requests, args.concurrency, now_offset, args.cold
        )
    with measured(result, "monthly batch") as step:
        generated = await disbursement.do_generate_monthly_lines(actor, month, now=now)
        assert generated.created, generated
        batch = await disbursement.do_create_batch(actor, fund_id, month, now=now)
        step.detail = (
            f"({generated.created:,} payment lines for {month}, batch {batch.batch_no} of "
            f"{batch.lines:,} lines, {batch.held_without_account:,} held without account)"
        )
    if do_import:
        folder = Path(tempfile.mkdtemp(prefix="relief-bench-province-"))
        path, rows = write_roster(args.import_rows, folder, seed=7000 + stage)
        with measured(result, "caseload import") as step:
            report = await import_caseload(actor, path, filename=path.name, now=now, accept_valid=True)
            step.detail = (
                f"({rows:,} member rows: {report.imported:,} households, {report.imported_members:,} "
                f"members imported, {report.already:,} already there, {len(report.refusals):,} refused)"
            )
        path.unlink()
    result.load = os.getloadavg()[0]


# --- report ---------------------------------------------------------------------


def exponent(n1: int, t1: float, n2: int, t2: float) -> float:
    if t1 <= 0 or t2 <= 0 or n1 == n2:
        return float("nan")
    return math.log(t2 / t1) / math.log(n2 / n1)


def _field(result: SizeResult, step: str, name: str) -> float:
    found = result.step(step)
    return float(getattr(found, name)) if found else float("nan")


def report(results: list[SizeResult]) -> str:
    lines: list[str] = []
    sizes = [r.households for r in results]
    head = "".join(f"{n:>14,}" for n in sizes)
    slopes = [f"{a:,}→{b:,}" for a, b in itertools.pairwise(sizes)]
    slope_head = "".join(f"{s:>20}" for s in slopes) + (f"{'overall':>10}" if len(sizes) > 2 else "")

    def exponents(values: list[float]) -> str:
        pairs = itertools.pairwise(zip(sizes, values, strict=True))
        cells = [exponent(a, x, b, y) for (a, x), (b, y) in pairs]
        text = "".join(f"{c:>20.2f}" for c in cells)
        if len(sizes) > 2:
            text += f"{exponent(sizes[0], values[0], sizes[-1], values[-1]):>10.2f}"
        return text

    lines.append(f"\nPage latency, ms p50 / p95 (households:{head})")
    for index, page in enumerate(results[0].pages):
        cells = "".join(
            f"{r.pages[index].p50:>7.1f}/{r.pages[index].p95:<6.1f}" if index < len(r.pages) else f"{'-':>14}"
            for r in results
        )
        ratio = results[-1].pages[index].p95 / max(page.p95, 1e-9) if len(results) > 1 else 1.0
        flag = "" if page.name.startswith("bare") else ("  ok" if ratio <= PAGE_TARGET_RATIO else "  OVER 2×")
        lines.append(f"  {page.name:<36}{cells}  p95 ×{ratio:.2f}{flag}")
    lines.append(f"\nSteps, seconds (households:{head})")
    step_names = [s.name for s in results[-1].steps]
    for name in step_names:
        cells = "".join(f"{_field(r, name, 'seconds'):>14.1f}" for r in results)
        lines.append(f"  {name:<36}{cells}")
    lines.append(f"\nPeak memory of each step, MB (this process + its workers; households:{head})")
    for name in step_names:
        cells = "".join(f"{_field(r, name, 'peak_mb'):>14,.0f}" for r in results)
        lines.append(f"  {name:<36}{cells}")
    if len(results) > 1:
        lines.append(f"\nGrowth exponents (log-log slope){' ' * 7}{slope_head}")
        for name, target in (("full re-score", LINEAR_TARGET), ("monthly batch", LINEAR_TARGET)):
            values = [_field(r, name, "seconds") for r in results]
            verdict = "met" if exponent(sizes[0], values[0], sizes[-1], values[-1]) <= target else "MISSED"
            lines.append(f"  {name + ' time':<36}{exponents(values)}  target ≈1: {verdict}")
        for name in ("full re-score", "pages", "monthly batch"):
            values = [_field(r, name, "peak_mb") for r in results]
            flat = (
                "met"
                if exponent(sizes[0], values[0], sizes[-1], values[-1]) <= FLAT_MEMORY_TARGET
                else "MISSED"
            )
            lines.append(f"  {name + ' peak memory':<36}{exponents(values)}  target flat: {flat}")
        for index, page in enumerate(results[0].pages):
            if page.name.startswith("bare"):
                continue
            values = [r.pages[index].p95 for r in results]
            lines.append(f"  {page.name + ' p95':<36}{exponents(values)}")
    lines.append(
        "\nmachine load average (1 min) after each size: "
        + ", ".join(f"{r.load:.1f}" for r in results)
        + f" on {os.cpu_count()} cores"
    )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> list[SizeResult]:
    from relief_pwa.db import close_engine
    from relief_pwa.piccolo_conf import DB

    sizes = [int(s) for s in args.sizes.split(",")]
    assert sizes == sorted(sizes), "sizes grow"
    months = _months(len(sizes))
    results: list[SizeResult] = []
    try:
        actor, fund_id, resource_id = await prepare()
        print(f"engine {DB.engine_type}; sizes {sizes}; batches for {months}", flush=True)
        for stage, households in enumerate(sizes):
            print(f"\n== {households:,} households ==", flush=True)
            result = SizeResult(households)
            await grow_to(
                result, stage=stage, month=months[stage], start_month=months[0], actor=actor,
                fund_id=fund_id, resource_id=resource_id, args=args,
                do_import=args.import_at == "all" or stage == len(sizes) - 1,
            )  # fmt: skip
            results.append(result)
            print(report(results), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps([_as_dict(r) for r in results], indent=1))  # noqa: ASYNC240
    finally:
        await close_engine(DB)
    return results


def _as_dict(result: SizeResult) -> dict[str, Any]:
    return {
        "households": result.households,
        "load": result.load,
        "steps": [vars(s) for s in result.steps],
        "pages": [vars(p) for p in result.pages],
    }


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # A line per request would drown the table.
    logging.getLogger("relief_pwa.access").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="60000,240000,1000000", help="household counts, growing")
    parser.add_argument("--requests", type=int, default=100, help="requests per page")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--cold", type=int, default=5, help="cold dashboard requests (cache cleared)")
    parser.add_argument("--workers", type=int, default=2, help="re-score worker processes")
    parser.add_argument("--import-rows", type=int, default=100_000, help="member rows of the caseload import")
    parser.add_argument("--import-at", choices=("largest", "all"), default="largest")
    parser.add_argument("--json", default="", help="also write the figures here")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
