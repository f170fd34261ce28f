"""Intake on the web: re-render with messages and values kept, htmx fragments, receipt."""

from __future__ import annotations

from typing import Any

from relief_pwa.tables import Application, Household
from tests.factories import World, new_id_number
from tests.helpers import found


def intake_form(world: World, **overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "community_id": str(world.units["370102001001"]),
        "address": "解放路12号",
        "area_type": "urban",
        "housing": "rented_heavy",
        "phone": "139 1234 5678",
        "category": "dibao",
        "channel": "window",
        "member_rows": "2",
        "members-0-name": "张建国",
        "members-0-id_number": new_id_number(),
        "members-0-relation": "head",
        "members-0-work_capacity": "partial",
        "members-0-schooling": "not_in_school",
        "members-0-illness": "serious",
        "item_rows": "1",
        "items-0-section": "income",
        "items-0-kind": "pension",
        "items-0-member": "0",
        "items-0-amount": "850",
        "materials": ["id_cards", "hukou"],
        "action": "save",
    }
    form.update(overrides)
    return form


async def test_intake_form_renders_for_intake_roles_only(client, world):
    await client.login("liaison")
    page = await client.get("/intake")
    assert page.status_code == 200
    # A liaison's form is preset to her only community and to the liaison channel.
    assert f'value="{world.units["370102001001"]}" selected' in page.text
    assert 'value="liaison" selected' in page.text


async def test_supervisor_cannot_post_an_intake(client, world):
    await client.login("supervisor")
    response = await client.post_form("/intake", intake_form(world))
    assert response.status_code == 403
    assert await Household.count() == 0


async def test_successful_intake_redirects_to_a_printable_receipt(client, world):
    await client.login("station")
    response = await client.post_form("/intake", intake_form(world))
    assert response.status_code == 303
    receipt = await client.get(response.headers["location"])
    assert receipt.status_code == 200
    application = found(await Application.objects().first())
    assert application.number in receipt.text
    # Missing materials are listed once, together: authorisation, income proof and diagnosis here.
    assert receipt.text.count("<li>") >= 3
    assert "print-a6" in receipt.text


async def test_invalid_intake_rerenders_with_field_messages_and_values_kept(client, world):
    await client.login("station")
    form = intake_form(
        world,
        **{
            "members-0-id_number": "370102197005171234",
            "phone": "123",
            "address": "解放路<b>12</b>号",
            "items-0-amount": "12.345",
        },
    )
    response = await client.post_form("/intake", form)
    assert response.status_code == 422
    html = response.text
    assert 'value="370102197005171234"' in html  # the user's value is kept
    assert 'id="members-0-id_number-error"' in html
    assert 'id="phone-error"' in html and 'id="address-error"' in html and 'id="items-0-amount-error"' in html
    assert "<b>12</b>" not in html  # escaped, never rendered as markup
    assert await Household.count() == 0


async def test_adding_a_member_keeps_everything_typed(client, world):
    await client.login("station")
    form = intake_form(world, action="add_member", address="保留的地址")
    full = await client.post_form("/intake", form)
    assert full.status_code == 200
    assert 'value="保留的地址"' in full.text and 'name="members-2-name"' in full.text
    fragment = await client.post_form("/intake", form, headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<fieldset id="members"')
    assert "<html" not in fragment.text and 'name="members-2-name"' in fragment.text
    assert await Household.count() == 0


async def test_duplicate_id_message_links_to_the_visible_household(client, world):
    await client.login("station")
    id_number = new_id_number()
    first = await client.post_form("/intake", intake_form(world, **{"members-0-id_number": id_number}))
    assert first.status_code == 303
    second = await client.post_form("/intake", intake_form(world, **{"members-0-id_number": id_number}))
    assert second.status_code == 422
    household = found(await Household.objects().first())
    assert f'href="/households/{household.id}"' in second.text
    assert household.file_no in second.text


async def test_an_id_number_is_checked_as_soon_as_it_is_typed(client, world, make_client):
    await client.login("station")
    id_number = new_id_number()
    assert (
        await client.post_form("/intake", intake_form(world, **{"members-0-id_number": id_number}))
    ).status_code == 303
    household = found(await Household.objects().first())
    form = await client.get("/intake")
    assert 'hx-get="/intake/check-id"' in form.text and 'hx-target="#idcheck-0"' in form.text

    taken = await client.get("/intake/check-id", params={"members-1-id_number": id_number})
    assert taken.status_code == 200
    assert household.file_no in taken.text and f'href="/households/{household.id}"' in taken.text
    fresh = await client.get("/intake/check-id", params={"members-0-id_number": new_id_number()})
    assert "id-ok" in fresh.text and "field-error" not in fresh.text
    typo = await client.get("/intake/check-id", params={"members-0-id_number": id_number[:-1] + "0"})
    assert "field-error" in typo.text or "id-ok" not in typo.text

    elsewhere = make_client()  # a liaison of another community learns only that it exists
    await elsewhere.login("liaison_b")
    hidden = await elsewhere.get("/intake/check-id", params={"members-0-id_number": id_number})
    assert "field-error" in hidden.text and household.file_no not in hidden.text


async def test_a_mistake_in_a_member_is_not_repeated_as_choose_a_member_on_the_items(client, world):
    await client.login("station")
    response = await client.post_form("/intake", intake_form(world, **{"members-0-work_capacity": ""}))
    assert response.status_code == 422
    assert 'id="members-0-work_capacity-error"' in response.text
    assert 'id="items-0-member-error"' not in response.text
    # both are starred as required
    assert response.text.count('<span aria-hidden="true">*</span>') >= 6


async def test_field_staff_start_on_todays_work_and_others_on_the_case_list(client, world):
    await client.login("liaison")
    home = await client.get("/")
    assert home.status_code == 200
    assert 'href="/intake"' in home.text and "btn-big" in home.text and "data-outbox-panel" in home.text
    await client.login("center")
    assert (await client.get("/")).headers["location"] == "/cases"
