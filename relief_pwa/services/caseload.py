"""Bringing in a bureau's caseload: a roster (XLSX or CSV) becomes current recipients.

``import_caseload`` reads the file in a thread (bounded rows and columns),
groups member rows into households and checks every cell (core.caseload),
then checks the households against the database: the community must exist
in the actor's jurisdiction, nobody may already be in an open household, a
household number may not belong to another household, and a household whose
number and people are already here was imported before and is skipped (so
importing the same file twice imports nothing twice).

Imported households arrive as the normal lifecycle leaves them: the file with
its members, an application in state ``active`` decided in the start month,
an approved plan whose monthly cash line runs from the start month (the
category's monthly cash resource, its fund reserved for the months ahead),
and their relief index. Everything is written in one transaction with one
audit event carrying the file's SHA-256 and the counts — an interrupted
import leaves nothing. ID numbers never enter the audit payload or logs.
"""

# SQL text here is built from fixed table and column names; every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from piccolo.columns.combination import WhereRaw

from relief_pwa.adapters.roster_sheets import SheetOut, SpreadsheetRejected, iter_sheets, write_xlsx
from relief_pwa.core import caseload as core
from relief_pwa.core.enums import (
    AppState,
    Category,
    Channel,
    Housing,
    Illness,
    OrgLevel,
    Relation,
    Schooling,
    Sex,
    WorkCapacity,
)
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden
from relief_pwa.core.i18n import N_
from relief_pwa.core.idnumber import make_id_number
from relief_pwa.core.permissions import Capability
from relief_pwa.db import advisory_xact_lock, is_sqlite, write_transaction
from relief_pwa.services import funds, identifiers
from relief_pwa.services.access_log import note_read
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.auth import load_actor
from relief_pwa.services.numbers import application_number
from relief_pwa.services.rank_store import rebuild_all as rebuild_ranks
from relief_pwa.services.resources import parse_rule
from relief_pwa.services.scoring import get_active_model, rescore_batch
from relief_pwa.settings import get_settings
from relief_pwa.tables import Counter, Household, Job, JobFile, OrgUnit, Resource, Staff

log = logging.getLogger(__name__)

_IN_CHUNK = 900  # values per IN (...) list (SQLite's historic limit is 999)
_SCORE_CHUNK = 5_000
EXAMPLE_PREFIX = "例"  # the template's example row (file number 例…) is never imported

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class ImportRefused(DomainError):
    """The whole file is refused (unreadable, too large, no roster header)."""


@dataclass
class ParsedRoster:
    sha256: str
    rows_read: int
    sheets: list[str]
    grouped: core.Grouped
    header_columns: dict[str, list[str]]  # sheet → column keys in its order
    skipped_examples: int = 0


@dataclass
class ImportReport:
    sha256: str
    rows_read: int
    households_in_file: int
    imported: int = 0
    imported_members: int = 0
    already: int = 0  # households imported before (skipped)
    refused_households: int = 0
    refusals: list[core.Refusal] = field(default_factory=list)
    refused_rows: list[core.SourceRow] = field(default_factory=list)
    written: bool = False  # whether anything was stored
    dry_run: bool = False
    scored: int = 0

    @property
    def all_valid(self) -> bool:
        return not self.refusals


def file_kind(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".xlsx", ".xlsm")):
        return "xlsx"
    raise ImportRefused(N_("Upload an XLSX or CSV file."))


def parse_roster(
    source: Path | bytes,
    kind: str,
    *,
    as_of: date,
    max_rows: int,
    progress: Progress | None = None,
) -> ParsedRoster:
    """Read and check a roster file (synchronous: run it in a thread)."""
    if progress:
        progress("reading", 0, 0)
    data = source.read_bytes() if isinstance(source, Path) else source
    sha = hashlib.sha256(data).hexdigest()
    rows: list[core.SourceRow] = []
    names: list[str] = []
    columns: dict[str, list[str]] = {}
    examples = 0
    total = 0
    try:
        for name, stream in iter_sheets(
            data,
            kind=kind,
            max_rows=max_rows,
            max_columns=core.MAX_COLUMNS,
            progress=(lambda n: progress("reading", n, 0)) if progress else None,
        ):
            top = list(itertools.islice(stream, core.HEADER_SCAN_ROWS))
            header = core.find_header(top)
            if header is None:
                for _ in stream:  # counted against the limit, not kept
                    pass
                continue
            names.append(name)
            columns[name] = list(header.columns)
            missing = header.missing()
            if missing:
                raise ImportRefused(
                    N_("Sheet {sheet} lacks the columns: {columns}."),
                    sheet=name,
                    columns="、".join(core.COLUMN_BY_KEY[k].header for k in missing),
                )
            number = header.row_index + 1
            in_example = False
            for raw in itertools.chain(top[header.row_index + 1 :], stream):
                number += 1
                cells = core.row_cells(header, raw)
                file_no = core.file_no_of(cells)
                if file_no:
                    in_example = file_no.startswith(EXAMPLE_PREFIX)
                if in_example:  # the template's example household, merged rows included
                    examples += 1
                    continue
                rows.append(core.SourceRow(name, number, cells))
            total += number
    except SpreadsheetRejected as exc:
        raise ImportRefused(exc.message, **exc.params) from None
    if not names:
        raise ImportRefused(N_("No sheet of the file has the roster's header row (户号, 姓名, 身份证号, …)."))
    if progress:
        progress("checking", 0, len(rows))
    grouped = core.group_households(rows, as_of)
    return ParsedRoster(sha, total, names, grouped, columns, examples)


