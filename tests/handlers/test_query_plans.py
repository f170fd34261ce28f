"""The main pages' queries use indexes: their plans show no full scan of a big table.

Every SELECT a page sends (through Piccolo or the raw bulk reader) is recorded
with its arguments and explained on the engine under test: SQLite's
``EXPLAIN QUERY PLAN`` must not ``SCAN`` a big table without an index, and
PostgreSQL's ``EXPLAIN`` (with ``enable_seqscan`` off, so the tiny test tables
do not make a sequential scan the cheaper plan) must show no ``Seq Scan`` on
one: a query the planner cannot answer by index shows one even then.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from relief_pwa.piccolo_conf import DB
from relief_pwa.services import analytics
from relief_pwa.services.scoring import RawSql
from relief_pwa.tables import Application, HouseholdRank
from tests.services.publicity_support import active_application, eligible_application

BIG_TABLES = {
    "household",
    "application",
    "member",
    "money_item",
    "index_record",
    "household_rank",
    "audit_event",
}
_recording: contextvars.ContextVar[list[tuple[str, tuple[Any, ...]]] | None] = contextvars.ContextVar(
    "plans", default=None
)


@pytest.fixture()
def selects(monkeypatch: pytest.MonkeyPatch) -> Any:
    engine_class = type(DB)
    original_run = engine_class.run_querystring
    original_fetch = RawSql.fetch

    async def run_querystring(self: Any, querystring: Any, *args: Any, **kwargs: Any) -> Any:
        log = _recording.get()
        if log is not None and self is DB:
            sql, values = querystring.compile_string(engine_type=self.engine_type)
            log.append((sql, tuple(values)))
        return await original_run(self, querystring, *args, **kwargs)

    async def fetch(self: RawSql, sql: str, *args: Any) -> Any:
        log = _recording.get()
        if log is not None:
            log.append((self.placeholders(sql), args))
        return await original_fetch(self, sql, *args)

    monkeypatch.setattr(engine_class, "run_querystring", run_querystring)
    monkeypatch.setattr(RawSql, "fetch", fetch)

    @contextmanager
    def record() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
        log: list[tuple[str, tuple[Any, ...]]] = []
        token = _recording.set(log)
        try:
            yield log
        finally:
            _recording.reset(token)

    return record


async def _explain(sql: str, args: tuple[Any, ...], *, sort: bool = True) -> list[str]:
    if DB.engine_type == "sqlite":
        connection = await DB.get_connection()  # type: ignore[attr-defined]  # SQLiteEngine
        try:
            cursor = await connection.execute(f"EXPLAIN QUERY PLAN {sql}", args)
            return [str(row["detail"]) for row in await cursor.fetchall()]
        finally:
            await connection.close()
    connection = await DB.get_new_connection()  # type: ignore[attr-defined]  # PostgresEngine
    try:
        await connection.execute("SET enable_seqscan = off")
        if not sort:  # what an index can give in order, whatever a handful of test rows would favour
            await connection.execute("SET enable_sort = off")
        return [str(row[0]) for row in await connection.fetch(f"EXPLAIN {sql}", *args)]
    finally:
        await connection.close()


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def _explain_generic(sql: str, args: tuple[Any, ...]) -> list[str]:
    """PostgreSQL's generic plan of the statement (the one the keyed pool may keep): planned
    without its values, as PREPARE and EXECUTE under force_generic_plan give it."""
    connection = await DB.get_new_connection()  # type: ignore[attr-defined]  # PostgresEngine
    try:
        for setting in ("enable_seqscan = off", "enable_sort = off", "plan_cache_mode = force_generic_plan"):
            await connection.execute(f"SET {setting}")
        await connection.execute(f"PREPARE generic_read AS {sql}")
        values = ", ".join(_literal(value) for value in args)
        return [str(row[0]) for row in await connection.fetch(f"EXPLAIN EXECUTE generic_read({values})")]
    finally:
        await connection.close()


def _full_scans(plan: list[str]) -> list[str]:
    found = []
    for line in plan:
        if DB.engine_type == "sqlite":
            match = re.search(r"\bSCAN (\w+)(?: AS \w+)?(.*)$", line)
            if match and match.group(1) in BIG_TABLES and "USING" not in match.group(2):
                found.append(line)
        else:
            match = re.search(r"Seq Scan on (\w+)", line)
            if match and match.group(1) in BIG_TABLES:
                found.append(line)
    return found


PAGES = (
    ("city", "/cases"),
    ("city", "/cases?page=2&after={cursor}"),
    ("city", "/cases?state=active&category=dibao"),
    ("station", "/cases"),
    ("liaison", "/cases"),
    ("station", "/households/{household}"),
    ("city", "/ranking"),
    ("station", "/ranking"),
    # Next / Previous walk the key index from a row's key (and count the rows before it there);
    # a page number skips pages of the same index; the area and category filters are partitions of it.
    ("city", "/ranking?after={rank_cursor}"),
    ("city", "/ranking?before={rank_cursor}"),
    ("city", "/ranking?page=2"),
    ("city", "/ranking?org=370102001&category=dibao"),
    ("station", "/ranking?category=dibao&after={rank_cursor}"),
    ("city", "/analytics"),
)


async def test_main_page_queries_use_indexes(world: Any, make_client: Any, selects: Any) -> None:
    first = await active_application(world)
    await eligible_application(world)
    await active_application(world, community="370102001002")
    newest = await Application.select(Application.id, Application.received_on).first()
    assert newest is not None
    cursor = f"{newest['received_on']}.{newest['id']}"
    top = (
        await HouseholdRank.select()
        .where(HouseholdRank.category == "")
        .order_by(HouseholdRank.neg_centi)
        .first()
    )
    # These households are unscored (no standard): a made-up key exercises the same statements.
    rank_cursor = (
        f"{top['neg_centi']}.{top['first_applied']}.{top['household']}.{top['file_no']}"
        if top
        else "-5000.2026-01-01.1.X"
    )
    scans: dict[str, list[tuple[str, list[str]]]] = {}
    for username, template in PAGES:
        url = template.format(household=first.household_id, cursor=cursor, rank_cursor=rank_cursor)
        client = make_client()
        await client.login(username)
        await client.get(url)  # warm the per-process caches
        analytics.clear_cache()  # the dashboard's figures: measure a build, not a cache hit
        with selects() as log:
            response = await client.get(url)
        assert response.status_code == 200, url
        for sql, args in log:
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            if bad := _full_scans(await _explain(sql, args)):
                scans.setdefault(f"{username} {template}", []).append((sql[:300], bad))
    assert scans == {}, scans


def test_the_plan_reader_sees_a_full_scan() -> None:
    if DB.engine_type == "sqlite":
        assert _full_scans(["SCAN household"]) == ["SCAN household"]
        assert _full_scans(["SCAN h USING INDEX household_org_path"]) == []
        assert _full_scans(["SEARCH application USING INDEX x (org_path>? AND org_path<?)"]) == []
    else:
        assert _full_scans(["Seq Scan on household  (cost=0.00..1.00 rows=1 width=4)"]) != []


async def test_the_case_list_seeks_its_scope_and_filters(world: Any, make_client: Any, selects: Any) -> None:
    """A station's count and page search the street's range of the scope index (SQLite's LIKE
    alone would walk the whole city's index), or on PostgreSQL the page its street's own
    index; a state-and-category filter walks its own index."""
    await active_application(world)
    await active_application(world, community="370102001002")
    if DB.engine_type == "postgres":
        # What autovacuum keeps true in service: statistics of these rows, and their pages
        # marked all-visible (without that an index-only scan costs as much as reading rows,
        # and the plan depends on what earlier tests left in the table's statistics).
        await DB.run_ddl("VACUUM (ANALYZE) application")
    seen: dict[str, list[str]] = {}
    counts: list[list[str]] = []
    in_order: list[str] = []  # the station's page, planned as if sorting were out of the question
    generic: list[str] = []  # the station's count and page, planned once for every street
    for username, url in (("station", "/cases"), ("city", "/cases?state=active&category=dibao")):
        client = make_client()
        await client.login(username)
        await client.get(url)
        with selects() as log:
            assert (await client.get(url)).status_code == 200
        seen[username] = []
        for sql, args in log:
            if 'FROM "application"' in sql or "FROM application" in sql:
                plan = await _explain(sql, args)
                seen[username] += plan
                # On PostgreSQL the count and the page go as one statement: its plan holds both.
                if username == "station" and "COUNT(" in sql:
                    counts.append(plan)
                if username == "station" and DB.engine_type == "postgres" and "ORDER BY" in sql:
                    in_order += await _explain(sql, args, sort=False)
                    generic += await _explain_generic(sql, args)
    if DB.engine_type == "sqlite":
        assert not any(line.startswith("SCAN application") for line in seen["station"]), seen["station"]
        assert any("application_scope_newest (org_path>? AND org_path<?)" in line for line in seen["station"])
        assert any("application_state_category_newest" in line for line in seen["city"]), seen["city"]
    else:
        assert not any("Seq Scan on application" in line for lines in seen.values() for line in lines)
        # The station's page can walk its street's own index newest first and stop after a page
        # (the scope's prefix range would read the whole street to sort it). With two rows the
        # planner rightly sorts them; at a city's scale it walks the index (docs/scale.md).
        assert any("Index Scan Backward using application_street_newest" in line for line in in_order), (
            in_order
        )
        # The station's exact count is answered from the scope index alone: COUNT(*) needs no
        # column of the row (COUNT(id) would read every matching row from the table).
        assert len(counts) == 1 and any("Index Only Scan" in line for line in counts[0]), counts
        # Planned without its values (the keyed pool keeps such a plan): the count still ranges
        # over the pattern index and the page still walks the street's index.
        assert any("Index Only Scan using application_org_path_prefix" in line for line in generic), generic
        assert any("Index Cond: ((org_path ~>=~ $2) AND (org_path ~<~ $3))" in line for line in generic), (
            generic
        )
        assert any("Index Scan Backward using application_street_newest" in line for line in generic), generic
        assert _full_scans(generic) == [], generic


async def test_only_an_unfiltered_street_list_is_planned_once(
    world: Any, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keyed pool (plans kept) serves a street's unfiltered list, whose generic plan the test
    above checks; a filtered one, and the city's, keep planning for their values."""
    from relief_pwa.db import one_connection
    from relief_pwa.services import households

    await active_application(world)
    keyed: list[bool] = []

    def spy(engine: Any, **kwargs: Any) -> Any:
        keyed.append(bool(kwargs.get("keyed")))
        return one_connection(engine, **kwargs)

    monkeypatch.setattr(households, "one_connection", spy)
    seen: dict[str, bool] = {}
    for username, url in (("station", "/cases"), ("station", "/cases?state=active"), ("city", "/cases")):
        client = make_client()
        await client.login(username)
        keyed.clear()
        assert (await client.get(url)).status_code == 200
        seen[f"{username} {url}"] = any(keyed)
    planned_once = DB.engine_type == "postgres"  # SQLite plans each statement as it is prepared
    assert seen == {
        "station /cases": planned_once,
        "station /cases?state=active": False,
        "city /cases": False,
    }


async def test_the_stored_ranks_of_a_few_households_seek_them(world: Any, selects: Any) -> None:
    """Bringing a few households' stored ranks up to date (after each span of a re-score)
    reads their applications by household: SQLite preferred the state index, which holds
    most of the city's applications (75 ms a call on the benchmark city)."""
    from relief_pwa.db import write_transaction
    from relief_pwa.services import rank_store

    first = await active_application(world)
    # A span's worth of households, as a re-score passes (SQLite plans a one-value list as
    # an equality, whatever the other conditions); the others have no rows here.
    span = [first.household_id, *range(10**6, 10**6 + 99)]
    with selects() as log:
        async with write_transaction(DB):
            await rank_store.sync_households(span)
    plans = [
        await _explain(sql, args)
        for sql, args in log
        if sql.lstrip().upper().startswith("SELECT") and "FROM application" in sql
    ]
    assert plans
    for plan in plans:
        assert _full_scans(plan) == [], plan
        if DB.engine_type == "sqlite":
            assert any("ix_application_household" in line for line in plan), plan
