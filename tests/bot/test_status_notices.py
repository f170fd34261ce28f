"""/status in plain words, and every notice produced from its event into the outbox."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from relief_pwa.bot import texts
from relief_pwa.core.fieldwork import VisitKind
from relief_pwa.db import write_transaction
from relief_pwa.services import hooks
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.applications import do_transition
from relief_pwa.services.bot import current_bind_link, do_bind, ensure_chat
from relief_pwa.services.notices import queue_visit_reminders
from relief_pwa.services.publicity import do_start_publicity
from relief_pwa.services.visits import ScheduleRequest, do_schedule_visit
from relief_pwa.tables import OutboxMessage, Staff, Visit
from tests.bot.conftest import Chat, english_chat, running_bot
from tests.factories import make_intake

CHAT = 777000111


async def _bound_case(world, now, chat_id: int = CHAT, language: str = "en"):
    intake = await make_intake(world)
    await ensure_chat(chat_id, now, default_language=language)
    link = await current_bind_link(intake.application_id, now)
    assert link is not None
    await do_bind(chat_id, link.token, now)
    return intake


async def _schedule(world, now, intake, days: int = 3, window: str = "09:00-11:00") -> int:
    liaison = world.actor("liaison")
    return await do_schedule_visit(
        liaison,
        ScheduleRequest(
            household_id=intake.household_id,
            kind=VisitKind.HOME,
            scheduled_for=now.date() + timedelta(days=days),
            assigned_to=liaison.staff_id,
            application_id=intake.application_id,
            time_window=window,
        ),
        now=now,
    )


async def _outbox(kind: str) -> list[dict[str, Any]]:
    return await OutboxMessage.select().where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)


async def test_status_before_scoring_has_no_index(world, stub, bot_settings, clock, now) -> None:
    await _bound_case(world, now)  # no standards seeded: the household cannot be scored yet
    async with running_bot(bot_settings, clock) as (_app, client):
        [status] = await Chat(client, stub, CHAT).say("/status")
    assert "Your application was received." in status
    assert "Relief index" not in status


async def test_status_shows_state_next_step_visit_and_index(world, stub, bot_settings, clock, now) -> None:
    from relief_pwa.services.standards import do_seed_standards

    await do_seed_standards(SYSTEM_ACTOR, now=now)
    intake = await _bound_case(world, now)
    await Staff.update({Staff.display_name: "王联络员"}).where(Staff.username == "liaison")
    await _schedule(world, now, intake)
    async with running_bot(bot_settings, clock) as (_app, client):
        replies = await Chat(client, stub, CHAT).say("/status")
        # The visit notice goes out through the outbox worker, which started with the bot: on a
        # busy machine it may come after the answer to /status, so wait for it (up to 10 s).
        for _ in range(200):
            if any(t.startswith("Home visit for application") for t in stub.texts(CHAT)):
                break
            await asyncio.sleep(0.05)
    assert any(t.startswith("Home visit for application") for t in stub.texts(CHAT))
    [status] = [r for r in replies if not r.startswith("Home visit for application")]
    assert intake.application_number in status
    assert "Your application was received." in status
    # Investigation within 15 working days of 2026-11-16 (a Monday): 2026-12-07.
    assert "finished by 2026-12-07" in status
    assert "Visit on 2026-11-19 09:00-11:00 by 王联络员" in status
    assert "0531-86970111" in status  # the service station's hotline
    assert "Relief index:" in status  # scored at intake by the relief-index feature
    assert "What weighed most:" in status


async def test_visit_scheduled_and_reminder_and_done_notices(world, now) -> None:
    intake = await _bound_case(world, now)
    visit_id = await _schedule(world, now, intake, days=1)
    [scheduled] = await _outbox("visit_scheduled")
    assert scheduled["chat_id"] == CHAT and scheduled["status"] == "pending"
    assert "2026-11-17 09:00-11:00" in scheduled["text"] and intake.application_number in scheduled["text"]

    # The day before: the reminder scan queues exactly one reminder, however often it runs.
    assert await queue_visit_reminders(now) == 1
    await queue_visit_reminders(now)
    async with write_transaction(Visit._meta.db):
        await hooks.emit("visit.reminder_due", visit_id=visit_id, household_id=intake.household_id, now=now)
    [reminder] = await _outbox("visit_reminder")
    assert reminder["text"].startswith("Reminder: tomorrow, 2026-11-17")

    async with write_transaction(Visit._meta.db):
        await Visit.update({Visit.status: "done"}).where(Visit.id == visit_id)
        await hooks.emit(
            "visit.done",
            visit_id=visit_id,
            household_id=intake.household_id,
            application_id=intake.application_id,
            now=now,
        )
    [done] = await _outbox("visit_done")
    assert "is recorded" in done["text"]


async def test_rescheduled_visit_is_a_new_notice_but_a_repeated_event_is_not(world, now) -> None:
    intake = await _bound_case(world, now)
    visit_id = await _schedule(world, now, intake, days=2)
    async with write_transaction(Visit._meta.db):
        await hooks.emit("visit.scheduled", visit_id=visit_id, now=now)  # the same event again
    assert len(await _outbox("visit_scheduled")) == 1
    async with write_transaction(Visit._meta.db):
        await Visit.update({Visit.scheduled_for: date(2026, 11, 20)}).where(Visit.id == visit_id)
        await hooks.emit("visit.scheduled", visit_id=visit_id, now=now)
    assert len(await _outbox("visit_scheduled")) == 2


async def test_decision_publicity_and_approval_notices(world, now) -> None:
    intake = await _bound_case(world, now)
    station, center = world.actor("station"), world.actor("center")
    app_id = intake.application_id
    await do_transition(station, app_id, "start_investigation", now=now)
    await do_transition(station, app_id, "find_eligible", reason="人均收入低于低保标准", now=now)
    [eligible] = await _outbox("decision_eligible")
    assert "人均收入低于低保标准" in eligible["text"] and "meet the conditions" in eligible["text"]

    # 公示: do_transition emits application.start_publicity and the notice emits notice.started: one message.
    await do_start_publicity(station, app_id, now=now)
    [publicity] = await _outbox("publicity_started")
    assert "2026-11-16" in publicity["text"]

    await do_transition(SYSTEM_ACTOR, app_id, "end_publicity", now=now + timedelta(days=8))
    await do_transition(
        center, app_id, "approve", reason="符合低保条件，按月发放", now=now + timedelta(days=9)
    )
    [approved] = await _outbox("decision_approved")
    assert "was approved" in approved["text"] and "符合低保条件" in approved["text"]


async def test_ineligible_and_rejected_notices_carry_reasons(world, now) -> None:
    intake = await _bound_case(world, now)
    station, center = world.actor("station"), world.actor("center")
    app_id = intake.application_id
    await do_transition(station, app_id, "start_investigation", now=now)
    await do_transition(station, app_id, "find_ineligible", reason="存款超过限额", now=now)
    [ineligible] = await _outbox("decision_ineligible")
    assert "存款超过限额" in ineligible["text"] and "/objection" in ineligible["text"]
    await do_transition(center, app_id, "reject", reason="家庭存款超过24个月低保标准", now=now)
    [rejected] = await _outbox("decision_rejected")
    assert "was not approved" in rejected["text"] and "24个月" in rejected["text"]


async def test_payment_and_followup_notices(world, now) -> None:
    intake = await _bound_case(world, now)
    async with write_transaction(Visit._meta.db):
        await hooks.emit(
            "payment.paid",
            household_id=intake.household_id,
            application_id=intake.application_id,
            amount_fen=80000,
            month="2026-11",
            now=now,
        )
        await hooks.emit(
            "payment.paid",
            household_id=intake.household_id,
            application_id=intake.application_id,
            amount_fen=80000,
            month="2026-11",
            now=now,
        )  # reported twice: queued once
    [paid] = await _outbox("payment_paid")
    assert "800.00" in paid["text"] and "2026-11" in paid["text"]

    visit = Visit(
        household=intake.household_id,
        application=intake.application_id,
        org_path="370100/",
        kind="follow_up",
        scheduled_for=date(2026, 11, 30),
        time_window="14:00-16:00",
        status="scheduled",
        created_at=now,
    )
    await visit.save()
    async with write_transaction(Visit._meta.db):
        await hooks.emit("followup.scheduled", household_id=intake.household_id, visit_id=visit.id, now=now)
    [followup] = await _outbox("followup_scheduled")
    assert "2026-11-30 14:00-16:00" in followup["text"]


async def test_notices_use_the_chat_language_and_skip_unbound_chats(world, now) -> None:
    intake = await _bound_case(world, now, language="zh_Hans")
    other = await make_intake(world)  # nobody bound and no SMS gateway: recorded, never sent
    await _schedule(world, now, intake)
    await _schedule(world, now, other)
    row, unbound = await _outbox("visit_scheduled")
    assert (row["chat_id"], row["status"]) == (CHAT, "pending")
    assert (unbound["channel"], unbound["status"]) == ("none", "unreachable")
    with texts.in_language("zh_Hans"):
        expected_start = texts.t(
            texts.NOTICE_VISIT_SCHEDULED, number="@@", date="", window="", staff="", phone=""
        )
    assert row["text"].startswith(expected_start.split("@@")[0])


async def test_blocked_chat_notices_are_kept_but_not_sent(world, now) -> None:
    from relief_pwa.tables import BotChat

    intake = await _bound_case(world, now)
    await BotChat.update({BotChat.blocked: True}).where(BotChat.chat_id == CHAT)
    await _schedule(world, now, intake)
    row, fallback = await _outbox("visit_scheduled")
    assert row["status"] == "blocked"
    # The household has no other way in: SMS would take it (docs/sms.md); without a gateway, recorded.
    assert (fallback["channel"], fallback["status"]) == ("none", "unreachable")


async def test_english_chat_helper(now, world) -> None:
    await english_chat(1, now)