# --- database checks ---------------------------------------------------------------


@dataclass(frozen=True)
class Community:
    id: int
    code: str
    name: str
    path: str
    area_type: str


@dataclass(frozen=True)
class Benefit:
    resource_id: int
    fund_id: int
    months: int  # the resource's period: how far ahead a new plan runs
    budget_total_fen: int | None


async def _communities(actor: Actor) -> tuple[dict[str, Community], dict[str, list[Community]]]:
    rows = await OrgUnit.select(
        OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.path, OrgUnit.area_type
    ).where(
        (OrgUnit.level == OrgLevel.COMMUNITY)
        & OrgUnit.path.like(f"{actor.org_path}%")
        & OrgUnit.active.eq(True)
    )
    by_code: dict[str, Community] = {}
    by_name: dict[str, list[Community]] = {}
    for r in rows:
        unit = Community(int(r["id"]), r["code"], r["name"], r["path"], r["area_type"])
        by_code[unit.code] = unit
        by_name.setdefault(core.cell_text(unit.name), []).append(unit)
    return by_code, by_name


async def _benefits() -> list[tuple[Benefit, tuple[str, ...], frozenset[str]]]:
    """Monthly cash resources with a fund, lowest priority first: each with the org paths
    it serves (its rule's areas, else its owner's) and the categories it pays (empty: all)."""
    rows = (
        await Resource.select()
        .where(
            Resource.active.eq(True)
            & (Resource.kind == "cash")
            & (Resource.periodicity == "monthly")
            & Resource.fund.is_not_null()
        )
        .order_by(Resource.priority)
        .order_by(Resource.id)
    )
    out = []
    for row in rows:
        rule = parse_rule(row["rule"])
        benefit = Benefit(int(row["id"]), int(row["fund"]), int(row["months"]), row["budget_total_fen"])
        out.append((benefit, tuple(rule.area_prefixes or (row["org_path"],)), frozenset(rule.categories)))
    return out


def _benefit_for(
    benefits: list[tuple[Benefit, tuple[str, ...], frozenset[str]]], category: str, path: str
) -> Benefit | None:
    for benefit, areas, categories in benefits:
        if (not categories or category in categories) and any(path.startswith(a) for a in areas):
            return benefit
    return None


async def _fetch(sql: str, values: Sequence[Any]) -> list[dict[str, Any]]:
    """``sql`` has one ``{}`` for an IN list; run it over chunks of ``values``."""
    out: list[dict[str, Any]] = []
    for start in range(0, len(values), _IN_CHUNK):
        chunk = list(values[start : start + _IN_CHUNK])
        marks = ", ".join("{}" for _ in chunk)
        out.extend(await Household.raw(sql.replace("{IN}", marks), *chunk))
    return out


@dataclass
class Checked:
    ready: list[tuple[core.RosterHousehold, Community, Benefit]]
    already: int
    refusals: list[core.Refusal]
    refused: list[core.RosterHousehold]


def _row_of(household: core.RosterHousehold, id_number: str) -> int:
    for member, row in zip(household.members, household.rows, strict=False):
        if member.id_number == id_number:
            return row
    return household.rows[0]


async def _check_against_database(actor: Actor, households: list[core.RosterHousehold]) -> Checked:
    by_code, by_name = await _communities(actor)
    benefits = await _benefits()
    # ID numbers are stored sealed: people are matched by their blind index.
    key_of = {
        m.id_number: identifiers.index_of(identifiers.ID_NUMBER, m.id_number)
        for h in households
        for m in h.members
    }
    number_of = {key: number for number, key in key_of.items()}
    open_people: dict[str, tuple[int, str]] = {}
    for r in await _fetch(
        "SELECT m.id_index, h.id AS household, h.file_no"
        " FROM member m JOIN household h ON h.id = m.household"
        " WHERE m.active = TRUE AND h.is_open = TRUE AND m.id_index IN ({IN})",
        list(key_of.values()),
    ):
        open_people[number_of[r["id_index"]]] = (int(r["household"]), r["file_no"])
    files: dict[str, int] = {
        r["file_no"]: int(r["id"])
        for r in await _fetch(
            "SELECT id, file_no FROM household WHERE file_no IN ({IN})", [h.file_no for h in households]
        )
    }
    people_of: dict[int, set[str]] = {}
    for r in await _fetch(
        "SELECT household, id_index FROM member WHERE active = TRUE AND household IN ({IN})",
        list(files.values()),
    ):
        people_of.setdefault(int(r["household"]), set()).add(r["id_index"])

    checked = Checked([], 0, [], [])
    for household in households:
        problems: list[core.Refusal] = []
        existing = files.get(household.file_no)
        people = {key_of[m.id_number] for m in household.members}
        if existing is not None:
            if people_of.get(existing, set()) == people:
                checked.already += 1
                continue
            problems.append(
                core.Refusal(
                    household.sheet,
                    household.rows[0],
                    "file_no",
                    N_("The household number {file_no} already belongs to another household."),
                    {"file_no": household.file_no},
                )
            )
        for member in household.members:
            found = open_people.get(member.id_number)
            if found is not None:
                problems.append(
                    core.Refusal(
                        household.sheet,
                        _row_of(household, member.id_number),
                        "id_number",
                        N_("This person already belongs to open household {file_no}."),
                        {"file_no": found[1]},
                    )
                )
        code = "".join(household.community.split())
        community = by_code.get(code)
        if community is None:
            named = by_name.get(core.cell_text(household.community), [])
            if len(named) == 1:
                community = named[0]
            elif len(named) > 1:
                problems.append(
                    core.Refusal(
                        household.sheet,
                        household.rows[0],
                        "community",
                        N_("More than one community is called {name}; enter its 12-digit code."),
                        {"name": household.community},
                    )
                )
            else:
                problems.append(
                    core.Refusal(
                        household.sheet,
                        household.rows[0],
                        "community",
                        N_("Unknown community {name} (not found in your jurisdiction)."),
                        {"name": household.community},
                    )
                )
        benefit = _benefit_for(benefits, household.category, community.path) if community else None
        if community is not None and benefit is None:
            problems.append(
                core.Refusal(
                    household.sheet,
                    household.rows[0],
                    "category",
                    N_(
                        "No active monthly cash resource pays this category; "
                        "create one on the resources page first."
                    ),
                )
            )
        if problems:
            checked.refusals.extend(problems)
            checked.refused.append(household)
            continue
        assert community is not None and benefit is not None
        checked.ready.append((household, community, benefit))
    return checked


