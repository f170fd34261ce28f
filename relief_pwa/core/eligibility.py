"""The statutory means test (低保 / 低保边缘 / 特困), kept apart from the relief index.

Eligibility answers "does the law allow this household to be assisted?";
the relief index (scoring.py) only orders households that may be assisted
(domain_cn.md §2.6 item 6). Every rule reports the numbers behind it so staff
can check the arithmetic and write reasons for a refusal (社会救助暂行办法
Art. 11).

Message ids in ``detail`` use ``{placeholders}`` named after keys of the
rule's ``numbers``, so the edge can translate and format them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from relief_pwa.core.enums import Illness
from relief_pwa.core.errors import DomainError
from relief_pwa.core.facts import (
    HouseholdFacts,
    MemberFacts,
    Standard,
    compact_yuan,
    missing_facts,
)
from relief_pwa.core.i18n import N_

__all__ = [
    "EligibilityOutcome",
    "EligibilityResult",
    "RuleResult",
    "check_eligibility",
    "check_standard_matches",
    "member_unable_to_work_tekun",
]

# Ages at which a person is presumed unable to work for 特困 (domain_cn.md §1.5).
ELDERLY_AGE = 60
MINOR_AGE = 16
# The 低保边缘 band: per-capita income below 1.5 × the standard (as 3/2, exact in integers).
EDGE_NUMERATOR = 3
EDGE_DENOMINATOR = 2

# Missing facts that make the means test impossible (others only matter to the index).
_BLOCKING_MISSING = frozenset({"members", "income"})


class EligibilityOutcome(StrEnum):
    DIBAO = "dibao"
    DIBAO_EDGE = "dibao_edge"
    TEKUN = "tekun"
    INELIGIBLE = "ineligible"
    INCOMPLETE = "incomplete"


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule of the means test with its verdict and the numbers behind it."""

    code: str
    label: str
    passed: bool
    detail: str
    numbers: dict[str, int | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EligibilityResult:
    outcome: EligibilityOutcome
    rules: tuple[RuleResult, ...]

    def rule(self, code: str) -> RuleResult:
        """The rule with this code (KeyError if it was not evaluated)."""
        for rule in self.rules:
            if rule.code == code:
                return rule
        raise KeyError(code)


def check_standard_matches(facts: HouseholdFacts, standard: Standard, as_of: date) -> None:
    """Refuse a standard for another district, area type, or not yet in force.

    Raises:
        DomainError: the standard does not apply to this household on ``as_of``.
    """
    if (
        standard.district_code != facts.district_code
        or standard.area_type != facts.area_type
        or standard.effective_from > as_of
    ):
        raise DomainError(
            N_("The standard given does not apply to household {file_no} on {date}."),
            field="standard",
            file_no=facts.file_no,
            date=as_of.isoformat(),
        )


def member_unable_to_work_tekun(member: MemberFacts, as_of: date) -> bool | None:
    """Whether a member counts as unable to work for 特困 purposes.

    Aged 60+, under 16, disability grade 1–2, or a serious illness. Returns
    ``None`` when only the unknown birth date could decide it.
    """
    if member.disability_grade is not None and member.disability_grade <= 2:
        return True
    if member.illness is Illness.SERIOUS:
        return True
    age = member.age_on(as_of)
    if age is None:
        return None
    return age >= ELDERLY_AGE or age < MINOR_AGE


def check_eligibility(facts: HouseholdFacts, standard: Standard, as_of: date) -> EligibilityResult:
    """Run the means test for dibao, dibao-edge and 特困.

    Args:
        facts: the household as of ``as_of``.
        standard: the local standard in force (see ``select_standard``).
        as_of: the date ages are computed on.

    Returns:
        The outcome and every rule with its numbers. ``incomplete`` when
        members or income are not recorded; the rules that can still be
        computed are reported all the same.

    Raises:
        DomainError: the standard is for another district or area type.
    """
    check_standard_matches(facts, standard, as_of)
    missing = missing_facts(facts)
    blocking = [code for code in missing if code in _BLOCKING_MISSING]
    rules: list[RuleResult] = [
        RuleResult(
            code="facts_complete",
            label=N_("Facts needed for the means test are recorded"),
            passed=not blocking,
            detail=(N_("Members and income are recorded.") if not blocking else N_("Missing: {missing}.")),
            numbers={"missing": ",".join(blocking)},
        )
    ]
    size = facts.size
    if size == 0:
        return EligibilityResult(EligibilityOutcome.INCOMPLETE, tuple(rules))

    standard_fen = standard.dibao_monthly_fen
    income_fen = facts.monthly_income_fen
    per_capita_fen = income_fen // size
    # Compare totals, not the rounded per-capita figure, so no fen is lost.
    below_standard = income_fen < standard_fen * size
    below_edge = income_fen * EDGE_DENOMINATOR < EDGE_NUMERATOR * standard_fen * size
    edge_limit_fen = -(-EDGE_NUMERATOR * standard_fen // EDGE_DENOMINATOR)  # ceiling
    income_numbers: dict[str, int | str] = {
        "household_size": size,
        "income_total_fen": income_fen,
        "per_capita_income_fen": per_capita_fen,
        "per_capita_income_yuan": compact_yuan(per_capita_fen),
        "standard_fen": standard_fen,
        "standard_yuan": compact_yuan(standard_fen),
    }
    rules.append(
        RuleResult(
            code="income_below_standard",
            label=N_("Per-capita income below the dibao standard"),
            passed=below_standard,
            detail=(
                N_(
                    "Per-capita income {per_capita_income_yuan} yuan/month"
                    " is below the standard of {standard_yuan} yuan."
                )
                if below_standard
                else N_(
                    "Per-capita income {per_capita_income_yuan} yuan/month"
                    " is not below the standard of {standard_yuan} yuan."
                )
            ),
            numbers=income_numbers,
        )
    )

    asset_fen = facts.asset_total_fen
    asset_limit_fen = standard.asset_limit_months * standard_fen * size
    assets_ok = asset_fen <= asset_limit_fen
    rules.append(
        RuleResult(
            code="assets_within_limit",
            label=N_("Assets within the limit"),
            passed=assets_ok,
            detail=(
                N_(
                    "Assets of {asset_total_yuan} yuan are within the limit of {asset_limit_yuan} yuan"
                    " ({asset_limit_months} months × standard × {household_size} persons)."
                )
                if assets_ok
                else N_(
                    "Assets of {asset_total_yuan} yuan exceed the limit of {asset_limit_yuan} yuan"
                    " ({asset_limit_months} months × standard × {household_size} persons)."
                )
            ),
            numbers={
                "household_size": size,
                "asset_total_fen": asset_fen,
                "asset_total_yuan": compact_yuan(asset_fen),
                "asset_limit_fen": asset_limit_fen,
                "asset_limit_yuan": compact_yuan(asset_limit_fen),
                "asset_limit_months": standard.asset_limit_months,
                "standard_fen": standard_fen,
            },
        )
    )

    rules.append(
        RuleResult(
            code="income_below_edge",
            label=N_("Per-capita income below 1.5 × the standard (near-dibao)"),
            passed=below_edge,
            detail=(
                N_(
                    "Per-capita income {per_capita_income_yuan} yuan/month"
                    " is below 1.5 × the standard ({edge_limit_yuan} yuan)."
                )
                if below_edge
                else N_(
                    "Per-capita income {per_capita_income_yuan} yuan/month"
                    " is not below 1.5 × the standard ({edge_limit_yuan} yuan)."
                )
            ),
            numbers={
                **income_numbers,
                "edge_limit_fen": edge_limit_fen,
                "edge_limit_yuan": compact_yuan(edge_limit_fen),
            },
        )
    )

    tekun_rule = _tekun_rule(facts, standard, as_of)
    rules.append(tekun_rule)

    if blocking:
        outcome = EligibilityOutcome.INCOMPLETE
    elif not assets_ok:
        outcome = EligibilityOutcome.INELIGIBLE
    elif below_standard:
        outcome = EligibilityOutcome.TEKUN if tekun_rule.passed else EligibilityOutcome.DIBAO
    elif below_edge:
        outcome = EligibilityOutcome.DIBAO_EDGE
    else:
        outcome = EligibilityOutcome.INELIGIBLE
    return EligibilityResult(outcome, tuple(rules))


def _tekun_rule(facts: HouseholdFacts, standard: Standard, as_of: date) -> RuleResult:
    """特困 conditions beyond the dibao test: nobody can work, no able supporter."""
    statuses = [member_unable_to_work_tekun(m, as_of) for m in facts.members]
    unable = sum(1 for s in statuses if s is True)
    undetermined = sum(1 for s in statuses if s is None)
    supporter = facts.has_legal_supporter_able
    supporter_code = "unknown" if supporter is None else ("able" if supporter else "none")
    all_unable = unable == len(statuses)
    passed = all_unable and supporter is False
    if passed:
        detail = N_(
            "All {household_size} members are unable to work and no legal supporter can support them."
        )
    elif undetermined:
        detail = N_("Work ability of {members_undetermined} members is unknown: date of birth missing.")
    elif not all_unable:
        detail = N_("{members_able} of {household_size} members are able to work.")
    elif supporter is None:
        detail = N_("Not yet established whether a legally obliged supporter is able to support.")
    else:
        detail = N_("A legally obliged supporter is able to support the household.")
    return RuleResult(
        code="tekun_conditions",
        label=N_("Extreme-poverty conditions (no ability to work, no able supporter)"),
        passed=passed,
        detail=detail,
        numbers={
            "household_size": len(statuses),
            "members_unable_to_work": unable,
            "members_able": len(statuses) - unable - undetermined,
            "members_undetermined": undetermined,
            "legal_supporter": supporter_code,
            "tekun_standard_fen": standard.tekun_monthly_fen,
            "tekun_standard_yuan": compact_yuan(standard.tekun_monthly_fen),
        },
    )
