"""Objections from the bot go through the same service as the web form."""

from __future__ import annotations

from relief_pwa.services.bot import current_bind_link
from relief_pwa.tables import Objection
from tests.bot.conftest import Chat, english_chat, running_bot
from tests.factories import make_intake

CHAT = 999000111


async def test_objection_from_the_bot(world, stub, bot_settings, clock, now) -> None:
    intake = await make_intake(world)
    link = await current_bind_link(intake.application_id, now)
    assert link is not None
    await english_chat(CHAT, now)
    async with running_bot(bot_settings, clock) as (_app, client):
        chat = Chat(client, stub, CHAT)
        assert "No application is linked" in (await chat.say("/objection"))[0]
        await chat.say(f"/start {link.token}")
        assert "What is it about?" in (await chat.say("/objection"))[0]
        assert "choose one of the buttons" in (await chat.say("just text"))[0]
        assert intake.application_number in (await chat.press("obj:kind:objection"))[-1]
        assert "at least 10 characters" in (await chat.say("太短"))[0]
        replies = await chat.say("调查时没有核实我家的医疗支出，结论不对。")
        assert "Tracking code:" in replies[0]
    [row] = await Objection.select()
    assert row["channel"] == "bot" and row["kind"] == "objection"
    assert row["about"] == intake.application_number
    assert row["org_path"].endswith("370102001001/")
    assert row["tracking_code"] in replies[0]
