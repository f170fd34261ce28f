"""The guided pre-application: every step, bad input at each, cancel, and the liaison's task list."""

from __future__ import annotations

from relief_pwa.services import identifiers
from relief_pwa.tables import AuditEvent, PreApplication
from tests.bot.conftest import Chat, english_chat, running_bot
from tests.helpers import found

CHAT = 888000111


async def test_whole_conversation_with_bad_input_at_every_step(
    world, stub, bot_settings, clock, now, make_client
):
    await english_chat(CHAT, now)
    async with running_bot(bot_settings, clock) as (_app, client):
        chat = Chat(client, stub, CHAT)
        assert "1/6 What is your full name?" in (await chat.say("/apply"))[0]
        # name
        assert "no digits or symbols" in (await chat.say("R2-D2"))[0]
        assert "2/6" in (await chat.say("王 秀英"))[0]
        # phone
        assert "11-digit mobile" in (await chat.say("12345"))[0]
        assert "sample number" in (await chat.say("13800138000"))[0]
        replies = await chat.say("139 1234 5678")
        assert "3/6" in replies[0]
        # district → street → community, by buttons only
        assert "choose one of the buttons" in (await chat.say("历下区"))[0]
        assert [label for label, _ in chat.buttons()][:2] == ["历下区", "市中区"]
        assert "4/6" in (await chat.press("历下区"))[-1]
        assert [label for label, _ in chat.buttons()][:2] == ["解放路街道", "千佛山街道"]
        assert "5/6" in (await chat.press("解放路街道"))[-1]
        # A forged button (a community of another street) is refused.
        message_id, _ = stub.last_keyboard(CHAT)
        from tests.bot.conftest import callback_update

        forged = world.units["370103002001"]
        await chat.post(callback_update(CHAT, message_id, f"pa:community:{forged}"))
        assert any(
            c.method == "answerCallbackQuery" and "buttons" in c.params.get("text", "") for c in stub.calls
        )
        assert "6/6" in (await chat.press("和平社区"))[-1]
        # category
        assert "choose one of the buttons" in (await chat.say("money"))[0]
        assert "Last step" in (await chat.press("pa:category:medical"))[-1]
        # description
        assert "at least 5 characters" in (await chat.say("病"))[0]
        replies = await chat.say("丈夫去年患尿毒症，每周透析三次，家里没有收入。")
        assert "Thank you, 王 秀英" in replies[0] and "和平社区" in replies[0] and "13912345678" in replies[0]
        assert "Hospital diagnosis" in replies[1] and "ID cards" in replies[1]

        [row] = await PreApplication.select()
        assert row["status"] == "new" and row["category"] == "medical"
        assert identifiers.opened("phone", row["phone_sealed"]) == "13912345678"
        assert row["phone_index"] == identifiers.index_of("phone", "13912345678")
        assert row["community"] == world.units["370102001002"]
        assert row["org_path"].endswith("370102001002/")
        assert await AuditEvent.exists().where(AuditEvent.action == "preapplication.create")

        # The same request twice is refused with a clear message.
        await chat.say("/apply")
        await chat.say("王秀英")
        await chat.say("13912345678")
        await chat.press("历下区")
        await chat.press("解放路街道")
        await chat.press("和平社区")
        await chat.press("pa:category:medical")
        replies = await chat.say("再次申请医疗救助，情况同上。")
        assert "already sent a pre-application" in replies[0]
        assert await PreApplication.count() == 1

        # The community's liaison sees it as a task; the other community's liaison does not.
        liaison_b = make_client()
        await liaison_b.login("liaison_b")
        page = await liaison_b.get("/bot/preapplications")
        assert page.status_code == 200 and "王 秀英" in page.text
        liaison = make_client()
        await liaison.login("liaison")
        assert "王 秀英" not in (await liaison.get("/bot/preapplications")).text
        await liaison_b.get("/bot/preapplications")
        response = await liaison_b.post_form(f"/bot/preapplications/{row['id']}/status", {"status": "taken"})
        assert response.status_code == 303
        assert found(await PreApplication.select(PreApplication.status).first())["status"] == "taken"
        denied = await liaison.post_form(f"/bot/preapplications/{row['id']}/status", {"status": "closed"})
        assert denied.status_code in {303, 404}
        assert found(await PreApplication.select(PreApplication.status).first())["status"] == "taken"


async def test_cancel_at_any_step_loses_nothing_and_sends_nothing(world, stub, bot_settings, clock, now):
    await english_chat(CHAT, now)
    async with running_bot(bot_settings, clock) as (_app, client):
        chat = Chat(client, stub, CHAT)
        await chat.say("/apply")
        assert (await chat.say("/cancel")) == ["Cancelled. Nothing was sent."]
        await chat.say("/apply")
        await chat.say("张伟")
        await chat.say("13912345678")
        assert "Cancelled" in (await chat.press("pa:cancel"))[-1]
        # Outside a conversation /cancel says so; plain text is explained.
        assert "nothing to cancel" in (await chat.say("/cancel"))[0]
        assert "did not understand" in (await chat.say("hello"))[0]
        # A stale button from the cancelled conversation is answered, not acted on.
        message_id, _ = stub.last_keyboard(CHAT)
        from tests.bot.conftest import callback_update

        await chat.post(callback_update(CHAT, message_id, f"pa:district:{world.units['370102']}"))
        assert stub.calls[-1].method == "answerCallbackQuery"
        assert "no longer active" in stub.calls[-1].params.get("text", "")
        # /status works in the middle of a conversation, and the conversation continues.
        await chat.say("/apply")
        assert "No application is linked" in (await chat.say("/status"))[0]
        assert "2/6" in (await chat.say("张伟"))[0]
    assert await PreApplication.count() == 0
