"""Webhook secret, binding with one-time tokens, /stop, and chats seeing only their own applications."""

from __future__ import annotations

from datetime import timedelta

from relief_pwa.bot import texts
from relief_pwa.handlers.botweb import secret_matches
from relief_pwa.services.bot import current_bind_link, list_bound
from relief_pwa.tables import AuditEvent, BindToken, BotBinding, BotUpdateSeen
from tests.bot.conftest import WEBHOOK_SECRET, Chat, english_chat, running_bot, text_update
from tests.factories import make_intake

CHAT = 555000111
OTHER_CHAT = 555000222


def test_secret_compare_is_constant_time_and_fails_closed() -> None:
    assert secret_matches("abc", "abc")
    assert not secret_matches("abc", "abd")
    assert not secret_matches("abc", None)
    assert not secret_matches("", "")  # no secret configured: refuse everything


async def test_webhook_refuses_wrong_or_missing_secret(world, stub, bot_settings, clock) -> None:
    async with running_bot(bot_settings, clock) as (_app, client):
        payload = text_update(CHAT, "/help")
        wrong = await client.post(
            "/bot/webhook", json=payload, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
        )
        missing = await client.post("/bot/webhook", json=payload)
        assert wrong.status_code == 403
        assert missing.status_code == 403
        assert stub.sent(CHAT) == []  # nothing was processed
        right = await client.post(
            "/bot/webhook", json=payload, headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        )
        assert right.status_code == 200
        assert len(stub.sent(CHAT)) == 1
        bad = await client.post(
            "/bot/webhook",
            content=b"{not json",
            headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "content-type": "application/json"},
        )
        assert bad.status_code == 200 and bad.json()["description"] == "dropped"  # logged, not retried


async def test_webhook_without_token_is_off(world, client) -> None:
    response = await client.post("/bot/webhook", json=text_update(CHAT, "/help"))
    assert response.status_code == 404


async def test_bind_with_receipt_token_then_reuse_and_stop(world, stub, bot_settings, clock, now) -> None:
    intake = await make_intake(world)
    link = await current_bind_link(intake.application_id, now)
    assert link is not None, "every new application gets a token at intake"
    assert link.expires_at - now == timedelta(days=30)
    await english_chat(CHAT, now)
    await english_chat(OTHER_CHAT, now)
    async with running_bot(bot_settings, clock) as (_app, client):
        chat = Chat(client, stub, CHAT)
        replies = await chat.say(f"/start {link.token}")
        assert intake.application_number in replies[0]
        assert [b.application_id for b in await list_bound(CHAT)] == [intake.application_id]
        assert await AuditEvent.exists().where(AuditEvent.action == "bot.bind")

        # The token is single-use: another chat cannot take it over.
        other = Chat(client, stub, OTHER_CHAT)
        replies = await other.say(f"/start {link.token}")
        assert replies == [texts.t(texts.MSG_TOKEN_USED) if hasattr(texts, "MSG_TOKEN_USED") else replies[0]]
        assert "already used" in replies[0]
        assert await list_bound(OTHER_CHAT) == []
        # …and sees nothing of the application.
        replies = await other.say("/status")
        assert intake.application_number not in replies[0]
        assert "No application is linked" in replies[0]

        replies = await chat.say("/stop")
        assert "no longer follows 1" in replies[0]
        assert await list_bound(CHAT) == []
        binding = await BotBinding.objects().first()
        assert binding is not None and binding.active is False and binding.unbound_at is not None
        assert await AuditEvent.exists().where(AuditEvent.action == "bot.unbind")


async def test_expired_and_unknown_tokens(world, stub, bot_settings, clock, now) -> None:
    intake = await make_intake(world)
    link = await current_bind_link(intake.application_id, now)
    assert link is not None
    await english_chat(CHAT, now)
    clock.advance(timedelta(days=31))
    async with running_bot(bot_settings, clock) as (_app, client):
        chat = Chat(client, stub, CHAT)
        assert "expired" in (await chat.say(f"/start {link.token}"))[0]
        assert "not valid" in (await chat.say("/start AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))[0]
    assert await list_bound(CHAT) == []
    token = await BindToken.objects().where(BindToken.token == link.token).first()
    assert token is not None and token.used_at is None


async def test_stop_with_two_applications_asks_which(world, stub, bot_settings, clock, now) -> None:
    first = await make_intake(world)
    second = await make_intake(world, community="370102001002")
    await english_chat(CHAT, now)
    async with running_bot(bot_settings, clock) as (_app, client):
        chat = Chat(client, stub, CHAT)
        for intake in (first, second):
            link = await current_bind_link(intake.application_id, now)
            assert link is not None
            await chat.say(f"/start {link.token}")
        assert len(await list_bound(CHAT)) == 2
        statuses = await chat.say("/status")
        assert len(statuses) == 2
        await chat.say("/stop")
        labels = [label for label, _ in chat.buttons()]
        assert first.application_number in labels and second.application_number in labels
        await chat.press(first.application_number)
        assert [b.application_id for b in await list_bound(CHAT)] == [second.application_id]
        # The pressed keyboard is gone: pressing again is answered as a stale button.
        assert stub.calls[-2].method in {"editMessageText", "answerCallbackQuery", "sendMessage"}


async def test_default_language_is_chinese_and_lang_switches(world, stub, bot_settings, clock) -> None:
    async with running_bot(bot_settings, clock) as (_app, client):
        chat = Chat(client, stub, CHAT)
        replies = await chat.say("/help")
        with texts.in_language("zh_Hans"):
            assert replies == [texts.t(texts.HELP)]
        await chat.say("/lang")
        replies = await chat.press("lang:en")
        assert replies[0].startswith("From now on I will write in English.")
        assert (await chat.say("/help")) == [texts.HELP]


async def test_malformed_updates_are_dropped_with_200_and_each_update_is_processed_once(
    world, stub, bot_settings, clock
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    deep_text = '{"update_id": 77, "message": ' + "[" * 200_000 + "]" * 200_000 + "}"
    async with running_bot(bot_settings, clock) as (_app, client):
        good = text_update(CHAT, "/help")
        malformed = [
            {"update_id": 901, "message": "x"},
            {"update_id": 902, "message": {**good["message"], "date": "yesterday"}},
            {"update_id": 903, "message": {"chat": None}},
            {"update_id": "904"},
            {"update_id": 2**70, "message": good["message"]},
            [1, 2, 3],
        ]
        for body in malformed:
            response = await client.post("/bot/webhook", json=body, headers=headers)
            assert response.status_code == 200, (body, response.text)
        deep = await client.post(
            "/bot/webhook",
            content=deep_text.encode(),
            headers={**headers, "content-type": "application/json"},
        )
        assert deep.status_code == 200
        nested_ok = await client.post(
            "/bot/webhook",
            content=('{"update_id": 78, "message": ' + '{"a":' * 500 + "1" + "}" * 500 + "}").encode(),
            headers={**headers, "content-type": "application/json"},
        )
        assert nested_ok.status_code == 200
        assert stub.sent(CHAT) == []
        first = await client.post("/bot/webhook", json=good, headers=headers)
        again = await client.post("/bot/webhook", json=good, headers=headers)
        assert first.status_code == again.status_code == 200
        assert again.json()["description"] == "duplicate"
        assert len(stub.sent(CHAT)) == 1  # the re-delivered update was not answered twice
    assert await BotUpdateSeen.exists().where(BotUpdateSeen.update_id == good["update_id"])
