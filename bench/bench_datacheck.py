"""Benchmark the data-check exchange through the services on a synthetic city.

Prints, for the database named by RELIEF_DATABASE_URL (default: a fresh SQLite file):

1. the export of one batch of P persons to the bank-deposits agency through
   ``services.datacheck.do_export_batch`` (the requests put in the batch, the
   ID numbers opened, the CSV written; target < 30 s for 60,000);
2. the import of the agency's answer for all of them through
   ``do_import_results`` (parse, check every row against the batch, write the
   answers, the ledger values and the warnings; target < 30 s for 60,000).
   Most answers confirm the household's declared deposits; ``--changed`` of
   the households get a different amount (a new ledger version and a relief
   index recomputation each) and ``--rich`` of them deposits above the limit
   (an exclusion warning).

Usage:
    .venv/bin/python bench/bench_datacheck.py --persons 60000
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import csv
import io
import json
import random
import time
from typing import Any

import bench._env  # noqa: F401  (first: selects the database)
from bench.bench_index import prepare_database
from bench.synthetic_city import BENCH_NOW, build_city, bulk_insert
from relief_pwa.core.datacheck import RESULT_HEADER, Agency
from relief_pwa.db import is_sqlite
from relief_pwa.services import datacheck
from relief_pwa.services.actors import Actor
from relief_pwa.tables import Member, MoneyItem, OrgUnit

PERSONS_PER_HOUSEHOLD = 1.7  # what the synthetic city generates on average


async def city_actor() -> Actor:
    city = await OrgUnit.select(OrgUnit.id, OrgUnit.path).where(OrgUnit.level == "city").first()
    assert city is not None
    return Actor(None, "bench", "bench", "city", city["id"], city["path"], "济南市")


async def queue_requests(persons: int) -> int:
    """One pending bank-deposits request for each of the first ``persons`` members, and the
    authorisation of their households (bulk)."""
    members = (
        await Member.select(Member.id, Member.household, Member.org_path)
        .where(Member.active.eq(True))
        .order_by(Member.id)
        .limit(persons)
    )
    rows = [
        (
            m["household"],
            None,
            m["id"],
            m["org_path"],
            Agency.BANK_DEPOSITS.value,
            "recheck",
            BENCH_NOW,
            False,
        )
        for m in members
    ]
    # Each household's signed authorisation (every agency): export sends only what one covers.
    households = {(m["household"], m["org_path"]) for m in members}
    await bulk_insert(
        "datacheck_consent",
        ("household", "application", "org_path", "authorised", "authorised_on", "recorded_at"),
        [(h, None, path, True, BENCH_NOW.date(), BENCH_NOW) for h, path in sorted(households)],
    )
    await bulk_insert(
        "datacheck_request",
        ("household", "application", "member", "org_path", "agency", "purpose", "requested_at", "changed"),
        rows,
    )
    return len(rows)


async def answers(content: bytes, *, changed: float, rich: float, seed: int) -> bytes:
    """The agency's answer: each household's deposits as the file has them (on its first
    person asked), a share of households with a different or a very large amount."""
    rng = random.Random(seed)
    exported = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    member_ids = [int(r) for r in (await _member_of_requests([int(r["row"]) for r in exported]))]
    households = await _household_of_members(member_ids)
    deposits: dict[int, int] = {}
    for item in await MoneyItem.select(
        MoneyItem.household, MoneyItem.declared_fen, MoneyItem.verified_fen
    ).where((MoneyItem.kind == "deposits") & MoneyItem.active.eq(True) & MoneyItem.member.is_null()):
        value = item["verified_fen"] if item["verified_fen"] is not None else item["declared_fen"]
        deposits[item["household"]] = deposits.get(item["household"], 0) + int(value)
    seen: set[int] = set()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(RESULT_HEADER)
    for row, member_id in zip(exported, member_ids, strict=True):
        household = households[member_id]
        amount = 0
        if household not in seen:
            seen.add(household)
            amount = deposits.get(household, 0)
            draw = rng.random()
            if draw < rich:
                amount += 50_000_000  # 500,000 yuan: above any household's limit
            elif draw < rich + changed:
                amount += 1_000_000
        found = "1" if amount else "0"
        yuan = f"{amount // 100}.{amount % 100:02d}" if amount else ""
        writer.writerow(
            [row["batch"], row["row"], row["id_number"], row["name"], row["asked"], found, found, yuan, ""]
        )
    return buffer.getvalue().encode("utf-8")


async def _member_of_requests(request_ids: list[int]) -> list[int]:
    from relief_pwa.tables import DataCheckRequest

    by_id: dict[int, int] = {}
    for start in range(0, len(request_ids), 5000):
        for r in await DataCheckRequest.select(DataCheckRequest.id, DataCheckRequest.member).where(
            DataCheckRequest.id.is_in(request_ids[start : start + 5000])
        ):
            by_id[r["id"]] = r["member"]
    return [by_id[r] for r in request_ids]


async def _household_of_members(member_ids: list[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for start in range(0, len(member_ids), 5000):
        for m in await Member.select(Member.id, Member.household).where(
            Member.id.is_in(member_ids[start : start + 5000])
        ):
            found[m["id"]] = m["household"]
    return found


async def run(args: argparse.Namespace) -> dict[str, Any]:
    await prepare_database(reset=True)
    households = int(args.persons / PERSONS_PER_HOUSEHOLD * 1.05) + 10
    info = await build_city(households=households)
    actor = await city_actor()
    queued = await queue_requests(args.persons)
    figures: dict[str, Any] = {
        "engine": "sqlite" if is_sqlite(MoneyItem._meta.db) else "postgresql",
        "households_in_city": info.households,
        "persons_asked": queued,
        "city_build_s": round(info.seconds, 1),
    }

    started = time.perf_counter()
    batch = await datacheck.do_export_batch(actor, Agency.BANK_DEPOSITS, now=BENCH_NOW)
    figures["export_s"] = round(time.perf_counter() - started, 2)
    figures["export_bytes"] = len(batch.content)
    figures["export_skipped_unauthorised"] = batch.skipped

    data = await answers(batch.content, changed=args.changed, rich=args.rich, seed=args.seed)
    started = time.perf_counter()
    result = await datacheck.do_import_results(actor, data, "bank_deposits.csv", now=BENCH_NOW)
    figures["import_s"] = round(time.perf_counter() - started, 2)
    figures["import"] = {
        "answered": result.answered,
        "confirmed": result.confirmed,
        "new_versions": result.new_versions,
        "new_items": result.new_items,
        "warnings": result.warnings,
        "flagged_for_review": result.changed,
        "status": result.batch_status,
    }
    figures["target_s"] = 30
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=60_000)
    parser.add_argument(
        "--changed", type=float, default=0.02, help="share of households whose amount differs"
    )
    parser.add_argument(
        "--rich", type=float, default=0.005, help="share of households above the deposit limit"
    )
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
