"""Ranking order, tie-breaks and the what-if comparison."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pytest

from relief_pwa.core.errors import DomainError
from relief_pwa.core.ranking import RankEntry, compare_rankings, histogram, rank


def entry(household_id: int, index: str, applied: date = date(2020, 5, 1), file_no: str = "") -> RankEntry:
    return RankEntry(household_id, Decimal(index), applied, file_no or f"F{household_id:04d}")


def ids(entries: list[RankEntry]) -> list[int]:
    return [ranked.entry.household_id for ranked in rank(entries)]


@pytest.mark.parametrize(
    ("entries", "expected_order"),
    [
        ([entry(1, "10"), entry(2, "90.5"), entry(3, "50")], [2, 3, 1]),
        # Same index: the earlier application first.
        ([entry(1, "60", date(2020, 5, 2)), entry(2, "60", date(2020, 5, 1))], [2, 1]),
        # Same index and date: file number order.
        ([entry(1, "60", file_no="B-2"), entry(2, "60", file_no="A-9")], [2, 1]),
        # Everything equal (even the file number): the household id decides.
        ([entry(7, "60", file_no="X"), entry(3, "60", file_no="X")], [3, 7]),
        # 0.01 apart is still apart.
        ([entry(1, "60.00"), entry(2, "60.01")], [2, 1]),
        ([], []),
    ],
)
def test_rank_order(entries: list[RankEntry], expected_order: list[int]) -> None:
    assert ids(entries) == expected_order


def test_ranks_are_one_based_and_unique_even_for_ties() -> None:
    ranked = rank([entry(i, "50") for i in range(1, 6)])
    assert [r.rank for r in ranked] == [1, 2, 3, 4, 5]


def test_rank_is_independent_of_input_order() -> None:
    rng = random.Random(7)
    entries = [
        entry(i, str(rng.choice([10, 20, 20, 35])), date(2020, 1, rng.randint(1, 3)), f"F{rng.randint(1, 4)}")
        for i in range(200)
    ]
    expected = rank(entries)
    for _ in range(5):
        rng.shuffle(entries)
        assert rank(entries) == expected


TIE_KEYS = {i: (date(2020, 1, i), f"F{i}") for i in range(1, 7)}


def test_compare_rankings_counts_moves_and_histograms() -> None:
    before = {1: Decimal("80"), 2: Decimal("70"), 3: Decimal("60"), 4: Decimal("5")}
    after = {1: Decimal("55"), 2: Decimal("70"), 3: Decimal("60"), 4: Decimal("100")}
    diff = compare_rankings(before, after, TIE_KEYS)
    # Before: 1, 2, 3, 4. After: 4, 2, 3, 1. Households 2 and 3 keep their ranks.
    assert diff.changed_count == 2
    assert [(m.household_id, m.old_rank, m.new_rank) for m in diff.largest_moves] == [(4, 4, 1), (1, 1, 4)]
    assert diff.largest_moves[0].shift == 3 and diff.largest_moves[1].shift == -3
    assert (diff.largest_moves[0].old_index, diff.largest_moves[0].new_index) == (Decimal(5), Decimal(100))
    assert diff.histogram_before == (1, 0, 0, 0, 0, 0, 1, 1, 1, 0)
    assert diff.histogram_after == (0, 0, 0, 0, 0, 1, 1, 1, 0, 1)
    assert diff.added == () and diff.removed == ()


def test_compare_rankings_limits_moves_and_tracks_added_and_removed() -> None:
    before = {1: Decimal("10"), 2: Decimal("20"), 3: Decimal("30")}
    after = {2: Decimal("40"), 3: Decimal("30"), 5: Decimal("50")}
    diff = compare_rankings(before, after, TIE_KEYS, largest=1)
    assert diff.added == (5,) and diff.removed == (1,)
    # Before: 3 (1st), 2 (2nd). After: 5, 2, 3 → 2 stays 2nd, 3 moves from 1st to 3rd.
    assert diff.changed_count == 1
    assert [(m.household_id, m.old_rank, m.new_rank) for m in diff.largest_moves] == [(3, 1, 3)]


def test_identical_rankings_have_no_moves() -> None:
    scores = {i: Decimal(i * 10) for i in range(1, 6)}
    diff = compare_rankings(scores, dict(scores), TIE_KEYS)
    assert diff.changed_count == 0 and diff.largest_moves == ()
    assert diff.histogram_before == diff.histogram_after


def test_compare_rankings_needs_tie_keys() -> None:
    with pytest.raises(DomainError):
        compare_rankings({99: Decimal(1)}, {99: Decimal(2)}, TIE_KEYS)


@pytest.mark.parametrize(
    ("value", "bucket"),
    [("0", 0), ("9.99", 0), ("10", 1), ("55.5", 5), ("99.99", 9), ("100", 9)],
)
def test_histogram_buckets(value: str, bucket: int) -> None:
    counts = histogram([Decimal(value)])
    assert counts[bucket] == 1 and sum(counts) == 1
