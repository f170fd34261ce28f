"""The statutory means test: outcomes, rule verdicts and the numbers behind them."""

from __future__ import annotations

from datetime import date

import pytest

from relief_pwa.core.eligibility import EligibilityOutcome, EligibilityResult, check_eligibility
from relief_pwa.core.enums import AreaType, Illness, Relation, Sex
from relief_pwa.core.errors import DomainError
from relief_pwa.core.facts import (
    JINAN_DEMO_STANDARDS,
    HouseholdFacts,
    MemberFacts,
    MoneyItem,
    select_standard,
)
from tests.core.test_scoring import AS_OF, URBAN_2020, WORKED_EXAMPLE, household, member

ELDERLY_COUPLE = (member(70), member(68, relation=Relation.SPOUSE))


def check(facts: HouseholdFacts) -> EligibilityResult:
    return check_eligibility(facts, URBAN_2020, AS_OF)


def with_income_fen(facts: HouseholdFacts, fen: int) -> HouseholdFacts:
    return household(facts.members, incomes=(MoneyItem("wages", fen),), assets=facts.assets)


@pytest.mark.parametrize(
    ("facts", "outcome"),
    [
        (household(income_yuan=500), EligibilityOutcome.DIBAO),
        (household(income_yuan=0), EligibilityOutcome.DIBAO),
        (household(income_yuan=739), EligibilityOutcome.DIBAO),
        (household(income_yuan=740), EligibilityOutcome.DIBAO_EDGE),  # at the standard: edge
        (with_income_fen(household(), 1109_99), EligibilityOutcome.DIBAO_EDGE),
        (household(income_yuan=1110), EligibilityOutcome.INELIGIBLE),  # 1.5 × 740 exactly
        (household((member(), member(10)), income_yuan=1479), EligibilityOutcome.DIBAO),
        (household((member(), member(10)), income_yuan=1480), EligibilityOutcome.DIBAO_EDGE),
        # Assets: 24 months × 740 × 1 person = 17,760 yuan.
        (household(assets=(MoneyItem("deposits", 17_760_00),)), EligibilityOutcome.DIBAO),
        (household(assets=(MoneyItem("deposits", 17_760_01),)), EligibilityOutcome.INELIGIBLE),
        (
            household(income_yuan=800, assets=(MoneyItem("vehicle", 30_000_00),)),
            EligibilityOutcome.INELIGIBLE,
        ),
        # 特困: everyone unable to work and no able supporter.
        (
            household(ELDERLY_COUPLE, income_yuan=300, has_legal_supporter_able=False),
            EligibilityOutcome.TEKUN,
        ),
        (household(ELDERLY_COUPLE, income_yuan=300, has_legal_supporter_able=None), EligibilityOutcome.DIBAO),
        (household(ELDERLY_COUPLE, income_yuan=300, has_legal_supporter_able=True), EligibilityOutcome.DIBAO),
        (
            household((member(70), member(40)), income_yuan=300, has_legal_supporter_able=False),
            EligibilityOutcome.DIBAO,
        ),
        (
            household(
                (member(30, disability_grade=1), member(12)), income_yuan=0, has_legal_supporter_able=False
            ),
            EligibilityOutcome.TEKUN,
        ),
        (
            household((member(45, illness=Illness.SERIOUS),), income_yuan=0, has_legal_supporter_able=False),
            EligibilityOutcome.TEKUN,
        ),
        (  # 特困 conditions hold, but income is above the standard: not 特困
            household(ELDERLY_COUPLE, income_yuan=1600, has_legal_supporter_able=False),
            EligibilityOutcome.DIBAO_EDGE,
        ),
        (
            household(
                ELDERLY_COUPLE,
                income_yuan=0,
                assets=(MoneyItem("deposits", 40_000_00),),
                has_legal_supporter_able=False,
            ),
            EligibilityOutcome.INELIGIBLE,
        ),
        # Incomplete facts.
        (household((), income_yuan=0), EligibilityOutcome.INCOMPLETE),
        (household(income_yuan=None), EligibilityOutcome.INCOMPLETE),
        # Missing housing or head does not block the means test.
        (
            household((member(relation=Relation.SPOUSE),), income_yuan=100, housing=None),
            EligibilityOutcome.DIBAO,
        ),
    ],
)
def test_outcomes(facts: HouseholdFacts, outcome: EligibilityOutcome) -> None:
    result = check(facts)
    assert result.outcome == outcome
    for rule in result.rules:  # every message id can be formatted from the rule's own numbers
        rule.detail.format(**rule.numbers)


