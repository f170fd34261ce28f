"""Stored ranks: each household's place in the ranking order of every scope it belongs to.

The ranking page used to rank every household in the actor's scope on each
request. Instead ``household_rank`` holds one row per (scope, category) a
household ranks in — every org path from the city down to its community, with
category "" (all) and each category it holds a ranked application in — with
its key in the order of core.ranking (−index, first application, file number,
id). The page walks the key index 25 rows at a time; a row's rank is the count
of rows before it plus one, taken in the same statement, and each partition's
size is kept in ``household_rank_tally`` (docs/scale.md, "Stored ranks").

The key is stored, not the rank number: a household whose index moves then
rewrites only its own rows. A stored rank number had to change for every
household between the old and the new place, and a new day's re-score (about
1,200 households moving a little) renumbered all 418,000 rows of the benchmark
city: 2.1 s of a 4.1 s run.

Who maintains it:
- ``sync_households``: after a single recompute, a recompute of several
  households, ``rescore_all`` (the households whose index moved) and the
  scheduler's time-driven re-score (those it re-scored): their rows replaced,
  the tallies adjusted; beyond ``SYNC_LIMIT`` households ``rebuild_all``;
- ``rebuild_all``: after the model-activation re-scoring job (the city in one
  pass) and the caseload import, which also repairs anything a change outside
  the recompute (none is known) left behind.
Both run inside the caller's write transaction; on PostgreSQL an advisory
lock serialises them (SQLite's writer lock already does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from relief_pwa.db import advisory_xact_lock
from relief_pwa.services.bulk_scoring import RANKED_STATES
from relief_pwa.services.scoring import RawSql
from relief_pwa.tables import Household

# A household's place: (−index in hundredths, first application ISO date, file number, id).
Key = tuple[int, str, str, int]
Partition = tuple[str, str]  # (scope, category)
_COLUMNS = ("scope", "category", "household", "neg_centi", "first_applied", "file_no")
_INSERT_ROWS_SQLITE = (
    f"INSERT INTO household_rank ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608
)
# Beyond this many households writing the whole table afresh is cheaper than replacing each
# one's rows (about 8 a household). On the benchmark city (PostgreSQL) replacing 1,240
# households' rows took 0.12–0.14 s and writing all 418,000 afresh 2.1 s: they cross near
# 20,000; a quarter of that leaves room for households in many categories.
SYNC_LIMIT = 5_000
# Households per statement when replacing rows (well under both engines' parameter limits).
_CHUNK = 1_000
_RANKED_STATE_LIST = sorted(RANKED_STATES)


def scopes_of(org_path: str) -> list[str]:
    """Every org path from the city down to ``org_path`` itself (``a/b/c/`` → a/, a/b/, a/b/c/)."""
    parts = [p for p in org_path.split("/") if p]
    return ["/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def _iso(value: Any) -> str:
    return value[:10] if isinstance(value, str) else value.isoformat()


def _marks(count: int) -> str:
    return ", ".join("{}" for _ in range(count))


async def _lock(q: RawSql) -> None:
    if Household._meta.db.current_transaction.get() is None:
        raise RuntimeError("rank maintenance runs inside the caller's write transaction")
    await advisory_xact_lock(Household._meta.db, "household_rank")


async def _wanted(q: RawSql, household_ids: Sequence[int] | None) -> dict[Partition, list[Key]]:
    """The partitions (scope, category) each ranked household belongs to, with its key."""
    where_ids = ""
    args: list[Any] = [True]
    if household_ids is not None:
        where_ids = f" AND h.id IN ({_marks(len(household_ids))})"
        args += list(household_ids)
    rows = await q.fetch(
        f"SELECT {q.num('h.id')}, CAST(ROUND(h.current_index * 100) AS INTEGER), h.file_no,"  # noqa: S608  (placeholders only)
        f" {q.text('MIN(a.received_on)')}, h.org_path"
        " FROM household h JOIN application a ON a.household = h.id"
        f" WHERE h.is_open = {{}} AND h.current_index IS NOT NULL{where_ids}"
        " GROUP BY h.id, h.current_index, h.file_no, h.org_path",
        *args,
    )
    cat_args: list[Any] = list(_RANKED_STATE_LIST)
    # For a few households SQLite would walk the state index over most of the city's
    # applications (75 ms a call at 60,000); its unary plus leaves it the household index.
    state = "+state" if q.sqlite and household_ids is not None else "state"
    states = _marks(len(cat_args))
    cat_sql = f"SELECT DISTINCT household, category FROM application WHERE {state} IN ({states})"  # noqa: S608
    if household_ids is not None:
        cat_sql += f" AND household IN ({_marks(len(household_ids))})"
        cat_args += list(household_ids)
    categories: dict[int, list[str]] = {}
    for hid, category in await q.fetch(cat_sql, *cat_args):
        categories.setdefault(int(hid), []).append(str(category))
    partitions: dict[Partition, list[Key]] = {}
    for hid, centi, file_no, first_applied, org_path in rows:
        key: Key = (-int(centi), _iso(first_applied), str(file_no), int(hid))
        for scope in scopes_of(str(org_path)):
            for category in ("", *categories.get(int(hid), ())):
                partitions.setdefault((scope, category), []).append(key)
    return partitions


async def rebuild_all() -> int:
    """Store every ranked household's rows afresh from the stored indexes. Returns the rows written."""
    q = RawSql()
    await _lock(q)
    if not q.sqlite:
        written = await _rebuild_all_postgres()
        await q.fetch("DELETE FROM household_rank_tally")
        await q.fetch(
            "INSERT INTO household_rank_tally (scope, category, size)"
            " SELECT scope, category, COUNT(*) FROM household_rank GROUP BY scope, category"
        )
        # The table was emptied and filled: its statistics are of the rows before. Planned on
        # those until autovacuum came by, the ranking page's statement took 17 ms instead of 1.
        await q.fetch("ANALYZE household_rank")
        return written
    partitions = await _wanted(q, None)
    records: list[tuple[Any, ...]] = []
    for (scope, category), keys in sorted(partitions.items()):
        keys.sort()  # rows go in in the key index's order
        records += [(scope, category, hid, neg, first, file_no) for neg, first, file_no, hid in keys]
    await q.fetch("DELETE FROM household_rank")
    await q.fetch("DELETE FROM household_rank_tally")
    connection = _connection()
    await connection.executemany(_INSERT_ROWS_SQLITE, records)
    await connection.executemany(
        "INSERT INTO household_rank_tally (scope, category, size) VALUES (?, ?, ?)",
        [(scope, category, len(keys)) for (scope, category), keys in partitions.items()],
    )
    return len(records)


