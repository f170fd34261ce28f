"""Reporting periods for the dashboards: a month, a quarter, a year or a date range.

Pure: ``today`` is passed in. A period is inclusive on both ends and knows
the calendar months it covers, so monthly series always have one point per
month (a month without events is a zero, not a gap).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_

# A range longer than this would make monthly series unreadable and queries slow.
MAX_RANGE_DAYS = 5 * 366

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")


@dataclass(frozen=True)
class Period:
    kind: str  # month | quarter | year | range
    start: date
    end: date  # inclusive

    @property
    def key(self) -> str:
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        if self.kind == "year":
            return str(self.start.year)
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    @property
    def end_exclusive(self) -> date:
        return self.end + timedelta(days=1)

    def months(self) -> list[str]:
        """Every calendar month the period touches, as YYYY-MM, in order."""
        out: list[str] = []
        year, month = self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def query(self) -> dict[str, str]:
        """The URL parameters that select this period again."""
        if self.kind == "range":
            return {"start": self.start.isoformat(), "end": self.end.isoformat()}
        return {self.kind: self.key}


def month_period(year: int, month: int) -> Period:
    start = date(year, month, 1)
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return Period("month", start, nxt - timedelta(days=1))


def _year_ok(year: int) -> bool:
    return 2000 <= year <= 2100


def parse_period(
    *, month: str = "", quarter: str = "", year: str = "", start: str = "", end: str = "", today: date
) -> Period:
    """The period the filter form asks for; the current year when nothing is given.

    Raises DomainError (field = the offending parameter) on anything unreadable.
    """
    month, quarter, year = month.strip(), quarter.strip(), year.strip()
    start, end = start.strip(), end.strip()
    if month:
        match = _MONTH.match(month)
        if not match or not _year_ok(int(match[1])) or not 1 <= int(match[2]) <= 12:
            raise DomainError(N_("Give the month as YYYY-MM, e.g. 2026-10."), field="month")
        return month_period(int(match[1]), int(match[2]))
    if quarter:
        match = _QUARTER.match(quarter)
        if not match or not _year_ok(int(match[1])):
            raise DomainError(N_("Give the quarter as YYYY-Qn, e.g. 2026-Q3."), field="quarter")
        y, q = int(match[1]), int(match[2])
        first = month_period(y, 3 * q - 2)
        last = month_period(y, 3 * q)
        return Period("quarter", first.start, last.end)
    if year:
        match = _YEAR.match(year)
        if not match or not _year_ok(int(match[1])):
            raise DomainError(N_("Give the year as four digits, e.g. 2026."), field="year")
        y = int(match[1])
        return Period("year", date(y, 1, 1), date(y, 12, 31))
    if start or end:
        first_day = _parse_day(start, "start") if start else None
        last_day = _parse_day(end, "end") if end else today
        if first_day is None:
            raise DomainError(N_("Give the first day of the range."), field="start")
        if last_day < first_day:
            raise DomainError(N_("The range ends before it starts."), field="end")
        if (last_day - first_day).days > MAX_RANGE_DAYS:
            raise DomainError(N_("A range may span at most five years."), field="end")
        return Period("range", first_day, last_day)
    return Period("year", date(today.year, 1, 1), date(today.year, 12, 31))


def _parse_day(raw: str, field: str) -> date:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise DomainError(N_("Give the date as YYYY-MM-DD."), field=field) from None
    if not _year_ok(day.year):
        raise DomainError(N_("Give the date as YYYY-MM-DD."), field=field)
    return day
