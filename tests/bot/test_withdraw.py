"""Withdrawing from the chat (choose, reason, confirm) and the lifecycle notices, against
the local stub Bot API: each transition reaches the applicant once."""

from __future__ import annotations

from datetime import date

from relief_pwa.core.enums import AppState, ExitReason
from relief_pwa.db import write_transaction
from relief_pwa.services import hooks
from relief_pwa.services.applications import do_transition
from relief_pwa.services.bot import current_bind_link, do_bind
from relief_pwa.tables import Application, AuditEvent, OutboxMessage
from tests.bot.conftest import Chat, english_chat, running_bot
from tests.helpers import found
from tests.services.lifecycle_support import application_in

CHAT = 777000222


async def _bind(intake, now, chat_id: int = CHAT) -> None:
    await english_chat(chat_id, now)
    link = await current_bind_link(intake.application_id, now)
    assert link is not None
    await do_bind(chat_id, link.token, now)


async def _state(application_id: int) -> str:
    row = found(await Application.select(Application.state).where(Application.id == application_id).first())
    return str(row["state"])


async def test_withdraw_from_the_chat_with_a_reason_and_a_confirmation(world, stub, bot_settings, clock, now):
    intake = await application_in(world, AppState.INVESTIGATING)
    await _bind(intake, now)
    async with running_bot(bot_settings, clock) as (app, client):
        chat = Chat(client, stub, CHAT)
        [ask] = await chat.say("/withdraw")
        assert intake.application_number in ask and "Why do you withdraw" in ask
        [short] = await chat.say("不要")
        assert "at least 4 characters" in short
        [confirm] = await chat.say("已经找到工作，不再需要救助")
        assert "已经找到工作" in confirm
        assert ("Yes, withdraw", "wd:yes") in chat.buttons()
        assert (
            await _state(intake.application_id) == AppState.INVESTIGATING
        )  # nothing before the confirmation
        done = await chat.press("wd:yes")
        assert any(f"Application {intake.application_number} is withdrawn." in t for t in done)
        await app.state.bot.worker.drain(timeout=10)

        assert await _state(intake.application_id) == AppState.WITHDRAWN
        event = found(await AuditEvent.select().where(AuditEvent.action == "application.withdraw").first())
        assert event["actor_label"].startswith("Telegram") and "已经找到工作" in event["after"]
        notices = [
            t
            for t in stub.texts(CHAT)
            if t.startswith(f"Application {intake.application_number} was withdrawn")
        ]
        assert len(notices) == 1 and "已经找到工作" in notices[0]

        # Nothing is left to withdraw; a second attempt says so and changes nothing.
        [nothing] = await chat.say("/withdraw")
        assert "None of your applications can be withdrawn" in nothing


async def test_cancelling_the_withdrawal_keeps_the_application(world, stub, bot_settings, clock, now):
    intake = await application_in(world, AppState.RECEIVED)
    await _bind(intake, now)
    async with running_bot(bot_settings, clock) as (_app, client):
        chat = Chat(client, stub, CHAT)
        await chat.say("/withdraw")
        await chat.say("家里情况好转了")
        await chat.press("wd:cancel")
    assert await _state(intake.application_id) == AppState.RECEIVED


async def test_decided_applications_cannot_be_withdrawn_from_the_chat(world, stub, bot_settings, clock, now):
    intake = await application_in(world, AppState.ACTIVE)
    await _bind(intake, now)
    async with running_bot(bot_settings, clock) as (_app, client):
        [answer] = await Chat(client, stub, CHAT).say("/withdraw")
    assert "None of your applications can be withdrawn" in answer
    assert await _state(intake.application_id) == AppState.ACTIVE


async def test_suspension_reinstatement_and_exit_are_told_once_each(world, stub, bot_settings, clock, now):
    intake = await application_in(world, AppState.ACTIVE)
    await _bind(intake, now)
    center, station = world.actor("center"), world.actor("station")
    app_id = intake.application_id
    await do_transition(station, app_id, "suspend", reason="暂停：需补充收入证明", now=now)
    await do_transition(
        center, app_id, "reinstate", reason="已补充收入证明", effective_on=date(2026, 11, 19), now=now
    )
    await do_transition(
        center,
        app_id,
        "exit",
        reason="户主已去世",
        exit_reason=ExitReason.DEATH,
        effective_on=date(2026, 12, 2),
        now=now,
    )
    # The same event reported again (a retried producer) queues nothing new.
    async with write_transaction(Application._meta.db):
        await hooks.emit("application.exit", application_id=app_id, reason="户主已去世", now=now)
    kinds = [
        r["kind"] for r in await OutboxMessage.select(OutboxMessage.kind).where(OutboxMessage.chat_id == CHAT)
    ]
    assert sorted(k for k in kinds if k.startswith("assistance_")) == [
        "assistance_exited",
        "assistance_reinstated",
        "assistance_suspended",
    ]
    async with running_bot(bot_settings, clock) as (app, _client):
        await app.state.bot.worker.drain(timeout=10)
    texts = stub.texts(CHAT)
    [exited] = [t for t in texts if t.startswith("Assistance for application") and "ends from" in t]
    assert "2026-12-02" in exited and "Death" in exited and "户主已去世" in exited
    assert sum("is suspended from 2026-11-16" in t for t in texts) == 1
    assert sum("is reinstated from 2026-11-19" in t for t in texts) == 1
