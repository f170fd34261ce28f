"""Benchmark the caseload import on a generated roster of a whole city.

Writes a roster of 60,000 households (about 110,000 member rows) as XLSX and
as CSV, then, for each, in a fresh process and a fresh database named by
RELIEF_DATABASE_URL (default: a new SQLite file):

1. the baseline: streaming the file's cells and nothing else (openpyxl
   read-only mode, or the csv module) — the floor any importer pays;
2. the import: read, check every cell and household, write households,
   members, applications, plans and plan lines in one transaction, compute
   every relief index (target under 60 s for XLSX on SQLite), with the
   process's peak memory;
3. a 100-row re-import of rows already imported: nothing is written twice
   (target under 2 s).

Usage:
    .venv/bin/python bench/bench_import.py --households 60000
    RELIEF_DATABASE_URL=postgresql://relief:relief@127.0.0.1:PORT/relief_bench \\
        .venv/bin/python bench/bench_import.py --households 60000
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import csv
import os
import random
import resource
import subprocess
import tempfile
import time
from datetime import date, timedelta
from typing import Any

import bench._env  # noqa: F401  (first: selects the database)
from bench.synthetic_city import BENCH_NOW, COMMUNITIES_PER_STREET, org_units
from relief_pwa.adapters.roster_sheets import SheetOut, write_csv, write_xlsx
from relief_pwa.core import caseload as core
from relief_pwa.core.enums import Category, Housing, Illness, OrgLevel, Relation, Schooling, Sex, WorkCapacity
from relief_pwa.core.idnumber import make_id_number

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏"
_GIVEN = "秀英桂兰玉梅凤华建国志强永军海燕丽娟明辉文静红霞淑珍春生德胜金凤家乐子涵浩然欣怡雨轩"


def community_codes() -> list[str]:
    return [u.code for u in org_units() if u.level == OrgLevel.COMMUNITY]


def generate(households: int, seed: int = 2011) -> list[core.RosterHousehold]:
    """Valid households in the synthetic city's communities (~1.8 people each)."""
    rng = random.Random(seed)
    codes = community_codes()
    today = BENCH_NOW.date()
    used: set[str] = set()
    out = []
    for number in range(households):
        code = rng.choice(codes)
        size = rng.choices([1, 2, 3, 4, 5], weights=[45, 30, 14, 8, 3])[0]
        surname = rng.choice(_SURNAMES)
        head_age = rng.randint(25, 88)
        members = []
        for position in range(size):
            if position == 0:
                age, relation = head_age, Relation.HEAD
            elif position == 1:
                age, relation = max(20, head_age + rng.randint(-5, 5)), Relation.SPOUSE
            else:
                age, relation = max(1, head_age - rng.randint(22, 34)), Relation.CHILD
            sex = rng.choice([Sex.MALE, Sex.FEMALE])
            born = today - timedelta(days=age * 365 + rng.randint(0, 360))
            sequence = (number * 7 + position) % 500 * 2 + (sex == Sex.MALE)
            while make_id_number(code[:6], born, sequence) in used:  # one person, one number
                sequence = (sequence + 2) % 1000
            used.add(make_id_number(code[:6], born, sequence))
            members.append(
                core.RosterMember(
                    name=surname + "".join(rng.sample(_GIVEN, rng.choice([1, 2]))),
                    id_number=make_id_number(code[:6], born, sequence),
                    sex=sex,
                    birth_date=born,
                    relation=relation,
                    disability_grade=rng.choices([None, 1, 2, 3, 4], weights=[82, 3, 5, 5, 5])[0],
                    illness=rng.choices(list(Illness), weights=[65, 25, 10])[0],
                    work_capacity=WorkCapacity.NONE
                    if age >= 60 or age < 16
                    else rng.choice(list(WorkCapacity)),
                    schooling=Schooling.PRIMARY if age < 12 else Schooling.NOT_IN_SCHOOL,
                )
            )
        start = today - timedelta(days=rng.randint(30, 6 * 365))
        out.append(
            core.RosterHousehold(
                file_no=f"JN-{number + 1:07d}",
                community=code,
                address=f"{rng.randint(1, 300)}号{rng.randint(1, 8)}单元{rng.randint(101, 1802)}室",
                phone=f"139{rng.randint(10**7, 10**8 - 1)}",
                category=rng.choices([Category.DIBAO, Category.TEKUN], weights=[9, 1])[0],
                monthly_fen=rng.randint(200, 1500) * 100,
                start_month=f"{start.year:04d}-{start.month:02d}",
                onecard_account=f"62170000{rng.randint(10**10, 10**11 - 1)}",
                bank="济南农商银行",
                housing=rng.choice(list(Housing)),
                members=tuple(members),
                sheet="",
                rows=(),
            )
        )
    return out


