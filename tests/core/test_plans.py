from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relief_pwa.core.enums import Category
from relief_pwa.core.errors import DomainError
from relief_pwa.core.plans import (
    Candidate,
    Draft,
    EligibilityRule,
    LineReason,
    PassOverCode,
    Periodicity,
    Resource,
    ResourceKind,
    Statutory,
    Unit,
    draft_plans,
    what_if,
)

LIXIA = "370100.370102"
LIXIA_COMMUNITY = "370100.370102.370102001.370102001001"
SHIZHONG_COMMUNITY = "370100.370103.370103002.370103002004"


def household(hid: int, rank: int, **overrides: Any) -> Candidate:
    values: dict[str, Any] = {
        "household_id": hid,
        "file_no": f"F{hid:05d}",
        "index": Decimal(100 - rank),
        "rank": rank,
        "org_path": LIXIA_COMMUNITY,
        "categories": frozenset({Category.DIBAO}),
        "household_size": 3,
        "per_capita_income_fen": 30000,
        "standard_fen": 74000,
        "already_receiving": frozenset(),
    }
    values.update(overrides)
    return Candidate(**values)


def cash(rid: int, amount_fen: int, **overrides: Any) -> Resource:
    values: dict[str, Any] = {
        "resource_id": rid,
        "name": f"R{rid}",
        "kind": ResourceKind.CASH,
        "need": f"need{rid}",
        "unit": Unit.PER_HOUSEHOLD,
        "unit_amount_fen": amount_fen,
        "priority": rid,
    }
    values.update(overrides)
    return Resource(**values)


def codes(draft: Draft, household_id: int) -> list[PassOverCode]:
    (entry,) = [p for p in draft.passed_over if p.household_id == household_id]
    return [reason.code for reason in entry.reasons]


def allocated(draft: Draft) -> list[tuple[int, int, int]]:
    return [(line.household_id, line.resource_id, line.total_fen) for line in draft.lines]


def test_scarce_budget_goes_to_the_top_ranked_two() -> None:
    households = [household(3, rank=3), household(1, rank=1), household(2, rank=2)]
    winter = cash(10, 50000, budget_remaining_fen=100000)

    draft = draft_plans(households, [winter])

    assert allocated(draft) == [(1, 10, 50000), (2, 10, 50000)]
    assert codes(draft, 3) == [PassOverCode.BUDGET_EXHAUSTED]
    assert draft.passed_over[0].reasons[0].resource_id == 10
    assert draft.totals[10].budget_remaining_fen == 0
    assert draft.totals[10].households == 2
    assert draft.total_fen == 100000
    assert draft.households_covered == 2


def test_competing_households_share_two_resources_in_rank_order() -> None:
    # Budget for one line each; the higher-ranked takes the higher-priority resource
    # and the second household falls through to the other need.
    households = [household(1, rank=1), household(2, rank=2), household(3, rank=3)]
    heating = cash(1, 40000, need="heating", budget_remaining_fen=40000)
    food = cash(2, 20000, need="food", budget_remaining_fen=40000)

    draft = draft_plans(households, [food, heating])

    assert allocated(draft) == [(1, 1, 40000), (1, 2, 20000), (2, 2, 20000)]
    assert codes(draft, 3) == [PassOverCode.BUDGET_EXHAUSTED]
    assert draft.passed_over[0].reasons[0].resource_count == 2


def test_rank_ties_are_broken_by_file_number_deterministically() -> None:
    # Same rank: the earlier file number wins, whatever the ids or input order.
    households = [
        household(4, rank=1, file_no="F-B"),
        household(7, rank=1, file_no="F-A"),
    ]
    for order in (households, households[::-1]):
        draft = draft_plans(order, [cash(1, 10000, budget_remaining_fen=10000)])
        assert allocated(draft) == [(7, 1, 10000)]
        assert [p.household_id for p in draft.passed_over] == [4]


