"""Stored ranks: each household's place in the ranking of every scope it belongs to.

The ranking page used to rank every household in the actor's scope on each
request. Instead the order of core.ranking (−index, first application, file
number, id) is stored in ``household_rank``: one row per (scope, category)
the household ranks in — every org path from the city down to its community,
with category "" (all) and each category it holds a ranked application in —
numbered 1..N within each scope and category. The page then reads 25 rows by
rank through an index (docs/scale.md, "Stored ranks").

Who maintains it:
- ``sync_households`` after a single recompute (the household's rows move,
  and only the ranks between its old and new place shift by one);
- ``renumber_moved`` after ``rescore_all``, which writes only what changed:
  nothing when no household's index moved, ``sync_households`` otherwise (which
  numbers everything afresh beyond ``SYNC_LIMIT`` households);
- ``rebuild_all`` after the other bulk rescores (the city in one pass) and by the
  scheduler's time-driven rescore, which also repairs anything a change
  outside the recompute (none is known) left behind.
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
_COLUMNS = ("scope", "category", "rank", "household", "neg_centi", "first_applied", "file_no")
# Beyond this many households a full rebuild is cheaper than moving each one: each move
# shifts every rank between its old and new place, so the cost follows how far they move.
# Measured on the benchmark city (PostgreSQL; numbering all 418,000 rows afresh: 2.4 s
# quiet, 3.1–3.6 s loaded): indexes moved ±5 points, 10 households 0.4 s, 30 1.7 s, 100
# 5.6 s; the 8 households a real day-later re-score moved, 1.7 s (docs/scale.md).
SYNC_LIMIT = 20
_RANKED_STATE_LIST = sorted(RANKED_STATES)


def scopes_of(org_path: str) -> list[str]:
    """Every org path from the city down to ``org_path`` itself (``a/b/c/`` → a/, a/b/, a/b/c/)."""
    parts = [p for p in org_path.split("/") if p]
    return ["/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def _iso(value: Any) -> str:
    return value[:10] if isinstance(value, str) else value.isoformat()


async def _lock(q: RawSql) -> None:
    if Household._meta.db.current_transaction.get() is None:
        raise RuntimeError("rank maintenance runs inside the caller's write transaction")
    await advisory_xact_lock(Household._meta.db, "household_rank")


async def _wanted(q: RawSql, household_ids: Sequence[int] | None) -> dict[tuple[str, str], list[Key]]:
    """The partitions (scope, category) each ranked household belongs to, with its key."""
    where_ids = ""
    args: list[Any] = [True]
    if household_ids is not None:
        where_ids = f" AND h.id IN ({', '.join('{}' for _ in household_ids)})"
        args += list(household_ids)
    rows = await q.fetch(
        f"SELECT {q.num('h.id')}, CAST(ROUND(h.current_index * 100) AS INTEGER), h.file_no,"  # noqa: S608  (placeholders only)
        f" {q.text('MIN(a.received_on)')}, h.org_path"
        " FROM household h JOIN application a ON a.household = h.id"
        f" WHERE h.is_open = {{}} AND h.current_index IS NOT NULL{where_ids}"
        " GROUP BY h.id, h.current_index, h.file_no, h.org_path",
        *args,
    )
    state_marks = ", ".join("{}" for _ in _RANKED_STATE_LIST)
    cat_args: list[Any] = list(_RANKED_STATE_LIST)
    cat_sql = f"SELECT DISTINCT household, category FROM application WHERE state IN ({state_marks})"  # noqa: S608
    if household_ids is not None:
        cat_sql += f" AND household IN ({', '.join('{}' for _ in household_ids)})"
        cat_args += list(household_ids)
    categories: dict[int, list[str]] = {}
    for hid, category in await q.fetch(cat_sql, *cat_args):
        categories.setdefault(int(hid), []).append(str(category))
    partitions: dict[tuple[str, str], list[Key]] = {}
    for hid, centi, file_no, first_applied, org_path in rows:
        key: Key = (-int(centi), _iso(first_applied), str(file_no), int(hid))
        for scope in scopes_of(str(org_path)):
            for category in ("", *categories.get(int(hid), ())):
                partitions.setdefault((scope, category), []).append(key)
    return partitions


async def renumber_moved(household_ids: Sequence[int]) -> None:
    """After a bulk rescore that wrote only what changed: the stored ranks of the households
    whose index moved. None moved: nothing to do (the ranks depend on nothing else the
    rescore writes); a few: each moved within its scopes; many: everything numbered afresh."""
    if household_ids:
        await sync_households(household_ids)


async def rebuild_all() -> int:
    """Number every scope afresh from the households' stored indexes. Returns the rows written."""
    q = RawSql()
    await _lock(q)
    if not q.sqlite:
        return await _rebuild_all_postgres()
    partitions = await _wanted(q, None)
    records: list[tuple[Any, ...]] = []
    for (scope, category), keys in partitions.items():
        keys.sort()
        for position, (neg, first, file_no, hid) in enumerate(keys, start=1):
            records.append((scope, category, position, hid, neg, first, file_no))
    await q.fetch("DELETE FROM household_rank")
    transaction = Household._meta.db.current_transaction.get()
    assert transaction is not None  # _lock checked
    await transaction.connection.executemany(
        f"INSERT INTO household_rank ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",  # noqa: S608
        records,
    )
    return len(records)


