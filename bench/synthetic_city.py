"""A synthetic Jinan for benchmarks: tens of thousands of households, inserted in bulk.

Real districts and streets (relief_pwa/data/jinan.py) with generated
communities; households with members, declared (and partly verified)
incomes, assets and rigid expenses; applications in realistic states received
over the last year; monthly aid for active recipients, outside aid and
shocks. Rows go in with raw executemany (SQLite) or COPY (PostgreSQL) in big
batches, so 60,000 households load in seconds. The database is the one named
by RELIEF_DATABASE_URL (set it before importing this module).

Reused by the analytics benchmark:

    from bench.synthetic_city import build_city
    info = await build_city(households=60_000, now=now)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import bench._env  # noqa: F401  (first: selects the database)
from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.enums import (
    AppState,
    AreaType,
    AssetKind,
    Category,
    Channel,
    ExpenseKind,
    Housing,
    Illness,
    IncomeKind,
    OrgLevel,
    Relation,
    Role,
    Schooling,
    Sex,
    ShockKind,
    WorkCapacity,
)
from relief_pwa.core.idnumber import make_id_number
from relief_pwa.data.jinan import CITY_CODE, CITY_NAME, DISTRICTS, communities_for
from relief_pwa.db import is_sqlite, write_transaction
from relief_pwa.services import identifiers
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.auth import hash_password
from relief_pwa.services.org_admin import NewOrgUnit, do_create_org_units
from relief_pwa.services.scoring import get_active_model
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.tables import Household, OrgUnit, Staff

BENCH_NOW = datetime(2026, 11, 16, 10, 0, tzinfo=CHINA_TZ)
BENCH_PASSWORD = "bench-sunshine"
COMMUNITIES_PER_STREET = 4
BATCH = 10_000

_SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
)
_GIVEN = "秀英桂兰玉梅凤华建国志强永军海燕丽娟明辉文静红霞淑珍春生德胜金凤家乐子涵浩然欣怡雨轩"

# How far a household's application got, with weights (roughly the demo's mix).
_STATES: tuple[tuple[AppState, int], ...] = (
    (AppState.RECEIVED, 8),
    (AppState.INVESTIGATING, 12),
    (AppState.VERIFIED_ELIGIBLE, 6),
    (AppState.VERIFIED_INELIGIBLE, 5),
    (AppState.PUBLICIZED, 4),
    (AppState.READY_FOR_APPROVAL, 3),
    (AppState.APPROVED, 5),
    (AppState.ACTIVE, 45),
    (AppState.UNDER_REVIEW, 4),
    (AppState.REJECTED, 3),
    (AppState.EXITED, 3),
    (AppState.WITHDRAWN, 2),
)
_CLOSED = {AppState.VERIFIED_INELIGIBLE, AppState.REJECTED, AppState.EXITED, AppState.WITHDRAWN}
_CATEGORIES = (
    [
        Category.DIBAO,
        Category.TEKUN,
        Category.MEDICAL,
        Category.TEMPORARY,
        Category.EDUCATION,
        Category.DIBAO_EDGE,
        Category.RIGID_EXPENSE,
        Category.HOUSING,
        Category.DISASTER,
        Category.EMPLOYMENT,
    ],
    [45, 6, 10, 10, 5, 10, 6, 3, 2, 3],
)


@dataclass
class CityInfo:
    households: int = 0
    members: int = 0
    items: int = 0
    applications: int = 0
    aid: int = 0
    shocks: int = 0
    seconds: float = 0.0
    city_username: str = "bench_city"
    station_username: str = "bench_station"
    street_code: str = ""
    household_ids: list[int] = field(default_factory=list)


def org_units() -> list[NewOrgUnit]:
    units = [NewOrgUnit(CITY_CODE, CITY_NAME, OrgLevel.CITY, None, AreaType.URBAN)]
    for district in DISTRICTS:
        units.append(
            NewOrgUnit(district.code, district.name, OrgLevel.DISTRICT, CITY_CODE, district.area_type_default)
        )
        for street in district.streets:
            area = AreaType.RURAL if street.kind == "town" else district.area_type_default
            units.append(NewOrgUnit(street.code, street.name, OrgLevel.STREET, district.code, area))
            for community in communities_for(street, COMMUNITIES_PER_STREET):
                units.append(
                    NewOrgUnit(
                        community.code, community.name, OrgLevel.COMMUNITY, street.code, community.area_type
                    )
                )
    return units


async def _max_id(table: str) -> int:
    rows = await Household._meta.db.run_querystring(_qs(f"SELECT MAX(id) AS m FROM {table}"))
    value = rows[0]["m"] if rows else None
    return int(value or 0)


def _qs(sql: str) -> Any:
    from piccolo.querystring import QueryString

    return QueryString(sql)


async def bulk_insert(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Insert rows in big batches inside one transaction (executemany / COPY)."""
    engine = Household._meta.db
    async with write_transaction(engine):
        connection = engine.current_transaction.get().connection  # type: ignore[union-attr]
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            if is_sqlite(engine):
                marks = ", ".join("?" * len(columns))
                await connection.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", chunk
                )
            else:
                await connection.copy_records_to_table(table, records=chunk, columns=columns)
        if not is_sqlite(engine) and "id" in columns:
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            )


