"""Applicant notices: listeners on domain events that queue outbox rows in the
event's own transaction (so a notice exists exactly when its event committed).

The channel is chosen per household: its bound chats get the notice by
Telegram; a household with no bound chat (or only chats that blocked the bot)
gets it by SMS on its mobile, in the notice's SMS wording (services/sms.py);
with neither, the notice is recorded as undeliverable (docs/sms.md).

Each notice is written in the chat's language at the time of the event. The
dedupe key is (event kind, entity, chat): the same event reported twice, or
reported by two producers (``application.start_publicity`` and
``notice.started``), queues one message.

Producers and the data they pass (all include ``now``):
- ``visit.scheduled`` / ``visit.reminder_due`` / ``visit.done`` / ``followup.scheduled``: ``visit_id``
- ``application.<action>``: ``application_id``, ``reason`` (from services.applications.do_transition)
- ``notice.started``: ``notice_id`` or ``application_id``
- ``payment.paid``: ``payment_line_id`` (or ``household_id`` + ``amount_fen`` + ``month``)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from relief_pwa.bot import texts
from relief_pwa.clock import local_date
from relief_pwa.core.enums import AppState, ExitReason
from relief_pwa.db import write_transaction
from relief_pwa.services import hooks
from relief_pwa.services import sms as sms_notices
from relief_pwa.services.bot import bound_chats, chat_languages, station_phone
from relief_pwa.services.outbox import enqueue
from relief_pwa.services.rules import load_calendar, quoted_rules
from relief_pwa.tables import Application, PaymentLine, PublicNotice, Visit


@dataclass(frozen=True)
class AppInfo:
    id: int
    number: str
    household: int
    org_path: str
    state: str
    version: int
    reason: str


async def _application(application_id: int) -> AppInfo | None:
    row = (
        await Application.select(
            Application.id,
            Application.number,
            Application.household,
            Application.org_path,
            Application.state,
            Application.version,
            Application.reason,
        )
        .where(Application.id == application_id)
        .first()
    )
    if row is None:
        return None
    return AppInfo(
        row["id"],
        row["number"],
        row["household"],
        row["org_path"],
        row["state"],
        row["version"],
        row["reason"] or "",
    )


async def _household_applications(household_id: int) -> list[AppInfo]:
    rows = await Application.select(Application.id).where(Application.household == household_id)
    found = [await _application(r["id"]) for r in rows]
    return [a for a in found if a is not None]


async def queue_for_applications(
    applications: list[AppInfo],
    kind: str,
    entity: str,
    render: Callable[[AppInfo], str],
    now: datetime,
    *,
    sms: Callable[[AppInfo], str] | None = None,
) -> int:
    """Queue one message per bound chat (a chat bound to two of the applications gets one),
    and for each household without a reachable chat one SMS (``sms`` renders its text;
    without it, the chat text in Chinese is cut to fit).

    Must run inside the event's write transaction; returns how many rows were new.
    """
    chats_by_app = await bound_chats([a.id for a in applications])
    targets: dict[int, AppInfo] = {}
    for application in applications:
        for chat_id in chats_by_app.get(application.id, []):
            targets.setdefault(chat_id, application)
    infos = await chat_languages(list(targets))
    queued = 0
    reachable_households: set[int] = set()
    for chat_id, application in targets.items():
        info = infos.get(chat_id)
        language = info.language if info else "zh_Hans"
        blocked = bool(info and info.blocked)
        if not blocked:
            reachable_households.add(application.household)
        with texts.in_language(language):
            text = render(application)
        if await enqueue(chat_id, kind, text, f"{kind}:{entity}:{chat_id}", now, blocked=blocked):
            queued += 1
    for household, application in _first_per_household(applications).items():
        if household in reachable_households:
            continue
        text = sms(application) if sms is not None else sms_notices.fallback_text(render, application)
        if await sms_notices.queue_sms_notice(household, kind, entity, text, now):
            queued += 1
    return queued


def _first_per_household(applications: list[AppInfo]) -> dict[int, AppInfo]:
    chosen: dict[int, AppInfo] = {}
    for application in applications:
        chosen.setdefault(application.household, application)
    return chosen


# --- visits -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitFacts:
    id: int
    household: int
    application: int | None
    on: date
    window: str
    staff: str
    status: str


async def _visit(visit_id: Any) -> VisitFacts | None:
    if visit_id is None:
        return None
    row = (
        await Visit.select(
            Visit.id,
            Visit.household,
            Visit.application,
            Visit.scheduled_for,
            Visit.time_window,
            Visit.status,
            Visit.assigned_to.display_name,
        )
        .where(Visit.id == int(visit_id))
        .first()
    )
    if row is None:
        return None
    return VisitFacts(
        row["id"],
        row["household"],
        row["application"],
        row["scheduled_for"],
        row["time_window"],
        row["assigned_to.display_name"] or "",
        row["status"],
    )


async def _visit_targets(visit: VisitFacts) -> list[AppInfo]:
    if visit.application is not None:
        found = await _application(visit.application)
        return [found] if found else []
    return await _household_applications(visit.household)


async def _queue_visit(kind: str, message: str, visit_id: Any, now: datetime) -> int:
    visit = await _visit(visit_id)
    if visit is None:
        return 0
    targets = await _visit_targets(visit)
    if not targets:
        return 0
    phone = await station_phone(targets[0].org_path)
    values: dict[str, object] = {
        "date": texts.day(visit.on),
        "window": visit.window,
        "staff": visit.staff or "-",
        "phone": phone or "-",
    }

    def render(application: AppInfo) -> str:
        return texts.t(message, number=application.number, **values)

    def render_sms(application: AppInfo) -> str:
        return sms_notices.fit(_SMS_VISIT[kind], {"number": application.number, **values}, shrink="staff")

    # A rescheduled visit is a new notice: the date is part of the entity.
    return await queue_for_applications(
        targets, kind, f"visit{visit.id}@{visit.on.isoformat()}", render, now, sms=render_sms
    )


_SMS_VISIT = {
    "visit_scheduled": sms_notices.SMS_VISIT_SCHEDULED,
    "visit_reminder": sms_notices.SMS_VISIT_REMINDER,
    "followup_scheduled": sms_notices.SMS_FOLLOWUP,
}


@hooks.on("visit.scheduled")
async def on_visit_scheduled(*, now: datetime, visit_id: Any = None, **_: Any) -> None:
    await _queue_visit("visit_scheduled", texts.NOTICE_VISIT_SCHEDULED, visit_id, now)


@hooks.on("visit.reminder_due")
async def on_visit_reminder(*, now: datetime, visit_id: Any = None, **_: Any) -> None:
    await _queue_visit("visit_reminder", texts.NOTICE_VISIT_REMINDER, visit_id, now)


@hooks.on("followup.scheduled")
async def on_followup_scheduled(*, now: datetime, visit_id: Any = None, **_: Any) -> None:
    await _queue_visit("followup_scheduled", texts.NOTICE_FOLLOWUP, visit_id, now)


@hooks.on("visit.done")
async def on_visit_done(*, now: datetime, visit_id: Any = None, **_: Any) -> None:
    visit = await _visit(visit_id)
    if visit is None:
        return
    targets = await _visit_targets(visit)
    if not targets:
        return
    from relief_pwa.core.applicant_status import next_step

    calendar = await load_calendar()

    def following(application: AppInfo) -> str:
        step = next_step(
            AppState(application.state), received_on=visit.on, state_changed_on=visit.on, calendar=calendar
        )
        return texts.t(step.next_step, due=texts.day(step.due) if step.due else "", days=step.days)

    def render(application: AppInfo) -> str:
        return texts.t(
            texts.NOTICE_VISIT_DONE,
            date=texts.day(visit.on),
            number=application.number,
            next=following(application),
        )

    def render_sms(application: AppInfo) -> str:
        with texts.in_language(sms_notices.SMS_LANGUAGE):
            step = following(application)
        return sms_notices.fit(
            sms_notices.SMS_VISIT_DONE,
            {"date": texts.day(visit.on), "number": application.number, "next": step},
            shrink="next",
        )

    await queue_for_applications(targets, "visit_done", f"visit{visit.id}", render, now, sms=render_sms)


async def queue_visit_reminders(now: datetime) -> int:
    """Remind every household visited tomorrow; returns how many messages were queued
    (idempotent: the dedupe key makes a second run, or a producer's own
    ``visit.reminder_due``, queue nothing new)."""
    tomorrow = local_date(now) + timedelta(days=1)
    rows = await Visit.select(Visit.id).where(
        (Visit.status == "scheduled") & (Visit.scheduled_for == tomorrow)
    )
    queued = 0
    for row in rows:
        async with write_transaction(Visit._meta.db):
            queued += await _queue_visit("visit_reminder", texts.NOTICE_VISIT_REMINDER, row["id"], now)
    return queued


# --- decisions ------------------------------------------------------------------------------

_DECISIONS = {
    "find_eligible": ("decision_eligible", texts.NOTICE_ELIGIBLE, sms_notices.SMS_ELIGIBLE),
    "find_ineligible": ("decision_ineligible", texts.NOTICE_INELIGIBLE, sms_notices.SMS_INELIGIBLE),
    "approve": ("decision_approved", texts.NOTICE_APPROVED, sms_notices.SMS_APPROVED),
    "reject": ("decision_rejected", texts.NOTICE_REJECTED, sms_notices.SMS_REJECTED),
}


async def _queue_decision(action: str, application_id: Any, reason: str, now: datetime) -> None:
    application = await _application(int(application_id)) if application_id is not None else None
    if application is None:
        return
    kind, message, sms_message = _DECISIONS[action]
    phone = await station_phone(application.org_path)
    # The length of the 公示 that follows, as the rule stands today.
    days = (await quoted_rules(local_date(now))).publicity_days

    def render(app: AppInfo) -> str:
        return texts.t(
            message,
            number=app.number,
            reason=reason.strip() or texts.t(texts.NO_REASON),
            phone=phone or "-",
            days=days,
        )

    def render_sms(app: AppInfo) -> str:
        with texts.in_language(sms_notices.SMS_LANGUAGE):
            why = reason.strip() or texts.t(texts.NO_REASON)
        return sms_notices.fit(
            sms_message,
            {"number": app.number, "reason": why, "phone": phone or "-", "days": days},
            shrink="reason",
        )

    # The version makes each decision its own notice (a reopened case decided again is news).
    await queue_for_applications(
        [application], kind, f"app{application.id}v{application.version}", render, now, sms=render_sms
    )


def _decision_listener(action: str) -> hooks.EventListener:
    async def listener(*, now: datetime, application_id: Any = None, reason: str = "", **_: Any) -> None:
        await _queue_decision(action, application_id, reason or "", now)

    listener.__name__ = f"on_{action}"
    return listener


for _action in _DECISIONS:
    hooks.on(f"application.{_action}")(_decision_listener(_action))


# --- the rest of the lifecycle: withdrawal, appeal, suspension, reinstatement, exit ---------------

_LIFECYCLE = {
    "withdraw": ("application_withdrawn", texts.NOTICE_WITHDRAWN, sms_notices.SMS_WITHDRAWN),
    "reopen": ("application_reopened", texts.NOTICE_REOPENED, sms_notices.SMS_REOPENED),
    "suspend": ("assistance_suspended", texts.NOTICE_SUSPENDED, sms_notices.SMS_SUSPENDED),
    "reinstate": ("assistance_reinstated", texts.NOTICE_REINSTATED, sms_notices.SMS_REINSTATED),
    "exit": ("assistance_exited", texts.NOTICE_EXITED, sms_notices.SMS_EXITED),
}


async def _queue_lifecycle(
    action: str,
    application_id: Any,
    reason: str,
    effective_on: date | None,
    exit_reason: Any,
    now: datetime,
) -> None:
    application = await _application(int(application_id)) if application_id is not None else None
    if application is None:
        return
    kind, message, sms_message = _LIFECYCLE[action]
    phone = await station_phone(application.org_path)
    day = effective_on or local_date(now)

    def render(app: AppInfo) -> str:
        return texts.t(
            message,
            number=app.number,
            reason=reason.strip() or texts.t(texts.NO_REASON),
            phone=phone or "-",
            date=texts.day(day),
            exit_reason=texts.t(ExitReason(exit_reason).label) if exit_reason else "-",
        )

    def render_sms(app: AppInfo) -> str:
        with texts.in_language(sms_notices.SMS_LANGUAGE):
            why = reason.strip() or texts.t(texts.NO_REASON)
            ended_by = texts.t(ExitReason(exit_reason).label) if exit_reason else "-"
        return sms_notices.fit(
            sms_message,
            {
                "number": app.number,
                "reason": why,
                "phone": phone or "-",
                "date": texts.day(day),
                "exit_reason": ended_by,
            },
            shrink="reason",
        )

    # The version makes each transition its own notice; a retried event queues nothing new.
    await queue_for_applications(
        [application], kind, f"app{application.id}v{application.version}", render, now, sms=render_sms
    )


def _lifecycle_listener(action: str) -> hooks.EventListener:
    async def listener(
        *,
        now: datetime,
        application_id: Any = None,
        reason: str = "",
        effective_on: date | None = None,
        exit_reason: Any = None,
        **_: Any,
    ) -> None:
        await _queue_lifecycle(action, application_id, reason or "", effective_on, exit_reason, now)

    listener.__name__ = f"on_{action}"
    return listener


for _action in _LIFECYCLE:
    hooks.on(f"application.{_action}")(_lifecycle_listener(_action))


# --- public notice (公示) -----------------------------------------------------------------------


async def _queue_publicity(application_id: int, now: datetime) -> None:
    application = await _application(application_id)
    if application is None:
        return
    notice = await (
        PublicNotice.select(PublicNotice.notice_round, PublicNotice.starts_on, PublicNotice.ends_on)
        .where((PublicNotice.application == application_id) & (PublicNotice.status == "running"))
        .order_by(PublicNotice.id, ascending=False)
        .first()
    )
    if notice is not None:
        start, end, round_no = notice["starts_on"], notice["ends_on"], notice["notice_round"]
    else:
        republicity = application.state == AppState.REPUBLICIZED
        start = local_date(now)
        calendar = await load_calendar()
        key = "republicity_days" if republicity else "publicity_days"
        end = start + timedelta(days=calendar.rule(key, start))
        round_no = 2 if republicity else 1

    def render(app: AppInfo) -> str:
        return texts.t(texts.NOTICE_PUBLICITY, number=app.number, start=texts.day(start), end=texts.day(end))

    def render_sms(app: AppInfo) -> str:
        return sms_notices.fit(
            sms_notices.SMS_PUBLICITY,
            {"number": app.number, "start": texts.day(start), "end": texts.day(end)},
        )

    # Both producers name the same round of the same application: one message.
    await queue_for_applications(
        [application], "publicity_started", f"app{application.id}r{round_no}", render, now, sms=render_sms
    )


@hooks.on("application.start_publicity")
async def on_start_publicity(*, now: datetime, application_id: Any = None, **_: Any) -> None:
    if application_id is not None:
        await _queue_publicity(int(application_id), now)


@hooks.on("application.start_republicity")
async def on_start_republicity(*, now: datetime, application_id: Any = None, **_: Any) -> None:
    if application_id is not None:
        await _queue_publicity(int(application_id), now)


@hooks.on("notice.started")
async def on_notice_started(
    *, now: datetime, application_id: Any = None, notice_id: Any = None, **_: Any
) -> None:
    if application_id is None and notice_id is not None:
        row = (
            await PublicNotice.select(PublicNotice.application)
            .where(PublicNotice.id == int(notice_id))
            .first()
        )
        application_id = row["application"] if row else None
    if application_id is not None:
        await _queue_publicity(int(application_id), now)


# --- payments ------------------------------------------------------------------------------------


@hooks.on("payment.paid")
async def on_payment_paid(
    *,
    now: datetime,
    payment_line_id: Any = None,
    household_id: Any = None,
    amount_fen: Any = None,
    month: Any = None,
    **_: Any,
) -> None:
    entity = ""
    if payment_line_id is not None:
        line = (
            await PaymentLine.select(
                PaymentLine.id, PaymentLine.household, PaymentLine.amount_fen, PaymentLine.month
            )
            .where(PaymentLine.id == int(payment_line_id))
            .first()
        )
        if line is None:
            return
        household_id, amount_fen, month = line["household"], line["amount_fen"], line["month"]
        entity = f"line{line['id']}"
    if household_id is None or amount_fen is None:
        return
    entity = entity or f"hh{household_id}:{month}:{amount_fen}"
    targets = [a for a in await _household_applications(int(household_id))]
    # Payments belong to the household's approved case; prefer its active application.
    active = [a for a in targets if a.state in {AppState.ACTIVE, AppState.APPROVED, AppState.UNDER_REVIEW}]
    chosen = active or targets
    amount = int(amount_fen)
    period = str(month or local_date(now).isoformat()[:7])

    def render(app: AppInfo) -> str:
        return texts.t(texts.NOTICE_PAYMENT, amount=texts.money(amount), period=period, number=app.number)

    def render_sms(app: AppInfo) -> str:
        return sms_notices.fit(
            sms_notices.SMS_PAYMENT, {"amount": texts.money(amount), "period": period, "number": app.number}
        )

    await queue_for_applications(chosen, "payment_paid", entity, render, now, sms=render_sms)


# --- referrals to relief departments ----------------------------------------------------------------


async def queue_referral_step(
    *,
    referral_id: int,
    version: int,
    step: str,
    household_id: int,
    application_id: int | None,
    department: str,
    reason: str = "",
    due: date | None = None,
    other: str = "",
    now: datetime,
) -> int:
    """Tell the applicant one step of a referral (inside the step's transaction; once per step)."""
    if application_id is not None:
        found = await _application(application_id)
        applications = [found] if found is not None else []
    else:
        applications = await _household_applications(household_id)
    if not applications:
        return 0
    phone = await station_phone(applications[0].org_path)
    message = texts.REFERRAL_NOTICES[step]

    def render(app: AppInfo) -> str:
        return texts.t(
            message,
            department=department,
            other=other,
            reason=reason.strip() or texts.t(texts.NO_REASON),
            due=texts.day(due) if due else "-",
            phone=phone or "-",
        )

    return await queue_for_applications(
        applications, f"referral_{step}", f"ref{referral_id}v{version}", render, now
    )
