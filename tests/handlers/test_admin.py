"""City administration of staff accounts and service offices."""

from __future__ import annotations

from relief_pwa.tables import AuditEvent, OrgUnit, Staff
from tests.factories import STAFF
from tests.helpers import found


async def test_city_creates_an_account_that_can_log_in(client, world, make_client):
    await client.login("city")
    form = {
        "username": "wang_li",
        "display_name": "王丽",
        "role": "liaison",
        "org_code": "370102001002",
        "password": "a-long-password",
    }
    response = await client.post_form("/admin/staff", form)
    assert response.status_code == 303
    staff = found(await Staff.objects().get(Staff.username == "wang_li"))
    assert staff.org_path == "370100/370102/370102001/370102001002/"
    newcomer = make_client()
    await newcomer.login("wang_li", "a-long-password")
    assert (await newcomer.get("/intake")).status_code == 200


async def test_bad_account_values_rerender_with_messages(client, world):
    await client.login("city")
    form = {"username": "x", "display_name": "", "role": "liaison", "org_code": "370102", "password": "short"}
    response = await client.post_form("/admin/staff", form)
    assert response.status_code == 422
    assert 'id="username-error"' in response.text
    assert await Staff.count() == len(STAFF)


async def test_disabling_an_account_ends_its_sessions(client, world, make_client):
    other = make_client()
    await other.login("liaison")
    await client.login("city")
    response = await client.post_form(
        f"/admin/staff/{world.actor('liaison').staff_id}/active", {"active": "0"}
    )
    assert response.status_code == 303
    assert (await other.get("/cases")).status_code == 303  # back to the login page
    assert await AuditEvent.count().where(AuditEvent.action == "staff.disable") == 1


async def test_supervisor_reads_but_cannot_change(client, world):
    await client.login("supervisor")
    assert (await client.get("/admin/staff")).status_code == 200
    unit = world.units["370102001"]
    assert (await client.get(f"/admin/org?unit={unit}")).status_code == 200
    response = await client.post_form(
        f"/admin/org/{unit}",
        {"office_name": "x", "office_address": "", "hotline": "", "supervision_hotline": ""},
    )
    assert response.status_code == 403
    response = await client.post_form(
        "/admin/staff",
        {
            "username": "abc",
            "display_name": "abc",
            "role": "liaison",
            "org_code": "370102001001",
            "password": "a-long-password",
        },
    )
    assert response.status_code == 403


async def test_city_updates_office_details_with_validation(client, world):
    await client.login("city")
    unit = world.units["370102001"]
    bad = await client.post_form(
        f"/admin/org/{unit}",
        {
            "office_name": "解放路街道阳光救助服务站",
            "office_address": "解放路1号",
            "hotline": "12",
            "supervision_hotline": "",
        },
    )
    assert bad.status_code == 422 and 'id="hotline-error"' in bad.text
    good = await client.post_form(
        f"/admin/org/{unit}",
        {
            "office_name": "解放路街道阳光救助服务站",
            "office_address": "解放路1号",
            "hotline": "0531-86970111",
            "supervision_hotline": "0531 8697 0102",
        },
    )
    assert good.status_code == 303
    row = found(await OrgUnit.objects().get(OrgUnit.id == unit))
    assert row.supervision_hotline == "0531-86970102"


async def test_other_roles_cannot_open_administration(client, world):
    await client.login("center")
    assert (await client.get("/admin/staff")).status_code == 403
