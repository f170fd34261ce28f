"""Ranking households by relief index, and comparing two rankings (what-if preview).

The order is a deterministic total order (DESIGN §4): higher index first,
then the earlier application, then the file number, and finally the
household id so that even duplicated file numbers cannot make two runs
disagree. Every household gets its own rank (1, 2, 3 …): no shared ranks, so
a quota of Q always selects exactly Q households.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_

__all__ = [
    "BUCKET_COUNT",
    "RankDiff",
    "RankEntry",
    "RankMove",
    "RankedEntry",
    "compare_rankings",
    "histogram",
    "rank",
]

BUCKET_COUNT = 10  # 10-point buckets: [0,10), [10,20) … [90,100]


@dataclass(frozen=True, slots=True)
class RankEntry:
    household_id: int
    index: Decimal
    first_applied_on: date
    file_no: str


@dataclass(frozen=True, slots=True)
class RankedEntry:
    rank: int  # 1-based, unique
    entry: RankEntry


def _order_key(entry: RankEntry) -> tuple[Decimal, date, str, int]:
    return (-entry.index, entry.first_applied_on, entry.file_no, entry.household_id)


def rank(entries: Iterable[RankEntry]) -> list[RankedEntry]:
    """Rank households: index descending, then earlier application, file number, id.

    Args:
        entries: the households to rank (any order).

    Returns:
        The entries with ranks 1…N, in rank order; the same for any input order.
    """
    ordered = sorted(entries, key=_order_key)
    return [RankedEntry(position, entry) for position, entry in enumerate(ordered, start=1)]


@dataclass(frozen=True, slots=True)
class RankMove:
    """One household whose rank changed between two rankings."""

    household_id: int
    old_rank: int
    new_rank: int
    old_index: Decimal
    new_index: Decimal

    @property
    def shift(self) -> int:
        """Positive when the household moves up the list (towards rank 1)."""
        return self.old_rank - self.new_rank


@dataclass(frozen=True, slots=True)
class RankDiff:
    """What a model change would do to a ranking.

    Attributes:
        changed_count: households present in both rankings whose rank changed.
        largest_moves: the biggest rank changes, largest first.
        histogram_before / histogram_after: households per 10-point index bucket.
        added / removed: households present only after / only before.
    """

    changed_count: int
    largest_moves: tuple[RankMove, ...]
    histogram_before: tuple[int, ...]
    histogram_after: tuple[int, ...]
    added: tuple[int, ...]
    removed: tuple[int, ...]


def histogram(indexes: Iterable[Decimal]) -> tuple[int, ...]:
    """Count indexes per 10-point bucket; 100 falls in the last bucket, values are clipped to 0–100."""
    counts = [0] * BUCKET_COUNT
    for value in indexes:
        bucket = int(value // 10)
        counts[min(max(bucket, 0), BUCKET_COUNT - 1)] += 1
    return tuple(counts)


def _ranks(indexes: Mapping[int, Decimal], tie_keys: Mapping[int, tuple[date, str]]) -> dict[int, int]:
    entries = []
    for household_id, value in indexes.items():
        keys = tie_keys.get(household_id)
        if keys is None:
            raise DomainError(
                N_("Tie-break data missing for household {household_id}."),
                field="tie_keys",
                household_id=household_id,
            )
        entries.append(RankEntry(household_id, value, keys[0], keys[1]))
    return {ranked.entry.household_id: ranked.rank for ranked in rank(entries)}


def compare_rankings(
    before: Mapping[int, Decimal],
    after: Mapping[int, Decimal],
    tie_keys: Mapping[int, tuple[date, str]],
    largest: int = 20,
) -> RankDiff:
    """Compare the ranking under the active model with the ranking under a draft.

    Args:
        before: household id → index under the current model.
        after: household id → index under the candidate model.
        tie_keys: household id → (first application date, file number).
        largest: how many of the biggest moves to return.

    Returns:
        The count of rank changes, the largest moves and both histograms.

    Raises:
        DomainError: a household has no tie-break data.
    """
    old_ranks = _ranks(before, tie_keys)
    new_ranks = _ranks(after, tie_keys)
    moves = [
        RankMove(household_id, old_rank, new_ranks[household_id], before[household_id], after[household_id])
        for household_id, old_rank in old_ranks.items()
        if household_id in new_ranks and new_ranks[household_id] != old_rank
    ]
    moves.sort(key=lambda move: (-abs(move.shift), move.new_rank, move.household_id))
    return RankDiff(
        changed_count=len(moves),
        largest_moves=tuple(moves[: max(largest, 0)]),
        histogram_before=histogram(before.values()),
        histogram_after=histogram(after.values()),
        added=tuple(sorted(set(after) - set(before))),
        removed=tuple(sorted(set(before) - set(after))),
    )