# --- writing -----------------------------------------------------------------------------


class _Writer:
    """Bulk inserts on the transaction's connection, in the driver's own types."""

    def __init__(self) -> None:
        engine = Household._meta.db
        transaction = engine.current_transaction.get()
        if transaction is None:
            raise RuntimeError("caseload writes run inside a write transaction")
        self.connection = transaction.connection
        self.sqlite = is_sqlite(engine)

    def ts(self, value: datetime) -> Any:
        utc = value.astimezone(UTC)
        return str(utc) if self.sqlite else utc

    def day(self, value: date) -> Any:
        return value.isoformat() if self.sqlite else value

    def flag(self, value: bool) -> Any:
        return int(value) if self.sqlite else value

    async def new_ids(self, table: str, count: int) -> list[int]:
        if count == 0:
            return []
        if self.sqlite:
            cursor = await self.connection.execute(f"SELECT COALESCE(MAX(id), 0) AS top FROM {table}")
            row = await cursor.fetchone()
            await cursor.close()
            first = int(row["top"]) + 1
            return list(range(first, first + count))
        rows = await self.connection.fetch(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)", count
        )
        return [int(r[0]) for r in rows]

    async def insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.sqlite:
            await self.connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows
            )
            return
        await self.connection.copy_records_to_table(table, records=rows, columns=list(columns))


async def _reserve_counter(name: str, count: int) -> int:
    """Take ``count`` values of a named counter at once; returns the first."""
    rows = await Counter.raw(
        "INSERT INTO counter (name, value) VALUES ({}, {}) "
        "ON CONFLICT (name) DO UPDATE SET value = counter.value + {} RETURNING value",
        name,
        count,
        count,
    )
    return int(rows[0]["value"]) - count + 1


_REASON = json.dumps(
    {"code": "caseload_import", "message": N_("Brought in with the caseload import."), "params": {},
     "adjustments": []},
    ensure_ascii=False,
)  # fmt: skip