@pytest.mark.parametrize(
    ("candidate", "rule", "code"),
    [
        (
            household(1, 1, categories=frozenset({Category.TEKUN})),
            EligibilityRule(categories=frozenset({Category.DIBAO, Category.DIBAO_EDGE})),
            PassOverCode.CATEGORY_NOT_COVERED,
        ),
        (
            household(1, 1, index=Decimal("59.99")),
            EligibilityRule(min_index=Decimal("60")),
            PassOverCode.INDEX_BELOW_THRESHOLD,
        ),
        (
            household(1, 1, org_path=SHIZHONG_COMMUNITY),
            EligibilityRule(area_prefixes=(LIXIA,)),
            PassOverCode.OUTSIDE_AREA,
        ),
        (
            # Prefixes match whole segments: 370102 is not 3701020.
            household(1, 1, org_path="370100.3701020.1"),
            EligibilityRule(area_prefixes=(LIXIA,)),
            PassOverCode.OUTSIDE_AREA,
        ),
        (
            household(1, 1, already_receiving=frozenset({"heating"})),
            EligibilityRule(),
            PassOverCode.ALREADY_RECEIVES_NEED,
        ),
    ],
)
def test_rules_exclude_with_a_reason(candidate: Candidate, rule: EligibilityRule, code: PassOverCode) -> None:
    draft = draft_plans([candidate], [cash(1, 10000, need="heating", rule=rule)])
    assert draft.lines == ()
    assert codes(draft, 1) == [code]


@pytest.mark.parametrize(
    ("candidate", "rule"),
    [
        (
            household(1, 1, categories=frozenset({Category.TEKUN, Category.MEDICAL})),
            EligibilityRule(categories=frozenset({Category.MEDICAL})),
        ),
        (household(1, 1, index=Decimal("60")), EligibilityRule(min_index=Decimal("60"))),
        (household(1, 1, org_path=LIXIA_COMMUNITY), EligibilityRule(area_prefixes=("370100.370199", LIXIA))),
        (household(1, 1, org_path=LIXIA), EligibilityRule(area_prefixes=(LIXIA,))),
        (household(1, 1, already_receiving=frozenset({"food"})), EligibilityRule()),
    ],
)
def test_rules_include_at_the_boundary(candidate: Candidate, rule: EligibilityRule) -> None:
    draft = draft_plans([candidate], [cash(1, 10000, need="heating", rule=rule)])
    assert allocated(draft) == [(1, 1, 10000)]


def test_pass_over_lists_each_distinct_reason_once_with_counts() -> None:
    candidate = household(1, 1, categories=frozenset({Category.TEMPORARY}), index=Decimal("10"))
    resources = [
        cash(1, 100, rule=EligibilityRule(categories=frozenset({Category.DIBAO}))),
        cash(2, 100, rule=EligibilityRule(categories=frozenset({Category.TEKUN}))),
        cash(3, 100, rule=EligibilityRule(min_index=Decimal("50"))),
        cash(4, 100, budget_remaining_fen=0),
        cash(5, 300, unit=Unit.PER_PERSON, budget_remaining_fen=500),  # 3 persons need 900
    ]
    draft = draft_plans([candidate], resources)
    (entry,) = draft.passed_over
    summary = [(r.code, r.resource_id, r.resource_count) for r in entry.reasons]
    assert summary == [
        (PassOverCode.CATEGORY_NOT_COVERED, 1, 2),
        (PassOverCode.INDEX_BELOW_THRESHOLD, 3, 1),
        (PassOverCode.BUDGET_EXHAUSTED, 4, 1),
        (PassOverCode.BUDGET_INSUFFICIENT, 5, 1),
    ]
    insufficient = entry.reasons[-1]
    assert insufficient.params == {"resource": "R5", "remaining": "5.00", "needed": "9.00"}
    assert entry.reasons[1].params["threshold"] == "50"


def test_no_double_benefit_for_the_same_need() -> None:
    government = cash(1, 30000, need="heating", priority=10)
    charity = cash(2, 20000, need="heating", priority=20)
    food = cash(3, 5000, need="food", priority=30)
    draft = draft_plans([household(1, 1)], [charity, food, government])
    assert allocated(draft) == [(1, 1, 30000), (1, 3, 5000)]
    assert draft.totals[2].households == 0


def test_same_need_falls_through_when_the_first_is_spent() -> None:
    government = cash(1, 30000, need="heating", priority=10, budget_remaining_fen=30000)
    charity = cash(2, 20000, need="heating", priority=20)
    draft = draft_plans([household(1, 1), household(2, 2)], [government, charity])
    assert allocated(draft) == [(1, 1, 30000), (2, 2, 20000)]


