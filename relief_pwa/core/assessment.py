"""The quarterly assessment (考核) of districts and streets: indicators, weights, scores, ranks.

Pure arithmetic over counted figures (docs/assessment.md): each indicator is a
rate ``numerator / denominator``; a unit's score is the weighted mean of its
rates times 100. An indicator with no cases in a unit (denominator 0) drops
out and its weight is spread over the others in proportion to theirs, so a
street without objections is neither rewarded nor punished for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_

WEIGHT_MIN = 0
WEIGHT_MAX = 100


@dataclass(frozen=True)
class IndicatorSpec:
    key: str
    label: str  # English message id, translated at the edge
    numerator: str  # what is counted on top (message id)
    denominator: str  # what it is counted among (message id)
    default_weight: int


INDICATOR_SPECS: tuple[IndicatorSpec, ...] = (
    IndicatorSpec(
        "intake",
        N_("Timely intake"),
        N_("investigation started within the intake deadline"),
        N_("applications received in the quarter"),
        10,
    ),
    IndicatorSpec(
        "investigation",
        N_("Timely investigation"),
        N_("station finding within the investigation deadline"),
        N_("applications received in the quarter"),
        15,
    ),
    IndicatorSpec(
        "approval",
        N_("Timely approval"),
        N_("decided within the approval deadline"),
        N_("decisions due in the quarter"),
        15,
    ),
    IndicatorSpec(
        "referral",
        N_("Timely referrals"),
        N_("answered by the due day"),
        N_("referrals due in the quarter"),
        10,
    ),
    IndicatorSpec(
        "review",
        N_("Review coverage"),
        N_("reviews done on time"),
        N_("reviews due in the quarter"),
        15,
    ),
    IndicatorSpec(
        "objection",
        N_("Objection handling"),
        N_("answered within the deadline"),
        N_("objections and complaints due in the quarter"),
        10,
    ),
    IndicatorSpec(
        "datacheck",
        N_("Data-check coverage"),
        N_("findings with a data-check report"),
        N_("station findings in the quarter"),
        10,
    ),
    IndicatorSpec(
        "payment",
        N_("Payment accuracy"),
        N_("paid and reconciled at the first attempt"),
        N_("payment lines sent for the quarter's months"),
        10,
    ),
    IndicatorSpec(
        "targeting",
        N_("Targeting accuracy"),
        N_("re-verified households whose status was right"),
        N_("re-verification findings in the quarter"),
        5,
    ),
)
SPECS_BY_KEY = {spec.key: spec for spec in INDICATOR_SPECS}


@dataclass(frozen=True)
class WeightChange:
    key: str
    weight: int
    effective_from: date


def check_weight(key: str, weight: int) -> None:
    if key not in SPECS_BY_KEY:
        raise DomainError(N_("Unknown indicator."), field="key")
    if not WEIGHT_MIN <= weight <= WEIGHT_MAX:
        raise DomainError(
            N_("The value must lie between {minimum} and {maximum}."),
            field="weight",
            minimum=WEIGHT_MIN,
            maximum=WEIGHT_MAX,
        )


def weights_in_force(changes: Iterable[WeightChange], as_of: date, keys: Iterable[str]) -> dict[str, int]:
    """Each indicator's weight on ``as_of``: the newest change not after it, else its default."""
    best: dict[str, WeightChange] = {}
    for change in changes:
        if change.effective_from <= as_of:
            held = best.get(change.key)
            if held is None or change.effective_from > held.effective_from:
                best[change.key] = change
    return {k: best[k].weight if k in best else SPECS_BY_KEY[k].default_weight for k in keys}


@dataclass(frozen=True)
class Figure:
    numerator: int
    denominator: int

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class Score:
    score: float | None  # 0–100, None when no indicator had a case
    applied: dict[str, float]  # the share (0–1) each indicator carried after redistribution


def score_of(figures: Mapping[str, Figure], weights: Mapping[str, int]) -> Score:
    """Weighted mean of the rates of the indicators that had cases, times 100."""
    counted = {k: w for k, w in weights.items() if w > 0 and k in figures and figures[k].denominator > 0}
    total = sum(counted.values())
    if not total:
        return Score(None, dict.fromkeys(weights, 0.0))
    value = sum(w * (figures[k].rate or 0.0) for k, w in counted.items()) / total * 100
    return Score(round(value, 2), {k: counted.get(k, 0) / total for k in weights})


def rank(scores: Sequence[tuple[str, float | None]]) -> dict[str, int | None]:
    """Competition ranking (1, 2, 2, 4) from the highest score; units without a score are unranked."""
    ordered = sorted((s, key) for key, s in scores if s is not None)
    ordered.reverse()
    out: dict[str, int | None] = {key: None for key, s in scores if s is None}
    previous: float | None = None
    place = 0
    for position, (value, key) in enumerate(ordered, start=1):
        if value != previous:
            place, previous = position, value
        out[key] = place
    return out
