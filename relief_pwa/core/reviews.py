"""What a review (复核) decides from the verified facts: the re-drafted monthly amount of a
running line, and whether gradual exit (渐退) applies (docs/reviews-and-aid.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relief_pwa.core.plans import monthly_amount


@dataclass(frozen=True)
class ReviewFacts:
    size: int
    income_fen: int  # a month, verified where verified
    work_income_fen: int
    standard_fen: int  # 低保 standard per person and month

    @property
    def per_capita_fen(self) -> int:
        return max(0, self.income_fen) // self.size

    @property
    def per_capita_without_work_fen(self) -> int:
        return max(0, self.income_fen - self.work_income_fen) // self.size


def proposed_amount(line: dict[str, Any], facts: ReviewFacts) -> int:
    """A running line's monthly amount re-drafted from the facts (0: nothing is due)."""
    return monthly_amount(
        line["statutory"] or None,
        line["unit"],
        int(line["unit_amount_fen"]),
        facts.size,
        facts.standard_fen,
        facts.per_capita_fen,
    )


def gradual_exit_applies(facts: ReviewFacts) -> bool:
    """Work income, and only work income, lifts the household to the standard or above."""
    return facts.per_capita_fen >= facts.standard_fen > facts.per_capita_without_work_fen
