"""The relief index (救助指数): a pure, versioned, explainable priority score.

``compute_index(facts, standard, model, as_of)`` turns one household's facts
into a total between 0 and 100 plus one line per factor, each with its input,
its points and a plain-language reason in Chinese and English (DESIGN §4).

The index orders households that may be assisted; it never decides
eligibility (see eligibility.py) and it never decides alone: staff approve.

Implementation notes: points are computed as integer hundredths of a point
("centi-points") from integer fen, so the arithmetic is exact, cheap (services
score the whole city at once) and reproducible; Decimal appears only at the
output. Each line is rounded half away from zero to 0.01; the total is the
sum of the rounded lines, clipped to 0–100, so the lines a person sees add up
to the total (unless clipped).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

from relief_pwa.core.eligibility import check_standard_matches
from relief_pwa.core.enums import ExpenseKind, Housing, Illness, Schooling, ShockKind, WorkCapacity
from relief_pwa.core.errors import DomainError
from relief_pwa.core.facts import HouseholdFacts, Shock, Standard, compact_yuan, missing_facts
from relief_pwa.core.i18n import N_

__all__ = [
    "DEFAULT_MODEL",
    "FACTOR_CODES",
    "FACTOR_LABELS",
    "NEVER",
    "PENALTY_FACTORS",
    "POSITIVE_FACTORS",
    "FactorLine",
    "FactorParams",
    "FactorPoints",
    "IndexBreakdown",
    "ScoringModel",
    "add_months",
    "compute_index",
    "compute_points",
    "compute_total",
    "explain_for_applicant",
    "member_cannot_work",
    "model_from_dict",
    "model_to_dict",
    "points_hold_until",
    "validate_model",
]

POSITIVE_FACTORS: tuple[str, ...] = (
    "income_gap",
    "dependants",
    "disability",
    "illness",
    "rigid_spending",
    "housing",
    "shock",
)
PENALTY_FACTORS: tuple[str, ...] = ("assets", "aid")
FACTOR_CODES: tuple[str, ...] = POSITIVE_FACTORS + PENALTY_FACTORS

ELDERLY_AGE = 60
MINOR_AGE = 16
_IN_SCHOOL = frozenset(
    {
        Schooling.PRESCHOOL,
        Schooling.PRIMARY,
        Schooling.JUNIOR,
        Schooling.SENIOR,
        Schooling.VOCATIONAL,
        Schooling.UNIVERSITY,
    }
)
_HUNDRED = Decimal(100)
_MAX_TOTAL_CENTI = 100_00

# Integer parameters each factor needs (all must be > 0 except exemption_months ≥ 0).
_REQUIRED_INT_PARAMS: dict[str, tuple[str, ...]] = {
    "income_gap": (),
    "dependants": (),
    "disability": (),
    "illness": (),
    "rigid_spending": ("scale_months",),
    "housing": (),
    "shock": ("decay_months",),
    "assets": ("exemption_months", "scale_months"),
    "aid": ("window_months", "scale_months"),
}
_INT_PARAM_NAMES = ("window_months", "decay_months", "scale_months", "exemption_months")
# Level keys a factor may carry: per-member points by grade or condition, or per housing type.
_LEVEL_KEYS: dict[str, frozenset[str]] = {
    "disability": frozenset({"1", "2", "3", "4"}),
    "illness": frozenset({Illness.SERIOUS.value, Illness.CHRONIC.value}),
    "housing": frozenset(h.value for h in Housing),
}

_LABELS: dict[str, tuple[str, str]] = {
    "income_gap": ("收入差距", "Income gap"),
    "dependants": ("无劳动能力成员", "Members unable to work"),
    "disability": ("残疾", "Disability"),
    "illness": ("疾病", "Illness"),
    "rigid_spending": ("刚性支出", "Rigid spending"),
    "housing": ("住房", "Housing"),
    "shock": ("突发事件", "Sudden shock"),
    "assets": ("家庭财产", "Assets"),
    "aid": ("已获救助", "Aid received"),
}
FACTOR_LABELS: Mapping[str, tuple[str, str]] = MappingProxyType(_LABELS)  # code → (zh, en)
_DESCRIPTIONS: dict[str, str] = {
    "income_gap": N_("Per-capita monthly income / local standard (yuan)"),
    "dependants": N_("Members unable to work / household size"),
    "disability": N_("Disability grades of members (1 most severe)"),
    "illness": N_("Seriously ill / chronically ill members"),
    "rigid_spending": N_("Out-of-pocket medical and education spending over 12 months (yuan)"),
    "housing": N_("Housing condition"),
    "shock": N_("Latest sudden event still counted (date, kind)"),
    "assets": N_("Assets / exemption (yuan)"),
    "aid": N_("Aid received within the window (yuan)"),
}
_SHOCK_NAMES: dict[ShockKind, tuple[str, str]] = {
    ShockKind.DISASTER: ("自然灾害", "natural disaster"),
    ShockKind.ACCIDENT: ("意外事故", "accident"),
    ShockKind.SUDDEN_ILLNESS: ("突发重病", "sudden illness"),
    ShockKind.NONE: ("无", "none"),
}
_HOUSING_TEXT: dict[Housing | None, tuple[str, str]] = {
    Housing.NONE: ("无住房", "No housing"),
    Housing.UNSAFE: ("住房不安全（危房）", "Unsafe housing"),
    Housing.RENTED_HEAVY: ("租房，租金负担重", "Rented, with a heavy rent burden"),
    Housing.RENTED: ("租房，负担可承受", "Rented, affordable"),
    Housing.OWNED_ADEQUATE: ("自有住房，条件适当", "Own home, adequate"),
    None: ("住房情况尚未登记，暂按 0 分计", "Housing condition not recorded yet; counted as 0"),
}


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class FactorParams:
    """Parameters of one factor.

    Attributes:
        max_points: the factor's cap; positive for need factors, ≤ 0 for penalties.
        levels: per-member points by disability grade ("1"–"4") or illness
            ("serious", "chronic"), or points per housing type.
        window_months: aid received counts if within this many months.
        decay_months: a shock's points fall linearly to 0 over this many months.
        scale_months: the amount that earns the full points, in months of the
            household's standard (months × n × S).
        exemption_months: assets below months × n × S carry no penalty.
    """

    max_points: Decimal
    levels: Mapping[str, Decimal] = field(default_factory=dict)
    window_months: int | None = None
    decay_months: int | None = None
    scale_months: int | None = None
    exemption_months: int | None = None

    def __post_init__(self) -> None:
        # Read-only view, so a shared model (DEFAULT_MODEL) cannot be mutated in place.
        object.__setattr__(self, "levels", MappingProxyType(dict(self.levels)))


@dataclass(frozen=True)
class ScoringModel:
    """A versioned scoring model: data, validated before activation, never edited once active."""

    version: str
    effective_from: date
    factors: Mapping[str, FactorParams]
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "factors", MappingProxyType(dict(self.factors)))

    @cached_property
    def _compiled(self) -> _CompiledModel:
        errors = validate_model(self)
        if errors:
            raise DomainError(
                N_("Scoring model {version} is invalid: {problems}"),
                field="model",
                version=self.version,
                problems="; ".join(str(e) for e in errors),
            )
        return _CompiledModel.from_model(self)


def _d(value: str) -> Decimal:
    return Decimal(value)


DEFAULT_MODEL = ScoringModel(
    version="v1",
    effective_from=date(2020, 4, 1),
    description="默认模型：各因素的分值与理由见救助指数说明。",
    factors={
        "income_gap": FactorParams(max_points=_d("35")),
        "dependants": FactorParams(max_points=_d("15")),
        "disability": FactorParams(
            max_points=_d("10"),
            levels={"1": _d("5"), "2": _d("5"), "3": _d("2.5"), "4": _d("2.5")},
        ),
        "illness": FactorParams(max_points=_d("10"), levels={"serious": _d("5"), "chronic": _d("2")}),
        "rigid_spending": FactorParams(max_points=_d("15"), scale_months=12),
        "housing": FactorParams(
            max_points=_d("5"),
            levels={
                "none": _d("5"),
                "unsafe": _d("5"),
                "rented_heavy": _d("3"),
                "rented": _d("0"),
                "owned_adequate": _d("0"),
            },
        ),
        "shock": FactorParams(max_points=_d("10"), decay_months=6),
        # Exemption: 6 months of the household's standard (6 × n × S) is an
        # emergency buffer that should not push a family down the list; the
        # full −10 is reached at 6 + 12 = 18 months, still below the 24-month
        # legal asset limit, so the penalty works inside the eligible range.
        "assets": FactorParams(max_points=_d("-10"), exemption_months=6, scale_months=12),
        "aid": FactorParams(max_points=_d("-20"), window_months=12, scale_months=12),
    },
)


def _has_two_decimals_at_most(value: Decimal) -> bool:
    return value.is_finite() and value == value.quantize(Decimal("0.01"))


def validate_model(model: ScoringModel) -> list[DomainError]:
    """Check a model before it may be activated (domain_cn.md §2.6 item 1).

    Returns:
        One DomainError per problem (``field`` is the factor code or
        "version"/"factors"); empty when the model is usable.
    """
    errors: list[DomainError] = []
    if not model.version.strip():
        errors.append(DomainError(N_("The model needs a version name."), field="version"))
    for code in FACTOR_CODES:
        if code not in model.factors:
            errors.append(DomainError(N_("Factor {factor} is missing."), field=code, factor=code))
    for code in model.factors:
        if code not in _REQUIRED_INT_PARAMS:
            errors.append(DomainError(N_("Unknown factor {factor}."), field=code, factor=code))
    positive_total = Decimal(0)
    for code, params in model.factors.items():
        if code not in _REQUIRED_INT_PARAMS:
            continue
        errors.extend(_validate_factor(code, params))
        if code in POSITIVE_FACTORS and params.max_points.is_finite():
            positive_total += params.max_points
    if positive_total != _HUNDRED:
        errors.append(
            DomainError(
                N_("Need factors must sum to 100 points, not {total}."),
                field="factors",
                total=str(positive_total),
            )
        )
    return errors


def _validate_factor(code: str, params: FactorParams) -> list[DomainError]:
    errors: list[DomainError] = []
    cap = params.max_points
    if not _has_two_decimals_at_most(cap):
        errors.append(
            DomainError(
                N_("Points of factor {factor} must have at most two decimals."), field=code, factor=code
            )
        )
    elif code in PENALTY_FACTORS and not Decimal(-100) <= cap <= 0:
        errors.append(
            DomainError(
                N_("Penalty factor {factor} must have between -100 and 0 points, not {points}."),
                field=code,
                factor=code,
                points=str(cap),
            )
        )
    elif code in POSITIVE_FACTORS and not 0 <= cap <= _HUNDRED:
        errors.append(
            DomainError(
                N_("Factor {factor} must have between 0 and 100 points, not {points}."),
                field=code,
                factor=code,
                points=str(cap),
            )
        )
    for name in _INT_PARAM_NAMES:
        value = getattr(params, name)
        if name in _REQUIRED_INT_PARAMS[code] and value is None:
            errors.append(
                DomainError(N_("Factor {factor} needs {param}."), field=code, factor=code, param=name)
            )
        elif value is not None and (value < 0 or (value == 0 and name != "exemption_months")):
            errors.append(
                DomainError(
                    N_("{param} of factor {factor} must be positive, not {value}."),
                    field=code,
                    factor=code,
                    param=name,
                    value=value,
                )
            )
    allowed_keys = _LEVEL_KEYS.get(code, frozenset())
    for key, points in params.levels.items():
        if key not in allowed_keys:
            errors.append(
                DomainError(
                    N_("Factor {factor} has an unknown level {level}."), field=code, factor=code, level=key
                )
            )
        elif not _has_two_decimals_at_most(points) or not 0 <= points <= abs(cap):
            errors.append(
                DomainError(
                    N_("Level {level} of factor {factor} must be 0 to the cap, with at most two decimals."),
                    field=code,
                    factor=code,
                    level=key,
                )
            )
    return errors


def model_to_dict(model: ScoringModel) -> dict[str, Any]:
    """JSON-compatible form of a model; Decimals become strings so nothing is lost."""
    factors: dict[str, Any] = {}
    for code, params in model.factors.items():
        factors[code] = {
            "max_points": str(params.max_points),
            "levels": {key: str(value) for key, value in params.levels.items()},
            **{name: getattr(params, name) for name in _INT_PARAM_NAMES},
        }
    return {
        "version": model.version,
        "effective_from": model.effective_from.isoformat(),
        "description": model.description,
        "factors": factors,
    }


def model_from_dict(data: Mapping[str, Any]) -> ScoringModel:
    """Rebuild a model from ``model_to_dict`` output (validate it separately).

    Raises:
        DomainError: the data is not shaped like a model.
    """
    try:
        factors = {
            str(code): FactorParams(
                max_points=Decimal(str(raw["max_points"])),
                levels={str(k): Decimal(str(v)) for k, v in raw.get("levels", {}).items()},
                **{name: _int_or_none(raw.get(name)) for name in _INT_PARAM_NAMES},
            )
            for code, raw in data["factors"].items()
        }
        return ScoringModel(
            version=str(data["version"]),
            effective_from=date.fromisoformat(data["effective_from"]),
            description=str(data.get("description", "")),
            factors=factors,
        )
    except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
        raise DomainError(N_("The scoring model data is malformed."), field="model", detail=str(exc)) from exc


def _int_or_none(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _centi(value: Decimal) -> int:
    return int(value * 100)


@dataclass(frozen=True, slots=True)
class _CompiledModel:
    """A validated model in integer centi-points, ready for the hot loop."""

    cap: dict[str, int]
    disability: tuple[int, int, int, int, int]  # index = grade; [0] unused
    illness: dict[Illness, int]
    housing: dict[Housing, int]
    rigid_scale_months: int
    shock_decay_months: int
    asset_exemption_months: int
    asset_scale_months: int
    aid_window_months: int
    aid_scale_months: int

    @classmethod
    def from_model(cls, model: ScoringModel) -> _CompiledModel:
        f = model.factors
        grade = f["disability"].levels
        return cls(
            cap={code: _centi(params.max_points) for code, params in f.items()},
            disability=(
                0,
                _centi(grade.get("1", Decimal(0))),
                _centi(grade.get("2", Decimal(0))),
                _centi(grade.get("3", Decimal(0))),
                _centi(grade.get("4", Decimal(0))),
            ),
            illness={Illness(k): _centi(v) for k, v in f["illness"].levels.items()},
            housing={Housing(k): _centi(v) for k, v in f["housing"].levels.items()},
            rigid_scale_months=_required(f["rigid_spending"].scale_months),
            shock_decay_months=_required(f["shock"].decay_months),
            asset_exemption_months=_required(f["assets"].exemption_months),
            asset_scale_months=_required(f["assets"].scale_months),
            aid_window_months=_required(f["aid"].window_months),
            aid_scale_months=_required(f["aid"].scale_months),
        )


def _required(value: int | None) -> int:
    if value is None:  # validate_model has already refused this; keeps mypy honest
        raise DomainError(N_("Scoring model parameter missing."))
    return value


# --------------------------------------------------------------------------- output


class FactorLine(NamedTuple):
    """One factor's contribution, with its input and reasons in both languages.

    ``input_description`` is an English message id; ``input_value`` is
    language-neutral (numbers and codes). A NamedTuple rather than a frozen
    dataclass: equally immutable, and several times cheaper to build, which
    matters when the whole city is re-scored (nine lines per household).
    """

    code: str
    label_zh: str
    label_en: str
    input_description: str
    input_value: str
    points: Decimal
    reason_zh: str
    reason_en: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "input_description": self.input_description,
            "input_value": self.input_value,
            "points": str(self.points),
            "reason_zh": self.reason_zh,
            "reason_en": self.reason_en,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FactorLine:
        return cls(**{**data, "points": Decimal(data["points"])})


@dataclass(frozen=True, slots=True)
class IndexBreakdown:
    """The index of one household as of a date under one model version.

    ``provisional`` is true when facts are missing (``missing`` holds codes of
    ``facts.MISSING_FACT_LABELS``): the index is shown but must be confirmed.
    """

    household_id: int
    model_version: str
    as_of: date
    total: Decimal
    lines: tuple[FactorLine, ...]
    provisional: bool
    missing: tuple[str, ...]

    def line(self, code: str) -> FactorLine:
        """The line of one factor (KeyError if absent)."""
        for line in self.lines:
            if line.code == code:
                return line
        raise KeyError(code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "household_id": self.household_id,
            "model_version": self.model_version,
            "as_of": self.as_of.isoformat(),
            "total": str(self.total),
            "lines": [line.to_dict() for line in self.lines],
            "provisional": self.provisional,
            "missing": list(self.missing),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IndexBreakdown:
        return cls(
            household_id=int(data["household_id"]),
            model_version=str(data["model_version"]),
            as_of=date.fromisoformat(data["as_of"]),
            total=Decimal(data["total"]),
            lines=tuple(FactorLine.from_dict(line) for line in data["lines"]),
            provisional=bool(data["provisional"]),
            missing=tuple(data["missing"]),
        )


# --------------------------------------------------------------------------- arithmetic


def _share(cap: int, numerator: int, denominator: int) -> int:
    """cap × clamp(numerator / denominator, 0, 1), rounded half away from zero."""
    if numerator <= 0 or denominator <= 0:
        return 0
    if numerator >= denominator:
        return cap
    magnitude = (2 * abs(cap) * numerator + denominator) // (2 * denominator)
    return magnitude if cap >= 0 else -magnitude


def _percent(numerator: int, denominator: int) -> int:
    """Whole percent, rounded half up (non-negative inputs)."""
    return (200 * numerator + denominator) // (2 * denominator) if denominator > 0 else 0


def _points(centi: int) -> Decimal:
    return Decimal(centi).scaleb(-2)


def _fmt_points(centi: int) -> str:
    return str(_points(centi).normalize()) if centi % 100 else str(centi // 100)


@lru_cache(maxsize=4096)  # pure, and asked the same few questions for every household of a re-score
def add_months(day: date, months: int) -> date:
    """Calendar month arithmetic, clamping to the month's last day (Jan 31 + 1 → Feb 28/29)."""
    years, month_index = divmod(day.month - 1 + months, 12)
    year = day.year + years
    month = month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def member_cannot_work(
    age: int | None,
    disability_grade: int | None,
    illness: Illness,
    schooling: Schooling,
    work_capacity: WorkCapacity,
) -> str | None:
    """Why a member counts as a dependant for the index, or None.

    Returns one reason code: "elderly" (60+), "child" (under 16), "student",
    "disability" (grade 1–2), "illness" (serious), "assessed" (assessed as
    unable to work). An unknown age only removes the age reasons.
    """
    if age is not None:
        if age >= ELDERLY_AGE:
            return "elderly"
        if age < MINOR_AGE:
            return "child"
    if schooling in _IN_SCHOOL:
        return "student"
    if disability_grade is not None and disability_grade <= 2:
        return "disability"
    if illness is Illness.SERIOUS:
        return "illness"
    if work_capacity is WorkCapacity.NONE:
        return "assessed"
    return None


