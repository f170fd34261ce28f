"""Relief departments as data: who qualifies for each department's relief, and
which fields of a household file each department may see (docs/departments.md).

A department (education bureau, Red Cross, …) sees, in the area it serves,
only the households its relief is for, and of each only the fields that
relief needs. Both are written here per department kind, so the service that
builds a department's view enforces them and a review reads them in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from relief_pwa.core.enums import Category, DepartmentKind, Housing, Illness, Schooling, WorkCapacity
from relief_pwa.core.i18n import N_

# --- the facts a qualification rule reads --------------------------------------------


@dataclass(frozen=True)
class MemberSummary:
    age: int
    schooling: str
    disability_grade: int | None
    illness: str
    work_capacity: str


@dataclass(frozen=True)
class HouseholdSummary:
    categories: frozenset[str]  # categories the household currently receives (active applications)
    housing: str
    members: tuple[MemberSummary, ...]


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


# --- qualification rules ----------------------------------------------------------------


@dataclass(frozen=True)
class MemberTest:
    """A member passes when every condition given holds (an empty set means "any")."""

    schooling: frozenset[str] = frozenset()
    illness: frozenset[str] = frozenset()
    work_capacity: frozenset[str] = frozenset()
    disabled: bool = False
    min_age: int = 0
    max_age: int = 200

    def passes(self, member: MemberSummary) -> bool:
        return (
            (not self.schooling or member.schooling in self.schooling)
            and (not self.illness or member.illness in self.illness)
            and (not self.work_capacity or member.work_capacity in self.work_capacity)
            and (not self.disabled or member.disability_grade is not None)
            and self.min_age <= member.age <= self.max_age
        )


@dataclass(frozen=True)
class Qualification:
    """Households receiving one of ``categories`` and (when given) with a member passing
    one of ``member_tests`` and housing in ``housing``."""

    categories: frozenset[str]
    member_tests: tuple[MemberTest, ...] = ()
    housing: frozenset[str] = frozenset()

    def holds(self, household: HouseholdSummary) -> bool:
        if not household.categories & self.categories:
            return False
        if self.housing and household.housing not in self.housing:
            return False
        return not self.member_tests or any(t.passes(m) for t in self.member_tests for m in household.members)


_SUBSISTENCE = frozenset({Category.DIBAO, Category.TEKUN, Category.DIBAO_EDGE})
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
_ABLE_WORKING_AGE = MemberTest(
    work_capacity=frozenset({WorkCapacity.FULL, WorkCapacity.PARTIAL}), min_age=16, max_age=59
)

QUALIFICATIONS: dict[DepartmentKind, Qualification] = {
    # 教育救助: subsistence households with a child or young person in education.
    DepartmentKind.EDUCATION: Qualification(_SUBSISTENCE, (MemberTest(schooling=_IN_SCHOOL),)),
    # 医疗救助: subsistence, medical and rigid-expense households with a chronic or serious illness.
    DepartmentKind.MEDICAL_INSURANCE: Qualification(
        _SUBSISTENCE | {Category.MEDICAL, Category.RIGID_EXPENSE},
        (MemberTest(illness=frozenset({Illness.CHRONIC, Illness.SERIOUS})),),
    ),
    # 住房救助: subsistence households without adequate housing.
    DepartmentKind.HOUSING: Qualification(
        _SUBSISTENCE | {Category.HOUSING},
        housing=frozenset({Housing.RENTED_HEAVY, Housing.UNSAFE, Housing.NONE}),
    ),
    # 就业救助: dibao and edge households with a member of working age able to work.
    DepartmentKind.EMPLOYMENT: Qualification(
        frozenset({Category.DIBAO, Category.DIBAO_EDGE, Category.EMPLOYMENT}), (_ABLE_WORKING_AGE,)
    ),
    # 法律援助: every subsistence or temporary-relief household.
    DepartmentKind.LEGAL_AID: Qualification(_SUBSISTENCE | {Category.TEMPORARY}),
    # 残联: subsistence households with a disabled member.
    DepartmentKind.DISABLED_FEDERATION: Qualification(_SUBSISTENCE, (MemberTest(disabled=True),)),
    # 困难职工帮扶: dibao, edge and rigid-expense households with a working-age member able to work.
    DepartmentKind.TRADE_UNION: Qualification(
        frozenset({Category.DIBAO, Category.DIBAO_EDGE, Category.RIGID_EXPENSE}), (_ABLE_WORKING_AGE,)
    ),
    # 慈善: every household receiving any form of relief.
    DepartmentKind.CHARITY_FEDERATION: Qualification(frozenset(c.value for c in Category)),
    # 红十字会: relief households with a seriously ill member, and households hit by disaster.
    DepartmentKind.RED_CROSS: Qualification(
        _SUBSISTENCE | {Category.MEDICAL, Category.TEMPORARY, Category.DISASTER},
        (MemberTest(illness=frozenset({Illness.SERIOUS})),),
    ),
}


def qualifies(kind: str, household: HouseholdSummary) -> bool:
    rule = QUALIFICATIONS.get(DepartmentKind(kind)) if kind in DepartmentKind._value2member_map_ else None
    return rule is not None and rule.holds(household)


# --- field-level views -----------------------------------------------------------------

# The fields of a household file a department view can hold. Identifiers are never
# shown in full: the ID number only masked, the account only masked and only to the
# departments that pay into it.
VIEW_FIELDS: tuple[str, ...] = (
    "file_no",
    "head_name",
    "address",
    "phone",
    "head_id_masked",
    "bank_account_masked",
    "housing",
    "categories",
    "index",
    "income",
    "assets",
    "members",
    "member_age",
    "member_schooling",
    "member_disability",
    "member_illness",
    "member_work",
)

_CONTACT = frozenset({"file_no", "head_name", "address", "phone", "categories", "members", "member_age"})

FIELDS_BY_KIND: dict[DepartmentKind, frozenset[str]] = {
    DepartmentKind.EDUCATION: _CONTACT | {"head_id_masked", "member_schooling"},
    DepartmentKind.MEDICAL_INSURANCE: _CONTACT
    | {"head_id_masked", "member_illness", "member_disability", "index"},
    DepartmentKind.HOUSING: _CONTACT | {"head_id_masked", "housing", "income", "assets", "index"},
    DepartmentKind.EMPLOYMENT: _CONTACT | {"head_id_masked", "member_work", "member_schooling", "income"},
    DepartmentKind.LEGAL_AID: _CONTACT,
    DepartmentKind.DISABLED_FEDERATION: _CONTACT | {"head_id_masked", "member_disability", "member_work"},
    DepartmentKind.TRADE_UNION: _CONTACT | {"member_work", "income"},
    DepartmentKind.CHARITY_FEDERATION: _CONTACT | {"bank_account_masked", "index", "income"},
    DepartmentKind.RED_CROSS: _CONTACT | {"bank_account_masked", "member_illness", "index"},
}


def fields_for(kind: str) -> frozenset[str]:
    """The fields a department of ``kind`` may see (nothing for an unknown kind)."""
    if kind not in DepartmentKind._value2member_map_:
        return frozenset()
    return FIELDS_BY_KIND[DepartmentKind(kind)]


# --- which department owns which category of request ------------------------------------

CATEGORY_OWNER: dict[str, DepartmentKind] = {
    Category.MEDICAL: DepartmentKind.MEDICAL_INSURANCE,
    Category.EDUCATION: DepartmentKind.EDUCATION,
    Category.HOUSING: DepartmentKind.HOUSING,
    Category.EMPLOYMENT: DepartmentKind.EMPLOYMENT,
}

# Referral decisions.
GRANTED = "granted"
REFUSED = "refused"
DECISIONS = (GRANTED, REFUSED)

# What each view field is called on the page and in the docs.
FIELD_LABELS: dict[str, str] = {
    "file_no": N_("File number"),
    "head_name": N_("Head of household"),
    "address": N_("Address"),
    "phone": N_("Phone (masked)"),
    "head_id_masked": N_("ID number (masked)"),
    "bank_account_masked": N_("One-card account (masked)"),
    "housing": N_("Housing"),
    "categories": N_("Relief received"),
    "index": N_("Relief index"),
    "income": N_("Monthly income (yuan)"),
    "assets": N_("Assets (yuan)"),
    "members": N_("Members"),
    "member_age": N_("Age"),
    "member_schooling": N_("Schooling"),
    "member_disability": N_("Disability grade"),
    "member_illness": N_("Illness"),
    "member_work": N_("Work capacity"),
}
