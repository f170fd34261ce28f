"""Stratified sampling is reproducible; error estimates count the right findings."""

from __future__ import annotations

import random

import pytest

from relief_pwa.core.errors import DomainError
from relief_pwa.core.sampling import (
    ALL,
    Finding,
    allocate,
    check_sizes,
    draw_stratified,
    estimate_errors,
    wilson_interval,
)


def test_same_seed_same_sample_whatever_the_order() -> None:
    units = {"A": list(range(1, 101)), "B": list(range(200, 230)), "C": list(range(500, 510))}
    first = draw_stratified(units, 20, seed=42)
    shuffled = {k: random.Random(1).sample(v, len(v)) for k, v in reversed(units.items())}
    assert draw_stratified(shuffled, 20, seed=42) == first
    assert draw_stratified(units, 20, seed=43) != first
    assert sum(len(v) for v in first.values()) == 20
    assert all(set(first[k]) <= set(units[k]) for k in units)


def test_adding_a_stratum_keeps_the_others_draws_when_sizes_stay() -> None:
    base = draw_stratified({"A": list(range(50)), "B": list(range(100, 150))}, 10, seed=9)
    more = draw_stratified({"A": list(range(50)), "B": list(range(100, 150)), "C": [999]}, 11, seed=9)
    assert more["A"] == base["A"] and more["B"] == base["B"] and more["C"] == [999]


def test_allocation_is_proportional_capped_and_exact() -> None:
    assert allocate({"A": 90, "B": 10}, 10) == {"A": 9, "B": 1}
    assert allocate({"A": 1000, "B": 1, "C": 0}, 5) == {"A": 4, "B": 1, "C": 0}  # every district gets one
    assert allocate({"A": 3, "B": 2}, 100) == {"A": 3, "B": 2}  # never more than there are
    assert allocate({}, 5) == {}
    for total in range(0, 60):
        assert sum(allocate({"A": 17, "B": 23, "C": 5}, total).values()) == min(total, 45)


def test_error_estimates_by_stratum_and_pooled() -> None:
    findings = [
        Finding("d1", "active", "ineligible"),
        Finding("d1", "active", "eligible"),
        Finding("d1", "active", ""),
        Finding("d1", "rejected", "eligible"),
        Finding("d2", "active", "eligible"),
        Finding("d2", "rejected", "ineligible"),
        Finding("d2", "rejected", "ineligible"),
    ]
    by = {e.stratum: e for e in estimate_errors(findings)}
    assert (by["d1"].inclusion.sampled, by["d1"].inclusion.checked, by["d1"].inclusion.errors) == (3, 2, 1)
    assert by["d1"].inclusion.share == 0.5 and by["d1"].inclusion.pending == 1
    assert by["d1"].exclusion.share == 1.0
    assert by["d2"].inclusion.share == 0.0 and by["d2"].exclusion.share == 0.0
    assert (by[ALL].inclusion.checked, by[ALL].inclusion.errors) == (3, 1)
    assert (by[ALL].exclusion.checked, by[ALL].exclusion.errors) == (3, 1)
    low, high = by[ALL].inclusion.interval or (0, 0)
    assert low < 1 / 3 < high
    assert estimate_errors([]) == []


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(5, 100)
    assert round(low, 4) == 0.0215 and round(high, 4) == 0.1118
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_sizes_checked() -> None:
    with pytest.raises(DomainError):
        check_sizes(0, 0)
    with pytest.raises(DomainError):
        check_sizes(-1, 5)
    with pytest.raises(DomainError):
        check_sizes(100_000, 5)
    check_sizes(10, 0)
