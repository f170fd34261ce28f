"""The station's eligibility opinion: the statutory means test with its numbers,
the staff decision with written reasons, and the application's next state
(DESIGN §3 step 2). The decision is the staff's; the means test informs it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from relief_pwa.clock import local_date
from relief_pwa.core.eligibility import EligibilityOutcome, EligibilityResult, check_eligibility
from relief_pwa.core.enums import AppState
from relief_pwa.core.errors import DomainError, InvalidTransition
from relief_pwa.core.facts import HouseholdFacts, Standard, select_standard
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.core.workflow import available_actions
from relief_pwa.db import write_transaction
from relief_pwa.services.access import access_application
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.applications import do_transition
from relief_pwa.services.audit import record_event
from relief_pwa.services.bulk_scoring import Lookback
from relief_pwa.services.datacheck import CheckReport, ensure_check_report, report_of_application
from relief_pwa.services.scoring import load_household_facts
from relief_pwa.services.standards import load_standards
from relief_pwa.tables import EligibilityOpinion, Household, Staff

DECISIONS = {"eligible": "find_eligible", "ineligible": "find_ineligible"}
REASONS_MAX_LENGTH = 2000
_DECIDABLE = {AppState.INVESTIGATING, AppState.REINVESTIGATING}


async def build_household_facts(
    household_id: int, *, as_of: date, legal_supporter_able: bool | None = None
) -> HouseholdFacts:
    """The household's facts from its file (verified values where they exist, else declared),
    read by the relief-index service so both see the same household.

    Shocks and aid do not enter the means test, so none are loaded. Whether a
    legally obliged supporter can support is the investigation's finding,
    given by the station with the opinion.
    """
    facts, _row, _first_applied = await load_household_facts(household_id, as_of, Lookback(as_of, as_of))
    return replace(facts, has_legal_supporter_able=legal_supporter_able)


@dataclass(frozen=True)
class MeansTest:
    facts: HouseholdFacts
    standard: Standard
    result: EligibilityResult
    as_of: date

    def to_json(self) -> str:
        return json.dumps(
            {
                "as_of": self.as_of.isoformat(),
                "outcome": self.result.outcome.value,
                "rules": [
                    {
                        "code": r.code,
                        "label": r.label,
                        "passed": r.passed,
                        "detail": r.detail,
                        "numbers": r.numbers,
                    }
                    for r in self.result.rules
                ],
                "standard": self.standard.to_dict(),
                "facts": self.facts.to_dict(),
            },
            ensure_ascii=False,
            sort_keys=True,
        )


async def run_means_test(household_id: int, *, as_of: date, legal_supporter_able: bool | None) -> MeansTest:
    """The statutory means test on the household's current (verified-first) facts.

    Raises:
        DomainError: no standard is in force for the household's district.
    """
    facts = await build_household_facts(household_id, as_of=as_of, legal_supporter_able=legal_supporter_able)
    standard = select_standard(
        await load_standards(facts.district_code), facts.district_code, facts.area_type, as_of
    )
    return MeansTest(facts, standard, check_eligibility(facts, standard, as_of), as_of)


@dataclass(frozen=True)
class OpinionView:
    id: int
    decision: str
    reasons: str
    decided_by: str
    decided_at: datetime
    outcome: str
    rules: list[dict[str, Any]]


@dataclass
class OpinionPage:
    application: dict[str, Any]
    household: dict[str, Any]
    means_test: MeansTest | None
    means_test_error: DomainError | None
    can_decide: bool
    can_start_investigation: bool
    opinions: list[OpinionView] = field(default_factory=list)
    check_report: CheckReport | None = None


def _parse_opinion(row: dict[str, Any]) -> OpinionView:
    try:
        stored = json.loads(row["means_test"])
    except (TypeError, ValueError):
        stored = {}
    return OpinionView(
        id=row["id"],
        decision=row["decision"],
        reasons=row["reasons"],
        decided_by=row["decided_by.display_name"] or "",
        decided_at=row["decided_at"],
        outcome=str(stored.get("outcome", "")),
        rules=list(stored.get("rules", [])),
    )


async def get_opinion_page(
    actor: Actor, application_id: int, *, as_of: date, legal_supporter_able: bool | None = None
) -> OpinionPage:
    application = await access_application(actor, application_id)
    household = await Household.select().where(Household.id == application.household).first()
    means_test: MeansTest | None = None
    error: DomainError | None = None
    try:
        means_test = await run_means_test(
            application.household, as_of=as_of, legal_supporter_able=legal_supporter_able
        )
    except DomainError as exc:
        error = exc
    rows = (
        await EligibilityOpinion.select(
            EligibilityOpinion.id,
            EligibilityOpinion.decision,
            EligibilityOpinion.reasons,
            EligibilityOpinion.decided_at,
            EligibilityOpinion.means_test,
            EligibilityOpinion.decided_by.display_name,
        )
        .where(EligibilityOpinion.application == application.id)
        .order_by(EligibilityOpinion.id, ascending=False)
    )
    state = AppState(application.state)
    actions = {t.action for t in available_actions(state, actor.role)}
    return OpinionPage(
        application=application.to_dict(),
        household=household or {},
        means_test=means_test,
        means_test_error=error,
        can_decide=bool(actions & set(DECISIONS.values())),
        can_start_investigation="start_investigation" in actions,
        opinions=[_parse_opinion(r) for r in rows],
        check_report=await report_of_application(application.to_dict()),
    )


def parse_supporter(raw: str) -> bool | None:
    """The investigator's finding on a legally obliged supporter: yes / no / unknown."""
    return {"able": True, "none": False}.get(raw.strip())


