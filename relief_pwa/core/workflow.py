"""Application state transitions: which action moves which state.

Who may take each action is the capability ``application.<action>`` of
``core.permissions``.

Every refusal or stop needs a written reason; the table says which. An exit
needs one of ``ExitReason``; stops and restarts take an effective date (the
entitlement rule, docs/lifecycle.md). ``on_file`` marks the actions taken from
the household file's own form; the others belong to a page of their own
(opinions, 公示, decisions), listed in ``DEDICATED_PAGES``.
"""

from __future__ import annotations

from dataclasses import dataclass

from relief_pwa.core.enums import AppState, ExitReason
from relief_pwa.core.errors import DomainError, InvalidTransition, PermissionDenied
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import can, transition_capability

S = AppState


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[AppState]
    target: AppState
    needs_reason: bool = False
    label: str = ""
    on_file: bool = False  # offered on the household file's lifecycle form
    needs_exit_reason: bool = False
    takes_effective_date: bool = False  # a stop or restart of payments (effective_on)


def _t(
    action: str,
    sources: set[AppState],
    target: AppState,
    *,
    needs_reason: bool = False,
    label: str,
    on_file: bool = False,
    needs_exit_reason: bool = False,
    takes_effective_date: bool = False,
) -> Transition:
    return Transition(
        action,
        frozenset(sources),
        target,
        needs_reason,
        label,
        on_file,
        needs_exit_reason,
        takes_effective_date,
    )


_PRE_DECISION = {S.RECEIVED, S.INVESTIGATING, S.VERIFIED_ELIGIBLE, S.VERIFIED_INELIGIBLE, S.REINVESTIGATING}

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t(
            "start_investigation",
            {S.RECEIVED},
            S.INVESTIGATING,
            label=N_("Start investigation"),
        ),
        _t(
            "find_eligible",
            {S.INVESTIGATING, S.REINVESTIGATING},
            S.VERIFIED_ELIGIBLE,
            needs_reason=True,
            label=N_("Record opinion: eligible"),
        ),
        _t(
            "find_ineligible",
            {S.INVESTIGATING, S.REINVESTIGATING},
            S.VERIFIED_INELIGIBLE,
            needs_reason=True,
            label=N_("Record opinion: ineligible"),
        ),
        _t(
            "reopen_investigation",
            {S.VERIFIED_ELIGIBLE, S.VERIFIED_INELIGIBLE},
            S.INVESTIGATING,
            needs_reason=True,
            label=N_("Reopen investigation"),
        ),
        _t(
            "start_publicity",
            {S.VERIFIED_ELIGIBLE},
            S.PUBLICIZED,
            label=N_("Start public notice"),
        ),
        _t(
            "object",
            {S.PUBLICIZED, S.REPUBLICIZED},
            S.REINVESTIGATING,
            needs_reason=True,
            label=N_("Objection received"),
        ),
        _t(
            "start_republicity",
            {S.VERIFIED_ELIGIBLE},
            S.REPUBLICIZED,
            label=N_("Start repeated public notice"),
        ),
        _t(
            "end_publicity",
            {S.PUBLICIZED, S.REPUBLICIZED},
            S.READY_FOR_APPROVAL,
            label=N_("Public notice ended without objection"),
        ),
        _t("approve", {S.READY_FOR_APPROVAL}, S.APPROVED, needs_reason=True, label=N_("Approve")),
        _t(
            "reject",
            {S.READY_FOR_APPROVAL, S.VERIFIED_INELIGIBLE},
            S.REJECTED,
            needs_reason=True,
            label=N_("Reject"),
        ),
        _t(
            "activate",
            {S.APPROVED},
            S.ACTIVE,
            label=N_("Start assistance"),
            on_file=True,
            takes_effective_date=True,
        ),
        _t(
            "start_review",
            {S.ACTIVE},
            S.UNDER_REVIEW,
            label=N_("Start periodic review"),
            on_file=True,
        ),
        _t(
            "complete_review",
            {S.UNDER_REVIEW},
            S.ACTIVE,
            needs_reason=True,
            label=N_("Review done: continue assistance"),
            on_file=True,
        ),
        _t(
            "suspend",
            {S.ACTIVE, S.UNDER_REVIEW},
            S.SUSPENDED,
            needs_reason=True,
            label=N_("Suspend assistance"),
            on_file=True,
            takes_effective_date=True,
        ),
        _t(
            "reinstate",
            {S.SUSPENDED},
            S.ACTIVE,
            needs_reason=True,
            label=N_("Reinstate assistance"),
            on_file=True,
            takes_effective_date=True,
        ),
        _t(
            "exit",
            {S.APPROVED, S.ACTIVE, S.UNDER_REVIEW, S.SUSPENDED},
            S.EXITED,
            needs_reason=True,
            label=N_("Stop assistance (exit)"),
            on_file=True,
            needs_exit_reason=True,
            takes_effective_date=True,
        ),
        _t(
            "withdraw",
            _PRE_DECISION,
            S.WITHDRAWN,
            needs_reason=True,
            label=N_("Withdraw application"),
            on_file=True,
        ),
        _t(
            "reopen",
            {S.REJECTED},
            S.INVESTIGATING,
            needs_reason=True,
            label=N_("Reopen after appeal (复议)"),
            on_file=True,
        ),
    )
}

# Where the actions not on the household file's form are taken (a new transition
# must be added to one or the other: tests/handlers/test_lifecycle_matrix.py).
DEDICATED_PAGES: dict[str, str] = {
    "start_investigation": "/applications/{id}/start-investigation",
    "find_eligible": "/applications/{id}/opinion",
    "find_ineligible": "/applications/{id}/opinion",
    "reopen_investigation": "/applications/{id}/opinion",
    "start_publicity": "/notices",
    "start_republicity": "/notices",
    "object": "/objections",
    "end_publicity": "(the clock)",
    "approve": "/approvals/{id}",
    "reject": "/approvals/{id}",
}


def check_transition(
    state: AppState,
    action: str,
    actor_role: str,
    reason: str = "",
    exit_reason: ExitReason | None = None,
) -> AppState:
    """Return the new state, or raise why the action is not allowed."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise InvalidTransition(N_("Unknown action."))
    if not can(actor_role, transition_capability(action)):
        raise PermissionDenied(N_("Your role may not take this action."))
    if state not in transition.sources:
        raise InvalidTransition(
            N_("This action is not possible while the application is '{state}'."), state=state.value
        )
    if transition.needs_reason and len(reason.strip()) < 4:
        raise DomainError(N_("Please give a written reason (at least 4 characters)."), field="reason")
    if transition.needs_exit_reason and exit_reason is None:
        raise DomainError(N_("Choose why assistance ends."), field="exit_reason")
    return transition.target


def available_actions(state: AppState, actor_role: str) -> list[Transition]:
    """The actions this role may take now, for showing buttons."""
    return [
        t
        for t in TRANSITIONS.values()
        if state in t.sources and can(actor_role, transition_capability(t.action))
    ]
