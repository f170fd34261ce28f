"""A household with several forms of aid: the bot's /status shows each application."""

from __future__ import annotations

from relief_pwa.services import aid
from relief_pwa.services.bot import current_bind_link, do_bind, ensure_chat, get_status
from relief_pwa.tables import BotBinding
from tests.bot.conftest import Chat, running_bot
from tests.factories import make_intake

CHAT = 777000222


async def test_status_shows_every_application_of_the_household(world, stub, bot_settings, clock, now) -> None:
    intake = await make_intake(world)
    await ensure_chat(CHAT, now, default_language="en")
    link = await current_bind_link(intake.application_id, now)
    assert link is not None
    await do_bind(CHAT, link.token, now)
    added = await aid.do_add_application(
        world.actor("station"),
        intake.household_id,
        category="medical",
        description="住院自付费用较高",
        materials=[],
        now=now,
    )
    # The new application has its own token for its receipt, and the chat follows it.
    assert await current_bind_link(added.application_id, now) is not None
    assert await BotBinding.count().where(BotBinding.chat_id == CHAT) == 2
    statuses = await get_status(CHAT, now, "en")
    assert [(s.number, s.category) for s in statuses] == [
        (intake.application_number, "dibao"),
        (added.number, "medical"),
    ]
    async with running_bot(bot_settings, clock) as (_app, client):
        replies = await Chat(client, stub, CHAT).say("/status")
    text = "\n".join(replies)
    assert intake.application_number in text and added.number in text