def _connection() -> Any:
    transaction = Household._meta.db.current_transaction.get()
    assert transaction is not None  # _lock checked
    return transaction.connection


# All the rows in one statement: each open household with an index, once per org path
# above it (split from its own org path, like scopes_of) and per category ("" and each
# ranked application's). The rows go in sorted by scope, category and key — scopes and
# categories by their numbers, the key by each household's place in the city's order
# (integers only in the big sort) — so building the key index finds its input in order.
_REBUILD_SQL = """
WITH keyed AS (
  SELECT h.id, -CAST(ROUND(h.current_index * 100) AS INTEGER) AS neg_centi,
         CAST(MIN(a.received_on) AS VARCHAR) AS first_applied, h.file_no, h.org_path
  FROM household h JOIN application a ON a.household = h.id
  WHERE h.is_open AND h.current_index IS NOT NULL
  GROUP BY h.id
), placed AS (
  SELECT keyed.*, ROW_NUMBER() OVER (ORDER BY neg_centi, first_applied, file_no, id) AS place FROM keyed
), path_scopes AS (
  SELECT p.org_path, array_to_string(p.parts[1:n], '/') || '/' AS scope
  FROM (SELECT org_path, array_remove(string_to_array(org_path, '/'), '') AS parts
        FROM (SELECT DISTINCT org_path FROM keyed) d) p
  CROSS JOIN LATERAL generate_series(1, cardinality(p.parts)) AS n
), scope_numbers AS (
  SELECT scope, ROW_NUMBER() OVER (ORDER BY scope) AS scope_no FROM (SELECT DISTINCT scope FROM path_scopes) s
), category_numbers AS (
  SELECT category, ROW_NUMBER() OVER (ORDER BY category) AS category_no
  FROM (SELECT DISTINCT category FROM application) c
), memberships AS (
  SELECT id AS household, CAST('' AS VARCHAR) AS category, 0 AS category_no FROM keyed
  UNION ALL
  SELECT DISTINCT a.household, a.category, cn.category_no
  FROM application a JOIN keyed ON keyed.id = a.household
  JOIN category_numbers cn ON cn.category = a.category
  WHERE a.state = ANY($1::varchar[])
)
INSERT INTO household_rank (scope, category, household, neg_centi, first_applied, file_no)
SELECT ps.scope, m.category, p.id, p.neg_centi, p.first_applied, p.file_no
FROM placed p
JOIN path_scopes ps ON ps.org_path = p.org_path
JOIN scope_numbers sn ON sn.scope = ps.scope
JOIN memberships m ON m.household = p.id
ORDER BY sn.scope_no, m.category_no, p.place
"""


async def _rebuild_all_postgres() -> int:
    """PostgreSQL: empty the table, fill it in one INSERT … SELECT, rebuild its indexes.

    Deleting and re-inserting ~8 rows per household through the secondary indexes was
    most of a full rescore (12 s of 25 at 60,000 households); a TRUNCATE and indexes built
    afresh by sorting cost a fraction (docs/scale.md). The TRUNCATE holds the table
    exclusively until the transaction commits: ranking pages wait for the rescore's last
    moment instead of reading the old ranks.
    """
    connection = _connection()
    # Statistics are often stale here (the rescore just wrote every household's index; on a
    # first scoring the planner believes no household has one): with nested loops allowed it
    # chose one over two CTE scans of 52,000 rows and ran for minutes. Hash joins and sorts
    # are right whatever the estimates; JIT (set off by a huge estimate) only costs time.
    names = list(_REBUILD_SETTINGS)
    previous = await connection.fetchrow(
        "SELECT " + ", ".join(f"current_setting(${i})" for i in range(1, len(names) + 1)), *names
    )
    await _set_locally(connection, _REBUILD_SETTINGS)
    written = await _refill(connection)
    # Back for the rest of the caller's transaction (an error rolls the settings back anyway).
    await _set_locally(connection, dict(zip(names, previous, strict=True)))
    return written


