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
from relief_pwa.core.scoring import (
    DEFAULT_MODEL,
    ELDERLY_AGE,
    MINOR_AGE,
    NEVER,
    IndexBreakdown,
    _leaves_window,
    add_months,
    compute_index,
    compute_points,
    compute_total,
    points_hold_until,
)

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


# --- how long a result holds ----------------------------------------------------------------
# Members born so that 16 or 60 falls within the walk below, shocks and aid around as_of.
near_birth_dates = st.dates(min_value=date(1958, 1, 1), max_value=date(2012, 12, 31))
near_members = st.builds(
    MemberFacts,
    birth_date=st.none() | near_birth_dates | st.just(date(2008, 2, 29)) | st.just(date(1964, 2, 29)),
    sex=st.sampled_from(Sex),
    relation=st.sampled_from(Relation),
    disability_grade=st.none() | st.integers(min_value=1, max_value=4),
    illness=st.sampled_from(Illness),
    work_capacity=st.sampled_from(WorkCapacity),
    schooling=st.sampled_from(Schooling),
)
HOLD_AS_OF = (date(2023, 6, 1), date(2024, 3, 31))
WALK_DAYS = 500


near_days = st.integers(min_value=-420, max_value=40)  # shocks and aid around as_of


@settings(max_examples=150, deadline=None)
@given(
    households,
    st.lists(near_members, max_size=4).map(tuple),
    st.dates(min_value=HOLD_AS_OF[0], max_value=HOLD_AS_OF[1]),
    st.lists(st.tuples(st.sampled_from(ShockKind), near_days), max_size=2),
    st.lists(st.tuples(amounts, near_days), max_size=3),
)
def test_points_hold_every_day_until_the_day_given(
    facts: HouseholdFacts,
    members: tuple[MemberFacts, ...],
    as_of: date,
    shocks: list[tuple[ShockKind, int]],
    aid: list[tuple[int, int]],
) -> None:
    """Walking day by day from as_of, the points never change before points_hold_until:
    a re-score that skips computing them until then stores what computing would give."""
    facts = dataclasses.replace(
        facts,
        members=facts.members[:2] + members,
        shocks=facts.shocks + tuple(Shock(kind, as_of + timedelta(days=d)) for kind, d in shocks),
        aid=facts.aid + tuple(AidReceived(fen, as_of + timedelta(days=d)) for fen, d in aid),
    )
    standard = standard_for(facts, as_of)
    first = compute_points(facts, standard, DEFAULT_MODEL, as_of)
    until = points_hold_until(facts, DEFAULT_MODEL, as_of)
    assert until > as_of
    day = as_of
    for _ in range(WALK_DAYS):
        day += timedelta(days=1)
        if day >= until:
            break
        assert compute_points(facts, standard, DEFAULT_MODEL, day) == first, day


def test_points_hold_until_a_member_turns_16_or_60() -> None:
    as_of = date(2024, 1, 10)
    standard = select_standard(JINAN_DEMO_STANDARDS, "370102", AreaType.URBAN, as_of)

    def alone(born: date) -> HouseholdFacts:
        member = MemberFacts(born, Sex.FEMALE, Relation.HEAD, None, Illness.NONE, WorkCapacity.FULL,
                             Schooling.NOT_IN_SCHOOL)  # fmt: skip
        return HouseholdFacts(1, "F-1", AreaType.URBAN, "370102", Housing.RENTED, (member,))

    for born, turns in (
        (date(2008, 3, 5), date(2024, 3, 5)),  # 16
        (date(1964, 2, 1), date(2024, 2, 1)),  # 60
        (date(2008, 2, 29), date(2024, 2, 29)),  # 16 in a leap year
        (date(1963, 2, 28), date(2023, 2, 28)),  # already 60: nothing later changes
        (date(1989, 7, 1), date(2049, 7, 1)),  # 34: the next change is at 60
    ):
        facts = alone(born)
        until = points_hold_until(facts, DEFAULT_MODEL, as_of)
        if turns <= as_of:
            assert until == NEVER
            continue
        assert until == turns
        before = compute_points(facts, standard, DEFAULT_MODEL, turns - timedelta(days=1))
        assert compute_points(facts, standard, DEFAULT_MODEL, turns) != before
    # Born on 29 February: 16 and 60 years later is a leap year again, except across a
    # century not divisible by 400; then the birthday is reached on 1 March (MemberFacts.age_on).
    for born, day, turns in (
        (date(2008, 2, 29), date(2023, 12, 1), date(2024, 2, 29)),
        (date(1964, 2, 29), date(2023, 12, 1), date(2024, 2, 29)),
        (date(2040, 2, 29), date(2099, 6, 1), date(2100, 3, 1)),
        (date(2084, 2, 29), date(2099, 6, 1), date(2100, 3, 1)),
    ):
        facts = alone(born)
        assert points_hold_until(facts, DEFAULT_MODEL, day) == turns
        assert facts.members[0].age_on(turns - timedelta(days=1)) == facts.members[0].age_on(day)
        assert facts.members[0].age_on(turns) in (MINOR_AGE, ELDERLY_AGE)


def test_a_decaying_shock_holds_one_day_and_aid_until_it_leaves_the_window() -> None:
    as_of = date(2024, 1, 31)
    facts = HouseholdFacts(1, "F-1", AreaType.URBAN, "370102", Housing.RENTED, ())
    window = DEFAULT_MODEL.factors["aid"].window_months or 0
    decay = DEFAULT_MODEL.factors["shock"].decay_months or 0
    shocked = dataclasses.replace(facts, shocks=(Shock(ShockKind.DISASTER, as_of - timedelta(days=3)),))
    assert points_hold_until(shocked, DEFAULT_MODEL, as_of) == as_of + timedelta(days=1)
    ended = dataclasses.replace(facts, shocks=(Shock(ShockKind.DISASTER, add_months(as_of, -decay)),))
    assert points_hold_until(ended, DEFAULT_MODEL, as_of) == NEVER
    coming = dataclasses.replace(facts, shocks=(Shock(ShockKind.ACCIDENT, as_of + timedelta(days=9)),))
    assert points_hold_until(coming, DEFAULT_MODEL, as_of) == as_of + timedelta(days=9)
    aided = dataclasses.replace(facts, aid=(AidReceived(500_00, date(2023, 12, 31)),))
    leaves = points_hold_until(aided, DEFAULT_MODEL, as_of)
    inside = date.fromordinal(leaves.toordinal() - 1)
    assert add_months(inside, -window) < date(2023, 12, 31) <= add_months(leaves, -window)


def test_aid_leaves_the_window_on_the_first_day_it_is_outside() -> None:
    """Against a walk over every day, month ends and leap days included."""
    for months in (1, 3, 6, 12, 13):
        received = date(2023, 1, 1)
        while received < date(2025, 1, 1):
            leaves = _leaves_window(received, months)
            day = received
            while add_months(day, -months) < received:
                day += timedelta(days=1)
            assert leaves == day, (received, months)
            received += timedelta(days=1)