_DEPENDANT_REASONS: tuple[tuple[str, str, str], ...] = (
    ("elderly", "60 岁以上", "aged 60+"),
    ("child", "16 岁以下", "under 16"),
    ("student", "在校生", "in school"),
    ("disability", "重度残疾", "severe disability"),
    ("illness", "重病", "serious illness"),
    ("assessed", "经评估无劳动能力", "assessed unable to work"),
)


# --------------------------------------------------------------------------- the index


class _Measures(NamedTuple):
    """Every number the index needs, computed once in integers (fen, centi-points)."""

    compiled: _CompiledModel
    size: int
    unit_fen: int  # one month of the household's standard: S × n (n ≥ 1)
    standard_fen: int
    income_fen: int
    income_declared: bool
    dependant_reasons: dict[str, int]
    grades: list[int]
    disability_raw: int
    illness_raw: int
    serious: int
    chronic: int
    medical_fen: int
    education_fen: int
    housing: Housing | None
    shock: Shock | None
    asset_fen: int
    exemption_fen: int
    aid_fen: int
    centis: tuple[int, ...]  # one per FACTOR_CODES entry, same order

    @property
    def total_centi(self) -> int:
        return min(max(sum(self.centis), 0), _MAX_TOTAL_CENTI)


def _measure(facts: HouseholdFacts, standard: Standard, model: ScoringModel, as_of: date) -> _Measures:
    check_standard_matches(facts, standard, as_of)
    compiled = model._compiled
    cap = compiled.cap
    size = len(facts.members)
    standard_fen = standard.dibao_monthly_fen
    # An empty household (provisional) is scored as one person so nothing divides by zero.
    unit_fen = standard_fen * (size or 1)

    # Income gap: cap × clamp((S − per-capita income) / S, 0, 1), on totals so no fen is lost.
    # Undeclared income earns nothing (not "zero income = full need"): missing facts
    # never add points, so an incomplete file cannot jump the queue.
    income_fen = sum(item.counted_fen for item in facts.incomes)
    income_centi = _share(cap["income_gap"], unit_fen - income_fen, unit_fen) if facts.incomes else 0

    # One pass over members for dependants, disability and illness.
    reasons: dict[str, int] = {}
    grades: list[int] = []
    disability_raw = illness_raw = serious = chronic = 0
    illness_points = compiled.illness
    for member in facts.members:
        why = member_cannot_work(
            member.age_on(as_of),
            member.disability_grade,
            member.illness,
            member.schooling,
            member.work_capacity,
        )
        if why is not None:
            reasons[why] = reasons.get(why, 0) + 1
        if member.disability_grade is not None:
            grades.append(member.disability_grade)
            disability_raw += compiled.disability[member.disability_grade]
        if member.illness is Illness.SERIOUS:
            serious += 1
            illness_raw += illness_points.get(Illness.SERIOUS, 0)
        elif member.illness is Illness.CHRONIC:
            chronic += 1
            illness_raw += illness_points.get(Illness.CHRONIC, 0)
    dependants_centi = _share(cap["dependants"], sum(reasons.values()), size)

    # Rigid spending: out-of-pocket medical + education over 12 months vs months of the standard.
    medical_fen = education_fen = 0
    for item in facts.expenses:
        if item.kind == ExpenseKind.EDUCATION:
            education_fen += item.counted_fen
        else:
            medical_fen += item.counted_fen
    rigid_centi = _share(
        cap["rigid_spending"], medical_fen + education_fen, compiled.rigid_scale_months * unit_fen
    )

    housing = facts.housing
    housing_centi = 0 if housing is None else min(compiled.housing.get(housing, 0), cap["housing"])

    # Shock: the strongest still-decaying event counts; points fall linearly by day to 0.
    best_shock: Shock | None = None
    shock_centi = 0
    for shock in facts.shocks:
        if shock.kind is ShockKind.NONE or shock.occurred_on > as_of:
            continue
        ends_on = add_months(shock.occurred_on, compiled.shock_decay_months)
        centi = _share(cap["shock"], (ends_on - as_of).days, (ends_on - shock.occurred_on).days)
        if centi > shock_centi:
            shock_centi, best_shock = centi, shock

    # Assets above an exemption of (months × n × S) lower the index.
    asset_fen = sum(item.counted_fen for item in facts.assets)
    exemption_fen = compiled.asset_exemption_months * unit_fen
    assets_centi = _share(cap["assets"], asset_fen - exemption_fen, compiled.asset_scale_months * unit_fen)

    # Aid received in (as_of − window, as_of] lowers the index: resources go to those still in need.
    window_start = add_months(as_of, -compiled.aid_window_months)
    aid_fen = sum(a.value_fen for a in facts.aid if window_start < a.received_on <= as_of)
    aid_centi = _share(cap["aid"], aid_fen, compiled.aid_scale_months * unit_fen)

    return _Measures(
        compiled=compiled,
        size=size,
        unit_fen=unit_fen,
        standard_fen=standard_fen,
        income_fen=income_fen,
        income_declared=bool(facts.incomes),
        dependant_reasons=reasons,
        grades=sorted(grades),
        disability_raw=disability_raw,
        illness_raw=illness_raw,
        serious=serious,
        chronic=chronic,
        medical_fen=medical_fen,
        education_fen=education_fen,
        housing=housing,
        shock=best_shock,
        asset_fen=asset_fen,
        exemption_fen=exemption_fen,
        aid_fen=aid_fen,
        centis=(
            income_centi,
            dependants_centi,
            min(disability_raw, cap["disability"]),
            min(illness_raw, cap["illness"]),
            rigid_centi,
            housing_centi,
            shock_centi,
            assets_centi,
            aid_centi,
        ),
    )