_REBUILD_SETTINGS = {
    "jit": "off",
    "enable_nestloop": "off",
    "work_mem": "64MB",
    "maintenance_work_mem": "128MB",
}


async def _set_locally(connection: Any, settings: dict[str, str]) -> None:
    """SET LOCAL for each (until the transaction ends, or until set back)."""
    marks = ", ".join(f"set_config(${2 * i + 1}, ${2 * i + 2}, true)" for i in range(len(settings)))
    await connection.execute(f"SELECT {marks}", *[v for pair in settings.items() for v in pair])


async def _refill(connection: Any) -> int:
    """Fill the emptied table with no index to maintain, then build them by sorting.

    The primary key goes too: keeping it cost a quarter of the filling statement
    (3.1–3.9 s with it, 2.2–3.3 s without, and 0.15 s to add it back; load 3.4–4.2).
    """
    indexes = await connection.fetch(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = 'household_rank'::regclass AND NOT i.indisprimary"
    )
    keys = await connection.fetch(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'household_rank'::regclass AND contype = 'p'"
    )
    await connection.execute("TRUNCATE household_rank")
    for name, _definition in keys:
        await connection.execute(f'ALTER TABLE household_rank DROP CONSTRAINT "{name}"')
    for name, _definition in indexes:
        await connection.execute(f'DROP INDEX "{name}"')
    status = await connection.execute(_REBUILD_SQL, _RANKED_STATE_LIST)
    for name, definition in keys:
        await connection.execute(f'ALTER TABLE household_rank ADD CONSTRAINT "{name}" {definition}')
    for _name, definition in indexes:
        await connection.execute(definition)
    return int(str(status).rsplit(" ", 1)[-1])


async def sync_households(household_ids: Iterable[int]) -> None:
    """Bring the stored rows of these households up to date with their index and applications.

    A household whose rows differ from what it should have (its key moved, it entered or
    left the ranking or a category) gets them replaced; the others are left alone. The
    rows of other households never change: nothing about them is stored that this move
    could make wrong."""
    ids = sorted(set(household_ids))
    if not ids:
        return
    if len(ids) > SYNC_LIMIT:
        await rebuild_all()
        return
    q = RawSql()
    await _lock(q)
    for start in range(0, len(ids), _CHUNK):
        await _sync_chunk(q, ids[start : start + _CHUNK])


async def _sync_chunk(q: RawSql, ids: list[int]) -> None:
    wanted: dict[int, dict[Partition, Key]] = {}
    for partition, keys in (await _wanted(q, ids)).items():
        for key in keys:
            wanted.setdefault(key[3], {})[partition] = key
    stored: dict[int, dict[Partition, Key]] = {}
    for scope, category, hid, neg, first, file_no in await q.fetch(
        f"SELECT scope, category, {q.num('household')}, {q.num('neg_centi')}, first_applied, file_no"  # noqa: S608
        f" FROM household_rank WHERE household IN ({_marks(len(ids))})",
        *ids,
    ):
        stored.setdefault(int(hid), {})[(scope, category)] = (int(neg), str(first), str(file_no), int(hid))
    changed = [hid for hid in ids if wanted.get(hid, {}) != stored.get(hid, {})]
    if not changed:
        return
    sizes: dict[Partition, int] = {}
    records: list[tuple[Any, ...]] = []
    for hid in changed:
        for partition in stored.get(hid, {}):
            sizes[partition] = sizes.get(partition, 0) - 1
        for (scope, category), (neg, first, file_no, _hid) in wanted.get(hid, {}).items():
            sizes[(scope, category)] = sizes.get((scope, category), 0) + 1
            records.append((scope, category, hid, neg, first, file_no))
    await q.fetch(f"DELETE FROM household_rank WHERE household IN ({_marks(len(changed))})", *changed)  # noqa: S608
    connection = _connection()
    tally = [(scope, category, size) for (scope, category), size in sorted(sizes.items()) if size]
    add_to_tally = (
        "INSERT INTO household_rank_tally (scope, category, size) VALUES ({}, {}, {})"
        " ON CONFLICT (scope, category) DO UPDATE SET size = household_rank_tally.size + excluded.size"
    )
    if q.sqlite:
        await connection.executemany(_INSERT_ROWS_SQLITE, records)
    elif records:
        await connection.copy_records_to_table("household_rank", records=records, columns=_COLUMNS)
    if tally:
        await connection.executemany(q.placeholders(add_to_tally), tally)
