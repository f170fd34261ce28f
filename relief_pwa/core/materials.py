"""Which materials an application needs, so the missing ones are listed once (一次性告知)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from relief_pwa.core.enums import Category, Housing, Illness, Schooling
from relief_pwa.core.i18n import N_


@dataclass(frozen=True)
class Material:
    code: str
    label: str  # English message id


MATERIALS: dict[str, Material] = {
    m.code: m
    for m in (
        Material("id_cards", N_("ID cards of all household members")),
        Material("hukou", N_("Household registration booklet (hukou)")),
        Material("authorization", N_("Signed authorisation for the economic-status check")),
        Material("income_proof", N_("Proof of income of working members")),
        Material("disability_cert", N_("Disability certificate")),
        Material("diagnosis", N_("Hospital diagnosis of the serious illness")),
        Material("school_cert", N_("Proof of enrolment of students")),
        Material("rental_contract", N_("Rental contract")),
        Material("disaster_proof", N_("Proof of disaster or accident")),
        Material("expense_receipts", N_("Receipts of medical or education expenses")),
    )
}

_IN_SCHOOL = {
    Schooling.PRIMARY,
    Schooling.JUNIOR,
    Schooling.SENIOR,
    Schooling.VOCATIONAL,
    Schooling.UNIVERSITY,
}


@dataclass(frozen=True)
class MemberNeeds:
    """The facts of one member that decide which papers are needed."""

    disability_grade: int | None
    illness: str
    schooling: str
    has_income: bool


def required_materials(
    category: str,
    members: Iterable[MemberNeeds],
    housing: str,
    has_expenses: bool,
) -> list[Material]:
    """Every material the application needs, in a stable order."""
    members = list(members)
    needed = ["id_cards", "hukou", "authorization"]
    if any(m.has_income for m in members):
        needed.append("income_proof")
    if any(m.disability_grade is not None for m in members):
        needed.append("disability_cert")
    if any(m.illness == Illness.SERIOUS for m in members) or category == Category.MEDICAL:
        needed.append("diagnosis")
    if any(m.schooling in _IN_SCHOOL for m in members) or category == Category.EDUCATION:
        needed.append("school_cert")
    if housing in {Housing.RENTED, Housing.RENTED_HEAVY}:
        needed.append("rental_contract")
    if category in {Category.DISASTER, Category.TEMPORARY}:
        needed.append("disaster_proof")
    if has_expenses or category in {Category.MEDICAL, Category.RIGID_EXPENSE}:
        needed.append("expense_receipts")
    return [MATERIALS[code] for code in dict.fromkeys(needed)]


def missing_materials(required: Iterable[Material], provided: Iterable[str]) -> list[Material]:
    provided_set = set(provided)
    return [m for m in required if m.code not in provided_set]
