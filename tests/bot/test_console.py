"""The staff chat console drives the same handlers without Telegram (no token),
and the intake receipt carries the bot link."""

from __future__ import annotations

import re

from relief_pwa.services.bot import console_chat_id, current_bind_link, list_bound
from relief_pwa.tables import BindToken, PreApplication
from tests.factories import make_intake
from tests.helpers import deliver_outbox


def _buttons(html: str) -> list[tuple[str, str, str]]:
    """(message id, callback data, label) of every button on the console page."""
    return re.findall(
        r'name="message_id" value="(\d+)"><input type="hidden" name="data" value="([^"]+)">\s*'
        r'<button class="btn" type="submit">([^<]+)</button>',
        html,
    )


async def _press(client, label: str):
    page = await client.get("/bot/console")
    matches = [b for b in _buttons(page.text) if b[2] == label]
    assert matches, f"no button {label!r}"
    message_id, data, _ = matches[-1]
    return await client.post_form("/bot/console/press", {"message_id": message_id, "data": data})


async def test_console_works_without_a_token(world, client, now) -> None:
    client.cookies.set("lang", "en")
    await client.login("station")
    page = await client.get("/bot/console")
    assert page.status_code == 200
    assert "no bot token" in page.text
    await client.post_form("/bot/console", {"text": "/lang"})
    response = await _press(client, "English")
    assert response.status_code == 303
    page = await client.get("/bot/console")
    assert "From now on I will write in English." in page.text

    # The whole pre-application, through the console.
    for text in ["/apply", "赵 六", "13912345678"]:
        await client.post_form("/bot/console", {"text": text})
    await _press(client, "历下区")
    await _press(client, "千佛山街道")
    await _press(client, "千佛山社区")
    await _press(client, "Temporary assistance")
    response = await client.post_form(
        "/bot/console", {"text": "家中失火，房屋受损，需要临时救助。"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and 'id="console"' in response.text  # an htmx fragment
    assert "Thank you, 赵 六" in response.text
    [row] = await PreApplication.select()
    assert row["chat_id"] == console_chat_id(world.actor("station").staff_id)


async def test_receipt_link_binds_the_console_chat_and_delivers_notices(world, app, client, now) -> None:
    intake = await make_intake(world)
    client.cookies.set("lang", "en")
    await client.login("station")
    receipt = await client.get(f"/applications/{intake.application_id}/receipt")
    link = await current_bind_link(intake.application_id, now)
    assert link is not None
    assert f"https://t.me/SunshineReliefBot?start={link.token}" in receipt.text
    assert 'src="data:image/png;base64,' in receipt.text

    await client.post_form("/bot/console", {"text": f"/start {link.token}"})
    chat_id = console_chat_id(world.actor("station").staff_id)
    assert [b.application_id for b in await list_bound(chat_id)] == [intake.application_id]

    # A used token: the receipt offers a new link, and issuing one is audited.
    receipt = await client.get(f"/applications/{intake.application_id}/receipt")
    assert "Issue a new Telegram link" in receipt.text
    # ...and still prints a code: the bot itself, where the linked chat goes on working.
    assert 'src="data:image/png;base64,' in receipt.text and "https://t.me/SunshineReliefBot<" in receipt.text
    response = await client.post_form(f"/applications/{intake.application_id}/bot-token", {})
    assert response.status_code == 303
    assert await BindToken.count().where(BindToken.application == intake.application_id) == 2

    # A decision notice for the console chat arrives in the transcript through the outbox.
    from relief_pwa.services.applications import do_transition

    station = world.actor("station")
    await do_transition(station, intake.application_id, "start_investigation", now=now)
    await do_transition(station, intake.application_id, "find_eligible", reason="收入低于标准", now=now)
    page = await client.get("/bot/console")
    assert "收入低于标准" not in page.text  # queued: the page only reads, the outbox worker delivers
    assert await deliver_outbox(app) >= 1
    page = await client.get("/bot/console")
    assert "收入低于标准" in page.text


async def test_other_staff_cannot_issue_tokens_outside_their_area(world, client) -> None:
    intake = await make_intake(world)
    await client.login("station_b")
    response = await client.post_form(f"/applications/{intake.application_id}/bot-token", {})
    assert response.status_code == 404
    await client.login("supervisor")
    response = await client.post_form(f"/applications/{intake.application_id}/bot-token", {})
    assert response.status_code == 403
