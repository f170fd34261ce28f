"""Reactions that must happen in the same transaction as a household change.

Other services register here (the relief index recomputes, notices are queued),
so intake and visits need not import every later feature.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

HouseholdListener = Callable[[int, str, datetime], Awaitable[None]]

_household_listeners: list[HouseholdListener] = []


def on_household_changed(listener: HouseholdListener) -> HouseholdListener:
    if listener not in _household_listeners:
        _household_listeners.append(listener)
    return listener


async def household_changed(household_id: int, *, trigger: str, now: datetime) -> None:
    """Call every listener; they run inside the caller's write transaction."""
    for listener in _household_listeners:
        await listener(household_id, trigger, now)


ApplicationListener = Callable[[int, str, datetime], Awaitable[None]]

_application_listeners: list[ApplicationListener] = []


def on_application_changed(listener: ApplicationListener) -> ApplicationListener:
    if listener not in _application_listeners:
        _application_listeners.append(listener)
    return listener


async def application_changed(application_id: int, *, action: str, now: datetime) -> None:
    """Call every listener (notices, 公示 bookkeeping) inside the caller's transaction."""
    for listener in _application_listeners:
        await listener(application_id, action, now)
