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


# --- named domain events ---------------------------------------------------
# Producers emit inside their write transaction; listeners (relief index,
# Telegram notices, follow-up scheduling, …) subscribe by name. Event names:
#   "visit.scheduled", "visit.done", "visit.reminder_due", "application.decided",
#   "notice.started", "payment.paid", "followup.scheduled", "handover.confirmed"
# and every workflow action as "application.<action>" (see core.workflow).
# Keyword data always includes ``now``; most events carry household_id and
# application_id (may be None) plus event-specific ids.

EventListener = Callable[..., Awaitable[None]]

_event_listeners: dict[str, list[EventListener]] = {}


def on(event: str) -> Callable[[EventListener], EventListener]:
    def register(listener: EventListener) -> EventListener:
        listeners = _event_listeners.setdefault(event, [])
        if listener not in listeners:
            listeners.append(listener)
        return listener

    return register


async def emit(event: str, **data: object) -> None:
    for listener in _event_listeners.get(event, []):
        await listener(**data)
