"""The entitlement rule: which months of an application's aid are paid (docs/lifecycle.md).

A household is a recipient of an aid in a month when it was one on at least
one day of that month. A start (activation, reinstatement) effective on day D
opens the month of D; a stop (suspension, exit, death) effective on day D —
the first day without assistance — ends after the month of D − 1 day. A month
is paid at most once, so a restart inside a month already covered begins with
the next month not yet covered. Months are ``YYYY-MM`` in Beijing local dates.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_index(month: str) -> int:
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1


def month_at(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def next_month(month: str) -> str:
    return month_at(month_index(month) + 1)


def start_month(effective_on: date, previous_to_month: str | None = None) -> str:
    """The first month a start effective on ``effective_on`` pays, after any month already covered."""
    month = month_of(effective_on)
    if previous_to_month is not None and previous_to_month > month:
        return previous_to_month
    return month


def stop_month(effective_on: date, from_month: str) -> str:
    """The first month no longer paid after a stop effective on ``effective_on`` (never before
    ``from_month``: a period stopped before its first month covers nothing)."""
    last_day = effective_on - timedelta(days=1)
    month = next_month(month_of(last_day))
    return max(month, from_month)


def covers(from_month: str, to_month: str | None, month: str) -> bool:
    """Whether the period ``[from_month, to_month)`` includes ``month``."""
    return from_month <= month and (to_month is None or month < to_month)


def covered(periods: Iterable[tuple[str, str | None]], month: str) -> bool:
    return any(covers(start, end, month) for start, end in periods)
