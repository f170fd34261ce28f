"""SMS for applicants without a bound chat (docs/sms.md): which channel a notice
takes, the SMS texts (Chinese, at most two segments), opt-out and opt-in, and
the replies applicants send ("退订", "订阅", "查询").

The outbox carries the messages (services/outbox.py); this module decides
what goes in it. Phones stay sealed: an SMS row holds the household's sealed
phone, and audit events name the household, never the number.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from relief_pwa.adapters.sms import InboundMessage
from relief_pwa.bot import texts
from relief_pwa.core import sms as rules
from relief_pwa.core.i18n import N_
from relief_pwa.db import write_transaction
from relief_pwa.services import identifiers
from relief_pwa.services.actors import Actor
from relief_pwa.services.audit import record_event
from relief_pwa.services.bot import household_status
from relief_pwa.services.outbox import enqueue_sms, record_undeliverable
from relief_pwa.settings import Settings, get_settings
from relief_pwa.tables import Household, OutboxMessage, SmsOptOut

log = logging.getLogger("relief_pwa.sms")
T = TypeVar("T")

SMS_LANGUAGE = "zh_Hans"  # a phone has no language setting: SMS are written in Chinese

# Every notice ends with how to stop them (carriers expect it) — part of the length budget.
OPT_OUT_HINT = N_("Reply TD to stop.")

SMS_VISIT_SCHEDULED = N_(
    "Application {number}: {staff} visits your home on {date} {window}. Questions: {phone}."
)
SMS_VISIT_REMINDER = N_(
    "Reminder: tomorrow {date} {window} {staff} visits you (application {number}). Tel {phone}."
)
SMS_VISIT_DONE = N_("The visit of {date} for application {number} is recorded. {next}")
SMS_FOLLOWUP = N_(
    "Application {number}: follow-up visit on {date} {window} to check the help arrived. Tel {phone}."
)
SMS_ELIGIBLE = N_(
    "Application {number} meets the conditions. Reasons: {reason}. Next: a {days}-day public notice."
)
SMS_INELIGIBLE = N_(
    "Application {number} does not meet the conditions. Reasons: {reason}. "
    "The centre decides; to object call {phone}."
)
SMS_APPROVED = N_("Application {number} was approved. {reason} Assistance starts with the next payment.")
SMS_REJECTED = N_(
    "Application {number} was not approved. Reasons: {reason}. To ask for a review call {phone}."
)
SMS_PUBLICITY = N_("Application {number} is on public notice in your community from {start} to {end}.")
SMS_PAYMENT = N_("Paid {amount} yuan for {period} (application {number}) to your one-card account.")
SMS_STATUS = N_("Application {number}: {state} Next: {next}")
SMS_WITHDRAWN = N_("Application {number} was withdrawn. Reason: {reason}. You may apply again. Tel {phone}.")
SMS_REOPENED = N_("Application {number}: your request for reconsideration was accepted. Reason: {reason}.")
SMS_SUSPENDED = N_(
    "Assistance for application {number} is suspended from {date}. Reason: {reason}. Tel {phone}."
)
SMS_REINSTATED = N_("Assistance for application {number} resumes from {date}. Reason: {reason}.")
SMS_EXITED = N_(
    "Assistance for application {number} ends from {date} ({exit_reason}). Reason: {reason}. "
    "To object call {phone}."
)
SMS_OPTED_OUT = N_("You will receive no more SMS from Sunshine Relief. Reply 订阅 to receive them again.")
SMS_OPTED_IN = N_("You will receive SMS from Sunshine Relief again. Reply TD to stop.")

STATUS_UNREACHABLE = "unreachable"
STATUS_OPTED_OUT = "opted_out"


def current_settings() -> Settings:
    """The settings the channel choice reads (a seam for tests)."""
    return get_settings()


def sms_enabled() -> bool:
    return bool(current_settings().sms_gateway_url)


# --- texts ------------------------------------------------------------------------------------


def fit(message: str, params: dict[str, object], *, shrink: str = "", hint: bool = True) -> str:
    """``message`` in Chinese within two segments (with the sender's signature).

    The free-text parameter ``shrink`` (a reason, a next step, a name) is cut
    first; the whole text is cut only as a last resort.
    """
    sender = current_settings().sms_sender_id
    limit = rules.budget(sender)
    with texts.in_language(SMS_LANGUAGE):
        tail = texts.t(OPT_OUT_HINT) if hint else ""

        def render(values: dict[str, object]) -> str:
            return " ".join(texts.t(message, **values).split()) + tail

        text = render(params)
        if len(text) > limit and shrink:
            value = str(params.get(shrink, ""))
            over = len(text) - limit
            text = render({**params, shrink: rules.shorten(value, max(1, len(value) - over))})
    if len(text) > limit:
        text = rules.shorten(text, limit)
    return text


def fallback_text(render: Callable[[T], str], subject: T) -> str:
    """A notice that has no SMS wording of its own: its chat text in Chinese, cut to fit."""
    with texts.in_language(SMS_LANGUAGE):
        body = render(subject)
        hint = texts.t(OPT_OUT_HINT)
    limit = rules.budget(current_settings().sms_sender_id) - len(hint)
    return rules.shorten(body, limit) + hint


# --- choosing the channel ------------------------------------------------------------------


@dataclass(frozen=True)
class SmsRoute:
    """Where an applicant's SMS goes: a lane (None when no SMS can go) and why not."""

    lane: int | None
    phone_sealed: str
    status: str = ""  # unreachable | opted_out when lane is None
    why: str = ""


async def route_for_household(household_id: int) -> SmsRoute:
    row = await (
        Household.select(Household.phone_sealed, Household.phone_index)
        .where(Household.id == household_id)
        .first()
    )
    if not sms_enabled():
        return SmsRoute(None, "", STATUS_UNREACHABLE, "no chat bound; SMS is not configured")
    if row is None or not row["phone_sealed"]:
        return SmsRoute(None, "", STATUS_UNREACHABLE, "no chat bound and no phone")
    if not rules.is_mobile(identifiers.opened(identifiers.PHONE, row["phone_sealed"])):
        return SmsRoute(None, "", STATUS_UNREACHABLE, "no chat bound; the phone is not a mobile")
    if await is_opted_out(row["phone_index"]):
        return SmsRoute(None, "", STATUS_OPTED_OUT, "the phone opted out of SMS")
    return SmsRoute(rules.lane_of(row["phone_index"]), row["phone_sealed"])


async def queue_sms_notice(household_id: int, kind: str, entity: str, text: str, now: datetime) -> bool:
    """Queue an applicant notice by SMS (or record why it cannot go) inside the event's transaction."""
    route = await route_for_household(household_id)
    if route.lane is None:
        return await record_undeliverable(
            kind, text, f"{kind}:{entity}:none:h{household_id}", now, status=route.status, why=route.why
        )
    return await enqueue_sms(
        route.lane, kind, text, f"{kind}:{entity}:sms:h{household_id}", now, phone_sealed=route.phone_sealed
    )


# --- opting out and in ----------------------------------------------------------------------


def sms_actor() -> Actor:
    """The applicant behind a phone, as the audit trail shows it (never the number)."""
    return Actor(
        staff_id=None,
        username="sms",
        display_name="SMS",
        role="applicant",
        org_unit_id=None,
        org_path="",
    )


async def is_opted_out(phone_index: str) -> bool:
    if not phone_index:
        return False
    return bool(
        await SmsOptOut.exists().where((SmsOptOut.phone_index == phone_index) & SmsOptOut.opted_out.eq(True))
    )


async def _households_of(phone_index: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = await (
        Household.select(Household.id, Household.org_path)
        .where((Household.phone_index == phone_index) & Household.anonymised_at.is_null())
        .order_by(Household.id, ascending=False)
    )
    return rows


async def _set_opt_out(phone_index: str, opted_out: bool, now: datetime) -> bool:
    """Record the phone's choice; True when it changed (then audited). Inside a transaction."""
    row = (
        await SmsOptOut.select(SmsOptOut.id, SmsOptOut.opted_out)
        .where(SmsOptOut.phone_index == phone_index)
        .first()
    )
    if row is not None and bool(row["opted_out"]) == opted_out:
        return False
    if row is None and not opted_out:
        return False  # never opted out: nothing to undo
    if row is None:
        inserted = await SmsOptOut.insert(
            SmsOptOut(phone_index=phone_index, opted_out=True, changed_at=now)
        ).returning(SmsOptOut.id)
        entry_id = int(inserted[0]["id"])
    else:
        entry_id = int(row["id"])
        await SmsOptOut.update({SmsOptOut.opted_out: opted_out, SmsOptOut.changed_at: now}).where(
            SmsOptOut.id == entry_id
        )
    households = await _households_of(phone_index)
    first = households[0] if households else None
    await record_event(
        sms_actor(),
        "sms.opt_out" if opted_out else "sms.opt_in",
        "sms_opt_out",
        entry_id,
        org_path=str(first["org_path"]) if first else "",
        now=now,
        household_id=int(str(first["id"])) if first else None,
        before={"opted_out": not opted_out},
        after={"opted_out": opted_out, "households": [int(str(h["id"])) for h in households]},
    )
    # Notices already queued for the phone stop with it (the sender checks again before sending).
    return True


# --- replies from applicants ------------------------------------------------------------------


@dataclass(frozen=True)
class InboundOutcome:
    keyword: str | None
    replied: bool


async def handle_inbound(message: InboundMessage, now: datetime) -> InboundOutcome:
    """One authenticated message from the gateway: a keyword acted on, a reply queued once
    (the reply's dedupe key is the gateway's message id, so a re-delivery does nothing)."""
    keyword = rules.parse_keyword(message.text)
    digits = identifiers.normalise(identifiers.PHONE, message.phone)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if keyword is None or not rules.is_mobile(digits):
        log.info("sms inbound %s: no keyword, ignored", message.message_id[:40])
        return InboundOutcome(None, False)
    phone_index = identifiers.index_of(identifiers.PHONE, digits)
    reply = ""
    async with write_transaction(OutboxMessage._meta.db):
        if keyword == rules.KEYWORD_OPT_OUT:
            await _set_opt_out(phone_index, True, now)
            reply = fit(SMS_OPTED_OUT, {}, hint=False)
        elif keyword == rules.KEYWORD_OPT_IN:
            await _set_opt_out(phone_index, False, now)
            reply = fit(SMS_OPTED_IN, {}, hint=False)
        else:
            households = await _households_of(phone_index)
            if households:  # only a phone registered on a household learns anything
                reply = await status_text([int(str(h["id"])) for h in households], now)
        if not reply:
            return InboundOutcome(keyword, False)
        sealed_phone, _index = identifiers.sealed(identifiers.PHONE, digits)
        queued = await enqueue_sms(
            rules.lane_of(phone_index),
            "sms_reply",
            reply,
            f"sms_reply:{message.message_id}",
            now,
            phone_sealed=sealed_phone,
        )
    return InboundOutcome(keyword, queued)


async def status_text(household_ids: list[int], now: datetime) -> str:
    """The bot's /status in short: each application's state and next step, within two segments."""
    parts: list[str] = []
    with texts.in_language(SMS_LANGUAGE):
        for household_id in household_ids:
            for status in await household_status(household_id, now, SMS_LANGUAGE):
                step = status.step
                following = texts.t(
                    step.next_step, due=texts.day(step.due) if step.due else "", days=step.days
                )
                parts.append(
                    texts.t(SMS_STATUS, number=status.number, state=texts.t(step.explanation), next=following)
                )
    if not parts:
        return ""
    limit = rules.budget(current_settings().sms_sender_id)
    return rules.shorten(" ".join(parts), limit)
