"""Going live: init on an empty database, the first admin works, a second init changes nothing."""

from __future__ import annotations

from relief_pwa.core.enums import OrgLevel
from relief_pwa.services.bootstrap import do_init
from relief_pwa.services.departments import SHIPPED_DEPARTMENTS
from relief_pwa.tables import Application, AuditEvent, CalendarDay, OrgUnit, Staff
from tests.factories import World
from tests.handlers.test_intake_pages import intake_form
from tests.helpers import found

ADMIN_PASSWORD = "Quan-cheng 2026 spring"


async def test_init_then_the_first_admin_creates_a_station_that_takes_an_intake(db, now, client, make_client):
    result = await do_init("admin", ADMIN_PASSWORD, now=now)
    assert result.admin_created and result.units_created == 1 + 13 + 164 + len(SHIPPED_DEPARTMENTS)
    assert await OrgUnit.count().where(OrgUnit.level == OrgLevel.STREET) == 164
    assert await CalendarDay.count() > 50
    events = await AuditEvent.count()

    again = await do_init("admin", None, now=now)
    assert not again.changed
    assert await AuditEvent.count() == events and await Staff.count() == 1

    # create-user with an org code works on the fresh database (the network is there)
    await client.login("admin", ADMIN_PASSWORD)
    response = await client.post_form(
        "/admin/staff",
        {
            "username": "station_jfl",
            "display_name": "解放路街道服务站",
            "role": "station",
            "org_code": "370102001",
            "password": "a-long-station-password",
        },
    )
    assert response.status_code == 303, response.text[:2000]
    # The first community comes in through the unit page (or import-org).
    street = found(await OrgUnit.select(OrgUnit.id).where(OrgUnit.code == "370102001").first())
    response = await client.post_form(
        f"/admin/org/{street['id']}/add", {"code": "370102001001", "name": "解放路社区", "address": ""}
    )
    assert response.status_code == 303
    community = found(await OrgUnit.select(OrgUnit.id).where(OrgUnit.code == "370102001001").first())
    station = make_client()
    await station.login("station_jfl", "a-long-station-password")
    world = World(now=now, units={"370102001001": community["id"]})
    response = await station.post_form("/intake", intake_form(world))
    assert response.status_code == 303, response.text[:2000]
    assert (await station.get(response.headers["location"])).status_code == 200
    assert await Application.count() == 1


async def test_init_refuses_a_weak_password_and_leaves_nothing(db, now):
    import pytest

    from relief_pwa.core.errors import DomainError

    with pytest.raises(DomainError) as refused:
        await do_init("admin", "admin", now=now)
    assert refused.value.field == "password"
    assert await OrgUnit.count() == 0 and await Staff.count() == 0