async def _write(
    actor: Actor, ready: list[tuple[core.RosterHousehold, Community, Benefit]], *, now: datetime
) -> tuple[int, int]:
    """Insert households, members, applications, plans and plan lines; reserve the funds."""
    w = _Writer()
    n = len(ready)
    household_ids = await w.new_ids("household", n)
    member_count = sum(len(h.members) for h, _, _ in ready)
    member_ids = iter(await w.new_ids("member", member_count))
    application_ids = await w.new_ids("application", n)
    plan_ids = await w.new_ids("plan", n)
    line_ids = await w.new_ids("plan_line", n)
    streets: dict[str, list[int]] = {}
    for position, (_, community, _) in enumerate(ready):
        streets.setdefault(community.path.split("/")[2], []).append(position)
    numbers: dict[int, str] = {}
    for street, positions in streets.items():
        first = await _reserve_counter(f"application:{street}:{now.year}", len(positions))
        for offset, position in enumerate(positions):
            numbers[position] = application_number(street, now.year, first + offset)

    stamp, staff = w.ts(now), actor.staff_id
    current = f"{now.year:04d}-{now.month:02d}"
    households, members, applications, plans, lines, periods = [], [], [], [], [], []
    reserve: dict[int, int] = {}
    for position, (h, community, benefit) in enumerate(ready):
        hid = household_ids[position]
        head = h.head
        path = community.path
        households.append((
            hid, h.file_no, community.id, path, h.address, community.area_type, h.housing, head.name,
            *identifiers.identifier_columns(
                head_id=head.id_number, phone=h.phone, account=h.onecard_account
            ).values(),
            h.bank, w.flag(True), 1, staff, stamp, stamp,
        ))  # fmt: skip
        for m in h.members:
            members.append((
                next(member_ids), hid, path, m.name, *identifiers.sealed(identifiers.ID_NUMBER, m.id_number),
                m.sex, w.day(m.birth_date), m.relation,
                m.disability_grade, m.illness, m.work_capacity, m.schooling, "", "", w.flag(True),
            ))  # fmt: skip
        started = date(int(h.start_month[:4]), int(h.start_month[5:7]), 1)
        applications.append((
            application_ids[position], numbers[position], hid, path, h.category, Channel.WINDOW,
            AppState.ACTIVE, "", "[]", w.day(started), stamp, w.day(started), "", staff, 1, stamp,
        ))  # fmt: skip
        # The imported recipient's entitlement period runs from the start month (docs/lifecycle.md).
        periods.append((application_ids[position], hid, path, h.category, h.start_month, w.day(started),
                        "import", "", "", "", "", stamp))  # fmt: skip
        plans.append((plan_ids[position], hid, application_ids[position], path, "approved", "", staff, stamp,
                      staff, stamp, 1))  # fmt: skip
        elapsed = max(0, core.month_count(h.start_month, current) - 1)
        months = elapsed + benefit.months
        lines.append((
            line_ids[position], plan_ids[position], hid, benefit.resource_id, path, h.monthly_fen, 0, months,
            h.start_month, _REASON, "approved",
        ))  # fmt: skip
        reserve[benefit.resource_id] = reserve.get(benefit.resource_id, 0) + h.monthly_fen * benefit.months

    await w.insert("household", (
        "id", "file_no", "org_unit", "org_path", "address", "area_type", "housing", "head_name",
        "head_id_sealed", "head_id_index", "phone_sealed", "phone_index", "account_sealed", "account_index",
        "onecard_bank", "is_open", "version", "created_by",
        "created_at", "updated_at"), households)  # fmt: skip
    await w.insert("member", (
        "id", "household", "org_path", "name", "id_sealed", "id_index", "sex", "birth_date", "relation",
        "disability_grade", "illness", "work_capacity", "schooling", "phone_sealed", "phone_index", "active"),
        members)  # fmt: skip
    await w.insert("application", (
        "id", "number", "household", "org_path", "category", "channel", "state", "description",
        "missing_materials", "received_on", "state_changed_at", "decided_on", "reason", "submitted_by",
        "version", "created_at"), applications)  # fmt: skip
    await w.insert("entitlement", (
        "application", "household", "org_path", "category", "from_month", "opened_on", "opened_by",
        "closed_by", "open_reason", "close_reason", "exit_reason", "created_at"), periods)  # fmt: skip
    await w.insert("plan", (
        "id", "household", "application", "org_path", "status", "note", "created_by", "created_at",
        "approved_by", "approved_at", "version"), plans)  # fmt: skip
    await w.insert("plan_line", (
        "id", "plan", "household", "resource", "org_path", "amount_fen", "quantity", "months",
        "start_month", "reason", "status"), lines)  # fmt: skip
    benefits = {b.resource_id: b for _, _, b in ready}
    for resource_id, total in sorted(reserve.items()):
        await _reserve(benefits[resource_id], total, actor, now)
    return (household_ids[0] if household_ids else 0), len(members)


async def _reserve(benefit: Benefit, total_fen: int, actor: Actor, now: datetime) -> None:
    """The months ahead of every imported line, from the resource's budget and its fund."""
    if total_fen <= 0:
        return
    if benefit.budget_total_fen is not None:
        updated = (
            await Resource.update({Resource.budget_reserved_fen: Resource.budget_reserved_fen + total_fen})
            .where(
                (Resource.id == benefit.resource_id)
                & WhereRaw("budget_total_fen - budget_reserved_fen >= {}", total_fen)
            )
            .returning(Resource.id)
        )
        if not updated:
            raise funds.Overspending(
                N_("The resource's budget is too small for the imported benefits ({needed} yuan needed)."),
                field="resource",
                needed=f"{total_fen / 100:,.2f}",
            )
    await funds.reserve(
        benefit.fund_id, total_fen, reference="caseload-import", staff_id=actor.staff_id, now=now
    )


# --- the use case ---------------------------------------------------------------------


