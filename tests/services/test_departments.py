"""Relief departments: who an education bureau sees, what of it, and the relief it records."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from relief_pwa.core.departments import FIELDS_BY_KIND, HouseholdSummary, MemberSummary, qualifies
from relief_pwa.core.enums import DepartmentKind, Role
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, PermissionDenied
from relief_pwa.services import access_log
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.departments import (
    DepartmentAid,
    department_view,
    do_create_department,
    do_record_department_aid,
    qualifying_households,
)
from relief_pwa.tables import AidRecord, AuditEvent, Household, Provider, Resource
from tests.factories import add_staff
from tests.helpers import found
from tests.services.departments_support import ACCOUNT, seed_city


async def _index(household_id: int) -> Decimal:
    row = found(await Household.select(Household.current_index).where(Household.id == household_id).first())
    return Decimal(str(row["current_index"]))


@pytest.fixture()
async def city(world: Any, now: Any) -> dict[str, int]:
    return await seed_city(world, now)


def test_qualification_rules_are_data_per_kind() -> None:
    pupil = MemberSummary(9, "primary", None, "none", "none")
    adult = MemberSummary(40, "not_in_school", None, "chronic", "full")
    dibao_with_pupil = HouseholdSummary(frozenset({"dibao"}), "rented", (adult, pupil))
    assert qualifies("education", dibao_with_pupil)
    assert not qualifies("education", HouseholdSummary(frozenset({"dibao"}), "rented", (adult,)))
    assert not qualifies("education", HouseholdSummary(frozenset({"temporary"}), "rented", (adult, pupil)))
    assert qualifies("medical_insurance", dibao_with_pupil)  # the adult's chronic illness
    assert qualifies("employment", dibao_with_pupil)  # a working-age adult able to work
    assert not qualifies("housing", dibao_with_pupil)  # housing is affordable
    assert not qualifies("no_such_kind", dibao_with_pupil)
    assert set(FIELDS_BY_KIND) == set(DepartmentKind)
    assert "bank_account_masked" not in FIELDS_BY_KIND[DepartmentKind.EDUCATION]


async def test_education_bureau_sees_only_its_districts_households_with_schoolchildren(
    world: Any, city: dict[str, int], now: Any
) -> None:
    bureau = world.actor("department")
    page = await qualifying_households(bureau, now=now)
    assert [r["id"] for r in page.rows] == [city["with_child"]]
    assert page.total == 1
    for other in ("without_child", "applying", "elsewhere"):
        with pytest.raises(NotFoundOrForbidden):
            await department_view(bureau, city[other], now=now)


async def test_the_view_holds_only_the_education_fields(world: Any, city: dict[str, int], now: Any) -> None:
    access_log.discard_pending_reads()
    view = await department_view(world.actor("department"), city["with_child"], now=now)
    assert set(view.fields) <= FIELDS_BY_KIND[DepartmentKind.EDUCATION]
    assert "bank_account_masked" not in view.fields
    assert ACCOUNT not in repr(view) and ACCOUNT[-4:] not in repr(view)
    household = await Household.objects().where(Household.id == city["with_child"]).first()
    assert household is not None
    assert "*" in view.fields["head_id_masked"]
    assert [m["schooling"] for m in view.members] == ["not_in_school", "primary"]
    assert all("illness" not in m and "work_capacity" not in m for m in view.members)
    assert access_log.pending_reads() == 1  # the read is in the access log


async def test_the_red_cross_sees_the_account_only_masked(world: Any, city: dict[str, int], now: Any) -> None:
    unit_id = await do_create_department(
        SYSTEM_ACTOR, kind="red_cross", parent_code="370102", name="历下区红十字会", now=now
    )
    assert unit_id
    red_cross = await add_staff(world, "redcross", Role.DEPARTMENT, "370102D02")
    # The with-child household has no seriously ill member: the Red Cross does not see it.
    with pytest.raises(NotFoundOrForbidden):
        await department_view(red_cross, city["with_child"], now=now)


async def test_recorded_relief_lowers_the_index_and_draws_on_own_resource(
    world: Any, city: dict[str, int], now: Any
) -> None:
    bureau = world.actor("department")
    household_id = city["with_child"]
    before = await _index(household_id)
    provider = Provider(name="历下区教育局", kind="government", org_path=bureau.unit_path, created_at=now)
    await provider.save()
    resource = Resource(
        provider=provider.id,
        org_path=bureau.unit_path,
        name="助学金",
        kind="cash",
        need="education",
        unit="per_household",
        unit_amount_fen=100_000,
        periodicity="one_off",
        budget_total_fen=150_000,
        created_at=now,
    )
    await resource.save()
    draft = DepartmentAid(
        amount="1000", received_on="", note="春季学期助学金", resource_id=str(resource.id), token="t-1"
    )
    aid_id = await do_record_department_aid(bureau, household_id, draft, now=now)
    again = await do_record_department_aid(bureau, household_id, draft, now=now)  # a retried submit
    assert again == aid_id
    assert await AidRecord.count().where(AidRecord.household == household_id) == 1
    after = await _index(household_id)
    assert after < before
    reserved = await Resource.select(Resource.budget_reserved_fen).where(Resource.id == resource.id).first()
    assert reserved == {"budget_reserved_fen": 100_000}
    assert await AuditEvent.exists().where(AuditEvent.action == "department.aid_record")
    # More than the budget left is refused; so is a household outside its view.
    with pytest.raises(DomainError):
        await do_record_department_aid(
            bureau, household_id, DepartmentAid("600", "", "再次", str(resource.id), "t-2"), now=now
        )
    with pytest.raises(NotFoundOrForbidden):
        await do_record_department_aid(
            bureau, city["without_child"], DepartmentAid("10", "", "x", "", "t-3"), now=now
        )


async def test_other_roles_have_no_department_view(world: Any, city: dict[str, int], now: Any) -> None:
    with pytest.raises(PermissionDenied):
        await qualifying_households(world.actor("center"), now=now)
    with pytest.raises(PermissionDenied):
        await department_view(world.actor("station"), city["with_child"], now=now)


async def test_staff_admin_makes_department_accounts_scoped_to_the_area_served(world: Any, now: Any) -> None:
    from relief_pwa.services.auth import do_create_staff, load_actor
    from relief_pwa.tables import Staff

    staff_id = await do_create_staff(
        world.actor("city"),
        username="edu.clerk",
        display_name="教育局 王老师",
        password="a-long-enough-passphrase-2026",
        role=Role.DEPARTMENT.value,
        org_code="370102D01",
        now=now,
    )
    row = found(await Staff.select(Staff.org_path).where(Staff.id == staff_id).first())
    assert row["org_path"] == "370100/370102/"  # the district it serves, not the unit's own path
    actor = found(await load_actor(staff_id))
    assert actor.department_kind == "education" and actor.unit_path == "370100/370102/370102D01/"
    with pytest.raises(DomainError):  # the role works only at a department unit
        await do_create_staff(
            world.actor("city"),
            username="edu.wrong",
            display_name="x",
            password="a-long-enough-passphrase-2026",
            role=Role.DEPARTMENT.value,
            org_code="370102",
            now=now,
        )
