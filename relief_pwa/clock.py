"""Time enters the system here and is passed down as a parameter.

Handlers ask the app's clock once per request and hand ``now`` to services;
the core never reads time. Tests install a FixedClock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Protocol

# Relief offices work on Beijing time: "today" and deadlines are counted there.
CHINA_TZ = timezone(timedelta(hours=8), name="Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC).astimezone(CHINA_TZ)


class FixedClock:
    """A clock that only moves when told to (tests, demo seeding)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._at = at

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def set(self, at: datetime) -> None:
        self._at = at


def local_date(moment: datetime) -> date:
    """The calendar day in Beijing of an aware moment (times are stored in UTC; days count locally)."""
    return moment.astimezone(CHINA_TZ).date()


def local_time(moment: datetime) -> datetime:
    """An aware moment in Beijing time, for display."""
    return moment.astimezone(CHINA_TZ)
