"""Moving an application along its lifecycle (DESIGN §3), audited, with version checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from relief_pwa.clock import CHINA_TZ, local_date
from relief_pwa.core.enums import OPEN_STATES, AppState, ExitReason
from relief_pwa.core.errors import Conflict, DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import FourEyes
from relief_pwa.core.workflow import TRANSITIONS, Transition, available_actions, check_transition
from relief_pwa.db import write_transaction
from relief_pwa.services import entitlements, hooks
from relief_pwa.services.access import access_application, access_household
from relief_pwa.services.actors import Actor
from relief_pwa.services.audit import record_event
from relief_pwa.services.four_eyes import require_second_person
from relief_pwa.tables import Application, EligibilityOpinion, Household

# The station's finding ends the investigation (its timeliness is reported on dashboards).
_FINDINGS = {"find_eligible", "find_ineligible"}

# States in which the household file stays open (a new application may not duplicate it).
_CLOSING_STATES = {AppState.REJECTED, AppState.EXITED, AppState.WITHDRAWN, AppState.VERIFIED_INELIGIBLE}


@dataclass(frozen=True)
class TransitionResult:
    application_id: int
    old_state: AppState
    new_state: AppState
    version: int
    household_id: int = 0


async def _case_workers(application: Application) -> list[int | None]:
    """Who took the application's intake and who gave its station opinions."""
    opinions = await EligibilityOpinion.select(EligibilityOpinion.decided_by).where(
        EligibilityOpinion.application == application.id
    )
    return [application.submitted_by, *(row["decided_by"] for row in opinions)]


async def do_transition(
    actor: Actor,
    application_id: int,
    action: str,
    *,
    reason: str = "",
    now: datetime,
    expected_version: int | None = None,
    exit_reason: ExitReason | None = None,
    effective_on: date | None = None,
) -> TransitionResult:
    """Apply one workflow action. A stale ``expected_version`` is a conflict, never an overwrite.

    ``exit_reason`` names why assistance ends (an ``exit``, required); ``effective_on`` is the
    day a stop or restart takes effect when it is not today: the first day without assistance
    (a move date), or for an exit with reason ``death`` the date of death. The entitlement
    period follows (services.entitlements, docs/lifecycle.md)."""
    engine = Application._meta.db
    async with write_transaction(engine):
        application = (
            await access_application(actor, application_id)
            if not actor.is_system
            else (await Application.objects().where(Application.id == application_id).first())
        )
        if application is None:
            from relief_pwa.core.errors import NotFoundOrForbidden

            raise NotFoundOrForbidden()
        if expected_version is not None and application.version != expected_version:
            raise Conflict(N_("Someone else changed this application meanwhile. Reload it and try again."))
        old_state = AppState(application.state)
        new_state = check_transition(old_state, action, actor.role, reason, exit_reason)
        if not TRANSITIONS[action].needs_exit_reason:
            exit_reason = None
        if not TRANSITIONS[action].takes_effective_date:
            effective_on = None
        if old_state not in OPEN_STATES and new_state in OPEN_STATES:
            await _refuse_second_open(application)
        if action == "approve":
            await require_second_person(actor, FourEyes.APPLICATION_DECIDE, await _case_workers(application))
        updated = (
            await Application.update(
                {
                    Application.state: new_state,
                    Application.state_changed_at: now,
                    Application.reason: reason.strip()[:2000],
                    Application.version: Application.version + 1,
                    Application.decided_on: local_date(now)
                    if new_state in {AppState.APPROVED, AppState.REJECTED}
                    else application.decided_on,
                    Application.found_on: now.astimezone(CHINA_TZ).date()
                    if action in _FINDINGS and application.found_on is None
                    else application.found_on,
                }
            )
            .where((Application.id == application.id) & (Application.version == application.version))
            .returning(Application.version)
        )
        if not updated:
            raise Conflict(N_("Someone else changed this application meanwhile. Reload it and try again."))
        await record_event(
            actor,
            f"application.{action}",
            "application",
            application.id,
            org_path=application.org_path,
            now=now,
            household_id=application.household,
            before={"state": old_state},
            after={
                "state": new_state,
                "reason": reason.strip(),
                **({"exit_reason": exit_reason.value} if exit_reason else {}),
                **({"effective_on": effective_on.isoformat()} if effective_on else {}),
            },
        )
        await entitlements.follow_transition(
            actor,
            application,
            action,
            old_state,
            new_state,
            reason=reason,
            effective_on=effective_on,
            exit_reason=exit_reason,
            now=now,
        )
        if new_state in _CLOSING_STATES:
            await _close_household_if_done(actor, application.household, now)
        elif old_state in _CLOSING_STATES:
            await _reopen_household(actor, application.household, now)
        await hooks.household_changed(application.household, trigger=f"application.{action}", now=now)
        await hooks.application_changed(application.id, action=action, now=now)
        await hooks.emit(
            f"application.{action}",
            application_id=application.id,
            household_id=application.household,
            old_state=old_state,
            new_state=new_state,
            reason=reason.strip(),
            exit_reason=exit_reason,
            effective_on=effective_on,
            category=application.category,
            now=now,
        )
    return TransitionResult(
        application.id, old_state, new_state, int(updated[0]["version"]), int(application.household)
    )