def test_dibao_rules_carry_their_numbers() -> None:
    result = check(WORKED_EXAMPLE)
    assert result.outcome == "dibao"
    assert [rule.code for rule in result.rules] == [
        "facts_complete",
        "income_below_standard",
        "assets_within_limit",
        "income_below_edge",
        "tekun_conditions",
    ]
    income = result.rule("income_below_standard")
    assert income.passed
    assert income.numbers["household_size"] == 3
    assert income.numbers["income_total_fen"] == 960_00  # the verified figure, not the declared 1,000
    assert income.numbers["per_capita_income_fen"] == 320_00
    assert income.numbers["standard_fen"] == 740_00
    assert income.detail.format(**income.numbers) == (
        "Per-capita income 320 yuan/month is below the standard of 740 yuan."
    )
    assets = result.rule("assets_within_limit")
    assert assets.passed
    assert assets.numbers["asset_total_fen"] == 20_000_00
    assert assets.numbers["asset_limit_fen"] == 24 * 740_00 * 3
    assert assets.numbers["asset_limit_months"] == 24
    edge = result.rule("income_below_edge")
    assert edge.passed and edge.numbers["edge_limit_fen"] == 1110_00
    tekun = result.rule("tekun_conditions")
    assert not tekun.passed
    assert tekun.numbers["members_unable_to_work"] == 2
    assert tekun.numbers["members_able"] == 1
    assert tekun.numbers["legal_supporter"] == "unknown"
    assert tekun.numbers["tekun_standard_fen"] == 1110_00


def test_edge_rule_reports_failure_with_numbers() -> None:
    result = check(household(income_yuan=1200))
    assert not result.rule("income_below_standard").passed
    edge = result.rule("income_below_edge")
    assert not edge.passed
    assert edge.numbers["per_capita_income_fen"] == 1200_00
    assert edge.detail.format(**edge.numbers) == (
        "Per-capita income 1,200 yuan/month is not below 1.5 × the standard (1,110 yuan)."
    )


def test_asset_failure_says_by_how_much() -> None:
    result = check(household(assets=(MoneyItem("deposits", 20_000_00),)))
    assets = result.rule("assets_within_limit")
    assert not assets.passed
    assert assets.detail.format(**assets.numbers) == (
        "Assets of 20,000 yuan exceed the limit of 17,760 yuan (24 months × standard × 1 persons)."
    )


@pytest.mark.parametrize(
    ("supporter", "members", "legal_supporter", "detail_start"),
    [
        (False, ELDERLY_COUPLE, "none", "All 2 members are unable to work"),
        (None, ELDERLY_COUPLE, "unknown", "Not yet established"),
        (True, ELDERLY_COUPLE, "able", "A legally obliged supporter"),
        (False, (member(70), member(40)), "none", "1 of 2 members are able to work"),
        (False, (member(70), member(None)), "none", "Work ability of 1 members is unknown"),
    ],
)
def test_tekun_rule_explains_itself(
    supporter: bool | None, members: tuple[MemberFacts, ...], legal_supporter: str, detail_start: str
) -> None:
    rule = check(household(members, income_yuan=0, has_legal_supporter_able=supporter)).rule(
        "tekun_conditions"
    )
    assert rule.numbers["legal_supporter"] == legal_supporter
    assert rule.detail.format(**rule.numbers).startswith(detail_start)


def test_unknown_birth_date_with_severe_disability_is_still_unable_to_work() -> None:
    severe = MemberFacts(None, Sex.MALE, Relation.HEAD, 1)
    result = check(household((severe,), income_yuan=0, has_legal_supporter_able=False))
    assert result.outcome == EligibilityOutcome.TEKUN


def test_no_members_reports_what_is_missing() -> None:
    result = check(household((), income_yuan=None))
    assert result.outcome == EligibilityOutcome.INCOMPLETE
    assert [rule.code for rule in result.rules] == ["facts_complete"]
    assert result.rules[0].numbers["missing"] == "members,income"
    assert not result.rules[0].passed


def test_missing_income_still_reports_other_rules() -> None:
    result = check(household(income_yuan=None, assets=(MoneyItem("deposits", 50_000_00),)))
    assert result.outcome == EligibilityOutcome.INCOMPLETE
    assert result.rule("facts_complete").numbers["missing"] == "income"
    assert not result.rule("assets_within_limit").passed


def test_rural_standard_applies_to_rural_households() -> None:
    rural = select_standard(JINAN_DEMO_STANDARDS, "370126", AreaType.RURAL, date(2020, 6, 1))
    facts = household(income_yuan=600, area_type=AreaType.RURAL, district_code="370126")
    result = check_eligibility(facts, rural, AS_OF)
    assert result.outcome == EligibilityOutcome.DIBAO_EDGE  # 600 ≥ 494, < 741
    assert result.rule("income_below_edge").numbers["edge_limit_fen"] == 741_00


@pytest.mark.parametrize(
    "as_of",
    [date(2020, 3, 31)],  # before the standard took effect
)
def test_standard_not_in_force_is_refused(as_of: date) -> None:
    with pytest.raises(DomainError):
        check_eligibility(household(), URBAN_2020, as_of)


def test_standard_for_another_district_is_refused() -> None:
    with pytest.raises(DomainError):
        check_eligibility(household(district_code="370103"), URBAN_2020, AS_OF)
