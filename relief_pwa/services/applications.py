"""Moving an application along its lifecycle (DESIGN §3), audited, with version checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from relief_pwa.clock import CHINA_TZ, local_date
from relief_pwa.core.enums import AppState, ExitReason
from relief_pwa.core.errors import Conflict
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import FourEyes
from relief_pwa.core.workflow import check_transition
from relief_pwa.db import write_transaction
from relief_pwa.services import hooks
from relief_pwa.services.access import access_application
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

    ``exit_reason`` names why assistance ends (an ``exit``); ``effective_on`` is the day a
    stop or restart takes effect when it is not today (a death date, a move date)."""
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
        new_state = check_transition(old_state, action, actor.role, reason)
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
        if new_state in _CLOSING_STATES:
            await _close_household_if_done(actor, application.household, now)
        await hooks.household_changed(application.household, trigger=f"application.{action}", now=now)
        await hooks.application_changed(application.id, action=action, now=now)
        await hooks.emit(
            f"application.{action}",
            application_id=application.id,
            household_id=application.household,
            old_state=old_state,
            new_state=new_state,
            reason=reason.strip(),
            now=now,
        )
    return TransitionResult(application.id, old_state, new_state, int(updated[0]["version"]))


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
