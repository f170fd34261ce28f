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
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from piccolo.query.methods.objects import Objects
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
            table, isinstance(query, Objects)
        )  # fmt: skip
        self._compiled[engine_type] = compiled
        return compiled

    async def rows(self, *values: Any) -> list[RowT]:
        if len(values) != self._arity:
            raise TypeError(f"this select takes {self._arity} values, not {len(values)}")
        engine = self._built().table._meta.db
        compiled = self._compiled.get(engine.engine_type) or self._compile(engine.engine_type)
        args = [
            values[p] if p is not None else constant
            for p, constant in zip(compiled.positions, compiled.constants, strict=True)
        ]
        response = await engine.run_querystring(_Statement(compiled.sql, args, compiled.table))
        found = engine.transform_response_to_dicts(response) if response else []
        if compiled.as_objects:
            return [compiled.table(**row, _exists_in_db=True) for row in found]  # type: ignore[misc]
        return found

    async def first(self, *values: Any) -> RowT | None:
        """The first row (build the select with ``.limit(1)`` when more could match)."""
        found = await self.rows(*values)
        return found[0] if found else None