def roster_rows(households: list[core.RosterHousehold]) -> Any:
    yield core.header_row()
    for household in households:
        yield from core.household_rows(household)


_PACKAGE = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="xl/workbook.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="花名册" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>'
        '<Relationship Id="rId2" Target="sharedStrings.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/>'
        "</Relationships>"
    ),
}


def write_excel_like(path: Path, rows: list[list[Any]]) -> None:
    """An XLSX as Excel and WPS save one: text in a shared-string table, the used range
    declared up front. (openpyxl writes every text cell inline and no range, which its
    own reader parses several times slower: the benchmark measures both.)"""
    import zipfile
    from xml.sax.saxutils import escape

    from openpyxl.utils import get_column_letter

    strings: dict[str, int] = {}
    letters = [get_column_letter(i + 1) for i in range(len(rows[0]))]
    body: list[str] = []
    for number, row in enumerate(rows, start=1):
        cells = []
        for letter, value in zip(letters, row, strict=False):
            if value is None or value == "":
                continue
            index = strings.setdefault(str(value), len(strings))
            cells.append(f'<c r="{letter}{number}" t="s"><v>{index}</v></c>')
        body.append(f'<row r="{number}">{"".join(cells)}</row>')
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="A1:{letters[-1]}{len(rows)}"/><sheetData>{"".join(body)}</sheetData></worksheet>'
    )
    table = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
    shared = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'count="{len(strings)}" uniqueCount="{len(strings)}">{table}</sst>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _PACKAGE.items():
            archive.writestr(name, text)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        archive.writestr("xl/sharedStrings.xml", shared)


def write_files(households: int, folder: Path) -> tuple[Path, Path, Path, Path, int]:
    roster = generate(households)
    xlsx, csv_path, small = folder / "roster.xlsx", folder / "roster.csv", folder / "first-100-rows.xlsx"
    started = time.perf_counter()
    write_xlsx(xlsx, [SheetOut("花名册", roster_rows(roster))])
    xlsx_seconds = time.perf_counter() - started
    with csv_path.open("w", encoding="utf-8-sig", newline="") as handle:
        write_csv(handle, roster_rows(roster))
    rows = list(roster_rows(roster))
    excel = folder / "roster-excel.xlsx"
    write_excel_like(excel, rows)
    write_xlsx(small, [SheetOut("花名册", rows[:101])])
    members = len(rows) - 1
    print(
        f"roster: {households} households, {members} member rows; XLSX {xlsx.stat().st_size / 2**20:.1f} MB "
        f"(written by openpyxl in {xlsx_seconds:.1f} s), "
        f"as Excel saves it {excel.stat().st_size / 2**20:.1f} MB, "
        f"CSV {csv_path.stat().st_size / 2**20:.1f} MB"
    )
    return excel, xlsx, csv_path, small, members


def baseline(path: Path) -> tuple[float, int]:
    """Stream every cell of the file and do nothing with it."""
    started = time.perf_counter()
    count = 0
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.reader(handle):
                count += len(row)
    else:
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        for sheet in workbook.worksheets:
            for values in sheet.iter_rows(values_only=True):
                count += len(values)
        workbook.close()
    return time.perf_counter() - started, count


async def _setup() -> Any:
    from bench.bench_index import prepare_database
    from relief_pwa.services.actors import SYSTEM_ACTOR
    from relief_pwa.services.auth import hash_password
    from relief_pwa.services.caseload import actor_for_username
    from relief_pwa.services.funds import FundDraft, do_create_fund
    from relief_pwa.services.org_admin import do_create_org_units
    from relief_pwa.services.resources import (
        DonationDraft,
        ProviderDraft,
        ResourceDraft,
        do_create_provider,
        do_create_resource,
        do_record_donation,
    )
    from relief_pwa.services.scoring import get_active_model
    from relief_pwa.services.standards import do_seed_standards
    from relief_pwa.tables import OrgUnit, Staff

    await prepare_database(reset=True)
    day = BENCH_NOW - timedelta(days=400)
    await do_create_org_units(SYSTEM_ACTOR, org_units(), now=day)
    await do_seed_standards(SYSTEM_ACTOR, now=day)
    await get_active_model(now=day)
    city = await OrgUnit.select(OrgUnit.id, OrgUnit.path).where(OrgUnit.level == OrgLevel.CITY).first()
    assert city is not None
    await Staff.insert(
        Staff(username="bench_city", display_name="bench_city", password_hash=hash_password("bench-sunshine"),
              role="city", org_unit=city["id"], org_path=city["path"], created_at=day)
    )  # fmt: skip
    actor = await actor_for_username("bench_city")
    provider = await do_create_provider(actor, ProviderDraft("济南市民政局", "government"), now=day)
    fund = await do_create_fund(actor, FundDraft("JN-DIBAO", "城乡低保资金专户", str(provider)), now=day)
    await do_record_donation(
        actor, DonationDraft(str(provider), fund_id=str(fund), amount="900,000,000"), now=day
    )
    await do_create_resource(
        actor,
        ResourceDraft(provider_id=str(provider), fund_id=str(fund), name="城乡低保金", kind="cash",
                      need="living", unit="per_household", unit_amount="1", periodicity="monthly",
                      months="12", categories=["dibao", "tekun"], priority="1"),
        now=day,
    )  # fmt: skip
    return actor


