"""Selects compiled to SQL once and run many times with new values.

Building a Piccolo select and compiling it to SQL costs 0.1–0.3 ms of Python per
statement, more with many columns, and a household file sends a dozen: a fifth of
the page's time (docs/scale.md, "Pages at the floor"). A :class:`Prepared` select
is built once per engine with placeholders in place of its values; its SQL is kept
and each run passes only the values. It runs through the engine's own
``run_querystring``, so transactions, the replica switch and statement logs see it
as any other query, and the rows are the same dictionaries (or, for an
``objects()`` query, the same table instances).

Piccolo's own ``freeze()`` keeps a statement's SQL too, but with its values fixed:
it serves a query run again with the same values, not a household file per id.

Only the values given to the builder become parameters: a statement whose shape
changes with its values (``is_in`` of a varying list, an optional filter) is not a
candidate.

:func:`prefetched` sends several prepared selects as one statement on PostgreSQL,
each select's rows an array of records in one result row, and answers the selects
from it while the block runs: a page that reads a dozen sections of one household
pays one round trip and one statement's Python instead of a dozen.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from piccolo.columns import Column
from piccolo.query.methods.objects import Objects
from piccolo.query.methods.select import Select
from piccolo.query.proxy import Proxy
from piccolo.table import Table

RowT = TypeVar("RowT")


class _Slot:
    """Stands for the builder's n-th argument while the statement is compiled."""

    __slots__ = ("position",)

    def __init__(self, position: int) -> None:
        self.position = position


class _Statement:
    """The part of a QueryString that an engine's ``run_querystring`` reads."""

    __slots__ = ("args", "query_type", "sql", "table")

    def __init__(self, sql: str, args: list[Any], table: type[Table]) -> None:
        self.sql = sql
        self.args = args
        self.table = table
        self.query_type = "select"

    def compile_string(self, engine_type: str = "postgres") -> tuple[str, list[Any]]:
        return self.sql, self.args

    def __str__(self) -> str:
        return self.sql


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # For each of the statement's arguments: the builder argument it takes, or None
    # for a constant of the statement (kept in ``constants`` at the same index).
    positions: tuple[int | None, ...]
    constants: tuple[Any, ...]
    table: type[Table]
    as_objects: bool
    # The names of the row's columns, in order, as Piccolo keys its rows: for reading the
    # rows back from a combined statement (``prefetched``); None where not known.
    names: tuple[str, ...] | None


class Prepared(Generic[RowT]):
    """``Prepared(lambda household: Member.select().where(Member.household == household))``;
    ``await members.rows(household_id)``."""

    def __init__(self, build: Callable[..., Any], *, arity: int | None = None) -> None:
        """``arity``: how many values, for a builder taking ``*values``."""
        self._build = build
        self._arity = len(inspect.signature(build).parameters) if arity is None else arity
        self._query: Any = None  # built on first use, with placeholders
        self._compiled: dict[str, _Compiled] = {}

    def _built(self) -> Any:
        if self._query is None:
            self._query = self._build(*(_Slot(n) for n in range(self._arity)))
        return self._query

    def _compile(self, engine_type: str) -> _Compiled:
        query = self._built()
        if isinstance(query, Proxy):  # .first(): the select it wraps, already limited to one row
            query = query.query
        querystrings = query.querystrings
        if len(querystrings) != 1:
            raise TypeError("a prepared select must compile to one statement")
        sql, args = querystrings[0].compile_string(engine_type=engine_type)
        positions = tuple(arg.position if isinstance(arg, _Slot) else None for arg in args)
        if {p for p in positions if p is not None} != set(range(self._arity)):
            # Piccolo rendered a value into the SQL text, or dropped it: not preparable.
            raise TypeError("every value of a prepared select must be a parameter of its SQL")
        table = query.table
        compiled = _Compiled(
            sql, positions, tuple(None if p is not None else a for p, a in zip(positions, args, strict=True)),
            table, isinstance(query, Objects), _column_names(query)
        )  # fmt: skip
        self._compiled[engine_type] = compiled
        return compiled

    def compiled_for(self, engine_type: str) -> _Compiled:
        return self._compiled.get(engine_type) or self._compile(engine_type)

    def arguments(self, compiled: _Compiled, values: tuple[Any, ...]) -> list[Any]:
        if len(values) != self._arity:
            raise TypeError(f"this select takes {self._arity} values, not {len(values)}")
        return [
            values[p] if p is not None else constant
            for p, constant in zip(compiled.positions, compiled.constants, strict=True)
        ]

    async def rows(self, *values: Any) -> list[RowT]:
        batch = _PREFETCHED.get()
        # A value that cannot be a key (a list) is never prefetched.
        if batch is not None and _hashable(values):
            found_before = batch.pop((self, values), None)
            if found_before is not None:
                return found_before
        engine = self._built().table._meta.db
        compiled = self.compiled_for(engine.engine_type)
        args = self.arguments(compiled, values)
        response = await engine.run_querystring(_Statement(compiled.sql, args, compiled.table))
        found = engine.transform_response_to_dicts(response) if response else []
        return _as_rows(compiled, found)

    async def first(self, *values: Any) -> RowT | None:
        """The first row (build the select with ``.limit(1)`` when more could match)."""
        found = await self.rows(*values)
        return found[0] if found else None