# The whole numbering in one statement: each open household with an index gets its place in
# the city's order once (one sort of the households), then one row per org path above it
# (split from its own org path, like scopes_of) and per category ("" and each ranked
# application's), numbered by that place within (scope, category) — integers only in the
# big sort. The order is the same as the recompute's key comparisons (the columns' collation).
# Scopes and categories are numbered in their own order, so the rows go in already in the
# order of the key and rank indexes: building those finds its input sorted (a third faster).
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
INSERT INTO household_rank (scope, category, rank, household, neg_centi, first_applied, file_no)
SELECT ps.scope, m.category,
       ROW_NUMBER() OVER (PARTITION BY sn.scope_no, m.category_no ORDER BY p.place),
       p.id, p.neg_centi, p.first_applied, p.file_no
FROM placed p
JOIN path_scopes ps ON ps.org_path = p.org_path
JOIN scope_numbers sn ON sn.scope = ps.scope
JOIN memberships m ON m.household = p.id
"""


async def _rebuild_all_postgres() -> int:
    """PostgreSQL: empty the table, number every row in one INSERT … SELECT, rebuild its indexes.

    Deleting and re-inserting ~8 rows per household through three secondary indexes was
    most of a full rescore (12 s of 25 at 60,000 households); a TRUNCATE and indexes built
    afresh by sorting cost a fraction (docs/scale.md). The TRUNCATE holds the table
    exclusively until the transaction commits: ranking pages wait for the rescore's last
    moment instead of reading the old ranks.
    """
    transaction = Household._meta.db.current_transaction.get()
    assert transaction is not None  # _lock checked
    connection = transaction.connection
    # Statistics are often stale here (the rescore just wrote every household's index; on a
    # first scoring the planner believes no household has one): with nested loops allowed it
    # chose one over two CTE scans of 52,000 rows and ran for minutes. Hash joins and sorts
    # are right whatever the estimates; JIT (set off by a huge estimate) only costs time.
    names = list(_REBUILD_SETTINGS)
    previous = await connection.fetchrow(
        "SELECT " + ", ".join(f"current_setting(${i})" for i in range(1, len(names) + 1)), *names
    )
    await _set_locally(connection, _REBUILD_SETTINGS)
    written = await _renumber(connection)
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


async def _renumber(connection: Any) -> int:
    """Number into the emptied table with no index to maintain, then build them by sorting.

    The primary key goes too: keeping it cost a quarter of the numbering statement
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


_KEY_COLUMNS = "neg_centi, first_applied, file_no, household"


