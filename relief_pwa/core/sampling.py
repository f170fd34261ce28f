"""Targeting monitor: a reproducible stratified random sample for re-verification,
and inclusion/exclusion error estimates from what the re-verification found.

Pure: the seed is data (stored with the sample), so the same population and
seed always give the same households, whatever order the rows arrive in.

- **Inclusion error**: the share of sampled *recipients* (active households)
  found ineligible on re-verification.
- **Exclusion error**: the share of sampled *rejected* households found
  eligible.

Intervals are Wilson score intervals (good for small samples and shares near
0 or 1). Allocation within a group is proportional to stratum size, so the
pooled share is self-weighting and estimates the whole area's error.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_

ACTIVE = "active"
REJECTED = "rejected"
GROUPS = (ACTIVE, REJECTED)
ELIGIBLE = "eligible"
INELIGIBLE = "ineligible"
FINDINGS = (ELIGIBLE, INELIGIBLE)
MAX_SAMPLE = 2000
Z_95 = 1.959963984540054
ALL = ""  # the stratum key of the pooled (whole area) estimate


def check_sizes(size_active: int, size_rejected: int) -> None:
    errors: list[tuple[str, int]] = [("size_active", size_active), ("size_rejected", size_rejected)]
    for name, size in errors:
        if not 0 <= size <= MAX_SAMPLE:
            raise DomainError(N_("A sample size is a number from 0 to {max}."), field=name, max=MAX_SAMPLE)
    if size_active + size_rejected == 0:
        raise DomainError(N_("Ask for at least one household."), field="size_active")


def allocate(population: Mapping[str, int], total: int) -> dict[str, int]:
    """Split ``total`` over strata in proportion to their size (largest remainder),
    never more than a stratum has; every non-empty stratum gets at least one when
    ``total`` allows, so each district gets an estimate."""
    sizes = {k: v for k, v in sorted(population.items()) if v > 0}
    total = min(max(total, 0), sum(sizes.values()))
    if total == 0:
        return dict.fromkeys(population, 0)
    grand = sum(sizes.values())
    # total <= grand, so each quota is at most the stratum's size: no cap needed
    quotas = {k: total * n / grand for k, n in sizes.items()}
    result = {k: int(q) for k, q in quotas.items()}
    order = sorted(sizes, key=lambda k: (-(quotas[k] - int(quotas[k])), k))
    for k in order[: total - sum(result.values())]:
        result[k] += 1
    if total >= len(sizes):  # one for every stratum, taken from the largest allocations
        for k in [k for k in sizes if result[k] == 0]:
            donor = max(result, key=lambda d: (result[d], d))
            result[donor] -= 1
            result[k] = 1
    return {k: result.get(k, 0) for k in population}


def draw_stratified(units: Mapping[str, Sequence[int]], total: int, seed: int) -> dict[str, list[int]]:
    """A simple random sample inside each stratum, sizes from :func:`allocate`.

    Each stratum has its own generator seeded by (seed, stratum): adding a
    district does not change which households another district drew.
    """
    population = {k: sorted(set(v)) for k, v in units.items()}
    sizes = allocate({k: len(v) for k, v in population.items()}, total)
    picked: dict[str, list[int]] = {}
    for stratum in sorted(population):
        rng = random.Random(f"{seed}|{stratum}")
        picked[stratum] = sorted(rng.sample(population[stratum], sizes.get(stratum, 0)))
    return picked


def wilson_interval(errors: int, n: int, z: float = Z_95) -> tuple[float, float]:
    if n <= 0:
        return (0.0, 1.0)
    p = errors / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class ErrorEstimate:
    sampled: int  # items drawn in this group and stratum
    checked: int  # items with a finding
    errors: int  # wrongly included (active found ineligible) or excluded (rejected found eligible)

    @property
    def pending(self) -> int:
        return self.sampled - self.checked

    @property
    def share(self) -> float | None:
        return self.errors / self.checked if self.checked else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.errors, self.checked) if self.checked else None


@dataclass(frozen=True)
class TargetingEstimate:
    stratum: str
    inclusion: ErrorEstimate
    exclusion: ErrorEstimate


@dataclass(frozen=True)
class Finding:
    stratum: str
    group: str  # active | rejected
    finding: str  # eligible | ineligible | "" (not yet)


def estimate_errors(findings: Iterable[Finding]) -> list[TargetingEstimate]:
    """Inclusion and exclusion error by stratum, and pooled (stratum ``ALL``) last."""
    counts: dict[tuple[str, str], list[int]] = {}
    for f in findings:
        if f.group not in GROUPS:
            continue
        wrong = INELIGIBLE if f.group == ACTIVE else ELIGIBLE
        for stratum in (f.stratum, ALL):
            c = counts.setdefault((stratum, f.group), [0, 0, 0])
            c[0] += 1
            c[1] += f.finding in FINDINGS
            c[2] += f.finding == wrong
    strata = sorted({s for s, _ in counts if s != ALL})
    out: list[TargetingEstimate] = []
    for stratum in [*strata, ALL] if counts else []:
        active = counts.get((stratum, ACTIVE), [0, 0, 0])
        rejected = counts.get((stratum, REJECTED), [0, 0, 0])
        out.append(TargetingEstimate(stratum, ErrorEstimate(*active), ErrorEstimate(*rejected)))
    return out