def compute_total(facts: HouseholdFacts, standard: Standard, model: ScoringModel, as_of: date) -> Decimal:
    """Only the total of ``compute_index`` (same arithmetic, no texts): for bulk re-ranking.

    Raises:
        DomainError: as ``compute_index``.
    """
    return _points(_measure(facts, standard, model, as_of).total_centi)


class FactorPoints(NamedTuple):
    """The numbers of ``compute_index`` without the texts: what bulk re-scoring stores.

    ``centis`` holds one integer (hundredths of a point) per ``FACTOR_CODES``
    entry; ``total_centi`` is their sum clipped to 0–100 points.
    """

    total_centi: int
    centis: tuple[int, ...]
    missing: tuple[str, ...]

    @property
    def total(self) -> Decimal:
        return _points(self.total_centi)

    @property
    def provisional(self) -> bool:
        return bool(self.missing)

    def points_by_factor(self) -> dict[str, str]:
        """factor code → points as a decimal string (JSON-safe, exact)."""
        return {code: str(_points(centi)) for code, centi in zip(FACTOR_CODES, self.centis, strict=True)}


def compute_points(
    facts: HouseholdFacts, standard: Standard, model: ScoringModel, as_of: date
) -> FactorPoints:
    """Total and per-factor points of ``compute_index`` (same arithmetic, no texts).

    Raises:
        DomainError: as ``compute_index``.
    """
    m = _measure(facts, standard, model, as_of)
    return FactorPoints(m.total_centi, m.centis, tuple(missing_facts(facts)))