def test_dibao_gap_is_computed_by_rule() -> None:
    dibao = cash(
        1,
        0,
        name="低保",
        need="living",
        statutory=Statutory.DIBAO_GAP,
        periodicity=Periodicity.MONTHLY,
        months=12,
        rule=EligibilityRule(categories=frozenset({Category.DIBAO})),
        priority=0,
    )
    candidate = household(1, 1, standard_fen=74000, per_capita_income_fen=30000, household_size=3)

    (line,) = draft_plans([candidate], [dibao]).lines

    assert line.amount_fen == 132000  # (740 − 300) × 3 = 1,320 yuan a month
    assert line.months == 12
    assert line.total_fen == 132000 * 12
    assert line.reason_code is LineReason.STATUTORY_GAP
    assert line.params["gap"] == "440.00"
    assert line.params["amount"] == "1,320.00"
    assert line.reason.format(**line.params).startswith("低保: standard 740.00")


def test_dibao_gap_zero_is_a_reason_and_other_needs_still_apply() -> None:
    dibao = cash(1, 0, need="living", statutory="dibao_gap", priority=0)
    heating = cash(2, 10000, need="heating")
    rich = household(1, 1, per_capita_income_fen=74000, standard_fen=74000)
    poor = household(2, 2, per_capita_income_fen=74000, standard_fen=74000)
    draft = draft_plans([rich], [dibao])
    assert codes(draft, 1) == [PassOverCode.STATUTORY_GAP_ZERO]
    assert allocated(draft_plans([poor], [dibao, heating])) == [(2, 2, 10000)]


def test_dibao_budget_skips_a_large_gap_but_serves_a_smaller_one() -> None:
    dibao = cash(1, 0, need="living", statutory="dibao_gap", budget_remaining_fen=50000)
    big = household(1, 1, household_size=4)  # gap 440 × 4 = 1,760
    small = household(2, 2, household_size=1)  # gap 440
    draft = draft_plans([big, small], [dibao])
    assert allocated(draft) == [(2, 1, 44000)]
    assert codes(draft, 1) == [PassOverCode.BUDGET_INSUFFICIENT]


def test_per_person_and_per_household_amounts() -> None:
    per_person = cash(1, 10000, unit=Unit.PER_PERSON, need="food")
    per_household = cash(2, 10000, unit=Unit.PER_HOUSEHOLD, need="heating")
    draft = draft_plans([household(1, 1, household_size=4)], [per_person, per_household])
    assert allocated(draft) == [(1, 1, 40000), (1, 2, 10000)]
    assert [line.reason_code for line in draft.lines] == [LineReason.PER_PERSON, LineReason.PER_HOUSEHOLD]


def test_monthly_cash_draws_all_months_from_the_budget() -> None:
    monthly = cash(1, 10000, periodicity="monthly", months=6, budget_remaining_fen=100000)
    draft = draft_plans([household(1, 1), household(2, 2)], [monthly])
    assert allocated(draft) == [(1, 1, 60000)]
    assert draft.totals[1].budget_remaining_fen == 40000
    assert codes(draft, 2) == [PassOverCode.BUDGET_EXHAUSTED]


def test_in_kind_quantity_limits() -> None:
    coal = Resource(
        resource_id=1,
        name="过冬煤",
        kind=ResourceKind.IN_KIND,
        need="heating",
        unit=Unit.PER_PERSON,
        unit_quantity=1,
        quantity_remaining=5,
    )
    households = [
        household(1, 1, household_size=3),
        household(2, 2, household_size=3),  # 3 > 2 left: skipped
        household(3, 3, household_size=2),  # fits exactly
        household(4, 4, household_size=1),
    ]
    draft = draft_plans(households, [coal])
    assert [(line.household_id, line.quantity, line.total_fen) for line in draft.lines] == [
        (1, 3, 0),
        (3, 2, 0),
    ]
    assert codes(draft, 2) == [PassOverCode.QUANTITY_INSUFFICIENT]
    assert codes(draft, 4) == [PassOverCode.QUANTITY_EXHAUSTED]
    assert draft.totals[1].quantity_remaining == 0


def test_no_resources_is_a_reason() -> None:
    draft = draft_plans([household(1, 1)], [])
    assert codes(draft, 1) == [PassOverCode.NO_RESOURCES]


