"""Working-day arithmetic for statutory deadlines (weekends skipped).

Public holidays and the swapped working weekends of the Chinese calendar are
passed in as data, because they are announced every year.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta

INVESTIGATION_WORKING_DAYS = 15
APPROVAL_WORKING_DAYS = 5
PUBLICITY_DAYS = 7
REPUBLICITY_DAYS = 3


def is_working_day(day: date, holidays: Collection[date] = (), workdays: Collection[date] = ()) -> bool:
    if day in workdays:
        return True
    return day.weekday() < 5 and day not in holidays


def add_working_days(
    start: date, days: int, holidays: Collection[date] = (), workdays: Collection[date] = ()
) -> date:
    """The date ``days`` working days after ``start`` (the start day itself not counted)."""
    if days < 0:
        raise ValueError("days must not be negative")
    current = start
    remaining = days
    while remaining:
        current += timedelta(days=1)
        if is_working_day(current, holidays, workdays):
            remaining -= 1
    return current