NEVER = date.max  # "no later day changes it": a date both engines store


def points_hold_until(facts: HouseholdFacts, model: ScoringModel, as_of: date) -> date:
    """The first day after ``as_of`` on which ``compute_points`` could give another result for
    these same facts and standard (``NEVER`` if no day could).

    The day enters the index in three places only: a member's age (which matters only on
    reaching ``MINOR_AGE`` or ``ELDERLY_AGE``), a shock decaying day by day until it ends,
    and aid entering or leaving the aid window. Until the day returned, a re-score that finds
    the same facts (the same snapshot digest) knows the result without computing it
    (docs/scale.md, "A new day"). It may come early (then the index is computed and found
    unchanged), never late: a test walks the days.
    """
    compiled = model._compiled
    until = NEVER
    for member in facts.members:
        age = member.age_on(as_of)
        if member.birth_date is None or age is None or age >= ELDERLY_AGE:
            continue
        next_age = MINOR_AGE if age < MINOR_AGE else ELDERLY_AGE
        until = min(until, _turns(member.birth_date, next_age))
    tomorrow = date.fromordinal(as_of.toordinal() + 1)
    for shock in facts.shocks:
        if shock.kind is ShockKind.NONE:
            continue
        if shock.occurred_on > as_of:
            until = min(until, shock.occurred_on)
        elif as_of < add_months(shock.occurred_on, compiled.shock_decay_months):
            return tomorrow  # its points fall by the day
    window = compiled.aid_window_months
    for aid in facts.aid:
        if aid.received_on > as_of:
            until = min(until, aid.received_on)
        elif add_months(as_of, -window) < aid.received_on:
            until = min(until, _leaves_window(aid.received_on, window))
    return until


