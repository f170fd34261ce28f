"""Application state transitions: which action moves which state, and who may do it.

DESIGN §3. Every refusal or stop needs a written reason; the table says which.
"""

from __future__ import annotations

from dataclasses import dataclass

from relief_pwa.core.enums import AppState, Role
from relief_pwa.core.errors import DomainError, InvalidTransition, PermissionDenied
from relief_pwa.core.i18n import N_

S = AppState
R = Role

# "system" actions are taken by the system clock or by public objections, not by staff roles.
SYSTEM = "system"


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[AppState]
    target: AppState
    roles: frozenset[str]
    needs_reason: bool = False
    label: str = ""


def _t(
    action: str,
    sources: set[AppState],
    target: AppState,
    roles: set[str],
    *,
    needs_reason: bool = False,
    label: str,
) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles), needs_reason, label)


_PRE_DECISION = {S.RECEIVED, S.INVESTIGATING, S.VERIFIED_ELIGIBLE, S.VERIFIED_INELIGIBLE, S.REINVESTIGATING}

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t(
            "start_investigation",
            {S.RECEIVED},
            S.INVESTIGATING,
            {R.STATION, R.INVESTIGATOR, R.LIAISON},
            label=N_("Start investigation"),
        ),
        _t(
            "find_eligible",
            {S.INVESTIGATING, S.REINVESTIGATING},
            S.VERIFIED_ELIGIBLE,
            {R.STATION},
            needs_reason=True,
            label=N_("Record opinion: eligible"),
        ),
        _t(
            "find_ineligible",
            {S.INVESTIGATING, S.REINVESTIGATING},
            S.VERIFIED_INELIGIBLE,
            {R.STATION},
            needs_reason=True,
            label=N_("Record opinion: ineligible"),
        ),
        _t(
            "reopen_investigation",
            {S.VERIFIED_ELIGIBLE, S.VERIFIED_INELIGIBLE},
            S.INVESTIGATING,
            {R.STATION},
            needs_reason=True,
            label=N_("Reopen investigation"),
        ),
        _t(
            "start_publicity",
            {S.VERIFIED_ELIGIBLE},
            S.PUBLICIZED,
            {R.STATION},
            label=N_("Start public notice"),
        ),
        _t(
            "object",
            {S.PUBLICIZED, S.REPUBLICIZED},
            S.REINVESTIGATING,
            {SYSTEM, R.STATION},
            needs_reason=True,
            label=N_("Objection received"),
        ),
        _t(
            "start_republicity",
            {S.VERIFIED_ELIGIBLE},
            S.REPUBLICIZED,
            {R.STATION},
            label=N_("Start repeated public notice"),
        ),
        _t(
            "end_publicity",
            {S.PUBLICIZED, S.REPUBLICIZED},
            S.READY_FOR_APPROVAL,
            {SYSTEM},
            label=N_("Public notice ended without objection"),
        ),
        _t("approve", {S.READY_FOR_APPROVAL}, S.APPROVED, {R.CENTER}, needs_reason=True, label=N_("Approve")),
        _t(
            "reject",
            {S.READY_FOR_APPROVAL, S.VERIFIED_INELIGIBLE},
            S.REJECTED,
            {R.CENTER},
            needs_reason=True,
            label=N_("Reject"),
        ),
        _t("activate", {S.APPROVED}, S.ACTIVE, {R.CENTER, SYSTEM}, label=N_("Start assistance")),
        _t(
            "start_review",
            {S.ACTIVE},
            S.UNDER_REVIEW,
            {R.STATION, R.INVESTIGATOR, R.LIAISON, SYSTEM},
            label=N_("Start periodic review"),
        ),
        _t(
            "complete_review",
            {S.UNDER_REVIEW},
            S.ACTIVE,
            {R.STATION},
            needs_reason=True,
            label=N_("Review done: continue assistance"),
        ),
        _t(
            "exit",
            {S.ACTIVE, S.UNDER_REVIEW},
            S.EXITED,
            {R.CENTER},
            needs_reason=True,
            label=N_("Stop assistance (exit)"),
        ),
        _t(
            "withdraw",
            _PRE_DECISION,
            S.WITHDRAWN,
            {R.LIAISON, R.STATION, R.CENTER, SYSTEM},
            needs_reason=True,
            label=N_("Withdraw application"),
        ),
    )
}


def check_transition(state: AppState, action: str, actor_role: str, reason: str = "") -> AppState:
    """Return the new state, or raise why the action is not allowed."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise InvalidTransition(N_("Unknown action."))
    if actor_role not in transition.roles:
        raise PermissionDenied(N_("Your role may not take this action."))
    if state not in transition.sources:
        raise InvalidTransition(
            N_("This action is not possible while the application is '{state}'."), state=state.value
        )
    if transition.needs_reason and len(reason.strip()) < 4:
        raise DomainError(N_("Please give a written reason (at least 4 characters)."), field="reason")
    return transition.target


def available_actions(state: AppState, actor_role: str) -> list[Transition]:
    """The actions this role may take now, for showing buttons."""
    return [t for t in TRANSITIONS.values() if state in t.sources and actor_role in t.roles]