async def bulk_update(table: str, column: str, rows: list[tuple[Any, int]]) -> None:
    """Set one column of many rows, given (value, id) pairs, inside one transaction."""
    engine = Household._meta.db
    async with write_transaction(engine):
        connection = engine.current_transaction.get().connection  # type: ignore[union-attr]
        sql = f"UPDATE {table} SET {column} = ? WHERE id = ?"
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            if is_sqlite(engine):
                await connection.executemany(sql, chunk)
            else:
                await connection.executemany(sql.replace("?", "$1", 1).replace("?", "$2", 1), chunk)


async def build_city(
    households: int = 60_000, *, now: datetime = BENCH_NOW, seed: int = 2011, accounts: bool = False
) -> CityInfo:
    """Create the org network, two staff accounts, standards, v1, and ``households`` households.

    With ``accounts`` every household gets a (sealed) one-card account, as a
    payment batch needs; without, none has one (what the existing benches use)."""
    started = time.perf_counter()
    rng = random.Random(seed)
    info = CityInfo()
    today = now.date()
    if not await OrgUnit.exists().where(OrgUnit.code == CITY_CODE):
        await do_create_org_units(SYSTEM_ACTOR, org_units(), now=now - timedelta(days=400))
    await do_seed_standards(SYSTEM_ACTOR, now=now - timedelta(days=400))
    await get_active_model(now=now - timedelta(days=400))
    communities = (
        await OrgUnit.select(OrgUnit.id, OrgUnit.code, OrgUnit.path, OrgUnit.area_type)
        .where(OrgUnit.level == OrgLevel.COMMUNITY)
        .order_by(OrgUnit.code)
    )
    street = DISTRICTS[0].streets[0]
    info.street_code = street.code
    await _ensure_staff(info, street.code, now)

    next_household = await _max_id("household") + 1
    next_member = await _max_id("member") + 1
    next_application = await _max_id("application") + 1
    h_rows: list[tuple[Any, ...]] = []
    m_rows: list[tuple[Any, ...]] = []
    i_rows: list[tuple[Any, ...]] = []
    a_rows: list[tuple[Any, ...]] = []
    aid_rows: list[tuple[Any, ...]] = []
    shock_rows: list[tuple[Any, ...]] = []
    states = [s for s, _ in _STATES]
    weights = [w for _, w in _STATES]
    for number in range(households):
        hid = next_household + number
        community = communities[rng.randrange(len(communities))]
        path = community["path"]
        district = community["code"][:6]
        street_code = community["code"][:9]
        received = today - timedelta(days=rng.randint(3, 365))
        created = datetime.combine(received, datetime.min.time(), tzinfo=CHINA_TZ) + timedelta(hours=9)
        size = rng.choices([1, 2, 3, 4, 5], weights=[52, 25, 13, 7, 3])[0]  # ~1.7 people per household
        surname = rng.choice(_SURNAMES)
        head_age = rng.randint(25, 88)
        members: list[tuple[Any, ...]] = []
        for position in range(size):
            if position == 0:
                age, relation = head_age, Relation.HEAD
            elif position == 1:
                age, relation = max(20, head_age + rng.randint(-5, 5)), Relation.SPOUSE
            else:
                age, relation = max(1, head_age - rng.randint(22, 34)), Relation.CHILD
            sex = rng.choice([Sex.MALE, Sex.FEMALE])
            born = today - timedelta(days=age * 365 + rng.randint(0, 360))
            id_number = make_id_number(district, born, (number * 7 + position) % 500 * 2 + (sex == Sex.MALE))
            if position == 0:
                head_id_number = id_number
            grade = rng.choices([None, 1, 2, 3, 4], weights=[82, 3, 5, 5, 5])[0]
            illness = rng.choices([Illness.NONE, Illness.CHRONIC, Illness.SERIOUS], weights=[65, 25, 10])[0]
            if age >= 60 or age < 16 or (grade is not None and grade <= 2):
                work = WorkCapacity.NONE
            else:
                work = rng.choices(list(WorkCapacity), weights=[55, 30, 15])[0]
            schooling = (
                Schooling.PRIMARY
                if age < 12
                else Schooling.JUNIOR
                if age < 15
                else Schooling.SENIOR
                if age < 18
                else Schooling.NOT_IN_SCHOOL
            )
            name = surname + "".join(rng.sample(_GIVEN, rng.choice([1, 2])))
            member_id = next_member
            next_member += 1
            members.append(
                (
                    member_id,
                    hid,
                    path,
                    name,
                    *identifiers.sealed(identifiers.ID_NUMBER, id_number),
                    sex.value,
                    born,
                    relation.value,
                    grade,
                    illness.value,
                    work.value,
                    schooling.value,
                    "",
                    "",
                    True,
                )
            )
            if work != WorkCapacity.NONE and rng.random() < 0.7:
                declared = rng.randint(3, 22) * 10_000
                verified = declared + rng.randint(-2, 4) * 5_000 if rng.random() < 0.5 else None
                i_rows.append(
                    _item(hid, path, "income", IncomeKind.WAGES.value, member_id, declared, verified, now)
                )
            elif age >= 60 and rng.random() < 0.5:
                i_rows.append(
                    _item(
                        hid,
                        path,
                        "income",
                        IncomeKind.PENSION.value,
                        member_id,
                        rng.randint(2, 15) * 10_000,
                        None,
                        now,
                    )
                )
        m_rows.extend(members)
        if not any(r[0] == hid and r[2] == "income" for r in i_rows[-size:]):
            i_rows.append(
                _item(
                    hid,
                    path,
                    "income",
                    IncomeKind.TRANSFER.value,
                    None,
                    rng.randint(0, 3) * 10_000,
                    None,
                    now,
                )
            )
        if rng.random() < 0.6:
            i_rows.append(
                _item(
                    hid, path, "asset", AssetKind.DEPOSITS.value, None, rng.randint(0, 40) * 50_000, None, now
                )
            )
        if rng.random() < 0.35:
            i_rows.append(
                _item(
                    hid,
                    path,
                    "expense",
                    ExpenseKind.MEDICAL.value,
                    None,
                    rng.randint(5, 80) * 50_000,
                    None,
                    now,
                )
            )
        state = rng.choices(states, weights=weights)[0]
        category = rng.choices(*_CATEGORIES)[0]
        state_changed = created + timedelta(days=rng.randint(0, max(0, (today - received).days)))
        a_rows.append(
            (
                next_application,
                f"SQ{street_code}{received.year}{next_application:07d}",
                hid,
                path,
                category.value,
                rng.choice([Channel.WINDOW, Channel.LIAISON]).value,
                state.value,
                "",
                "[]",
                received,
                state_changed,
                received + timedelta(days=20)
                if state in {AppState.APPROVED, AppState.ACTIVE, AppState.REJECTED}
                else None,
                "",
                None,
                1,
                created,
            )
        )
        next_application += 1
        if state in {AppState.ACTIVE, AppState.UNDER_REVIEW}:
            # Monthly dibao payments since approval: the aid term of the index sees them.
            monthly = rng.randint(3, 9) * 10_000 * size
            first_month = received + timedelta(days=30)
            month = first_month
            while month <= today:
                aid_rows.append((hid, path, monthly, month, "payment", None, "", now))
                month += timedelta(days=30)
        if rng.random() < 0.05:
            aid_rows.append(
                (
                    hid,
                    path,
                    rng.randint(2, 20) * 10_000,
                    today - timedelta(days=rng.randint(1, 300)),
                    "external",
                    None,
                    "慈善慰问",
                    now,
                )
            )
        if rng.random() < 0.03:
            kind = rng.choice([ShockKind.DISASTER, ShockKind.ACCIDENT, ShockKind.SUDDEN_ILLNESS])
            shock_rows.append(
                (hid, path, kind.value, today - timedelta(days=rng.randint(1, 240)), "", None, now)
            )
        h_rows.append(
            (
                hid,
                f"{district}-H{hid:07d}",
                community["id"],
                path,
                f"{rng.randint(1, 200)}号{rng.randint(101, 1802)}室",
                community["area_type"],
                rng.choices(list(Housing), weights=[55, 15, 15, 10, 5])[0].value,
                members[0][3],
                *identifiers.identifier_columns(
                    head_id=head_id_number,
                    phone=f"1{rng.choice('3578')}{rng.randint(100000000, 999999999)}",
                    account=f"6217{1000000000000000 + hid}" if accounts else "",
                ).values(),
                state not in _CLOSED,
                None,
                False,
                None,
                1,
                None,
                created,
                created,
            )
        )
        info.household_ids.append(hid)

    await bulk_insert(
        "household",
        (
            "id",
            "file_no",
            "org_unit",
            "org_path",
            "address",
            "area_type",
            "housing",
            "head_name",
            "head_id_sealed",
            "head_id_index",
            "phone_sealed",
            "phone_index",
            "account_sealed",
            "account_index",
            "is_open",
            "current_index",
            "index_provisional",
            "index_computed_at",
            "version",
            "created_by",
            "created_at",
            "updated_at",
        ),
        h_rows,
    )
    await bulk_insert(
        "member",
        (
            "id",
            "household",
            "org_path",
            "name",
            "id_sealed",
            "id_index",
            "sex",
            "birth_date",
            "relation",
            "disability_grade",
            "illness",
            "work_capacity",
            "schooling",
            "phone_sealed",
            "phone_index",
            "active",
        ),
        m_rows,
    )
    await bulk_insert(
        "money_item",
        (
            "household",
            "org_path",
            "section",
            "kind",
            "member",
            "description",
            "declared_fen",
            "verified_fen",
            "verified_source",
            "verified_note",
            "verified_at",
            "active",
        ),
        i_rows,
    )
    await bulk_insert(
        "application",
        (
            "id",
            "number",
            "household",
            "org_path",
            "category",
            "channel",
            "state",
            "description",
            "missing_materials",
            "received_on",
            "state_changed_at",
            "decided_on",
            "reason",
            "submitted_by",
            "version",
            "created_at",
        ),
        a_rows,
    )
    await bulk_insert(
        "aid_record",
        (
            "household",
            "org_path",
            "value_fen",
            "received_on",
            "source",
            "reference",
            "note",
            "recorded_at",
        ),
        aid_rows,
    )
    await bulk_insert(
        "shock",
        (
            "household",
            "org_path",
            "kind",
            "occurred_on",
            "note",
            "recorded_by",
            "recorded_at",
        ),
        shock_rows,
    )
    info.households, info.members, info.items = len(h_rows), len(m_rows), len(i_rows)
    info.applications, info.aid, info.shocks = len(a_rows), len(aid_rows), len(shock_rows)
    info.seconds = time.perf_counter() - started
    return info


