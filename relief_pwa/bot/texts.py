"""Every sentence the bot says, as English message ids translated into the chat's
language (Simplified Chinese by default, English after /lang).

Handlers and notices never hard-code text: they call the functions here
inside :func:`in_language`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

from relief_pwa.core.enums import AppState, Category
from relief_pwa.core.i18n import N_
from relief_pwa.core.materials import Material
from relief_pwa.core.money import format_yuan
from relief_pwa.i18n import current_language, gettext, normalise_language, translate


@contextmanager
def in_language(language: str) -> Iterator[None]:
    """Translate with ``language`` inside the block (a chat's language, not the caller's)."""
    token = current_language.set(normalise_language(language))
    try:
        yield
    finally:
        current_language.reset(token)


def t(message: str, **params: object) -> str:
    return translate(message, **params)


def label(value: str) -> str:
    for enum_type in (AppState, Category):
        try:
            return gettext(enum_type(value).label)
        except ValueError:
            continue
    return value


def day(value: date) -> str:
    return value.isoformat()


# --- commands -----------------------------------------------------------------------

HELP = N_(
    "Sunshine Relief assistant. You can:\n"
    "/status – the state of your applications and your visits\n"
    "/apply – start a pre-application\n"
    "/objection – file an objection about a decision\n"
    "/withdraw – withdraw an application not yet decided\n"
    "/lang – switch language (中文 / English)\n"
    "/stop – stop receiving messages about an application\n"
    "/cancel – cancel what you are doing"
)
WELCOME = N_(
    "Welcome to Sunshine Relief. To follow your application, scan the QR code on your receipt. "
    "To ask for help, send /apply."
)
BOUND = N_(
    "This chat now follows application {number} ({category}). You will be told here when something happens. "
    "Send /status at any time."
)
UNKNOWN_COMMAND = N_("Sorry, I did not understand that. Send /help to see what I can do.")
NOTHING_BOUND = N_(
    "No application is linked to this chat yet. "
    "Scan the QR code on your receipt, or send /apply to ask for help."
)
STOP_CHOOSE = N_("Which application should this chat stop following?")
STOP_ALL = N_("All of them")
STOPPED = N_("This chat no longer follows {count} application(s). You can link it again with a new receipt.")
STOP_NOTHING = N_("This chat follows no application.")
LANG_CHOOSE = N_("Choose your language:")
LANG_SET = N_("From now on I will write in English.")
CANCELLED = N_("Cancelled. Nothing was sent.")
NOTHING_TO_CANCEL = N_("There is nothing to cancel.")
BUTTON_EXPIRED = N_("This button is no longer active.")
SOMETHING_WRONG = N_("Something went wrong on our side. Please try again later.")

# --- status --------------------------------------------------------------------------

STATUS_HEADER = N_("Application {number} – {category}")
STATUS_STATE = N_("State: {state}")
STATUS_NEXT = N_("Next: {next}")
STATUS_REASON = N_("Reason given: {reason}")
STATUS_VISIT = N_("Visit on {date} {window} by {staff}. Questions: {phone}")
STATUS_VISIT_NO_STAFF = N_("Visit on {date} {window}. Questions: {phone}")
STATUS_INDEX = N_("Relief index: {total}")
STATUS_INDEX_PROVISIONAL = N_("Relief index: {total} (provisional: some facts are still missing)")
STATUS_FACTORS = N_("What weighed most:")

# --- pre-application ---------------------------------------------------------------------

APPLY_INTRO = N_(
    "Let us prepare your application. I will ask six short questions; send /cancel at any time to stop.\n"
    "1/6 What is your full name?"
)
ASK_PHONE = N_("2/6 Your phone number (mobile, or landline with area code)?")
ASK_DISTRICT = N_("3/6 In which district or county do you live?")
ASK_STREET = N_("4/6 Which street or town?")
ASK_COMMUNITY = N_("5/6 Which community or village?")
ASK_CATEGORY = N_("6/6 What kind of help do you need?")
ASK_DESCRIPTION = N_("Last step: describe your situation in a few sentences (at least 5 characters).")
PICK_BUTTON = N_("Please choose one of the buttons.")
NO_PLACES = N_("There is nothing to choose here yet; please call your service station.")
CANCEL_BUTTON = N_("Cancel")
BACK_BUTTON = N_("Back")
PREAPP_DONE = N_(
    "Thank you, {name}. Your pre-application reached {community}. "
    "The community liaison will call you at {phone} "
    "to arrange the application."
)
PREAPP_BRING = N_("Please prepare these papers:")
PREAPP_TRY_AGAIN = N_("{error}\nPlease try again.")

# --- objections -----------------------------------------------------------------------

OBJECTION_CHOOSE = N_("Which application is your objection about?")
OBJECTION_KIND_ASK = N_("What is it about?")
OBJECTION_KIND_DECISION = N_("I disagree with a decision")
OBJECTION_KIND_STAFF = N_("A complaint about staff conduct")
OBJECTION_ASK = N_(
    "Write your objection about application {number}: what is wrong, and why (at least 10 characters)."
)
OBJECTION_FILED = N_("Your objection was received. Tracking code: {code}. It will be answered by {deadline}.")
OBJECTION_UNAVAILABLE = N_(
    "Objections cannot be filed through this chat yet. Please call the supervision hotline {phone} "
    "or use the objection form on the public notice page."
)
OBJECTION_TOO_SHORT = N_("Please write at least {min} characters.")

# --- notices -----------------------------------------------------------------------------

NOTICE_VISIT_SCHEDULED = N_(
    "Home visit for application {number}: {date} {window}. {staff} will come. Questions: {phone}"
)
NOTICE_VISIT_REMINDER = N_(
    "Reminder: tomorrow, {date} {window}, {staff} visits you about application {number}. Questions: {phone}"
)
NOTICE_VISIT_DONE = N_("The visit of {date} for application {number} is recorded. {next}")
NOTICE_ELIGIBLE = N_(
    "Application {number}: the service station found that you meet the conditions. Reasons: {reason} "
    "Next: a {days}-day public notice in your community."
)
NOTICE_INELIGIBLE = N_(
    "Application {number}: the service station found that you do not meet the conditions. Reasons: {reason} "
    "The service centre takes the final decision. If you disagree, send /objection or call {phone}."
)
NOTICE_APPROVED = N_("Application {number} was approved. {reason} Assistance starts with the next payment.")
NOTICE_REJECTED = N_(
    "Application {number} was not approved. Reasons: {reason} You may ask for a review; call {phone}."
)
NOTICE_PUBLICITY = N_(
    "The public notice (公示) for application {number} runs from {start} to {end} in your community. "
    "Anyone may object during that time."
)
NOTICE_PAYMENT = N_(
    "Payment made: {amount} yuan for {period} (application {number}) to your one-card account."
)
NOTICE_FOLLOWUP = N_(
    "A follow-up visit for application {number} is planned on {date} {window}, "
    "to check that the help arrived. "
    "Questions: {phone}"
)
NOTICE_WITHDRAWN = N_(
    "Application {number} was withdrawn. Reason: {reason} You may apply again at any time. Questions: {phone}"
)
NOTICE_REOPENED = N_(
    "Application {number}: your request for reconsideration (复议) was accepted and the case is "
    "investigated again. Reason: {reason} Questions: {phone}"
)
NOTICE_SUSPENDED = N_(
    "Assistance for application {number} is suspended from {date}. Reason: {reason} "
    "No payments until it is reinstated. Questions: {phone}"
)
NOTICE_REINSTATED = N_(
    "Assistance for application {number} is reinstated from {date}. Reason: {reason} Payments resume."
)
NOTICE_EXITED = N_(
    "Assistance for application {number} ends from {date} ({exit_reason}). Reason: {reason} "
    "If you disagree, send /objection or call {phone}."
)
NO_REASON = N_("(none given)")
# Referrals to relief departments (一门受理、分类转办), one notice per step.
REFERRAL_NOTICES = {
    "created": N_("Your request was referred to {department}. It will answer by {due}."),
    "accepted": N_("{department} has accepted your request and is handling it."),
    "info_requested": N_(
        "{department} needs more information: {reason} Your service station will contact you."
    ),
    "info_supplied": N_("The information {department} asked for has been sent. It will answer by {due}."),
    "granted": N_("{department} granted your request. {reason}"),
    "refused": N_(
        "{department} did not grant your request. Reasons: {reason} You may ask for a review; call {phone}."
    ),
    "referred_on": N_("{department} passed your request on to {other}, which will answer by {due}."),
    "escalated": N_("Your request to {department} is overdue; the service centre is following it up."),
}

# --- withdrawing from the chat ----------------------------------------------------------

WITHDRAW_NOTHING = N_(
    "None of your applications can be withdrawn now (only applications not yet decided can)."
)
WITHDRAW_CHOOSE = N_("Which application do you want to withdraw?")
WITHDRAW_ASK_REASON = N_("Why do you withdraw application {number}? Write a few words (or /cancel).")
WITHDRAW_CONFIRM = N_(
    "Withdraw application {number}? Your reason: {reason}\nThe service station stops working on it; "
    "you may apply again later."
)
WITHDRAW_YES = N_("Yes, withdraw")
WITHDRAW_DONE = N_("Application {number} is withdrawn.")


def money(fen: int) -> str:
    return format_yuan(fen)


def bring_list(materials: Sequence[Material]) -> str:
    lines = [t(PREAPP_BRING)]
    lines += [f"• {t(m.label)}" for m in materials]
    return "\n".join(lines)


def index_line(total: Decimal, provisional: bool) -> str:
    return t(STATUS_INDEX_PROVISIONAL if provisional else STATUS_INDEX, total=f"{total:.2f}")
