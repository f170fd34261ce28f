"""Org network changes keep history: rows move with their unit, past reports keep old names."""

from __future__ import annotations

from datetime import timedelta

import pytest

from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, PermissionDenied
from relief_pwa.core.periods import month_period
from relief_pwa.services.analytics import Filters, get_dashboard, resolve_unit
from relief_pwa.services.audit import verify_chain
from relief_pwa.services.org_changes import (
    do_deactivate_unit,
    do_merge_units,
    do_rename_unit,
    do_reparent_unit,
)
from relief_pwa.services.publicity import do_start_publicity
from relief_pwa.tables import (
    Application,
    AuditEvent,
    Household,
    OrgUnit,
    PublicNotice,
    Staff,
    Visit,
)
from tests.factories import make_intake
from tests.helpers import found
from tests.services.fieldwork_support import schedule
from tests.services.publicity_support import eligible_application

JIEFANG, HEPING, STREET = "370102001001", "370102001002", "370102001"


async def _path(code: str) -> str:
    return str(found(await OrgUnit.select(OrgUnit.path).where(OrgUnit.code == code).first())["path"])


async def test_merging_two_communities_moves_households_staff_and_open_work(world):
    stay = await make_intake(world, community=JIEFANG)
    moving = await eligible_application(world, community=HEPING)
    visit_id = await schedule(
        world, moving.household_id, assignee="liaison_b", on=world.now.date() + timedelta(days=3)
    )
    await do_start_publicity(
        world.actor("station"), moving.application_id, now=world.now, proposed_amount_fen=50_000
    )
    city = world.actor("city")
    heping_id = world.units[HEPING]
    jiefang_path = await _path(JIEFANG)

    with pytest.raises(PermissionDenied):
        await do_merge_units(world.actor("center"), heping_id, JIEFANG, now=world.now)
    report = await do_merge_units(city, heping_id, JIEFANG, new_name="解放和平社区", now=world.now)
    assert report.rows_moved["household"] == 1 and report.rows_moved["staff"] == 1

    household = found(await Household.select().where(Household.id == moving.household_id).first())
    assert household["org_path"] == jiefang_path
    application = found(await Application.select().where(Application.id == moving.application_id).first())
    assert application["org_path"] == jiefang_path
    staff = found(await Staff.select().where(Staff.username == "liaison_b").first())
    assert staff["org_path"] == jiefang_path and staff["org_unit"] == world.units[JIEFANG]
    visit = found(await Visit.select().where(Visit.id == visit_id).first())
    assert visit["org_path"] == jiefang_path and visit["status"] == "scheduled"
    notice = found(
        await PublicNotice.select().where(PublicNotice.application == moving.application_id).first()
    )
    assert notice["org_path"] == jiefang_path and notice["status"] == "running"
    heping = found(await OrgUnit.select().where(OrgUnit.id == heping_id).first())
    assert not heping["active"]
    merged = found(await OrgUnit.select().where(OrgUnit.code == JIEFANG).first())
    assert merged["name"] == "解放和平社区"
    # The audit trail keeps where things happened, and its chain is intact.
    assert await AuditEvent.count().where(AuditEvent.org_path == await _path(HEPING)) > 0
    assert (await verify_chain()).ok
    assert stay.household_id != moving.household_id

    # Last month's dashboard still shows both communities under their old names ...
    center = world.actor("center")
    street = await resolve_unit(center, STREET)
    today = world.now.date()
    last_month = month_period(2026, 10)
    past = await get_dashboard(center, street, Filters(last_month, "", today), use_cache=False)
    assert [row.unit.name for row in past.child_rows] == ["解放路社区", "和平社区"]
    # ... and from today on there is one community with the new name.
    current = await get_dashboard(
        center, street, Filters(month_period(2026, 12), "", today + timedelta(days=20)), use_cache=False
    )
    assert [row.unit.name for row in current.child_rows] == ["解放和平社区"]
    assert current.caseload  # the moved households count in the merged community


async def test_reparenting_a_community_rewrites_paths_below_and_keeps_the_old_one(world):
    moving = await make_intake(world, community=HEPING)
    city = world.actor("city")
    old_path = await _path(HEPING)
    report = await do_reparent_unit(city, world.units[HEPING], "370102002", now=world.now)
    new_path = await _path(HEPING)
    assert new_path == "370100/370102/370102002/370102001002/" and old_path != new_path
    assert report.rows_moved["household"] == 1
    household = found(await Household.select().where(Household.id == moving.household_id).first())
    assert household["org_path"] == new_path
    # The station of the new street sees the household; the old street's station no longer does.
    from relief_pwa.services.access import access_household

    await access_household(world.actor("station_b"), moving.household_id)
    with pytest.raises(NotFoundOrForbidden):
        await access_household(world.actor("station"), moving.household_id)
    with pytest.raises(DomainError):
        await do_reparent_unit(city, world.units[HEPING], "370102", now=world.now)  # wrong level


async def test_rename_and_deactivate(world):
    city = world.actor("city")
    await do_rename_unit(city, world.units[HEPING], "新和平社区", now=world.now)
    assert found(await OrgUnit.select().where(OrgUnit.code == HEPING).first())["name"] == "新和平社区"
    await make_intake(world, community=HEPING)
    with pytest.raises(DomainError):  # the liaison and an open case are still there
        await do_deactivate_unit(city, world.units[HEPING], now=world.now)
    await do_deactivate_unit(city, world.units["370102002001"], now=world.now)
    assert not found(await OrgUnit.select().where(OrgUnit.code == "370102002001").first())["active"]


async def test_the_dashboard_page_of_last_month_names_both_old_communities(client, world):
    await make_intake(world, community=HEPING)
    await do_merge_units(
        world.actor("city"), world.units[HEPING], JIEFANG, new_name="解放和平社区", now=world.now
    )
    await client.login("center")
    past = await client.get(f"/analytics/{STREET}?month=2026-10")
    assert past.status_code == 200
    assert "解放路社区" in past.text and "和平社区" in past.text and "解放和平社区" not in past.text
    now = await client.get(f"/analytics/{STREET}")
    assert "解放和平社区" in now.text


async def test_a_merged_community_takes_no_more_intakes(world):
    from relief_pwa.services.org import list_communities_for

    await do_merge_units(world.actor("city"), world.units[HEPING], JIEFANG, now=world.now)
    codes = [c.code for c in await list_communities_for(world.actor("station"))]
    assert HEPING not in codes and JIEFANG in codes
    with pytest.raises(DomainError):
        await make_intake(world, community=HEPING)