async def import_caseload(
    actor: Actor,
    source: Path | bytes,
    *,
    filename: str,
    now: datetime,
    dry_run: bool = False,
    accept_valid: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Check a roster and, unless ``dry_run``, import it (all rows valid, or ``accept_valid``).

    Raises:
        ImportRefused: The file cannot be read as a roster at all.
        PermissionDenied: The actor is not city bureau staff.
    """
    require(actor, Capability.CASELOAD_IMPORT)
    settings = get_settings()
    kind = file_kind(filename)
    size = (await asyncio.to_thread(source.stat)).st_size if isinstance(source, Path) else len(source)
    if size > settings.import_max_bytes:
        raise ImportRefused(N_("The file is larger than {mb} MB."), mb=settings.import_max_bytes // 2**20)
    as_of = now.date()
    parsed = await asyncio.to_thread(
        parse_roster, source, kind, as_of=as_of, max_rows=settings.import_max_rows, progress=progress
    )
    grouped = parsed.grouped
    report = ImportReport(
        sha256=parsed.sha256,
        rows_read=parsed.rows_read,
        households_in_file=0,
        dry_run=dry_run,
    )
    refused_files = {core.file_no_of(r.cells) for r in grouped.refused_rows}
    report.households_in_file = len(grouped.households) + len(refused_files)
    if progress:
        progress("checking", len(grouped.households), len(grouped.households))

    async def check_and_write() -> None:
        checked = await _check_against_database(actor, grouped.households)
        refusals = grouped.refusals + checked.refusals
        report.refusals = sorted(refusals, key=lambda r: (r.sheet, r.row, r.column))
        report.refused_households = len(refused_files) + len(checked.refused)
        report.already = checked.already
        keys = [c.key for c in core.COLUMNS]
        extra_rows = [
            core.SourceRow(h.sheet, row, dict(zip(keys, values, strict=True)))
            for h in checked.refused
            for row, values in zip(h.rows, core.household_rows(h, head_first=False), strict=True)
        ]
        report.refused_rows = sorted(grouped.refused_rows + extra_rows, key=lambda r: (r.sheet, r.row))
        if dry_run or (refusals and not accept_valid) or not checked.ready:
            return
        if progress:
            progress("writing", 0, len(checked.ready))
        first_id, member_count = await _write(actor, checked.ready, now=now)
        report.imported, report.imported_members, report.written = len(checked.ready), member_count, True
        if progress:
            progress("scoring", 0, len(checked.ready))
        model = await get_active_model(now=now)
        last = first_id - 1
        while True:
            batch = await rescore_batch(
                model, now=now, trigger="caseload.import", after_id=last, limit=_SCORE_CHUNK
            )
            if batch.last_id == last:
                break
            report.scored += batch.count
            last = batch.last_id
            if progress:
                progress("scoring", report.scored, len(checked.ready))
        await rebuild_ranks()  # the imported households take their places in the ranking
        await record_event(
            actor,
            "caseload.import",
            "caseload_import",
            first_id,
            org_path=actor.org_path,
            now=now,
            after={
                "sha256": parsed.sha256,
                "rows": parsed.rows_read,
                "households_in_file": report.households_in_file,
                "imported_households": report.imported,
                "imported_members": report.imported_members,
                "already_imported": report.already,
                "refused_households": report.refused_households,
                "refused_rows": len(report.refused_rows),
                "accept_valid": accept_valid,
            },
        )

    if dry_run:
        await check_and_write()
    else:
        await get_active_model(now=now)  # stores the default model first, in its own transaction
        engine = Household._meta.db
        async with write_transaction(engine):
            await advisory_xact_lock(engine, "caseload-import")
            await check_and_write()
    log.info(
        "caseload import %s: %d imported, %d already, %d refused households (dry run: %s)",
        parsed.sha256[:12],
        report.imported,
        report.already,
        report.refused_households,
        dry_run,
    )
    return report


# --- files the import writes ---------------------------------------------------------------


def write_report(report: ImportReport, target: Path | IO[bytes], translate: Callable[..., str]) -> None:
    """The validation report: every refusal (sheet, row, column, reason), then the refused
    rows as a roster to fix and import again (the report itself can be re-imported)."""
    problems: list[list[core.Cell]] = [[
        translate(N_("Sheet")), translate(N_("Row")), translate(N_("Column")), translate(N_("Reason"))
    ]]  # fmt: skip
    for r in report.refusals:
        column = core.COLUMN_BY_KEY[r.column].header if r.column in core.COLUMN_BY_KEY else ""
        problems.append([r.sheet, r.row, column, translate(r.message, **r.params)])
    reasons: dict[tuple[str, int], str] = {}
    for r in report.refusals:
        reasons.setdefault((r.sheet, r.row), translate(r.message, **r.params))
    fix: list[list[core.Cell]] = [[*core.header_row(), translate(N_("Reason refused"))]]
    for row in report.refused_rows:
        fix.append([
            *[row.cells.get(c.key) for c in core.COLUMNS],
            reasons.get((row.sheet, row.row), translate(N_("Another row of this household was refused."))),
        ])  # fmt: skip
    write_xlsx(
        target,
        [
            SheetOut(translate(N_("Problems")), problems, {3: 80}),
            SheetOut(translate(N_("Rows to fix")), fix, {5: 22}),
        ],
    )


def write_template(target: Path | IO[bytes]) -> None:
    """The roster template: column notes above the header, one example row (never imported)."""
    example = core.RosterHousehold(
        file_no=EXAMPLE_PREFIX + "370102-0001",
        community="370102001001",
        address="历下区解放路1号3单元201室",
        phone="13905310000",
        category=Category.DIBAO,
        monthly_fen=92000,
        start_month="2023-05",
        onecard_account="6217000011112222333",
        bank="济南农商银行",
        housing=Housing.RENTED,
        members=(
            core.RosterMember(
                "张三", make_id_number("370102", date(1970, 5, 17), 17), Sex.MALE, date(1970, 5, 17),
                Relation.HEAD, None, Illness.CHRONIC, WorkCapacity.PARTIAL, Schooling.NOT_IN_SCHOOL,
            ),
            core.RosterMember(
                "张小明", make_id_number("370102", date(2010, 3, 15), 35), Sex.MALE, date(2010, 3, 15),
                Relation.CHILD, None, Illness.NONE, WorkCapacity.NONE, Schooling.JUNIOR,
            ),
        ),
        sheet="",
        rows=(),
    )  # fmt: skip
    notes: list[core.Cell] = [("必填：" if c.required else "选填：") + c.note for c in core.COLUMNS]
    rows: list[list[core.Cell]] = [notes, list(core.header_row()), *core.household_rows(example)]
    guide: list[list[core.Cell]] = [["列名", "是否必填", "说明"]]
    guide.extend([c.header, "必填" if c.required else "选填", c.note] for c in core.COLUMNS)
    guide.append(["", "", ""])
    guide.append(
        ["每位家庭成员一行；同一户的户号及户信息重复填写，或在成员行留空（合并单元格亦可）。", "", ""]
    )
    guide.append([f"户号以“{EXAMPLE_PREFIX}”开头的示例行不会导入，请删除后填写。", "", ""])
    write_xlsx(
        target,
        [
            SheetOut("救助对象花名册", rows, {i: 16 for i in range(len(core.COLUMNS))}),
            SheetOut("填写说明", guide, {0: 16, 1: 10, 2: 70}),
        ],
    )


# --- the roster export ---------------------------------------------------------------------


async def load_roster(actor: Actor) -> list[core.RosterHousehold]:
    """Current recipients in the actor's jurisdiction as roster households (for the export)."""
    require(actor, Capability.CASELOAD_IMPORT)
    like = f"{actor.org_path}%"
    households = await Household.raw(
        "SELECT h.id, h.file_no, o.code, h.address, h.phone_sealed, h.account_sealed, h.onecard_bank,"
        " h.housing,"
        " a.category, pl.amount_fen, pl.start_month"
        " FROM household h JOIN org_unit o ON o.id = h.org_unit"
        " JOIN application a ON a.household = h.id AND a.state = 'active'"
        " JOIN plan_line pl ON pl.household = h.id AND pl.status IN ('approved', 'implemented')"
        " JOIN resource r ON r.id = pl.resource AND r.kind = 'cash' AND r.periodicity = 'monthly'"
        " WHERE h.is_open = TRUE AND h.org_path LIKE {} ORDER BY h.id, pl.id",
        like,
    )
    people: dict[int, list[core.RosterMember]] = {}
    for m in await Household.raw(
        "SELECT household, name, id_sealed, sex, birth_date, relation, disability_grade, illness,"
        " work_capacity, schooling FROM member WHERE active = TRUE AND org_path LIKE {} ORDER BY id",
        like,
    ):
        birth = m["birth_date"]
        people.setdefault(int(m["household"]), []).append(
            core.RosterMember(
                m["name"], identifiers.opened(identifiers.ID_NUMBER, m["id_sealed"]), Sex(m["sex"]),
                birth if isinstance(birth, date) else date.fromisoformat(str(birth)),
                Relation(m["relation"]), m["disability_grade"], Illness(m["illness"]),
                WorkCapacity(m["work_capacity"]), Schooling(m["schooling"]),
            )
        )  # fmt: skip
    out: list[core.RosterHousehold] = []
    seen: set[int] = set()
    for h in households:
        hid = int(h["id"])
        if hid in seen:
            continue  # one benefit line per household in the roster
        seen.add(hid)
        out.append(
            core.RosterHousehold(
                file_no=h["file_no"], community=h["code"], address=h["address"],
                phone=identifiers.opened(identifiers.PHONE, h["phone_sealed"]),
                category=Category(h["category"]), monthly_fen=int(h["amount_fen"]),
                start_month=h["start_month"],
                onecard_account=identifiers.opened(identifiers.ACCOUNT, h["account_sealed"]),
                bank=h["onecard_bank"],
                housing=Housing(h["housing"]), members=tuple(people.get(hid, ())), sheet="", rows=(),
            )
        )  # fmt: skip
    return out


async def export_roster(actor: Actor, target: Path | IO[bytes], *, now: datetime) -> int:
    """Write the current recipients as a roster XLSX that ``import_caseload`` reads back.

    The roster carries full ID numbers and accounts: the export is a logged read."""
    households = await load_roster(actor)
    note_read(
        actor, "export", now=now, entity_type="export", detail=f"caseload roster · xlsx · {len(households)}"
    )

    def rows() -> Any:
        yield core.header_row()
        for household in households:
            yield from core.household_rows(household)

    await asyncio.to_thread(write_xlsx, target, [SheetOut("救助对象花名册", rows(), {5: 22, 16: 24})])
    return len(households)


async def actor_for_username(username: str) -> Actor:
    """The active staff account named on the command line (``--user``)."""
    row = await Staff.select(Staff.id).where((Staff.username == username) & Staff.active.eq(True)).first()
    actor = await load_actor(int(row["id"])) if row else None
    if actor is None:
        raise ImportRefused(N_("No active staff account {username}."), username=username)
    return actor


# --- the upload page's background import ------------------------------------------------------

IMPORT_JOB = "caseload_import"
SHOWN_REFUSALS = 200

_tasks: dict[int, asyncio.Task[None]] = {}
_progress: dict[int, tuple[str, int, int]] = {}  # job id → (stage, done, total), this process only


@dataclass(frozen=True)
class ImportJobView:
    id: int
    status: str  # queued | running | done | failed
    stage: str  # reading | checking | writing | scoring (while running)
    done: int
    total: int
    filename: str
    dry_run: bool
    accept_valid: bool
    result: dict[str, Any]
    refusals: list[core.Refusal]
    error: str
    created_at: datetime
    has_report: bool

    @property
    def running(self) -> bool:
        return self.status in {"queued", "running"}

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return min(99, 100 * self.done // self.total) if self.total else 0


def _reports_dir() -> Path:
    return get_settings().var_dir / "imports"


def report_path(job_id: int) -> Path:
    return _reports_dir() / f"caseload-import-{job_id}-report.xlsx"


#: A job still "running" after this long, and not running in this process, was cut off by a restart.
STALE_IMPORT = timedelta(hours=2)
MSG_UPLOADER_GONE = N_("The account that uploaded the file is no longer active; nothing was imported.")
MSG_INTERRUPTED = N_(
    "The import was interrupted (the server restarted); nothing of it was stored. Upload the file again."
)


def _job_view(row: dict[str, Any], now: datetime | None = None) -> ImportJobView:
    params = json.loads(row["params"] or "{}")
    if (
        row["status"] in {"queued", "running"}
        and int(row["id"]) not in _tasks
        and now is not None
        and now - row["created_at"] > STALE_IMPORT
    ):
        row = {**row, "status": "failed", "error": MSG_INTERRUPTED}
    stage, done, total = _progress.get(int(row["id"]), (params.get("stage", ""), row["progress_done"],
                                                        row["progress_total"]))  # fmt: skip
    refusals = [core.Refusal(r["sheet"], r["row"], r["column"], r["message"], r["params"])
                for r in params.get("refusals", [])]  # fmt: skip
    return ImportJobView(
        id=int(row["id"]), status=row["status"], stage=stage, done=done, total=total,
        filename=str(params.get("filename", "")), dry_run=bool(params.get("dry_run")),
        accept_valid=bool(params.get("accept_valid")), result=params.get("result", {}), refusals=refusals,
        error=row["error"], created_at=row["created_at"], has_report=bool(params.get("report")),
    )  # fmt: skip


def require_importer(actor: Actor) -> None:
    require(actor, Capability.CASELOAD_IMPORT)


def max_upload_mb() -> int:
    return get_settings().import_max_bytes // 2**20


async def read_report(actor: Actor, job_id: int) -> bytes:
    """The validation report of an import job (XLSX), when it has one."""
    job = await get_import_job(actor, job_id)
    path = report_path(job.id)
    if not job.has_report:
        raise NotFoundOrForbidden()
    if await asyncio.to_thread(path.is_file):
        return await asyncio.to_thread(path.read_bytes)
    # Written by a worker on another machine (PostgreSQL): the copy in the database.
    stored = await JobFile.select(JobFile.data).where(JobFile.job == job.id).first()
    if stored is None:
        raise NotFoundOrForbidden()
    return bytes(stored["data"])


def template_bytes() -> bytes:
    buffer = io.BytesIO()
    write_template(buffer)
    return buffer.getvalue()


async def get_import_job(actor: Actor, job_id: int, *, now: datetime | None = None) -> ImportJobView:
    require_importer(actor)
    row = await Job.select().where((Job.id == job_id) & (Job.kind == IMPORT_JOB)).first()
    if row is None:
        raise NotFoundOrForbidden()
    return _job_view(row, now)


async def list_import_jobs(
    actor: Actor, limit: int = 10, *, now: datetime | None = None
) -> list[ImportJobView]:
    require_importer(actor)
    rows = await Job.select().where(Job.kind == IMPORT_JOB).order_by(Job.id, ascending=False).limit(limit)
    return [_job_view(r, now) for r in rows]


async def do_start_import_job(
    actor: Actor,
    data: bytes,
    *,
    filename: str,
    dry_run: bool,
    accept_valid: bool,
    now: datetime,
    translate: Callable[..., str],
) -> int:
    """Queue an uploaded roster and import it in the background of this process."""
    require_importer(actor)
    file_kind(filename)
    if not data:
        raise ImportRefused(N_("Choose the roster file (XLSX or CSV)."))
    if len(data) > get_settings().import_max_bytes:
        raise ImportRefused(
            N_("The file is larger than {mb} MB."), mb=get_settings().import_max_bytes // 2**20
        )
    params = {
        "filename": filename[:120],
        "dry_run": dry_run,
        "accept_valid": accept_valid,
        "stage": "reading",
    }
    async with write_transaction(Job._meta.db):
        job = Job(kind=IMPORT_JOB, status="queued", params=json.dumps(params, ensure_ascii=False),
                  created_by=actor.staff_id, created_at=now)  # fmt: skip
        await job.save()
    job_id = int(job.id)
    from relief_pwa.i18n import current_language
    from relief_pwa.services import queue

    if queue.uses_queue():
        # PostgreSQL: a worker of any machine imports it; the file travels in the queued job.
        header = {"job": job_id, "staff": actor.staff_id, "language": current_language.get(),
                  "now": now.isoformat(), **params}  # fmt: skip
        await queue.enqueue(
            queue.CASELOAD_IMPORT, queue.pack_import(header, data), dedupe_key=f"import:{job_id}"
        )
        return job_id
    _progress[job_id] = ("reading", 0, 0)
    task = asyncio.get_running_loop().create_task(
        _run_import_job(job_id, actor, data, params, now=now, translate=translate)
    )
    _tasks[job_id] = task
    task.add_done_callback(lambda _t: _tasks.pop(job_id, None))
    return job_id


async def run_queued_import(job_id: int, header: dict[str, Any], data: bytes) -> None:
    """A worker's run of an import queued on the page (services/queue.py), as the uploader,
    in the uploader's language (the report's texts), dated when it was uploaded (as in-process)."""
    now = datetime.fromisoformat(header["now"])
    from relief_pwa.i18n import current_language, translate

    row = await Job.select(Job.status).where(Job.id == job_id).first()
    if row is None or row["status"] not in {"queued", "running"}:
        return  # finished already; one cut off mid-way wrote nothing (one transaction) and runs again
    token = current_language.set(str(header.get("language") or current_language.get()))
    try:
        actor = await load_actor(int(header["staff"])) if header.get("staff") else SYSTEM_ACTOR
        if actor is None:
            error = translate(MSG_UPLOADER_GONE)
            await Job.update({Job.status: "failed", Job.error: error, Job.finished_at: now}).where(
                Job.id == job_id
            )
            return
        params: dict[str, Any] = {
            k: header[k] for k in ("filename", "dry_run", "accept_valid", "stage") if k in header
        }
        _progress[job_id] = ("reading", 0, 0)
        await _run_import_job(job_id, actor, data, params, now=now, translate=translate)
    finally:
        current_language.reset(token)


async def save_progress(job_id: int) -> None:
    """Write an import's progress from this process's memory to its row (the queue's workers)."""
    progress = _progress.get(job_id)
    if progress is None:
        return
    stage, done, total = progress
    async with write_transaction(Job._meta.db):
        row = await Job.select(Job.params, Job.status).where(Job.id == job_id).first()
        if row is None or row["status"] != "running":
            return
        params = json.loads(row["params"] or "{}")
        params["stage"] = stage
        await Job.update(
            {Job.params: json.dumps(params, ensure_ascii=False, default=str), Job.progress_done: done,
             Job.progress_total: total}
        ).where((Job.id == job_id) & (Job.status == "running"))  # fmt: skip


async def wait_for_import(job_id: int) -> None:
    """Await an import started in this process, or on PostgreSQL run the queue here until
    it is empty (tests)."""
    from relief_pwa.services import queue

    if queue.uses_queue() and job_id not in _tasks:
        from relief_pwa.clock import SystemClock

        await queue.drain(SystemClock())
        return
    task = _tasks.get(job_id)
    if task is not None:
        await task


async def _run_import_job(
    job_id: int,
    actor: Actor,
    data: bytes,
    params: dict[str, Any],
    *,
    now: datetime,
    translate: Callable[..., str],
) -> None:
    def progress(stage: str, done: int, total: int) -> None:
        _progress[job_id] = (stage, done, total)

    await Job.update({Job.status: "running", Job.started_at: now}).where(Job.id == job_id)
    try:
        report = await import_caseload(
            actor, data, filename=params["filename"], now=now, dry_run=params["dry_run"],
            accept_valid=params["accept_valid"], progress=progress,
        )  # fmt: skip
        if report.refusals:
            path = report_path(job_id)
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(write_report, report, path, translate)
            params["report"] = path.name
            if not is_sqlite(Job._meta.db):  # several machines: every web process can serve it
                data = await asyncio.to_thread(path.read_bytes)
                async with write_transaction(Job._meta.db):
                    await JobFile.insert(JobFile(job=job_id, name=path.name, data=data))
        params["result"] = {
            "sha256": report.sha256, "rows": report.rows_read, "households": report.households_in_file,
            "imported": report.imported, "members": report.imported_members, "already": report.already,
            "refused": report.refused_households, "written": report.written, "dry_run": report.dry_run,
        }  # fmt: skip
        params["refusals"] = [
            {"sheet": r.sheet, "row": r.row, "column": r.column, "message": r.message, "params": r.params}
            for r in report.refusals[:SHOWN_REFUSALS]
        ]
        params["stage"] = "done"
        await Job.update(
            {Job.status: "done", Job.params: json.dumps(params, ensure_ascii=False, default=str),
             Job.progress_done: report.households_in_file, Job.progress_total: report.households_in_file,
             Job.finished_at: now}
        ).where(Job.id == job_id)  # fmt: skip
    except Exception as exc:  # the job must end visibly, never hang as "running"
        message = translate(exc.message, **exc.params) if isinstance(exc, DomainError) else str(exc)
        if not isinstance(exc, DomainError):
            log.exception("caseload import job %s failed", job_id)
        await Job.update({Job.status: "failed", Job.error: message[:2000], Job.finished_at: now}).where(
            Job.id == job_id
        )
    finally:
        _progress.pop(job_id, None)
