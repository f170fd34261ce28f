"""Property tests: the index stays bounded, monotone and reproducible for any household."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from relief_pwa.core.enums import (
    AreaType,
    Housing,
    Illness,
    Relation,
    Schooling,
    Sex,
    ShockKind,
    WorkCapacity,
)
from relief_pwa.core.facts import (
    JINAN_DEMO_STANDARDS,
    AidReceived,
    HouseholdFacts,
    MemberFacts,
    MoneyItem,
    Shock,
    Standard,
    select_standard,
)
from relief_pwa.core.ranking import RankEntry, rank
from relief_pwa.core.scoring import DEFAULT_MODEL, IndexBreakdown, compute_index, compute_total

AS_OF_MIN = date(2020, 4, 1)
AS_OF_MAX = date(2024, 12, 31)
MAX_FEN = 200_000_00  # 200,000 yuan: beyond every clamp

dates = st.dates(min_value=date(1920, 1, 1), max_value=AS_OF_MAX)
recent_dates = st.dates(min_value=date(2018, 1, 1), max_value=AS_OF_MAX + timedelta(days=60))
amounts = st.integers(min_value=0, max_value=MAX_FEN)

members = st.builds(
    MemberFacts,
    birth_date=st.none() | dates,
    sex=st.sampled_from(Sex),
    relation=st.sampled_from(Relation),
    disability_grade=st.none() | st.integers(min_value=1, max_value=4),
    illness=st.sampled_from(Illness),
    work_capacity=st.sampled_from(WorkCapacity),
    schooling=st.sampled_from(Schooling),
)


def money(kinds: list[str]) -> st.SearchStrategy[MoneyItem]:
    return st.builds(
        MoneyItem,
        kind=st.sampled_from(kinds),
        declared_fen=amounts,
        verified_fen=st.none() | amounts,
    )


households = st.builds(
    HouseholdFacts,
    household_id=st.integers(min_value=1, max_value=10**9),
    file_no=st.text(alphabet="ABCDEFG0123456789-", min_size=1, max_size=10),
    area_type=st.sampled_from(AreaType),
    district_code=st.sampled_from(["370102", "370124", "370126"]),
    housing=st.none() | st.sampled_from(Housing),
    members=st.lists(members, max_size=7).map(tuple),
    incomes=st.lists(money(["wages", "pension", "farming"]), max_size=3).map(tuple),
    assets=st.lists(money(["deposits", "vehicle"]), max_size=3).map(tuple),
    expenses=st.lists(money(["medical", "education"]), max_size=3).map(tuple),
    shocks=st.lists(
        st.builds(Shock, kind=st.sampled_from(ShockKind), occurred_on=recent_dates), max_size=3
    ).map(tuple),
    aid=st.lists(
        st.builds(AidReceived, value_fen=amounts, received_on=recent_dates, source=st.just("x")), max_size=4
    ).map(tuple),
    categories=st.just(("dibao",)),
    has_legal_supporter_able=st.none() | st.booleans(),
)
as_of_dates = st.dates(min_value=AS_OF_MIN, max_value=AS_OF_MAX)


def standard_for(facts: HouseholdFacts, as_of: date) -> Standard:
    return select_standard(JINAN_DEMO_STANDARDS, facts.district_code, facts.area_type, as_of)


def score(facts: HouseholdFacts, as_of: date) -> IndexBreakdown:
    return compute_index(facts, standard_for(facts, as_of), DEFAULT_MODEL, as_of)


@given(households, as_of_dates)
def test_total_always_between_0_and_100_with_two_decimals(facts: HouseholdFacts, as_of: date) -> None:
    breakdown = score(facts, as_of)
    assert Decimal(0) <= breakdown.total <= Decimal(100)
    assert breakdown.total.as_tuple().exponent == -2
    for line in breakdown.lines:
        cap = DEFAULT_MODEL.factors[line.code].max_points
        assert min(cap, Decimal(0)) <= line.points <= max(cap, Decimal(0))
    assert breakdown.provisional == bool(breakdown.missing)
    unclipped = sum(line.points for line in breakdown.lines)
    assert breakdown.total == min(max(unclipped, Decimal(0)), Decimal(100))


@given(households, as_of_dates, st.data())
def test_more_income_never_raises_the_index(facts: HouseholdFacts, as_of: date, data: st.DataObject) -> None:
    if not facts.incomes:
        facts = dataclasses.replace(facts, incomes=(MoneyItem("wages", 0),))
    position = data.draw(st.integers(min_value=0, max_value=len(facts.incomes) - 1))
    extra = data.draw(st.integers(min_value=1, max_value=MAX_FEN))
    item = facts.incomes[position]
    richer_item = dataclasses.replace(
        item,
        declared_fen=item.declared_fen + extra,
        verified_fen=None if item.verified_fen is None else item.verified_fen + extra,
    )
    richer = dataclasses.replace(
        facts, incomes=(*facts.incomes[:position], richer_item, *facts.incomes[position + 1 :])
    )
    assert score(richer, as_of).total <= score(facts, as_of).total
    assert score(richer, as_of).line("income_gap").points <= score(facts, as_of).line("income_gap").points


@given(households, as_of_dates, amounts, st.integers(min_value=0, max_value=500))
def test_more_aid_never_raises_the_index(
    facts: HouseholdFacts, as_of: date, value: int, days_ago: int
) -> None:
    helped = dataclasses.replace(
        facts, aid=(*facts.aid, AidReceived(value, as_of - timedelta(days=days_ago), "more"))
    )
    assert score(helped, as_of).total <= score(facts, as_of).total


@given(households, as_of_dates, st.data())
def test_more_members_unable_to_work_never_lowers_dependants(
    facts: HouseholdFacts, as_of: date, data: st.DataObject
) -> None:
    before = score(facts, as_of).line("dependants").points
    existing_member_changes: bool = data.draw(st.booleans())
    if facts.members and existing_member_changes:
        # Someone already in the household becomes unable to work.
        position = data.draw(st.integers(min_value=0, max_value=len(facts.members) - 1))
        unable = dataclasses.replace(facts.members[position], work_capacity=WorkCapacity.NONE)
        changed = (*facts.members[:position], unable, *facts.members[position + 1 :])
    else:
        # A new member who cannot work joins (an elderly parent).
        parent = MemberFacts(date(as_of.year - 75, 1, 1), Sex.MALE, Relation.PARENT, None)
        changed = (*facts.members, parent)
    after = score(dataclasses.replace(facts, members=changed), as_of).line("dependants").points
    assert after >= before


@given(households, as_of_dates)
def test_snapshot_round_trip_reproduces_the_breakdown(facts: HouseholdFacts, as_of: date) -> None:
    restored = HouseholdFacts.from_dict(json.loads(json.dumps(facts.to_dict())))
    assert restored == facts
    assert score(restored, as_of) == score(facts, as_of)


@given(households, as_of_dates)
def test_compute_total_agrees_with_compute_index(facts: HouseholdFacts, as_of: date) -> None:
    standard = standard_for(facts, as_of)
    assert compute_total(facts, standard, DEFAULT_MODEL, as_of) == score(facts, as_of).total


rank_entries = st.lists(
    st.builds(
        RankEntry,
        household_id=st.integers(min_value=1, max_value=50),
        index=st.decimals(min_value=0, max_value=100, places=2),
        first_applied_on=st.dates(min_value=date(2020, 1, 1), max_value=date(2020, 1, 5)),
        file_no=st.sampled_from(["A", "B", "C"]),
    ),
    max_size=40,
    unique_by=lambda e: e.household_id,
)


@settings(max_examples=200)
@given(rank_entries, st.randoms(use_true_random=False))
def test_ranking_is_a_deterministic_total_order(entries: list[RankEntry], rng: random.Random) -> None:
    expected = rank(entries)
    shuffled = list(entries)
    rng.shuffle(shuffled)
    assert rank(shuffled) == expected
    assert [r.rank for r in expected] == list(range(1, len(entries) + 1))
    for higher, lower in itertools.pairwise(expected):
        assert higher.entry.index >= lower.entry.index
        if higher.entry.index == lower.entry.index:
            assert (higher.entry.first_applied_on, higher.entry.file_no, higher.entry.household_id) < (
                lower.entry.first_applied_on,
                lower.entry.file_no,
                lower.entry.household_id,
            )