async def do_record_opinion(
    actor: Actor,
    application_id: int,
    *,
    decision: str,
    reasons: str,
    legal_supporter_able: bool | None,
    now: datetime,
    expected_version: int | None = None,
    check_waiver: str = "",
) -> int:
    """Record the station's opinion and move the application to verified (eligible/ineligible).

    The data-check report must be complete, or ``check_waiver`` says why the
    opinion cannot wait for it (recorded and audited, docs/datacheck.md).

    The means test is run again at decision time, and its numbers are stored
    with the opinion, so the decision can be checked later against exactly
    what the station saw.
    """
    require(actor, Capability.APP_FIND_ELIGIBLE)
    action = DECISIONS.get(decision)
    if action is None:
        raise DomainError(N_("Choose eligible or ineligible."), field="decision")
    reasons = reasons.strip()
    if len(reasons) < 4:
        raise DomainError(N_("Please give a written reason (at least 4 characters)."), field="reasons")
    if len(reasons) > REASONS_MAX_LENGTH:
        raise DomainError(
            N_("The reasons are too long (at most {limit} characters)."),
            field="reasons",
            limit=REASONS_MAX_LENGTH,
        )
    application = await access_application(actor, application_id)
    if AppState(application.state) not in _DECIDABLE:
        raise InvalidTransition(
            N_("An opinion is given while the application is under investigation."), field="decision"
        )
    means_test = await run_means_test(
        application.household, as_of=local_date(now), legal_supporter_able=legal_supporter_able
    )
    if means_test.result.outcome == EligibilityOutcome.INCOMPLETE and decision == "eligible":
        raise DomainError(
            N_(
                "The means test cannot be completed: record the missing facts"
                " before finding the household eligible."
            ),
            field="decision",
        )
    async with write_transaction(EligibilityOpinion._meta.db):
        await ensure_check_report(actor, application.to_dict(), waiver_reason=check_waiver, now=now)
        await do_transition(
            actor, application.id, action, reason=reasons, now=now, expected_version=expected_version
        )
        opinion = EligibilityOpinion(
            application=application.id,
            org_path=application.org_path,
            means_test=means_test.to_json(),
            decision=decision,
            reasons=reasons,
            decided_by=actor.staff_id,
            decided_at=now,
        )
        await opinion.save()
        await record_event(
            actor,
            "eligibility.opinion",
            "eligibility_opinion",
            opinion.id,
            org_path=application.org_path,
            now=now,
            household_id=application.household,
            after={
                "application_id": application.id,
                "decision": decision,
                "reasons": reasons,
                "means_test_outcome": means_test.result.outcome.value,
                "per_capita_income_fen": _number(
                    means_test.result, "income_below_standard", "per_capita_income_fen"
                ),
                "standard_fen": means_test.standard.dibao_monthly_fen,
            },
        )
    return int(opinion.id)


def _number(result: EligibilityResult, code: str, key: str) -> int | str | None:
    try:
        return result.rule(code).numbers.get(key)
    except KeyError:
        return None


async def do_start_investigation(actor: Actor, application_id: int, *, now: datetime) -> None:
    """Received → under investigation (station, investigator or liaison)."""
    await do_transition(actor, application_id, "start_investigation", now=now)


async def staff_name(staff_id: int | None) -> str:
    if staff_id is None:
        return ""
    row = await Staff.select(Staff.display_name).where(Staff.id == staff_id).first()
    return str(row["display_name"]) if row else ""
