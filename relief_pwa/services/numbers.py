"""File and application numbers from named counters (atomic on both engines)."""

from __future__ import annotations

from relief_pwa.tables import Counter


async def next_value(name: str) -> int:
    """Increment and return a named counter inside the caller's transaction.

    ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` is one atomic statement on
    SQLite and PostgreSQL, so two writers never get the same number.
    """
    rows = await Counter.raw(
        "INSERT INTO counter (name, value) VALUES ({}, 1) "
        "ON CONFLICT (name) DO UPDATE SET value = counter.value + 1 RETURNING value",
        name,
    )
    return int(rows[0]["value"])


def household_file_no(district_code: str, seq: int) -> str:
    return f"{district_code}-H{seq:06d}"


def application_number(street_code: str, year: int, seq: int) -> str:
    return f"SQ{street_code}-{year}-{seq:05d}"
