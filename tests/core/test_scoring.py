"""Worked examples for the relief index, its model validation and its explanations."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

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
from relief_pwa.core.errors import DomainError
from relief_pwa.core.facts import (
    JINAN_DEMO_STANDARDS,
    AidReceived,
    HouseholdFacts,
    MemberFacts,
    MoneyItem,
    Shock,
    Standard,
    compact_yuan,
    jinan_demo_standards,
    missing_facts,
    select_standard,
)
from relief_pwa.core.scoring import (
    DEFAULT_MODEL,
    FACTOR_CODES,
    FactorParams,
    IndexBreakdown,
    ScoringModel,
    add_months,
    compute_index,
    compute_total,
    explain_for_applicant,
    model_from_dict,
    model_to_dict,
    validate_model,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "relief-index.md"
AS_OF = date(2020, 6, 1)
DISTRICT = "370102"
URBAN_2020 = select_standard(JINAN_DEMO_STANDARDS, DISTRICT, AreaType.URBAN, AS_OF)  # 740 yuan


def member(
    age: int | None = 40,
    *,
    relation: Relation = Relation.HEAD,
    disability_grade: int | None = None,
    illness: Illness = Illness.NONE,
    work_capacity: WorkCapacity = WorkCapacity.FULL,
    schooling: Schooling = Schooling.NOT_IN_SCHOOL,
    as_of: date = AS_OF,
) -> MemberFacts:
    """A member who is ``age`` on ``as_of`` (born on 1 January, so the birthday has passed)."""
    birth = None if age is None else date(as_of.year - age, 1, 1)
    return MemberFacts(birth, Sex.FEMALE, relation, disability_grade, illness, work_capacity, schooling)


def household(
    members: tuple[MemberFacts, ...] | None = None,
    *,
    income_yuan: int | None = 0,
    housing: Housing | None = Housing.OWNED_ADEQUATE,
    **changes: Any,
) -> HouseholdFacts:
    """A complete urban household in 历下: one working adult and declared income unless told otherwise."""
    base = HouseholdFacts(
        household_id=1,
        file_no="F0001",
        area_type=AreaType.URBAN,
        district_code=DISTRICT,
        housing=housing,
        members=(member(),) if members is None else members,
        incomes=() if income_yuan is None else (MoneyItem("wages", income_yuan * 100),),
    )
    return dataclasses.replace(base, **changes)


def points(facts: HouseholdFacts, code: str, as_of: date = AS_OF) -> Decimal:
    return compute_index(facts, URBAN_2020, DEFAULT_MODEL, as_of).line(code).points


# --------------------------------------------------------------------------- worked example (docs)

WORKED_EXAMPLE = HouseholdFacts(
    household_id=42,
    file_no="JN-2020-0042",
    area_type=AreaType.URBAN,
    district_code=DISTRICT,
    housing=Housing.RENTED_HEAVY,
    members=(
        MemberFacts(date(1980, 1, 1), Sex.FEMALE, Relation.HEAD, None, Illness.CHRONIC),
        MemberFacts(date(2012, 5, 1), Sex.MALE, Relation.CHILD, 3, schooling=Schooling.PRIMARY),
        MemberFacts(date(1950, 5, 1), Sex.MALE, Relation.PARENT, 1, Illness.SERIOUS),
    ),
    incomes=(MoneyItem("wages", declared_fen=1000_00, verified_fen=960_00),),
    assets=(MoneyItem("deposits", 20_000_00),),
    expenses=(MoneyItem("medical", 12_000_00),),
    shocks=(Shock(ShockKind.ACCIDENT, date(2020, 4, 1)),),
    aid=(AidReceived(3_000_00, date(2020, 3, 1), "temporary assistance"),),
    categories=("dibao",),
    has_legal_supporter_able=None,
)

WORKED_EXAMPLE_POINTS = {
    "income_gap": "19.86",
    "dependants": "10.00",
    "disability": "7.50",
    "illness": "7.00",
    "rigid_spending": "6.76",
    "housing": "3.00",
    "shock": "6.67",
    "assets": "-2.51",
    "aid": "-2.25",
}


def test_worked_example_every_line_and_total() -> None:
    breakdown = compute_index(WORKED_EXAMPLE, URBAN_2020, DEFAULT_MODEL, AS_OF)
    assert {line.code: str(line.points) for line in breakdown.lines} == WORKED_EXAMPLE_POINTS
    assert breakdown.total == Decimal("56.03")
    assert [line.code for line in breakdown.lines] == list(FACTOR_CODES)
    assert not breakdown.provisional and breakdown.missing == ()
    assert breakdown.model_version == "v1" and breakdown.household_id == 42


def _documented_example() -> dict[str, str]:
    text = DOCS.read_text(encoding="utf-8")
    block = text.split("<!-- worked-example:start -->")[1].split("<!-- worked-example:end -->")[0]
    rows: dict[str, str] = {}
    for row in block.splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[a-z_]+", cells[0]) and cells[0] != "code":
            rows[cells[0]] = cells[3].strip("*")
    return rows


def test_docs_worked_example_matches_the_code() -> None:
    documented = _documented_example()
    breakdown = compute_index(WORKED_EXAMPLE, URBAN_2020, DEFAULT_MODEL, AS_OF)
    assert documented.pop("total") == str(breakdown.total)
    assert documented == {line.code: str(line.points) for line in breakdown.lines}


def test_worked_example_reasons_are_bilingual_with_numbers() -> None:
    line = compute_index(WORKED_EXAMPLE, URBAN_2020, DEFAULT_MODEL, AS_OF).line("income_gap")
    assert line.reason_zh == "人均月收入 320 元，低于当地低保标准 740 元 57%"
    assert line.reason_en == "Per-capita income 320 yuan/month is 57% below the local standard of 740 yuan"
    assert line.input_value == "320 / 740"
    assert (line.label_zh, line.label_en) == ("收入差距", "Income gap")


def test_verified_income_overrides_declared() -> None:
    declared_only = household(incomes=(MoneyItem("wages", 740_00),))
    verified_lower = household(incomes=(MoneyItem("wages", 740_00, verified_fen=370_00),))
    assert points(declared_only, "income_gap") == Decimal("0.00")
    assert points(verified_lower, "income_gap") == Decimal("17.50")


# --------------------------------------------------------------------------- each factor


@pytest.mark.parametrize(
    ("income_yuan", "size", "expected"),
    [
        (0, 1, "35.00"),  # declared zero income: the full gap
        (370, 1, "17.50"),  # half the standard
        (740, 1, "0.00"),  # exactly the standard
        (2000, 1, "0.00"),  # above: clamped, never negative
        (740, 2, "17.50"),  # 370 per capita in a two-person household
    ],
)
def test_income_gap(income_yuan: int, size: int, expected: str) -> None:
    members = (member(), *tuple(member(relation=Relation.SPOUSE) for _ in range(size - 1)))
    assert points(household(members, income_yuan=income_yuan), "income_gap") == Decimal(expected)


def test_income_not_declared_scores_nothing_and_is_provisional() -> None:
    breakdown = compute_index(household(income_yuan=None), URBAN_2020, DEFAULT_MODEL, AS_OF)
    assert breakdown.line("income_gap").points == 0
    assert breakdown.provisional and breakdown.missing == ("income",)
    assert "尚未申报收入" in breakdown.line("income_gap").reason_zh


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ((member(40),), "0.00"),
        ((member(40), member(60, relation=Relation.PARENT)), "7.50"),  # turns 60 this year: counts
        ((member(40), member(59, relation=Relation.PARENT)), "0.00"),
        ((member(40), member(15, relation=Relation.CHILD)), "7.50"),
        ((member(40), member(16, relation=Relation.CHILD)), "0.00"),
        ((member(40), member(19, relation=Relation.CHILD, schooling=Schooling.UNIVERSITY)), "7.50"),
        ((member(40), member(30, relation=Relation.SPOUSE, disability_grade=2)), "7.50"),
        ((member(40), member(30, relation=Relation.SPOUSE, disability_grade=3)), "0.00"),
        ((member(40), member(30, relation=Relation.SPOUSE, illness=Illness.SERIOUS)), "7.50"),
        ((member(40), member(30, relation=Relation.SPOUSE, work_capacity=WorkCapacity.NONE)), "7.50"),
        ((member(40), member(30, relation=Relation.SPOUSE, work_capacity=WorkCapacity.PARTIAL)), "0.00"),
        ((member(70), member(8, relation=Relation.CHILD)), "15.00"),
        ((member(70, illness=Illness.SERIOUS, disability_grade=1),), "15.00"),  # counted once
        ((member(40), member(40), member(10)), "5.00"),
    ],
)
def test_dependants(members: tuple[MemberFacts, ...], expected: str) -> None:
    assert points(household(members), "dependants") == Decimal(expected)


def test_age_is_computed_on_the_scoring_date() -> None:
    parent = MemberFacts(date(1960, 6, 2), Sex.MALE, Relation.PARENT, None)
    facts = household((member(40), parent))
    assert points(facts, "dependants", date(2020, 6, 1)) == 0  # 59 until tomorrow
    assert points(facts, "dependants", date(2020, 6, 2)) == Decimal("7.50")  # 60 today


def test_dependants_reason_names_the_groups() -> None:
    breakdown = compute_index(WORKED_EXAMPLE, URBAN_2020, DEFAULT_MODEL, AS_OF)
    line = breakdown.line("dependants")
    assert line.reason_zh == "3 口人中 2 人无劳动能力（60 岁以上 1 人、16 岁以下 1 人）"
    assert line.reason_en == "2 of 3 members cannot work (1 aged 60+, 1 under 16)"


@pytest.mark.parametrize(
    ("grades", "expected"),
    [
        ((), "0.00"),
        ((4,), "2.50"),
        ((2, 3), "7.50"),
        ((1, 2), "10.00"),
        ((1, 1, 1), "10.00"),  # 15 before the cap
    ],
)
def test_disability_points_and_cap(grades: tuple[int, ...], expected: str) -> None:
    members = (member(), *tuple(member(30, relation=Relation.SPOUSE, disability_grade=g) for g in grades))
    breakdown = compute_index(household(members), URBAN_2020, DEFAULT_MODEL, AS_OF)
    assert breakdown.line("disability").points == Decimal(expected)
    assert ("capped at 10 points" in breakdown.line("disability").reason_en) == (len(grades) == 3)


@pytest.mark.parametrize(
    ("illnesses", "expected"),
    [
        ((Illness.CHRONIC,), "2.00"),
        ((Illness.SERIOUS, Illness.CHRONIC), "7.00"),
        ((Illness.SERIOUS, Illness.SERIOUS, Illness.CHRONIC), "10.00"),
    ],
)
def test_illness_points_and_cap(illnesses: tuple[Illness, ...], expected: str) -> None:
    members = tuple(member(30, illness=i) for i in illnesses)
    assert points(household(members), "illness") == Decimal(expected)


@pytest.mark.parametrize(
    ("expenses", "expected"),
    [
        ((), "0.00"),
        ((MoneyItem("medical", 4440_00),), "7.50"),  # half of 12 × 740
        ((MoneyItem("medical", 4440_00), MoneyItem("education", 4440_00)), "15.00"),
        ((MoneyItem("education", 100_000_00),), "15.00"),  # clamped
    ],
)
def test_rigid_spending(expenses: tuple[MoneyItem, ...], expected: str) -> None:
    assert points(household(expenses=expenses), "rigid_spending") == Decimal(expected)


@pytest.mark.parametrize(
    ("housing", "expected"),
    [
        (Housing.NONE, "5.00"),
        (Housing.UNSAFE, "5.00"),
        (Housing.RENTED_HEAVY, "3.00"),
        (Housing.RENTED, "0.00"),
        (Housing.OWNED_ADEQUATE, "0.00"),
        (None, "0.00"),
    ],
)
def test_housing(housing: Housing | None, expected: str) -> None:
    breakdown = compute_index(household(housing=housing), URBAN_2020, DEFAULT_MODEL, AS_OF)
    assert breakdown.line("housing").points == Decimal(expected)
    assert breakdown.provisional == (housing is None)


@pytest.mark.parametrize(
    ("shocks", "expected"),
    [
        ((Shock(ShockKind.DISASTER, AS_OF),), "10.00"),  # on the day
        ((Shock(ShockKind.DISASTER, date(2020, 3, 1)),), "5.00"),  # 92 of 184 days left
        ((Shock(ShockKind.DISASTER, date(2019, 12, 1)),), "0.00"),  # exactly 6 months ago
        ((Shock(ShockKind.DISASTER, date(2019, 1, 1)),), "0.00"),
        ((Shock(ShockKind.ACCIDENT, date(2020, 6, 2)),), "0.00"),  # after the scoring date
        ((Shock(ShockKind.NONE, AS_OF),), "0.00"),
        ((Shock(ShockKind.DISASTER, date(2019, 12, 15)), Shock(ShockKind.SUDDEN_ILLNESS, AS_OF)), "10.00"),
        ((Shock(ShockKind.SUDDEN_ILLNESS, AS_OF), Shock(ShockKind.DISASTER, date(2019, 12, 15))), "10.00"),
    ],
)
def test_shock_decays_linearly(shocks: tuple[Shock, ...], expected: str) -> None:
    assert points(household(shocks=shocks), "shock") == Decimal(expected)


@pytest.mark.parametrize(
    ("assets_yuan", "expected"),
    [
        (0, "0.00"),
        (4440, "0.00"),  # exactly the exemption: 6 × 1 × 740
        (4440 + 4440, "-5.00"),  # half of the 12-month scale above it
        (4440 + 8880, "-10.00"),
        (1_000_000, "-10.00"),
    ],
)
def test_assets_above_exemption(assets_yuan: int, expected: str) -> None:
    facts = household(assets=(MoneyItem("deposits", assets_yuan * 100),))
    assert points(facts, "assets") == Decimal(expected)


@pytest.mark.parametrize(
    ("received_on", "counted"),
    [
        (AS_OF, True),
        (date(2019, 6, 2), True),  # inside the window by one day
        (date(2019, 6, 1), False),  # exactly 12 months ago: outside
        (date(2018, 1, 1), False),
        (date(2020, 6, 2), False),  # after the scoring date
    ],
)
def test_aid_window(received_on: date, counted: bool) -> None:
    facts = household(aid=(AidReceived(4440_00, received_on, "temporary"),))
    assert points(facts, "aid") == (Decimal("-10.00") if counted else Decimal("0.00"))


def test_aid_penalty_is_capped() -> None:
    facts = household(aid=(AidReceived(50_000_00, AS_OF, "x"), AidReceived(50_000_00, AS_OF, "y")))
    assert points(facts, "aid") == Decimal("-20.00")


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2020, 8, 31), 6) == date(2021, 2, 28)
    assert add_months(date(2020, 3, 31), -1) == date(2020, 2, 29)
    assert add_months(date(2020, 6, 1), -12) == date(2019, 6, 1)


# --------------------------------------------------------------------------- totals


def test_total_is_sum_of_lines_when_not_clipped() -> None:
    breakdown = compute_index(WORKED_EXAMPLE, URBAN_2020, DEFAULT_MODEL, AS_OF)
    assert breakdown.total == sum(line.points for line in breakdown.lines)


def test_total_clipped_at_zero() -> None:
    rich_and_helped = household(
        income_yuan=5000,
        assets=(MoneyItem("deposits", 1_000_000_00),),
        aid=(AidReceived(100_000_00, AS_OF, "x"),),
    )
    breakdown = compute_index(rich_and_helped, URBAN_2020, DEFAULT_MODEL, AS_OF)
    assert sum(line.points for line in breakdown.lines) == Decimal("-30.00")
    assert breakdown.total == Decimal("0.00")


def test_maximum_need_reaches_exactly_100() -> None:
    facts = household(
        (
            member(70, illness=Illness.SERIOUS, disability_grade=1),
            member(8, relation=Relation.CHILD, illness=Illness.SERIOUS, disability_grade=1),
        ),
        housing=Housing.UNSAFE,
        expenses=(MoneyItem("medical", 100_000_00),),
        shocks=(Shock(ShockKind.DISASTER, AS_OF),),
    )
    assert compute_index(facts, URBAN_2020, DEFAULT_MODEL, AS_OF).total == Decimal("100.00")


def test_compute_total_matches_compute_index() -> None:
    assert compute_total(WORKED_EXAMPLE, URBAN_2020, DEFAULT_MODEL, AS_OF) == Decimal("56.03")


def test_standard_for_another_area_is_refused() -> None:
    rural = select_standard(JINAN_DEMO_STANDARDS, DISTRICT, AreaType.RURAL, AS_OF)
    with pytest.raises(DomainError):
        compute_index(WORKED_EXAMPLE, rural, DEFAULT_MODEL, AS_OF)


def test_empty_household_gets_provisional_index_not_a_crash() -> None:
    facts = household((), income_yuan=None, housing=None)
    breakdown = compute_index(facts, URBAN_2020, DEFAULT_MODEL, AS_OF)
    assert breakdown.provisional
    assert breakdown.missing == ("members", "income", "housing")
    assert breakdown.total == Decimal("0.00")
    assert breakdown.line("dependants").reason_en == "No members recorded yet"


# --------------------------------------------------------------------------- snapshots and explanations


def test_breakdown_round_trips_through_json() -> None:
    breakdown = compute_index(WORKED_EXAMPLE, URBAN_2020, DEFAULT_MODEL, AS_OF)
    restored = IndexBreakdown.from_dict(json.loads(json.dumps(breakdown.to_dict(), ensure_ascii=False)))
    assert restored == breakdown


def test_explain_for_applicant_lists_top_factors_in_both_languages() -> None:
    breakdown = compute_index(WORKED_EXAMPLE, URBAN_2020, DEFAULT_MODEL, AS_OF)
    zh = explain_for_applicant(breakdown, "zh_CN")
    en = explain_for_applicant(breakdown, "en", top=4)
    assert zh[0] == "收入差距：人均月收入 320 元，低于当地低保标准 740 元 57%（+19.86 分）"
    assert [text.split(":")[0] for text in en] == [
        "Income gap",
        "Members unable to work",
        "Disability",
        "Illness",
    ]


def test_explain_includes_large_penalties_and_skips_zero_lines() -> None:
    facts = household(income_yuan=0, aid=(AidReceived(8880_00, AS_OF, "x"),))
    texts = explain_for_applicant(compute_index(facts, URBAN_2020, DEFAULT_MODEL, AS_OF), "en", top=5)
    assert len(texts) == 2  # only income gap and aid are non-zero
    assert texts[1].startswith("Aid received: Aid of 8,880 yuan") and texts[1].endswith("(-20.00 points)")


# --------------------------------------------------------------------------- model validation


def test_default_model_is_valid_and_round_trips() -> None:
    assert validate_model(DEFAULT_MODEL) == []
    restored = model_from_dict(json.loads(json.dumps(model_to_dict(DEFAULT_MODEL))))
    assert restored == DEFAULT_MODEL
    assert validate_model(restored) == []


def test_default_model_cannot_be_mutated() -> None:
    with pytest.raises(TypeError):
        DEFAULT_MODEL.factors["income_gap"] = FactorParams(max_points=Decimal(0))  # type: ignore[index]


def _with_factor(code: str, params: FactorParams | None) -> ScoringModel:
    factors = dict(DEFAULT_MODEL.factors)
    if params is None:
        del factors[code]
    else:
        factors[code] = params
    return dataclasses.replace(DEFAULT_MODEL, factors=factors)


def _params(code: str, **changes: Any) -> FactorParams:
    return dataclasses.replace(DEFAULT_MODEL.factors[code], **changes)


@pytest.mark.parametrize(
    ("model", "field", "message_part"),
    [
        (_with_factor("shock", None), "shock", "is missing"),
        (_with_factor("bonus", FactorParams(max_points=Decimal(1))), "bonus", "Unknown factor"),
        (_with_factor("housing", _params("housing", max_points=Decimal(-5))), "housing", "between 0 and 100"),
        (_with_factor("income_gap", _params("income_gap", max_points=Decimal(40))), "factors", "sum to 100"),
        (_with_factor("aid", _params("aid", max_points=Decimal(5))), "aid", "Penalty"),
        (_with_factor("aid", _params("aid", window_months=0)), "aid", "must be positive"),
        (_with_factor("aid", _params("aid", window_months=None)), "aid", "needs"),
        (_with_factor("shock", _params("shock", decay_months=-6)), "shock", "must be positive"),
        (_with_factor("assets", _params("assets", exemption_months=-1)), "assets", "must be positive"),
        (
            _with_factor("disability", _params("disability", levels={"1": Decimal(12)})),
            "disability",
            "cap",
        ),
        (
            _with_factor("illness", _params("illness", levels={"mild": Decimal(1)})),
            "illness",
            "unknown level",
        ),
        (
            _with_factor("income_gap", _params("income_gap", max_points=Decimal("35.001"))),
            "income_gap",
            "two decimals",
        ),
        (dataclasses.replace(DEFAULT_MODEL, version=" "), "version", "version"),
    ],
)
def test_validate_model_refuses_bad_models(model: ScoringModel, field: str, message_part: str) -> None:
    errors = validate_model(model)
    assert any(e.field == field and message_part in e.message for e in errors), [
        (e.field, e.message) for e in errors
    ]
    with pytest.raises(DomainError):
        compute_index(WORKED_EXAMPLE, URBAN_2020, model, AS_OF)


def test_tuned_model_changes_the_index() -> None:
    heavier_housing = dataclasses.replace(
        DEFAULT_MODEL,
        version="v2-draft",
        factors={
            **DEFAULT_MODEL.factors,
            "housing": _params("housing", max_points=Decimal(10), levels={"rented_heavy": Decimal(8)}),
            "income_gap": _params("income_gap", max_points=Decimal(30)),
        },
    )
    assert validate_model(heavier_housing) == []
    breakdown = compute_index(WORKED_EXAMPLE, URBAN_2020, heavier_housing, AS_OF)
    assert breakdown.line("housing").points == Decimal("8.00")
    assert breakdown.line("income_gap").points == Decimal("17.03")  # 30 × 420 / 740
    assert breakdown.model_version == "v2-draft"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": "v9", "effective_from": "2020-01-01", "factors": {"aid": {"max_points": "x"}}},
        {"version": "v9", "effective_from": "not a date", "factors": {}},
        {
            "version": "v9",
            "effective_from": "2020-01-01",
            "factors": {"aid": {"max_points": "1", "window_months": "12"}},
        },
    ],
)
def test_model_from_dict_refuses_malformed_data(data: dict[str, Any]) -> None:
    with pytest.raises(DomainError):
        model_from_dict(data)


# --------------------------------------------------------------------------- facts and standards


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (household(), []),
        (household(()), ["members"]),
        (household((member(relation=Relation.SPOUSE),)), ["head"]),
        (household((member(), member(None, relation=Relation.CHILD))), ["birth_date"]),
        (household(income_yuan=None), ["income"]),
        (household(income_yuan=0), []),  # an explicit zero counts as declared
        (household(housing=None), ["housing"]),
    ],
)
def test_missing_facts(facts: HouseholdFacts, expected: list[str]) -> None:
    assert missing_facts(facts) == expected


def test_select_standard_picks_latest_in_force() -> None:
    assert URBAN_2020.dibao_monthly_fen == 740_00 and URBAN_2020.tekun_monthly_fen == 1110_00
    later = select_standard(JINAN_DEMO_STANDARDS, DISTRICT, AreaType.RURAL, date(2022, 1, 1))
    assert (later.dibao_monthly_fen, later.tekun_monthly_fen) == (614_00, 798_20)
    urban_2021 = select_standard(JINAN_DEMO_STANDARDS, "370126", AreaType.URBAN, date(2021, 1, 1))
    assert (urban_2021.dibao_monthly_fen, urban_2021.tekun_monthly_fen) == (821_00, 1231_50)


@pytest.mark.parametrize(
    ("district", "as_of"),
    [(DISTRICT, date(2020, 3, 31)), ("110101", date(2022, 1, 1))],
)
def test_select_standard_refuses_when_none_in_force(district: str, as_of: date) -> None:
    with pytest.raises(DomainError):
        select_standard(JINAN_DEMO_STANDARDS, district, AreaType.URBAN, as_of)


def test_jinan_demo_standards_cover_every_given_district() -> None:
    standards = jinan_demo_standards(["370102", "370103"])
    assert len(standards) == 8
    assert {s.district_code for s in standards} == {"370102", "370103"}
    assert all(isinstance(s, Standard) for s in standards)


def test_facts_round_trip_through_json() -> None:
    restored = HouseholdFacts.from_dict(json.loads(json.dumps(WORKED_EXAMPLE.to_dict())))
    assert restored == WORKED_EXAMPLE


def test_malformed_snapshot_is_a_domain_error() -> None:
    data = WORKED_EXAMPLE.to_dict()
    data["housing"] = "castle"
    with pytest.raises(DomainError):
        HouseholdFacts.from_dict(data)


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "0"), (32000, "320"), (32050, "320.50"), (5, "0.05"), (-150, "-1.50"), (26_640_50, "26,640.50")],
)
def test_compact_yuan(fen: int, text: str) -> None:
    assert compact_yuan(fen) == text


def test_bad_amounts_and_grades_are_refused() -> None:
    with pytest.raises(DomainError):
        MoneyItem("wages", -1)
    with pytest.raises(DomainError):
        member(disability_grade=5)
    with pytest.raises(DomainError):
        AidReceived(-100, AS_OF)
