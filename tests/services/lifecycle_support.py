"""Shared set-up for the lifecycle tests: an application driven to any state of the workflow.

The path is found in ``core.workflow.TRANSITIONS`` (shortest first), each step taken
by a role the policy allows, so a new state or transition needs no change here.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any

from relief_pwa.core.enums import AppState, ExitReason, Role
from relief_pwa.core.permissions import SYSTEM_ROLE, can, transition_capability
from relief_pwa.core.workflow import TRANSITIONS
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor
from relief_pwa.services.applications import do_transition
from tests.factories import make_intake

REASON = "经核实情况属实"
# Who takes a step when several may: the system first, then the deciding offices.
_STEP_TAKERS = (SYSTEM_ROLE, "station", "center")


def path_to(target: AppState) -> list[str]:
    """The shortest list of actions from ``received`` to ``target``."""
    seen = {AppState.RECEIVED: []}  # type: dict[AppState, list[str]]
    queue = deque([AppState.RECEIVED])
    while queue:
        state = queue.popleft()
        if state == target:
            return seen[state]
        for transition in TRANSITIONS.values():
            if state in transition.sources and transition.target not in seen:
                seen[transition.target] = [*seen[state], transition.action]
                queue.append(transition.target)
    raise AssertionError(f"{target} cannot be reached")


def distance(state: AppState) -> int:
    return len(path_to(state))


def taker(world: Any, action: str) -> Actor:
    for username in _STEP_TAKERS:
        role = SYSTEM_ROLE if username == SYSTEM_ROLE else Role(username)
        if can(role, transition_capability(action)):
            return SYSTEM_ACTOR if username == SYSTEM_ROLE else world.actor(username)
    raise AssertionError(f"nobody takes {action}")


async def take(world: Any, application_id: int, action: str, now: datetime, **extra: Any) -> None:
    if TRANSITIONS[action].needs_exit_reason:
        extra.setdefault("exit_reason", ExitReason.INCOME_ABOVE_STANDARD)
    await do_transition(taker(world, action), application_id, action, reason=REASON, now=now, **extra)


async def application_in(world: Any, state: AppState, *, category: str = "dibao", **draft: Any) -> Any:
    """A new intake (taken by the station) moved to ``state`` along the shortest path."""
    intake = await make_intake(world, category=category, **draft)
    for action in path_to(state):
        await take(world, intake.application_id, action, world.now)
    return intake
