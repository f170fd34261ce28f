"""What an applicant is told about an application: the state in plain words,
what happens next and by when.

Pure: the caller passes the dates it knows; deadlines follow the rules and holiday calendar
(core.rules) passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from relief_pwa.core.enums import AppState
from relief_pwa.core.i18n import N_
from relief_pwa.core.rules import Calendar, working_deadline


@dataclass(frozen=True)
class NextStep:
    explanation: str  # English message id: the state in plain words
    next_step: str  # English message id: what happens next
    due: date | None  # by when (None when nothing is pending on the office's side)
    days: int | None = None  # a length the message quotes ({days}), from the rules in force


_EXPLANATIONS: dict[AppState, str] = {
    AppState.RECEIVED: N_("Your application was received."),
    AppState.INVESTIGATING: N_("Staff are checking your household's situation."),
    AppState.REINVESTIGATING: N_("After an objection, staff are checking your situation again."),
    AppState.VERIFIED_ELIGIBLE: N_("The service station found that you meet the conditions."),
    AppState.VERIFIED_INELIGIBLE: N_("The service station found that you do not meet the conditions."),
    AppState.PUBLICIZED: N_("Your application is on the public notice board (公示)."),
    AppState.REPUBLICIZED: N_("Your application is on the public notice board again (公示)."),
    AppState.READY_FOR_APPROVAL: N_("The public notice ended; the service centre is deciding."),
    AppState.APPROVED: N_("Your application was approved."),
    AppState.REJECTED: N_("Your application was not approved."),
    AppState.ACTIVE: N_("You receive assistance."),
    AppState.UNDER_REVIEW: N_("Your assistance is being reviewed, as happens regularly."),
    AppState.SUSPENDED: N_("Your assistance is suspended."),
    AppState.EXITED: N_("Your assistance has ended."),
    AppState.WITHDRAWN: N_("The application was withdrawn."),
}


def next_step(
    state: AppState,
    *,
    received_on: date,
    state_changed_on: date,
    notice_ends_on: date | None = None,
    calendar: Calendar | None = None,
) -> NextStep:
    """The plain-words state, the next step and its deadline (rules and holidays from ``calendar``)."""
    calendar = calendar or Calendar()
    explanation = _EXPLANATIONS[state]
    if state in {AppState.RECEIVED, AppState.INVESTIGATING}:
        due = working_deadline(calendar, received_on, "investigation_working_days")
        return NextStep(
            explanation, N_("A home visit and a check of your situation, finished by {due}."), due
        )
    if state == AppState.REINVESTIGATING:
        due = working_deadline(calendar, state_changed_on, "investigation_working_days")
        return NextStep(explanation, N_("The new check is finished by {due}."), due)
    if state == AppState.VERIFIED_ELIGIBLE:
        days = calendar.rule("publicity_days", state_changed_on)
        return NextStep(
            explanation, N_("A {days}-day public notice in your community starts soon."), None, days
        )
    if state == AppState.VERIFIED_INELIGIBLE:
        due = working_deadline(calendar, state_changed_on, "approval_working_days")
        return NextStep(
            explanation,
            N_(
                "The service centre takes the final decision by {due}. "
                "If you disagree, you may object (/objection)."
            ),
            due,
        )
    if state in {AppState.PUBLICIZED, AppState.REPUBLICIZED}:
        key = "publicity_days" if state == AppState.PUBLICIZED else "republicity_days"
        days = calendar.rule(key, state_changed_on)
        due = notice_ends_on or state_changed_on + timedelta(days=days)
        return NextStep(explanation, N_("The notice ends on {due}; then the service centre decides."), due)
    if state == AppState.READY_FOR_APPROVAL:
        due = working_deadline(calendar, state_changed_on, "approval_working_days")
        return NextStep(explanation, N_("The decision is taken by {due}."), due)
    if state == AppState.APPROVED:
        return NextStep(explanation, N_("Assistance starts with the next monthly payment."), None)
    if state == AppState.ACTIVE:
        return NextStep(
            explanation, N_("Staff will visit you from time to time to check how you are doing."), None
        )
    if state == AppState.UNDER_REVIEW:
        return NextStep(explanation, N_("Staff will contact you for the review."), None)
    if state == AppState.SUSPENDED:
        return NextStep(
            explanation,
            N_("The service centre decides whether it resumes or ends; no payments until then."),
            None,
        )
    if state == AppState.REJECTED:
        return NextStep(
            explanation,
            N_(
                "You may ask the service centre to review the decision, "
                "or apply again if your situation changes."
            ),
            None,
        )
    return NextStep(explanation, N_("Nothing more happens on this application."), None)
