"""The review's pure rules: the re-drafted monthly amount and when 渐退 applies."""

from __future__ import annotations

from relief_pwa.core.reviews import ReviewFacts, gradual_exit_applies, proposed_amount

STANDARD = 1_000_00  # yuan 1,000 a person and month


def facts(income: int, work: int = 0, size: int = 2) -> ReviewFacts:
    return ReviewFacts(size=size, income_fen=income, work_income_fen=work, standard_fen=STANDARD)


def test_the_dibao_gap_is_recomputed_from_the_verified_income() -> None:
    line = {"statutory": "dibao_gap", "unit": "per_household", "unit_amount_fen": 0}
    assert proposed_amount(line, facts(income=1_200_00)) == (1_000_00 - 600_00) * 2
    assert proposed_amount(line, facts(income=2_400_00)) == 0  # above the standard: nothing is due


def test_unit_amounts_follow_the_household_size() -> None:
    per_person = {"statutory": "", "unit": "per_person", "unit_amount_fen": 50_00}
    per_household = {"statutory": "", "unit": "per_household", "unit_amount_fen": 50_00}
    assert proposed_amount(per_person, facts(income=0, size=3)) == 150_00
    assert proposed_amount(per_household, facts(income=0, size=3)) == 50_00


def test_gradual_exit_only_when_work_income_lifts_the_household_over_the_standard() -> None:
    assert gradual_exit_applies(facts(income=2_400_00, work=1_000_00))  # 1,200 a head; 700 without work
    assert not gradual_exit_applies(facts(income=1_200_00, work=1_000_00))  # still below the standard
    assert not gradual_exit_applies(facts(income=3_000_00, work=200_00))  # above even without work