async def _close_household_if_done(actor: Actor, household_id: int, now: datetime) -> None:
    """Close the file when no application of the household is open any more."""
    states = await Application.select(Application.state).where(Application.household == household_id)
    if any(AppState(r["state"]) not in _CLOSING_STATES for r in states):
        return
    household = (
        await Household.select(Household.org_path, Household.is_open)
        .where(Household.id == household_id)
        .first()
    )
    if household and household["is_open"]:
        await Household.update({Household.is_open: False, Household.updated_at: now}).where(
            Household.id == household_id
        )
        await record_event(
            actor,
            "household.close",
            "household",
            household_id,
            org_path=household["org_path"],
            now=now,
            household_id=household_id,
            before={"is_open": True},
            after={"is_open": False},
        )


async def _refuse_second_open(application: Application) -> None:
    """A case reopened (an appeal after a rejection) may not duplicate an open one of its category."""
    others = await Application.select(Application.state).where(
        (Application.household == application.household)
        & (Application.category == application.category)
        & (Application.id != application.id)
    )
    if any(AppState(r["state"]) in OPEN_STATES for r in others):
        raise DomainError(
            N_("The household already has an open application of this category."), field="reason"
        )


async def _reopen_household(actor: Actor, household_id: int, now: datetime) -> None:
    """A closed file opens again when one of its applications is reopened (an appeal)."""
    household = (
        await Household.select(Household.org_path, Household.is_open)
        .where(Household.id == household_id)
        .first()
    )
    if household and not household["is_open"]:
        await Household.update({Household.is_open: True, Household.updated_at: now}).where(
            Household.id == household_id
        )
        await record_event(
            actor,
            "household.reopen",
            "household",
            household_id,
            org_path=household["org_path"],
            now=now,
            household_id=household_id,
            before={"is_open": False},
            after={"is_open": True},
        )


# --- the household file's lifecycle section ------------------------------------------------


@dataclass
class LifecycleCase:
    """One application of the household with the actions this actor may take from the file."""

    id: int
    number: str
    category: str
    state: AppState
    version: int
    reason: str
    actions: list[Transition]
    periods: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class HouseholdLifecycle:
    household_id: int
    file_no: str
    today: date
    cases: list[LifecycleCase]
    exit_reasons: list[ExitReason]


async def household_lifecycle(actor: Actor, household_id: int, *, now: datetime) -> HouseholdLifecycle:
    """The household's applications, their entitlement periods and the lifecycle actions
    (``Transition.on_file``) the actor's role may take from each one's state."""
    household = await access_household(actor, household_id)
    rows = (
        await Application.select(
            Application.id,
            Application.number,
            Application.category,
            Application.state,
            Application.version,
            Application.reason,
        )
        .where(Application.household == household.id)
        .order_by(Application.id)
    )
    periods = await entitlements.list_periods([int(r["id"]) for r in rows])
    cases = [
        LifecycleCase(
            id=int(r["id"]),
            number=r["number"],
            category=r["category"],
            state=AppState(r["state"]),
            version=int(r["version"]),
            reason=r["reason"] or "",
            actions=[t for t in available_actions(AppState(r["state"]), actor.role) if t.on_file],
            periods=periods.get(int(r["id"]), []),
        )
        for r in rows
    ]
    return HouseholdLifecycle(household.id, household.file_no, local_date(now), cases, list(ExitReason))