async def build_city_in_chunks(
    households: int,
    *,
    now: datetime = BENCH_NOW,
    seed: int = 2011,
    chunk: int = 50_000,
    accounts: bool = False,
) -> CityInfo:
    """``households`` more households, generated and COPYed ``chunk`` at a time.

    ``build_city`` holds every generated row in memory until its COPY, about
    4 GB for a million households; this bulk path keeps one chunk's rows at a
    time, so a province-sized city loads in bounded memory. Each call adds to
    what is there (ids continue from the largest), with a seed per chunk."""
    started = time.perf_counter()
    total = CityInfo()
    done = 0
    while done < households:
        size = min(chunk, households - done)
        part = await build_city(size, now=now, seed=seed + done, accounts=accounts)
        total.households += part.households
        total.members += part.members
        total.items += part.items
        total.applications += part.applications
        total.aid += part.aid
        total.shocks += part.shocks
        total.street_code = part.street_code
        total.household_ids.extend(part.household_ids)
        done += size
    total.seconds = time.perf_counter() - started
    return total


def _item(
    household: int,
    path: str,
    section: str,
    kind: str,
    member: int | None,
    declared: int,
    verified: int | None,
    now: datetime,
) -> tuple[Any, ...]:
    return (
        household,
        path,
        section,
        kind,
        member,
        "",
        declared,
        verified,
        "home_visit" if verified is not None else "",
        "",
        now if verified is not None else None,
        True,
    )


