"""Editing a household's facts: audited, version-checked, validated, in jurisdiction."""

from __future__ import annotations

from datetime import date

from relief_pwa.tables import AuditEvent, Household, Member, MoneyItem
from tests.factories import World, make_intake, new_id_number
from tests.helpers import found


async def _household(world: World) -> Household:
    result = await make_intake(world)
    return found(await Household.objects().get(Household.id == result.household_id))


async def test_edit_household_fields_is_audited_with_before_and_after(client, world):
    household = await _household(world)
    await client.login("liaison")
    assert (await client.get(f"/households/{household.id}/edit")).status_code == 200
    response = await client.post_form(
        f"/households/{household.id}/edit",
        {
            "version": str(household.version),
            "address": "新地址8号",
            "area_type": "urban",
            "housing": "unsafe",
            "phone": "13800001111",
            "onecard_account": "",
        },
    )
    assert response.status_code == 303
    row = found(await Household.objects().get(Household.id == household.id))
    assert (row.address, row.housing, row.version) == ("新地址8号", "unsafe", household.version + 1)
    event = found(await AuditEvent.select().where(AuditEvent.action == "household.update").first())
    assert '"rented_heavy"' in event["before"] and '"unsafe"' in event["after"]


async def test_a_stale_edit_is_a_conflict_and_changes_nothing(client, world, make_client):
    household = await _household(world)
    first_user, second_user = client, make_client()
    await first_user.login("liaison")
    await second_user.login("station")
    fields = {"area_type": "urban", "housing": "rented", "phone": "13800001111", "onecard_account": ""}
    ok = await second_user.post_form(
        f"/households/{household.id}/edit",
        {**fields, "address": "站里改的", "version": str(household.version)},
    )
    assert ok.status_code == 303
    stale = await first_user.post_form(
        f"/households/{household.id}/edit",
        {**fields, "address": "联络员改的", "version": str(household.version)},
    )
    assert stale.status_code == 409
    assert 'value="联络员改的"' in stale.text  # what the user typed is kept
    assert found(await Household.objects().get(Household.id == household.id)).address == "站里改的"


async def test_add_and_remove_a_member(client, world):
    household = await _household(world)
    await client.login("station")
    form = {
        "version": str(household.version),
        "name": "张小宝",
        "relation": "child",
        "work_capacity": "none",
        "schooling": "primary",
        "illness": "none",
        "id_number": new_id_number(date(2017, 6, 1)),
    }
    assert (await client.post_form(f"/households/{household.id}/members", form)).status_code == 303
    child = found(await Member.objects().get(Member.name == "张小宝"))
    bad = await client.post_form(
        f"/households/{household.id}/members/{child.id}",
        {"version": str(household.version + 1), "action": "remove", "reason": ""},
    )
    assert bad.status_code == 422 and 'id="reason-error"' in bad.text
    gone = await client.post_form(
        f"/households/{household.id}/members/{child.id}",
        {"version": str(household.version + 1), "action": "remove", "reason": "户口迁出"},
    )
    assert gone.status_code == 303
    assert found(await Member.objects().get(Member.id == child.id)).active is False
    page = await client.get(f"/households/{household.id}")
    assert "张小宝" in page.text


async def test_a_member_with_a_bad_id_is_refused_and_values_kept(client, world):
    household = await _household(world)
    await client.login("station")
    form = {
        "version": str(household.version),
        "name": "李四",
        "relation": "spouse",
        "work_capacity": "full",
        "schooling": "not_in_school",
        "illness": "none",
        "id_number": "370102199001011235",
    }
    response = await client.post_form(f"/households/{household.id}/members", form)
    assert response.status_code == 422
    assert 'value="370102199001011235"' in response.text and "<details open>" in response.text
    assert await Member.count() == 1


async def test_add_and_remove_an_item(client, world):
    household = await _household(world)
    await client.login("station")
    form = {
        "version": str(household.version),
        "section": "expense",
        "kind": "medical",
        "member": "",
        "amount": "4,500",
        "description": "透析",
    }
    assert (await client.post_form(f"/households/{household.id}/items", form)).status_code == 303
    item = found(await MoneyItem.objects().get(MoneyItem.description == "透析"))
    assert item.declared_fen == 450000
    removed = await client.post_form(
        f"/households/{household.id}/items/{item.id}/remove",
        {"version": str(household.version + 1), "reason": "重复录入"},
    )
    assert removed.status_code == 303
    assert found(await MoneyItem.objects().get(MoneyItem.id == item.id)).active is False


async def test_edits_respect_jurisdiction_and_roles(client, world):
    household = await _household(world)
    fields = {
        "version": str(household.version),
        "address": "x路1号",
        "area_type": "urban",
        "housing": "rented",
        "phone": "13800001111",
        "onecard_account": "",
    }
    for username, expected in (("liaison_b", 404), ("station_b", 404), ("supervisor", 403), ("city", 403)):
        await client.login(username)
        response = await client.post_form(f"/households/{household.id}/edit", fields)
        assert response.status_code == expected, username
    assert found(await Household.objects().get(Household.id == household.id)).version == household.version