def _as_rows(compiled: _Compiled, found: list[dict[str, Any]]) -> list[Any]:
    if compiled.as_objects:
        return [compiled.table(**row, _exists_in_db=True) for row in found]
    return found


def _column_names(query: Any) -> tuple[str, ...] | None:
    """The keys of the select's rows, as Piccolo names them (compiling filled in its columns):
    a column's alias or its default one, an expression's (a count) alias; None if one has none."""
    if not isinstance(query, Select | Objects):
        return None
    if isinstance(query, Objects):
        columns = query.table._meta.columns
    else:
        columns = query.columns_delegate.selected_columns
    names: list[str] = []
    for column in columns:
        if isinstance(column, Column):
            names.append(column._alias or column._meta.get_default_alias())  # type: ignore[no-untyped-call]
        elif getattr(column, "_alias", None):
            names.append(str(column._alias))
        else:
            return None  # an expression without a name: not read back
    return tuple(names) if names else None


# A read: a prepared select and the values to run it with.
Read = tuple["Prepared[Any]", tuple[Any, ...]]

# (prepared select, its values) → its rows, answered from a combined statement.
_PREFETCHED: ContextVar[dict[tuple[Prepared[Any], tuple[Any, ...]], list[Any]] | None] = ContextVar(
    "prefetched", default=None
)
_PLACEHOLDER = re.compile(r"\$(\d+)")


@dataclass(frozen=True)
class _Combined:
    sql: str
    parts: tuple[tuple[Prepared[Any], _Compiled], ...]


_COMBINED: dict[tuple[Prepared[Any], ...], _Combined] = {}


def _combined(selects: tuple[Prepared[Any], ...]) -> _Combined:
    """One statement answering every select: each one's rows as an array of records."""
    known = _COMBINED.get(selects)
    if known is not None:
        return known
    parts = tuple((select, select.compiled_for("postgres")) for select in selects)
    arrays: list[str] = []
    offset = 0
    for _select, compiled in parts:
        # Each select numbers its parameters from $1; in the combined statement they follow
        # the previous selects' ones. Prepared SQL carries every value as a parameter, and
        # Piccolo's join aliases put a name after "$" ("request$member"), never a digit: a
        # "$n" in its text is always a placeholder.
        sql = _PLACEHOLDER.sub(lambda match: f"${int(match.group(1)) + offset}", compiled.sql)  # noqa: B023
        # A subquery scan keeps its ORDER BY's order, and ARRAY() keeps the scan's.
        arrays.append(f"ARRAY(SELECT part FROM ({sql}) AS part)")  # noqa: S608 (compiled selects, values bound)
        offset += len(compiled.positions)
    combined = _Combined("SELECT " + ", ".join(arrays), parts)
    _COMBINED[selects] = combined
    return combined


def _hashable(values: tuple[Any, ...]) -> bool:
    try:
        hash(values)
    except TypeError:
        return False
    return True


@asynccontextmanager
async def prefetched(reads: Iterable[Read]) -> AsyncIterator[None]:
    """Within the block, each of these reads (a prepared select and its values) is answered
    once from one statement sent now, on PostgreSQL; a read not listed, or listed and read a
    second time, runs as usual. SQLite (in-process, a statement costs a few microseconds of
    round trip) runs each read as usual.

    For the reads of one page outside a transaction: the rows are as of the block's start.
    """
    wanted = [(select, tuple(values)) for select, values in reads]
    usable = [
        (select, values)
        for select, values in wanted
        if select._built().table._meta.db.engine_type == "postgres"
        and select.compiled_for("postgres").names is not None
        and _hashable(values)
    ]
    if len(usable) < 2 or _PREFETCHED.get() is not None:
        yield
        return
    combined = _combined(tuple(select for select, _values in usable))
    args: list[Any] = []
    for (select, values), (_select, compiled) in zip(usable, combined.parts, strict=True):
        args.extend(select.arguments(compiled, values))
    engine = usable[0][0]._built().table._meta.db
    response = await engine.run_querystring(_Statement(combined.sql, args, combined.parts[0][1].table))
    row = response[0]
    answers: dict[tuple[Prepared[Any], tuple[Any, ...]], list[Any]] = {}
    for position, ((select, values), (_select, compiled)) in enumerate(
        zip(usable, combined.parts, strict=True)
    ):
        names = compiled.names or ()
        answers[(select, values)] = _as_rows(
            compiled, [dict(zip(names, record, strict=True)) for record in row[position]]
        )
    token = _PREFETCHED.set(answers)
    try:
        yield
    finally:
        _PREFETCHED.reset(token)