def _turns(born: date, years: int) -> date:
    """The day someone born on ``born`` reaches ``years`` (MemberFacts.age_on: a 29 February
    birthday is reached on 1 March in other years)."""
    year = born.year + years
    if born.month == 2 and born.day == 29 and not calendar.isleap(year):
        return date(year, 3, 1)
    return date(year, born.month, born.day)


def _leaves_window(received_on: date, months: int) -> date:
    """The first day whose aid window, (day − months, day], no longer holds ``received_on``."""
    # Never before received_on + months; a few days later when the month end clamps.
    day = add_months(received_on, months)
    while add_months(day, -months) < received_on:
        day = date.fromordinal(day.toordinal() + 1)
    return day


def compute_index(
    facts: HouseholdFacts, standard: Standard, model: ScoringModel, as_of: date
) -> IndexBreakdown:
    """Compute the relief index of one household, with a reason per factor.

    Args:
        facts: the household's facts as of ``as_of``.
        standard: the local standard in force for its district and area type.
        model: a valid scoring model (see ``validate_model``).
        as_of: the date ages, shock decay and the aid window are measured from.

    Returns:
        The breakdown; incomplete facts still get an index, marked provisional.

    Raises:
        DomainError: the model is invalid, or the standard does not apply.
    """
    m = _measure(facts, standard, model, as_of)
    texts = _describe(m, as_of)
    lines = tuple(
        FactorLine(
            code,
            _LABELS[code][0],
            _LABELS[code][1],
            _DESCRIPTIONS[code],
            value,
            _points(centi),
            zh,
            en,
        )
        for code, centi, (value, zh, en) in zip(FACTOR_CODES, m.centis, texts, strict=True)
    )
    missing = tuple(missing_facts(facts))
    return IndexBreakdown(
        household_id=facts.household_id,
        model_version=model.version,
        as_of=as_of,
        total=_points(m.total_centi),
        lines=lines,
        provisional=bool(missing),
        missing=missing,
    )