async def _ensure_staff(info: CityInfo, street_code: str, now: datetime) -> None:
    units = {r["code"]: r for r in await OrgUnit.select(OrgUnit.id, OrgUnit.code, OrgUnit.path)}
    password = hash_password(BENCH_PASSWORD)
    for username, role, code in (
        (info.city_username, Role.CITY, CITY_CODE),
        (info.station_username, Role.STATION, street_code),
    ):
        if await Staff.exists().where(Staff.username == username):
            continue
        await Staff.insert(
            Staff(
                username=username,
                display_name=username,
                password_hash=password,
                role=role,
                org_unit=units[code]["id"],
                org_path=units[code]["path"],
                created_at=now,
            )
        )


async def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=60_000)
    args = parser.parse_args()
    from bench.bench_index import prepare_database

    await prepare_database(reset=True)
    info = await build_city(args.households)
    print(
        f"{info.households} households, {info.members} people, {info.items} money items, "
        f"{info.applications} applications, {info.aid} aid records, {info.shocks} shocks "
        f"in {info.seconds:.1f} s"
    )
    from relief_pwa.db import close_engine
    from relief_pwa.piccolo_conf import DB

    await close_engine(DB)


if __name__ == "__main__":
    asyncio.run(_main())


__all__ = [
    "BENCH_NOW",
    "BENCH_PASSWORD",
    "CityInfo",
    "build_city",
    "build_city_in_chunks",
    "bulk_insert",
    "date",
]