@pytest.mark.parametrize(
    "overrides",
    [
        {"kind": "cash", "unit_amount_fen": 0},
        {"kind": "in_kind", "unit_quantity": 0},
        {"kind": "gift"},
        {"periodicity": "one_off", "months": 3},
        {"periodicity": "monthly", "months": 0},
        {"budget_remaining_fen": -1},
        {"kind": "in_kind", "unit_quantity": 1, "statutory": "dibao_gap"},
        {"unit_amount_fen": 100, "quantity_remaining": 5},
    ],
)
def test_invalid_resources_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(DomainError):
        cash(1, 100, **overrides)


def test_duplicate_households_and_resources_are_refused() -> None:
    with pytest.raises(DomainError):
        draft_plans([household(1, 1), household(1, 2)], [cash(1, 100)])
    with pytest.raises(DomainError):
        draft_plans([household(1, 1)], [cash(1, 100), cash(1, 200)])


def test_what_if_shows_who_gains_and_loses() -> None:
    households = [household(1, 1), household(2, 2), household(3, 3)]
    winter = cash(10, 50000, budget_remaining_fen=100000)
    other = cash(11, 1000, need="food", budget_remaining_fen=1000)

    more = what_if(households, [winter, other], {10: 50000})
    assert more.newly_covered == (3,)
    assert more.dropped == ()
    (winter_cmp, other_cmp) = sorted(more.resources, key=lambda r: r.resource_id)
    assert (winter_cmp.allocated_before_fen, winter_cmp.allocated_after_fen) == (100000, 150000)
    assert (winter_cmp.households_before, winter_cmp.households_after) == (2, 3)
    assert (winter_cmp.budget_before_fen, winter_cmp.budget_after_fen) == (100000, 150000)
    assert other_cmp.allocated_before_fen == other_cmp.allocated_after_fen == 1000

    less = what_if(households, [winter, other], {10: -50000})
    assert less.newly_covered == ()
    assert less.dropped == (2,)  # household 1 keeps winter (and food); 2 loses winter
    assert less.changed.totals[10].households == 1


@pytest.mark.parametrize(
    "changes",
    [{99: 100}, {10: -100001}, {11: 100}],
)
def test_what_if_refuses_impossible_changes(changes: dict[int, int]) -> None:
    resources = [cash(10, 50000, budget_remaining_fen=100000), cash(11, 1000, need="food")]
    with pytest.raises(DomainError):
        what_if([household(1, 1)], resources, changes)


# ---------------------------------------------------------------------------
# Properties

CATEGORIES = [Category.DIBAO, Category.TEKUN, Category.DIBAO_EDGE, Category.TEMPORARY]
PATHS = [LIXIA_COMMUNITY, SHIZHONG_COMMUNITY, "370100.370102.370102003.370102003001"]
NEEDS = ["living", "heating", "food"]


@st.composite
def candidates_strategy(draw: st.DrawFn) -> list[Candidate]:
    count = draw(st.integers(min_value=0, max_value=25))
    ranks = draw(st.lists(st.integers(min_value=1, max_value=10), min_size=count, max_size=count))
    result = []
    for hid, rank in enumerate(ranks, start=1):
        result.append(
            Candidate(
                household_id=hid,
                file_no=f"F{draw(st.integers(min_value=0, max_value=5))}",
                index=Decimal(draw(st.integers(min_value=0, max_value=100))),
                rank=rank,
                org_path=draw(st.sampled_from(PATHS)),
                categories=frozenset(draw(st.sets(st.sampled_from(CATEGORIES), max_size=2))),
                household_size=draw(st.integers(min_value=1, max_value=6)),
                per_capita_income_fen=draw(st.integers(min_value=0, max_value=90000)),
                standard_fen=74000,
                already_receiving=frozenset(draw(st.sets(st.sampled_from(NEEDS), max_size=1))),
            )
        )
    return result