def _describe(m: _Measures, as_of: date) -> list[tuple[str, str, str]]:
    """(input value, reason zh, reason en) per factor, in FACTOR_CODES order."""
    c = m.compiled
    size = m.size
    out: list[tuple[str, str, str]] = []

    per_capita = compact_yuan(m.income_fen // (size or 1))
    s_yuan = compact_yuan(m.standard_fen)
    gap_fen = m.unit_fen - m.income_fen
    if not m.income_declared:
        zh = f"尚未申报收入，收入差距暂不计分（当地低保标准 {s_yuan} 元）"
        en = (
            f"No income declared yet; the income gap is not scored until it is (local standard {s_yuan} yuan)"
        )
        per_capita = "?"
    elif gap_fen > 0:
        pct = _percent(gap_fen, m.unit_fen)
        zh = f"人均月收入 {per_capita} 元，低于当地低保标准 {s_yuan} 元 {pct}%"
        en = f"Per-capita income {per_capita} yuan/month is {pct}% below the local standard of {s_yuan} yuan"
    else:
        zh = f"人均月收入 {per_capita} 元，不低于当地低保标准 {s_yuan} 元"
        en = f"Per-capita income {per_capita} yuan/month is not below the local standard of {s_yuan} yuan"
    out.append((f"{per_capita} / {s_yuan}", zh, en))

    reasons = m.dependant_reasons
    dependants = sum(reasons.values())
    if size == 0:
        zh, en = "尚未登记家庭成员", "No members recorded yet"
    elif dependants == 0:
        zh, en = f"{size} 口人均有劳动能力", f"All {size} members can work"
    else:
        zh_parts = "、".join(
            f"{z} {reasons[code]} 人" for code, z, _ in _DEPENDANT_REASONS if code in reasons
        )
        en_parts = ", ".join(f"{reasons[code]} {e}" for code, _, e in _DEPENDANT_REASONS if code in reasons)
        zh = f"{size} 口人中 {dependants} 人无劳动能力（{zh_parts}）"
        en = f"{dependants} of {size} members cannot work ({en_parts})"
    out.append((f"{dependants} / {size}", zh, en))

    if m.grades:
        capped_zh, capped_en = _cap_note(m.disability_raw, c.cap["disability"])
        zh = "持证残疾成员：" + "、".join(f"{g} 级" for g in m.grades) + capped_zh
        en = "Members with a certified disability: " + ", ".join(f"grade {g}" for g in m.grades) + capped_en
        out.append((", ".join(str(g) for g in m.grades), zh, en))
    else:
        out.append(("—", "无持证残疾成员", "No member with a certified disability"))

    if m.serious or m.chronic:
        capped_zh, capped_en = _cap_note(m.illness_raw, c.cap["illness"])
        zh = f"重病 {m.serious} 人、慢性病 {m.chronic} 人{capped_zh}"
        en = f"{m.serious} seriously ill, {m.chronic} chronically ill{capped_en}"
    else:
        zh, en = "无重病或慢性病成员", "No member with a serious or chronic illness"
    out.append((f"{m.serious} / {m.chronic}", zh, en))

    spending_fen = m.medical_fen + m.education_fen
    months = c.rigid_scale_months
    if spending_fen:
        scale_fen = months * m.unit_fen
        pct = _percent(spending_fen, scale_fen)
        medical, education, scale = (
            compact_yuan(m.medical_fen),
            compact_yuan(m.education_fen),
            compact_yuan(scale_fen),
        )
        zh = (
            f"近 12 个月自付医疗 {medical} 元、教育 {education} 元，"
            f"占全家 {months} 个月低保标准（{scale} 元）的 {pct}%"
        )
        en = (
            f"Out-of-pocket medical {medical} yuan and education {education} yuan over 12 months "
            f"are {pct}% of {months} months of the household's standard ({scale} yuan)"
        )
    else:
        zh, en = (
            "近 12 个月无自付医疗或教育支出",
            "No out-of-pocket medical or education spending in 12 months",
        )
    out.append((compact_yuan(spending_fen), zh, en))

    zh, en = _HOUSING_TEXT[m.housing]
    out.append(("unknown" if m.housing is None else m.housing.value, zh, en))

    decay = c.shock_decay_months
    shock = m.shock
    if shock is not None:
        kind_zh, kind_en = _SHOCK_NAMES[shock.kind]
        days = (as_of - shock.occurred_on).days
        occurred = shock.occurred_on.isoformat()
        zh = f"{occurred} 遭遇{kind_zh}，已过 {days} 天（{decay} 个月内逐日递减至 0）"
        en = f"{kind_en.capitalize()} on {occurred}, {days} days ago (points fall to 0 over {decay} months)"
        out.append((f"{occurred} {shock.kind.value}", zh, en))
    else:
        out.append(("—", f"近 {decay} 个月无突发事件", f"No sudden event in the last {decay} months"))

    asset_yuan, exemption_yuan = compact_yuan(m.asset_fen), compact_yuan(m.exemption_fen)
    excess_fen = m.asset_fen - m.exemption_fen
    months = c.asset_exemption_months
    if excess_fen > 0:
        excess = compact_yuan(excess_fen)
        zh = (
            f"家庭财产 {asset_yuan} 元，超出豁免额 {exemption_yuan} 元"
            f"（{months} 个月 × 标准 × {size} 人）{excess} 元"
        )
        en = (
            f"Assets of {asset_yuan} yuan exceed the exemption of {exemption_yuan} yuan "
            f"({months} months × standard × {size} persons) by {excess} yuan"
        )
    else:
        zh = f"家庭财产 {asset_yuan} 元，未超过豁免额 {exemption_yuan} 元"
        en = f"Assets of {asset_yuan} yuan are within the exemption of {exemption_yuan} yuan"
    out.append((f"{asset_yuan} / {exemption_yuan}", zh, en))

    window = c.aid_window_months
    aid = compact_yuan(m.aid_fen)
    if m.aid_fen:
        months = c.aid_scale_months
        scale_fen = months * m.unit_fen
        pct = _percent(m.aid_fen, scale_fen)
        scale = compact_yuan(scale_fen)
        zh = f"近 {window} 个月已获救助 {aid} 元，占全家 {months} 个月低保标准（{scale} 元）的 {pct}%"
        en = (
            f"Aid of {aid} yuan received in the last {window} months is {pct}% of "
            f"{months} months of the household's standard ({scale} yuan)"
        )
    else:
        zh, en = f"近 {window} 个月未获救助", f"No aid received in the last {window} months"
    out.append((aid, zh, en))
    return out


def _cap_note(raw_centi: int, cap_centi: int) -> tuple[str, str]:
    if raw_centi > cap_centi:
        points = _fmt_points(cap_centi)
        return f"（按上限 {points} 分计）", f" (capped at {points} points)"
    return "", ""


def explain_for_applicant(breakdown: IndexBreakdown, lang: str, top: int = 3) -> list[str]:
    """The factors that moved the index most, in plain words, for the applicant.

    Lines are ordered by the size of their effect (raising or lowering);
    factors that contributed nothing are left out (PIPL Art. 24 explanation).

    Args:
        breakdown: a computed index.
        lang: "zh…" for Chinese; anything else gives English.
        top: how many factors to list.
    """
    chinese = lang.lower().startswith("zh")
    ranked = sorted(
        (line for line in breakdown.lines if line.points != 0),
        key=lambda line: -abs(line.points),
    )
    texts: list[str] = []
    for line in ranked[:top]:
        signed = f"{line.points:+}"
        if chinese:
            texts.append(f"{line.label_zh}：{line.reason_zh}（{signed} 分）")
        else:
            texts.append(f"{line.label_en}: {line.reason_en} ({signed} points)")
    return texts