async def _first_rank_at_or_after(q: RawSql, scope: str, category: str, key: Key) -> int | None:
    rows = await q.fetch(
        f"SELECT {q.num('rank')} FROM household_rank WHERE scope = {{}} AND category = {{}}"  # noqa: S608
        f" AND ({_KEY_COLUMNS}) >= ({{}}, {{}}, {{}}, {{}}) ORDER BY {_KEY_COLUMNS} LIMIT 1",
        scope,
        category,
        *key,
    )
    return int(rows[0][0]) if rows else None


async def _max_rank(q: RawSql, scope: str, category: str) -> int:
    rows = await q.fetch(
        f"SELECT {q.num('MAX(rank)')} FROM household_rank WHERE scope = {{}} AND category = {{}}",  # noqa: S608
        scope,
        category,
    )
    return int(rows[0][0] or 0) if rows else 0


async def _shift(q: RawSql, scope: str, category: str, low: int, high: int, by: int) -> None:
    if low > high:
        return
    await q.fetch(
        "UPDATE household_rank SET rank = rank + {} WHERE scope = {} AND category = {}"
        " AND rank >= {} AND rank <= {}",
        by,
        scope,
        category,
        low,
        high,
    )


async def _insert(q: RawSql, scope: str, category: str, rank: int, key: Key) -> None:
    neg, first, file_no, hid = key
    await q.fetch(
        f"INSERT INTO household_rank ({', '.join(_COLUMNS)}) VALUES ({', '.join('{}' for _ in _COLUMNS)})",  # noqa: S608
        scope,
        category,
        rank,
        hid,
        neg,
        first,
        file_no,
    )


async def _move(q: RawSql, scope: str, category: str, old: tuple[int, Key] | None, new: Key | None) -> None:
    """Move one household within one partition, shifting only the ranks in between."""
    hid = (new or old[1])[3]  # type: ignore[index]
    if old is not None:
        await q.fetch(
            "DELETE FROM household_rank WHERE scope = {} AND category = {} AND household = {}",
            scope,
            category,
            hid,
        )
    if new is None:
        assert old is not None
        await _shift(q, scope, category, old[0] + 1, 2**31 - 1, -1)
        return
    following = await _first_rank_at_or_after(q, scope, category, new)
    if old is None:
        rank = following if following is not None else await _max_rank(q, scope, category) + 1
        await _shift(q, scope, category, rank, 2**31 - 1, 1)
    else:
        old_rank = old[0]
        if following is None:
            following = max(await _max_rank(q, scope, category), old_rank) + 1
        if following > old_rank:  # moves down: those in between move up one
            rank = following - 1
            await _shift(q, scope, category, old_rank + 1, rank, -1)
        else:  # moves up: those in between move down one
            rank = following
            await _shift(q, scope, category, rank, old_rank - 1, 1)
    await _insert(q, scope, category, rank, new)


async def sync_households(household_ids: Iterable[int]) -> None:
    """Bring the stored ranks of these households up to date with their index and applications."""
    ids = sorted(set(household_ids))
    if not ids:
        return
    if len(ids) > SYNC_LIMIT:
        await rebuild_all()
        return
    q = RawSql()
    await _lock(q)
    wanted: dict[int, dict[tuple[str, str], Key]] = {}
    for partition, keys in (await _wanted(q, ids)).items():
        for key in keys:
            wanted.setdefault(key[3], {})[partition] = key
    for hid in ids:
        # Read each household's stored ranks just before moving it: an earlier move in
        # this loop may have shifted them.
        was_in: dict[tuple[str, str], tuple[int, Key]] = {}
        for scope, category, rank, neg, first, file_no in await q.fetch(
            f"SELECT scope, category, {q.num('rank')}, {q.num('neg_centi')}, first_applied, file_no"  # noqa: S608
            " FROM household_rank WHERE household = {}",
            hid,
        ):
            was_in[(scope, category)] = (int(rank), (int(neg), str(first), str(file_no), hid))
        now_in = wanted.get(hid, {})
        for partition in sorted(set(now_in) | set(was_in)):
            old = was_in.get(partition)
            new = now_in.get(partition)
            if old is not None and new is not None and old[1] == new:
                continue
            await _move(q, partition[0], partition[1], old, new)