def _peak_mb() -> float:
    """This process's peak resident memory. (ru_maxrss would carry over the parent's peak
    through fork and exec; VmHWM belongs to this program's own address space.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def run_one(path: Path, small: Path) -> None:
    """One import in this (fresh) process, its baseline, then a 100-row re-import."""
    from relief_pwa.db import close_engine
    from relief_pwa.piccolo_conf import DB

    try:
        await _run_one(path, small)
    finally:
        await close_engine(DB)  # SQLite's connection threads would keep a failed run alive


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


async def _run_one(path: Path, small: Path) -> None:
    from relief_pwa.piccolo_conf import DB
    from relief_pwa.services.caseload import import_caseload

    actor = await _setup()
    rss_before = _peak_mb()
    stages: dict[str, float] = {}
    started = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        stages.setdefault(stage, time.perf_counter() - started)

    cpu = _cpu_seconds()
    report = await import_caseload(actor, path, filename=path.name, now=BENCH_NOW, progress=progress)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu
    peak = _peak_mb()
    assert report.refusals == [], report.refusals[:5]
    floor, cells = baseline(path)  # after the import: the peak above is the import's own
    marks = [*sorted(stages.items(), key=lambda item: item[1]), ("end", seconds)]
    phases = ", ".join(f"{name} {marks[i + 1][1] - at:.1f} s" for i, (name, at) in enumerate(marks[:-1]))
    print(
        f"{path.name} on {DB.engine_type}: {report.imported} households, "
        f"{report.imported_members} members imported and scored ({report.scored}) in {seconds:.1f} s "
        f"(CPU {cpu:.1f} s; {phases}) = {report.imported_members / seconds:,.0f} rows/s; "
        f"baseline (stream {cells:,} cells) {floor:.1f} s, import = {seconds / floor:.1f}× the baseline; "
        f"peak memory {peak:.0f} MB (after setting up {rss_before:.0f} MB)"
    )
    started = time.perf_counter()
    again = await import_caseload(actor, small, filename=small.name, now=BENCH_NOW + timedelta(minutes=1))
    seconds = time.perf_counter() - started
    assert again.imported == 0 and again.already == again.households_in_file, again
    print(
        f"     re-import of {again.rows_read - 1} rows already imported: "
        f"{again.already} households skipped, nothing written, in {seconds:.2f} s"
    )
    load = os.getloadavg()
    print(f"     machine load average {load[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=60_000)
    parser.add_argument(
        "--formats", default="excel,xlsx,csv", help="excel: as Excel saves; xlsx: by openpyxl"
    )
    parser.add_argument("--run", default="", help=argparse.SUPPRESS)  # child: import this file
    parser.add_argument("--small", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        asyncio.run(run_one(Path(args.run), Path(args.small)))
        return
    folder = Path(tempfile.mkdtemp(prefix="relief-bench-import-"))
    excel, xlsx, csv_path, small, _ = write_files(args.households, folder)
    files = {"excel": excel, "xlsx": xlsx, "csv": csv_path}
    for name in args.formats.split(","):
        env = dict(os.environ)
        if "RELIEF_DATABASE_URL" not in os.environ or env["RELIEF_DATABASE_URL"].startswith("sqlite"):
            # Each format imports into its own fresh SQLite file.
            var = folder / f"var-{name}"
            env["RELIEF_VAR_DIR"] = str(var)
            env["RELIEF_DATABASE_URL"] = f"sqlite:///{var / 'bench.sqlite3'}"
        subprocess.run(
            [sys.executable, __file__, "--run", str(files[name]), "--small", str(small)], env=env, check=True
        )


if __name__ == "__main__":
    main()


__all__ = ["COMMUNITIES_PER_STREET", "date", "generate"]
