"""Household facts as of a date: the only input of eligibility and the relief index.

Services build these frozen values from database rows; the pure core reads
them. Every value converts to and from plain JSON-compatible dicts so that
the exact input of a computed index can be stored with it and recomputed
later (DESIGN §4: "every computed index is stored with its inputs snapshot").

Money is integer fen throughout. Income items are MONTHLY amounts, assets are
stock values, expenses are out-of-pocket totals over the last 12 months.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

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
from relief_pwa.core.i18n import N_

__all__ = [
    "JINAN_DEMO_STANDARDS",
    "JINAN_DISTRICT_CODES",
    "MISSING_FACT_LABELS",
    "AidReceived",
    "HouseholdFacts",
    "MemberFacts",
    "MoneyItem",
    "Shock",
    "Standard",
    "compact_yuan",
    "jinan_demo_standards",
    "missing_facts",
    "select_standard",
]


def compact_yuan(fen: int) -> str:
    """Render fen as yuan inside sentences: ``32000 → "320"``, ``2664050 → "26,640.50"``.

    Whole yuan drop the ".00" (reasons read "320 元", not "320.00 元");
    ``money.format_yuan`` is the fixed two-decimal form for tables.
    """
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}" if cents == 0 else f"{sign}{whole:,}.{cents:02d}"


def _date_or_none(value: str | None) -> date | None:
    return date.fromisoformat(value) if value is not None else None


def _iso_or_none(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """One household member as the index needs them.

    ``birth_date`` may be ``None`` while the file is incomplete; the member
    then counts for nothing that depends on age and the index is provisional.
    """

    birth_date: date | None
    sex: Sex
    relation: Relation
    disability_grade: int | None  # 1–4, 1 most severe; None = no certified disability
    illness: Illness = Illness.NONE
    work_capacity: WorkCapacity = WorkCapacity.FULL
    schooling: Schooling = Schooling.NOT_IN_SCHOOL

    def __post_init__(self) -> None:
        if self.disability_grade is not None and not 1 <= self.disability_grade <= 4:
            raise DomainError(
                N_("Disability grade must be between 1 and 4."),
                field="disability_grade",
                grade=self.disability_grade,
            )

    def age_on(self, as_of: date) -> int | None:
        """Completed years of age on ``as_of`` (None if the birth date is unknown)."""
        born = self.birth_date
        if born is None:
            return None
        before_birthday = (as_of.month, as_of.day) < (born.month, born.day)
        return as_of.year - born.year - (1 if before_birthday else 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "birth_date": _iso_or_none(self.birth_date),
            "sex": self.sex.value,
            "relation": self.relation.value,
            "disability_grade": self.disability_grade,
            "illness": self.illness.value,
            "work_capacity": self.work_capacity.value,
            "schooling": self.schooling.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MemberFacts:
        return cls(
            birth_date=_date_or_none(data["birth_date"]),
            sex=Sex(data["sex"]),
            relation=Relation(data["relation"]),
            disability_grade=data["disability_grade"],
            illness=Illness(data["illness"]),
            work_capacity=WorkCapacity(data["work_capacity"]),
            schooling=Schooling(data["schooling"]),
        )


@dataclass(frozen=True, slots=True)
class MoneyItem:
    """A declared (and possibly verified) amount of one kind, in fen.

    ``kind`` is the string value of an IncomeKind, AssetKind or ExpenseKind.
    """

    kind: str
    declared_fen: int
    verified_fen: int | None = None

    def __post_init__(self) -> None:
        if self.declared_fen < 0 or (self.verified_fen is not None and self.verified_fen < 0):
            raise DomainError(N_("Amounts cannot be negative."), field=self.kind)

    @property
    def counted_fen(self) -> int:
        """The amount the rules count: verified where it exists, else declared."""
        return self.declared_fen if self.verified_fen is None else self.verified_fen

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "declared_fen": self.declared_fen,
            "verified_fen": self.verified_fen,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MoneyItem:
        return cls(
            kind=str(data["kind"]),
            declared_fen=int(data["declared_fen"]),
            verified_fen=None if data["verified_fen"] is None else int(data["verified_fen"]),
        )


@dataclass(frozen=True, slots=True)
class Shock:
    """A sudden event (disaster, accident, sudden illness) and when it happened."""

    kind: ShockKind
    occurred_on: date

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "occurred_on": self.occurred_on.isoformat()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Shock:
        return cls(kind=ShockKind(data["kind"]), occurred_on=date.fromisoformat(data["occurred_on"]))


@dataclass(frozen=True, slots=True)
class AidReceived:
    """Value of assistance the household received (cash or goods at value), in fen."""

    value_fen: int
    received_on: date
    source: str = ""

    def __post_init__(self) -> None:
        if self.value_fen < 0:
            raise DomainError(N_("Amounts cannot be negative."), field="value_fen")

    def to_dict(self) -> dict[str, Any]:
        return {
            "value_fen": self.value_fen,
            "received_on": self.received_on.isoformat(),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AidReceived:
        return cls(
            value_fen=int(data["value_fen"]),
            received_on=date.fromisoformat(data["received_on"]),
            source=str(data["source"]),
        )


@dataclass(frozen=True, slots=True)
class HouseholdFacts:
    """Everything eligibility and the index read about one household.

    ``housing`` is ``None`` while unknown. ``has_legal_supporter_able`` is
    ``None`` while the investigation has not established whether a legally
    obliged supporter (法定赡养、抚养、扶养义务人) is able to support.
    """

    household_id: int
    file_no: str
    area_type: AreaType
    district_code: str
    housing: Housing | None
    members: tuple[MemberFacts, ...] = ()
    incomes: tuple[MoneyItem, ...] = ()
    assets: tuple[MoneyItem, ...] = ()
    expenses: tuple[MoneyItem, ...] = ()
    shocks: tuple[Shock, ...] = ()
    aid: tuple[AidReceived, ...] = ()
    categories: tuple[str, ...] = ()
    has_legal_supporter_able: bool | None = None

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def monthly_income_fen(self) -> int:
        return sum(item.counted_fen for item in self.incomes)

    @property
    def asset_total_fen(self) -> int:
        return sum(item.counted_fen for item in self.assets)

    @property
    def expense_total_fen(self) -> int:
        return sum(item.counted_fen for item in self.expenses)

    def to_dict(self) -> dict[str, Any]:
        return {
            "household_id": self.household_id,
            "file_no": self.file_no,
            "area_type": self.area_type.value,
            "district_code": self.district_code,
            "housing": None if self.housing is None else self.housing.value,
            "members": [m.to_dict() for m in self.members],
            "incomes": [i.to_dict() for i in self.incomes],
            "assets": [i.to_dict() for i in self.assets],
            "expenses": [i.to_dict() for i in self.expenses],
            "shocks": [s.to_dict() for s in self.shocks],
            "aid": [a.to_dict() for a in self.aid],
            "categories": list(self.categories),
            "has_legal_supporter_able": self.has_legal_supporter_able,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HouseholdFacts:
        """Rebuild facts from ``to_dict()`` output.

        Raises:
            DomainError: the snapshot is malformed.
        """
        try:
            return cls(
                household_id=int(data["household_id"]),
                file_no=str(data["file_no"]),
                area_type=AreaType(data["area_type"]),
                district_code=str(data["district_code"]),
                housing=None if data["housing"] is None else Housing(data["housing"]),
                members=tuple(MemberFacts.from_dict(m) for m in data["members"]),
                incomes=tuple(MoneyItem.from_dict(i) for i in data["incomes"]),
                assets=tuple(MoneyItem.from_dict(i) for i in data["assets"]),
                expenses=tuple(MoneyItem.from_dict(i) for i in data["expenses"]),
                shocks=tuple(Shock.from_dict(s) for s in data["shocks"]),
                aid=tuple(AidReceived.from_dict(a) for a in data["aid"]),
                categories=tuple(str(c) for c in data["categories"]),
                has_legal_supporter_able=data["has_legal_supporter_able"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DomainError(N_("The stored household snapshot is malformed."), detail=str(exc)) from exc


# Codes returned by missing_facts(); stable, so they can be stored in snapshots.
MISSING_FACT_LABELS: dict[str, str] = {
    "members": N_("No household members are recorded."),
    "head": N_("No member is recorded as head of household."),
    "birth_date": N_("A member's date of birth is missing."),
    "income": N_("No income has been declared (record an explicit zero if there is none)."),
    "housing": N_("The housing condition is unknown."),
}


def missing_facts(household: HouseholdFacts) -> list[str]:
    """List what is incomplete about a household, as codes of ``MISSING_FACT_LABELS``.

    An explicit zero income item counts as declared: "no income" must be a
    recorded answer, not an absent one.

    Args:
        household: the facts to check.

    Returns:
        Codes in a fixed order; empty when the facts are complete enough to score.
    """
    missing: list[str] = []
    if not household.members:
        missing.append("members")
    elif not any(m.relation is Relation.HEAD for m in household.members):
        missing.append("head")
    if any(m.birth_date is None for m in household.members):
        missing.append("birth_date")
    if not household.incomes:
        missing.append("income")
    if household.housing is None:
        missing.append("housing")
    return missing


@dataclass(frozen=True, slots=True)
class Standard:
    """The local monthly standards per person for one district and area type.

    The asset limit for dibao is ``asset_limit_months × dibao standard ×
    household size``.
    """

    district_code: str
    area_type: AreaType
    effective_from: date
    dibao_monthly_fen: int
    tekun_monthly_fen: int
    asset_limit_months: int = 24

    def __post_init__(self) -> None:
        if self.dibao_monthly_fen <= 0 or self.tekun_monthly_fen <= 0:
            raise DomainError(N_("A standard must be a positive amount."), field="dibao_monthly_fen")
        if self.asset_limit_months < 0:
            raise DomainError(N_("The asset limit cannot be negative."), field="asset_limit_months")

    def to_dict(self) -> dict[str, Any]:
        return {
            "district_code": self.district_code,
            "area_type": self.area_type.value,
            "effective_from": self.effective_from.isoformat(),
            "dibao_monthly_fen": self.dibao_monthly_fen,
            "tekun_monthly_fen": self.tekun_monthly_fen,
            "asset_limit_months": self.asset_limit_months,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Standard:
        return cls(
            district_code=str(data["district_code"]),
            area_type=AreaType(data["area_type"]),
            effective_from=date.fromisoformat(data["effective_from"]),
            dibao_monthly_fen=int(data["dibao_monthly_fen"]),
            tekun_monthly_fen=int(data["tekun_monthly_fen"]),
            asset_limit_months=int(data["asset_limit_months"]),
        )


def select_standard(
    standards: Iterable[Standard], district_code: str, area_type: AreaType, as_of: date
) -> Standard:
    """Pick the standard in force: the latest ``effective_from`` on or before ``as_of``.

    Raises:
        DomainError: no standard for that district and area type was in force.
    """
    best: Standard | None = None
    for candidate in standards:
        if (
            candidate.district_code == district_code
            and candidate.area_type == area_type
            and candidate.effective_from <= as_of
            and (best is None or candidate.effective_from > best.effective_from)
        ):
            best = candidate
    if best is None:
        raise DomainError(
            N_("No assistance standard is in force for district {district} ({area}) on {date}."),
            field="district_code",
            district=district_code,
            area=area_type.value,
            date=as_of.isoformat(),
        )
    return best


# Jinan county-level division codes (domain_cn.md §3.3).
JINAN_DISTRICT_CODES: tuple[str, ...] = (
    "370102", "370103", "370104", "370105", "370112", "370113",
    "370114", "370115", "370116", "370117", "370124", "370126",
)  # fmt: skip

# (effective_from, area, dibao yuan/month, tekun fen/month) from domain_cn.md §1.10.
_JINAN_STANDARD_ROWS: tuple[tuple[date, AreaType, int, int], ...] = (
    # 济南日报 2020-03-12: from 2020-04-01 urban 740 / rural 494; 特困 1,110 / 643.
    (date(2020, 4, 1), AreaType.URBAN, 740_00, 1110_00),
    (date(2020, 4, 1), AreaType.RURAL, 494_00, 643_00),
    # english.jinan.gov.cn 2021-01-08 reports 821 / 614 without a start date;
    # 2021-01-01 is an ASSUMPTION. 特困 follows the usual ratio to dibao
    # (urban 1.5×, rural 1.3×): 1,231.50 and 798.20 yuan.
    (date(2021, 1, 1), AreaType.URBAN, 821_00, 821_00 * 3 // 2),
    (date(2021, 1, 1), AreaType.RURAL, 614_00, 614_00 * 13 // 10),
)


def jinan_demo_standards(district_codes: Iterable[str]) -> tuple[Standard, ...]:
    """Jinan's published city-wide standards applied to each given district code.

    Jinan publishes one urban and one rural standard for the whole city, so
    every district gets the same rows. For demos and tests, not for payment.
    """
    return tuple(
        Standard(
            district_code=code,
            area_type=area,
            effective_from=effective_from,
            dibao_monthly_fen=dibao_fen,
            tekun_monthly_fen=tekun_fen,
        )
        for code in district_codes
        for effective_from, area, dibao_fen, tekun_fen in _JINAN_STANDARD_ROWS
    )


JINAN_DEMO_STANDARDS: tuple[Standard, ...] = jinan_demo_standards(JINAN_DISTRICT_CODES)