@st.composite
def resources_strategy(draw: st.DrawFn) -> list[Resource]:
    count = draw(st.integers(min_value=0, max_value=6))
    result = []
    for rid in range(1, count + 1):
        kind = draw(st.sampled_from(list(ResourceKind)))
        statutory = draw(st.sampled_from([None, Statutory.DIBAO_GAP])) if kind is ResourceKind.CASH else None
        monthly = draw(st.booleans())
        has_amount = kind is ResourceKind.CASH or draw(st.booleans())
        result.append(
            Resource(
                resource_id=rid,
                name=f"R{rid}",
                kind=kind,
                need=draw(st.sampled_from(NEEDS)),
                unit=draw(st.sampled_from(list(Unit))),
                unit_amount_fen=draw(st.integers(min_value=1, max_value=50000)) if has_amount else 0,
                unit_quantity=0 if kind is ResourceKind.CASH else draw(st.integers(min_value=1, max_value=3)),
                periodicity=Periodicity.MONTHLY if monthly else Periodicity.ONE_OFF,
                months=draw(st.integers(min_value=1, max_value=12)) if monthly else 1,
                budget_remaining_fen=(
                    draw(st.none() | st.integers(min_value=0, max_value=2_000_000)) if has_amount else None
                ),
                quantity_remaining=(
                    None
                    if kind is ResourceKind.CASH
                    else draw(st.none() | st.integers(min_value=0, max_value=30))
                ),
                rule=EligibilityRule(
                    categories=frozenset(draw(st.sets(st.sampled_from(CATEGORIES), max_size=2))),
                    min_index=draw(st.none() | st.integers(min_value=0, max_value=100).map(Decimal)),
                    area_prefixes=tuple(
                        draw(st.sets(st.sampled_from(["370100.370102", "370100"]), max_size=1))
                    ),
                ),
                statutory=statutory,
                priority=draw(st.integers(min_value=0, max_value=3)),
            )
        )
    return result


@settings(max_examples=150, deadline=None)
@given(candidates_strategy(), resources_strategy(), st.randoms(use_true_random=False))
def test_allocation_respects_limits_and_rules(
    candidates: list[Candidate], resources: list[Resource], rnd: random.Random
) -> None:
    draft = draft_plans(candidates, resources)
    by_id = {r.resource_id: r for r in resources}
    by_household = {c.household_id: c for c in candidates}

    for resource in resources:
        spent_fen = sum(line.total_fen for line in draft.lines if line.resource_id == resource.resource_id)
        spent_qty = sum(
            line.total_quantity for line in draft.lines if line.resource_id == resource.resource_id
        )
        total = draft.totals[resource.resource_id]
        assert (total.allocated_fen, total.allocated_quantity) == (spent_fen, spent_qty)
        if resource.budget_remaining_fen is not None:
            assert spent_fen <= resource.budget_remaining_fen
            assert total.budget_remaining_fen == resource.budget_remaining_fen - spent_fen
        if resource.quantity_remaining is not None:
            assert spent_qty <= resource.quantity_remaining
            assert total.quantity_remaining == resource.quantity_remaining - spent_qty

    needs_given: set[tuple[int, str]] = set()
    for line in draft.lines:
        resource, candidate = by_id[line.resource_id], by_household[line.household_id]
        need = (line.household_id, resource.need)
        assert need not in needs_given  # no double benefit
        needs_given.add(need)
        assert resource.need not in candidate.already_receiving
        rule = resource.rule
        assert not rule.categories or rule.categories & candidate.categories
        assert rule.min_index is None or candidate.index >= rule.min_index
        assert not rule.area_prefixes or any(
            candidate.org_path == p or candidate.org_path.startswith(p + ".") for p in rule.area_prefixes
        )
        assert line.total_fen > 0 or line.total_quantity > 0

    covered = {line.household_id for line in draft.lines}
    passed = [p.household_id for p in draft.passed_over]
    assert covered.isdisjoint(passed)
    assert covered | set(passed) == set(by_household)
    assert all(p.reasons for p in draft.passed_over)
    for entry in draft.passed_over:  # distinct codes only
        assert len({r.code for r in entry.reasons}) == len(entry.reasons)

    shuffled_candidates, shuffled_resources = list(candidates), list(resources)
    rnd.shuffle(shuffled_candidates)
    rnd.shuffle(shuffled_resources)
    assert draft_plans(shuffled_candidates, shuffled_resources) == draft


@settings(max_examples=60, deadline=None)
@given(candidates_strategy(), resources_strategy())
def test_what_if_with_no_change_changes_nothing(
    candidates: list[Candidate], resources: list[Resource]
) -> None:
    result = what_if(candidates, resources, {})
    assert result.baseline == result.changed
    assert result.newly_covered == result.dropped == ()
