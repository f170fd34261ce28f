"""The bot's conversation: one ordered registration of every handler.

Order matters (PTB tries handlers of a group in order, first match wins):
group -1 prepares every update (the chat's row and language); group 0 holds
the two conversations, then the commands, then the buttons, then a catch-all
that explains what the bot understands.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from relief_pwa.bot import texts
from relief_pwa.bot.errors import domain_message, on_error
from relief_pwa.clock import Clock
from relief_pwa.core.enums import OrgLevel
from relief_pwa.core.errors import AccessRefused, DomainError
from relief_pwa.core.phone import normalise_phone
from relief_pwa.core.preapplication import (
    APPLICABLE_CATEGORIES,
    clean_category,
    clean_description,
    clean_name,
)
from relief_pwa.i18n import LANGUAGES, current_language
from relief_pwa.services import bot as service

Context = ContextTypes.DEFAULT_TYPE
Buttons = list[list[tuple[str, str]]]

# Conversation states
NAME, PHONE, DISTRICT, STREET, COMMUNITY, CATEGORY, DESCRIPTION = range(7)
OBJ_APPLICATION, OBJ_KIND, OBJ_TEXT = range(10, 13)
WD_APPLICATION, WD_REASON, WD_CONFIRM = range(20, 23)
WITHDRAW_REASON_MIN = 4
END = ConversationHandler.END

OBJECTION_BODY_MIN = 10


def _now(context: Context) -> datetime:
    clock: Clock = context.bot_data["clock"]
    return clock.now()


def keyboard(rows: Buttons, *, cancel: str | None = None) -> InlineKeyboardMarkup:
    buttons = [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    if cancel:
        buttons.append([InlineKeyboardButton(texts.t(texts.CANCEL_BUTTON), callback_data=cancel)])
    return InlineKeyboardMarkup(buttons)


def _in_rows(items: list[tuple[str, str]], per_row: int = 2) -> Buttons:
    return [items[i : i + per_row] for i in range(0, len(items), per_row)]


async def _say(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    chat = update.effective_chat
    assert chat is not None
    await chat.get_bot().send_message(chat.id, text, reply_markup=markup)


async def _close_buttons(update: Update, chosen: str | None = None) -> None:
    """Answer the button press and freeze the message it came from (no second press)."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    message = query.message
    if isinstance(message, Message):
        text = message.text or ""
        await query.edit_message_text(f"{text}\n→ {chosen}" if chosen else text, reply_markup=None)


# --- every update -----------------------------------------------------------------------


async def prepare(update: object, context: Context) -> None:
    """Group -1: make sure the chat exists and speak its language."""
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    settings = context.bot_data["settings"]
    info = await service.ensure_chat(update.effective_chat.id, _now(context), settings.default_language)
    if info.blocked:
        await service.do_mark_chat_reachable(info.chat_id, _now(context))
    current_language.set(info.language)


# --- commands ---------------------------------------------------------------------------------


async def start(update: Update, context: Context) -> None:
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    token = (context.args or [""])[0]
    if not token:
        await _say(update, texts.t(texts.WELCOME) + "\n\n" + texts.t(texts.HELP))
        return
    try:
        bound = await service.do_bind(chat_id, token, _now(context))
    except (DomainError, AccessRefused) as exc:
        await _say(update, domain_message(exc))
        return
    await _say(update, texts.t(texts.BOUND, number=bound.number, category=texts.label(bound.category)))


async def help_command(update: Update, context: Context) -> None:
    await _say(update, texts.t(texts.HELP))


def format_status(status: service.ApplicationStatus) -> str:
    step = status.step
    lines = [
        texts.t(texts.STATUS_HEADER, number=status.number, category=texts.label(status.category)),
        texts.t(texts.STATUS_STATE, state=texts.t(step.explanation)),
        texts.t(
            texts.STATUS_NEXT,
            next=texts.t(step.next_step, due=texts.day(step.due) if step.due else "", days=step.days),
        ),
    ]
    if status.reason and status.state.value in {
        "verified_ineligible",
        "rejected",
        "suspended",
        "exited",
        "withdrawn",
    }:
        lines.append(texts.t(texts.STATUS_REASON, reason=status.reason))
    for visit in status.visits:
        message = texts.STATUS_VISIT if visit.staff_name else texts.STATUS_VISIT_NO_STAFF
        lines.append(
            texts.t(
                message,
                date=texts.day(visit.on),
                window=visit.window,
                staff=visit.staff_name,
                phone=visit.station_phone or "-",
            )
        )
    if status.index_total is not None:
        lines.append(texts.index_line(status.index_total, status.index_provisional))
        if status.factors:
            lines.append(texts.t(texts.STATUS_FACTORS))
            lines.extend(f"• {factor}" for factor in status.factors)
    return "\n".join(lines)


async def status(update: Update, context: Context) -> None:
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    statuses = await service.get_status(chat_id, _now(context), current_language.get())
    if not statuses:
        await _say(update, texts.t(texts.NOTHING_BOUND))
        return
    for item in statuses:
        await _say(update, format_status(item))


async def stop(update: Update, context: Context) -> None:
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    bound = await service.list_bound(chat_id)
    if not bound:
        await _say(update, texts.t(texts.STOP_NOTHING))
        return
    if len(bound) == 1:
        count = await service.do_unbind(chat_id, _now(context), bound[0].application_id)
        await _say(update, texts.t(texts.STOPPED, count=count))
        return
    rows = [[(b.number, f"stop:{b.application_id}")] for b in bound] + [
        [(texts.t(texts.STOP_ALL), "stop:all")]
    ]
    await _say(update, texts.t(texts.STOP_CHOOSE), keyboard(rows))


async def stop_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    choice = query.data.removeprefix("stop:")
    application_id = None if choice == "all" else int(choice)
    await _close_buttons(update)
    count = await service.do_unbind(chat_id, _now(context), application_id)
    await _say(update, texts.t(texts.STOPPED, count=count) if count else texts.t(texts.STOP_NOTHING))


async def lang(update: Update, context: Context) -> None:
    rows = [[(name, f"lang:{code}") for code, name in LANGUAGES.items()]]
    await _say(update, texts.t(texts.LANG_CHOOSE), keyboard(rows))


async def lang_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    code = query.data.removeprefix("lang:")
    try:
        language = await service.do_set_language(update.effective_chat.id, code, _now(context))  # type: ignore[union-attr]
    except (DomainError, AccessRefused) as exc:
        await query.answer()
        await _say(update, domain_message(exc))
        return
    await _close_buttons(update, LANGUAGES[language])
    current_language.set(language)
    await _say(update, texts.t(texts.LANG_SET) + "\n\n" + texts.t(texts.HELP))


async def cancel_outside(update: Update, context: Context) -> None:
    await _say(update, texts.t(texts.NOTHING_TO_CANCEL))


async def unknown(update: Update, context: Context) -> None:
    await _say(update, texts.t(texts.UNKNOWN_COMMAND))


async def stale_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(texts.t(texts.BUTTON_EXPIRED))


# --- pre-application conversation ---------------------------------------------------------------


def _draft(context: Context) -> dict[str, Any]:
    data: dict[str, Any] = context.user_data.setdefault("preapp", {})  # type: ignore[union-attr]
    return data


async def apply_start(update: Update, context: Context) -> int:
    context.user_data["preapp"] = {}  # type: ignore[index]
    await _say(update, texts.t(texts.APPLY_INTRO))
    return NAME


async def apply_name(update: Update, context: Context) -> int:
    try:
        name = clean_name(update.effective_message.text or "")  # type: ignore[union-attr]
    except (DomainError, AccessRefused) as exc:
        await _say(update, texts.t(texts.PREAPP_TRY_AGAIN, error=domain_message(exc)))
        return NAME
    _draft(context)["name"] = name
    await _say(update, texts.t(texts.ASK_PHONE))
    return PHONE


async def _ask_places(update: Update, parent_id: int | None, level_prompt: str, prefix: str) -> bool:
    places = await service.list_places(parent_id)
    if not places:
        await _say(update, texts.t(texts.NO_PLACES))
        return False
    rows = _in_rows([(p.name, f"pa:{prefix}:{p.id}") for p in places])
    await _say(update, texts.t(level_prompt), keyboard(rows, cancel="pa:cancel"))
    return True


async def apply_phone(update: Update, context: Context) -> int:
    try:
        phone = normalise_phone(update.effective_message.text or "")  # type: ignore[union-attr]
    except (DomainError, AccessRefused) as exc:
        await _say(update, texts.t(texts.PREAPP_TRY_AGAIN, error=domain_message(exc)))
        return PHONE
    _draft(context)["phone"] = phone
    if not await _ask_places(update, None, texts.ASK_DISTRICT, "district"):
        return END
    return DISTRICT


async def apply_district(update: Update, context: Context) -> int:
    return await _choose_place(
        update, context, OrgLevel.DISTRICT, None, "district_id", texts.ASK_STREET, "street", STREET, DISTRICT
    )


async def apply_street(update: Update, context: Context) -> int:
    return await _choose_place(
        update,
        context,
        OrgLevel.STREET,
        _draft(context).get("district_id"),
        "street_id",
        texts.ASK_COMMUNITY,
        "community",
        COMMUNITY,
        STREET,
    )


async def _choose_place(
    update: Update,
    context: Context,
    level: str,
    parent_id: int | None,
    key: str,
    next_prompt: str,
    next_prefix: str,
    next_state: int,
    this_state: int,
) -> int:
    query = update.callback_query
    assert query is not None and query.data is not None
    try:
        place = await service.get_place(int(query.data.rsplit(":", 1)[-1]), level, parent_id)
    except (DomainError, AccessRefused, ValueError):
        await query.answer(texts.t(texts.PICK_BUTTON))
        return this_state
    await _close_buttons(update, place.name)
    _draft(context)[key] = place.id
    if not await _ask_places(update, place.id, next_prompt, next_prefix):
        return END
    return next_state


async def apply_community(update: Update, context: Context) -> int:
    query = update.callback_query
    assert query is not None and query.data is not None
    try:
        place = await service.get_place(
            int(query.data.rsplit(":", 1)[-1]), OrgLevel.COMMUNITY, _draft(context).get("street_id")
        )
    except (DomainError, AccessRefused, ValueError):
        await query.answer(texts.t(texts.PICK_BUTTON))
        return COMMUNITY
    await _close_buttons(update, place.name)
    _draft(context)["community_id"] = place.id
    rows = _in_rows([(texts.label(c.value), f"pa:category:{c.value}") for c in APPLICABLE_CATEGORIES])
    await _say(update, texts.t(texts.ASK_CATEGORY), keyboard(rows, cancel="pa:cancel"))
    return CATEGORY


async def apply_category(update: Update, context: Context) -> int:
    query = update.callback_query
    assert query is not None and query.data is not None
    try:
        category = clean_category(query.data.removeprefix("pa:category:"))
    except (DomainError, AccessRefused):
        await query.answer(texts.t(texts.PICK_BUTTON))
        return CATEGORY
    await _close_buttons(update, texts.label(category.value))
    _draft(context)["category"] = category.value
    await _say(update, texts.t(texts.ASK_DESCRIPTION))
    return DESCRIPTION


async def apply_description(update: Update, context: Context) -> int:
    raw = update.effective_message.text or ""  # type: ignore[union-attr]
    try:
        description = clean_description(raw)
    except (DomainError, AccessRefused) as exc:
        await _say(update, texts.t(texts.PREAPP_TRY_AGAIN, error=domain_message(exc)))
        return DESCRIPTION
    draft = _draft(context)
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    try:
        result = await service.do_create_preapplication(
            chat_id,
            service.PreApplicationDraft(
                name=draft["name"],
                phone=draft["phone"],
                community_id=draft["community_id"],
                category=draft["category"],
                description=description,
            ),
            _now(context),
        )
    except (DomainError, AccessRefused) as exc:
        await _say(update, domain_message(exc))
        context.user_data.pop("preapp", None)  # type: ignore[union-attr]
        return END
    context.user_data.pop("preapp", None)  # type: ignore[union-attr]
    await _say(
        update,
        texts.t(texts.PREAPP_DONE, name=draft["name"], community=result.community_name, phone=result.phone),
    )
    await _say(update, texts.bring_list(result.materials))
    return END


async def expect_button(update: Update, context: Context) -> None:
    await _say(update, texts.t(texts.PICK_BUTTON))


async def cancel(update: Update, context: Context) -> int:
    context.user_data.pop("preapp", None)  # type: ignore[union-attr]
    context.user_data.pop("objection", None)  # type: ignore[union-attr]
    context.user_data.pop("withdraw", None)  # type: ignore[union-attr]
    if update.callback_query is not None:
        await _close_buttons(update)
    await _say(update, texts.t(texts.CANCELLED))
    return END


def _typed_text() -> filters.BaseFilter:
    return filters.TEXT & ~filters.COMMAND


def _on_text(callback: Any) -> Any:
    """A handler for typed text (not commands) in a conversation state."""
    return MessageHandler(_typed_text(), callback)


def preapplication_conversation() -> ConversationHandler[Context]:
    wrong = _on_text(expect_button)
    return ConversationHandler(
        entry_points=[CommandHandler("apply", apply_start)],
        states={
            NAME: [_on_text(apply_name)],
            PHONE: [_on_text(apply_phone)],
            DISTRICT: [CallbackQueryHandler(apply_district, pattern=r"^pa:district:"), wrong],
            STREET: [CallbackQueryHandler(apply_street, pattern=r"^pa:street:"), wrong],
            COMMUNITY: [CallbackQueryHandler(apply_community, pattern=r"^pa:community:"), wrong],
            CATEGORY: [CallbackQueryHandler(apply_category, pattern=r"^pa:category:"), wrong],
            DESCRIPTION: [_on_text(apply_description)],
        },
        fallbacks=[CommandHandler("cancel", cancel), CallbackQueryHandler(cancel, pattern=r"^pa:cancel$")],
        allow_reentry=True,
        name="preapplication",
    )


# --- objection conversation -------------------------------------------------------------------


async def objection_start(update: Update, context: Context) -> int:
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    if not service.objections_available():
        bound = await service.list_bound(chat_id)
        phone = await service.station_phone(bound[0].org_path) if bound else ""
        await _say(update, texts.t(texts.OBJECTION_UNAVAILABLE, phone=phone or "-"))
        return END
    bound = await service.list_bound(chat_id)
    if not bound:
        await _say(update, texts.t(texts.NOTHING_BOUND))
        return END
    context.user_data["objection"] = {}  # type: ignore[index]
    if len(bound) == 1:
        context.user_data["objection"]["application_id"] = bound[0].application_id  # type: ignore[index]
        context.user_data["objection"]["number"] = bound[0].number  # type: ignore[index]
        return await _ask_objection_kind(update)
    rows = [[(b.number, f"obj:app:{b.application_id}")] for b in bound]
    await _say(update, texts.t(texts.OBJECTION_CHOOSE), keyboard(rows, cancel="obj:cancel"))
    return OBJ_APPLICATION


async def _ask_objection_kind(update: Update) -> int:
    rows = [
        [(texts.t(texts.OBJECTION_KIND_DECISION), "obj:kind:objection")],
        [(texts.t(texts.OBJECTION_KIND_STAFF), "obj:kind:complaint")],
    ]
    await _say(update, texts.t(texts.OBJECTION_KIND_ASK), keyboard(rows, cancel="obj:cancel"))
    return OBJ_KIND


async def objection_application(update: Update, context: Context) -> int:
    query = update.callback_query
    assert query is not None and query.data is not None
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    try:
        bound = await service.require_bound(chat_id, int(query.data.removeprefix("obj:app:")))
    except (DomainError, AccessRefused, ValueError):
        await query.answer(texts.t(texts.PICK_BUTTON))
        return OBJ_APPLICATION
    await _close_buttons(update, bound.number)
    context.user_data["objection"] = {"application_id": bound.application_id, "number": bound.number}  # type: ignore[index]
    return await _ask_objection_kind(update)


async def objection_kind(update: Update, context: Context) -> int:
    query = update.callback_query
    assert query is not None and query.data is not None
    kind = query.data.removeprefix("obj:kind:")
    if kind not in {"objection", "complaint"}:
        await query.answer(texts.t(texts.PICK_BUTTON))
        return OBJ_KIND
    label = texts.OBJECTION_KIND_DECISION if kind == "objection" else texts.OBJECTION_KIND_STAFF
    await _close_buttons(update, texts.t(label))
    draft = context.user_data.setdefault("objection", {})  # type: ignore[union-attr]
    draft["kind"] = kind
    await _say(update, texts.t(texts.OBJECTION_ASK, number=draft.get("number", "")))
    return OBJ_TEXT


async def objection_text(update: Update, context: Context) -> int:
    body = (update.effective_message.text or "").strip()  # type: ignore[union-attr]
    if len(body) < OBJECTION_BODY_MIN:
        await _say(update, texts.t(texts.OBJECTION_TOO_SHORT, min=OBJECTION_BODY_MIN))
        return OBJ_TEXT
    draft = context.user_data.pop("objection", {})  # type: ignore[union-attr]
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    try:
        filed = await service.do_file_objection(
            chat_id, int(draft["application_id"]), draft.get("kind", "objection"), body, _now(context)
        )
    except (DomainError, AccessRefused) as exc:
        await _say(update, texts.t(texts.PREAPP_TRY_AGAIN, error=domain_message(exc)))
        context.user_data["objection"] = draft  # type: ignore[index]
        return OBJ_TEXT
    await _say(
        update, texts.t(texts.OBJECTION_FILED, code=filed.tracking_code, deadline=texts.day(filed.deadline))
    )
    return END


def objection_conversation() -> ConversationHandler[Context]:
    wrong = _on_text(expect_button)
    return ConversationHandler(
        entry_points=[CommandHandler("objection", objection_start)],
        states={
            OBJ_APPLICATION: [CallbackQueryHandler(objection_application, pattern=r"^obj:app:"), wrong],
            OBJ_KIND: [CallbackQueryHandler(objection_kind, pattern=r"^obj:kind:"), wrong],
            OBJ_TEXT: [_on_text(objection_text)],
        },
        fallbacks=[CommandHandler("cancel", cancel), CallbackQueryHandler(cancel, pattern=r"^obj:cancel$")],
        allow_reentry=True,
        name="objection",
    )


# --- withdrawal conversation: choose, give a reason, confirm ---------------------------------


async def withdraw_start(update: Update, context: Context) -> int:
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    if not await service.list_bound(chat_id):
        await _say(update, texts.t(texts.NOTHING_BOUND))
        return END
    candidates = await service.list_withdrawable(chat_id)
    if not candidates:
        await _say(update, texts.t(texts.WITHDRAW_NOTHING))
        return END
    if len(candidates) == 1:
        return await _ask_withdraw_reason(update, context, candidates[0])
    rows = [[(b.number, f"wd:app:{b.application_id}")] for b in candidates]
    await _say(update, texts.t(texts.WITHDRAW_CHOOSE), keyboard(rows, cancel="wd:cancel"))
    return WD_APPLICATION


async def _ask_withdraw_reason(update: Update, context: Context, bound: service.BoundApplication) -> int:
    context.user_data["withdraw"] = {"application_id": bound.application_id, "number": bound.number}  # type: ignore[index]
    await _say(update, texts.t(texts.WITHDRAW_ASK_REASON, number=bound.number))
    return WD_REASON


async def withdraw_application(update: Update, context: Context) -> int:
    query = update.callback_query
    assert query is not None and query.data is not None
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    try:
        bound = await service.require_bound(chat_id, int(query.data.removeprefix("wd:app:")))
    except (DomainError, AccessRefused, ValueError):
        await query.answer(texts.t(texts.PICK_BUTTON))
        return WD_APPLICATION
    await _close_buttons(update, bound.number)
    return await _ask_withdraw_reason(update, context, bound)


async def withdraw_reason(update: Update, context: Context) -> int:
    reason = (update.effective_message.text or "").strip()  # type: ignore[union-attr]
    if len(reason) < WITHDRAW_REASON_MIN:
        await _say(update, texts.t(texts.OBJECTION_TOO_SHORT, min=WITHDRAW_REASON_MIN))
        return WD_REASON
    draft = context.user_data.setdefault("withdraw", {})  # type: ignore[union-attr]
    draft["reason"] = reason[:500]
    rows = [[(texts.t(texts.WITHDRAW_YES), "wd:yes")]]
    await _say(
        update,
        texts.t(texts.WITHDRAW_CONFIRM, number=draft.get("number", ""), reason=draft["reason"]),
        keyboard(rows, cancel="wd:cancel"),
    )
    return WD_CONFIRM


async def withdraw_confirm(update: Update, context: Context) -> int:
    draft = context.user_data.pop("withdraw", {})  # type: ignore[union-attr]
    await _close_buttons(update, texts.t(texts.WITHDRAW_YES))
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    try:
        bound = await service.do_withdraw_from_chat(
            chat_id, int(draft["application_id"]), str(draft["reason"]), _now(context)
        )
    except (DomainError, AccessRefused, KeyError) as exc:
        await _say(update, domain_message(exc) if not isinstance(exc, KeyError) else texts.t(texts.CANCELLED))
        return END
    await _say(update, texts.t(texts.WITHDRAW_DONE, number=bound.number))
    return END


def withdraw_conversation() -> ConversationHandler[Context]:
    wrong = _on_text(expect_button)
    return ConversationHandler(
        entry_points=[CommandHandler("withdraw", withdraw_start)],
        states={
            WD_APPLICATION: [CallbackQueryHandler(withdraw_application, pattern=r"^wd:app:"), wrong],
            WD_REASON: [_on_text(withdraw_reason)],
            WD_CONFIRM: [CallbackQueryHandler(withdraw_confirm, pattern=r"^wd:yes$"), wrong],
        },
        fallbacks=[CommandHandler("cancel", cancel), CallbackQueryHandler(cancel, pattern=r"^wd:cancel$")],
        allow_reentry=True,
        name="withdraw",
    )


# --- the one registration -------------------------------------------------------------------------


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    with warnings.catch_warnings():
        # per_message=False is deliberate: buttons belong to the chat's conversation, not to one message.
        warnings.simplefilter("ignore", PTBUserWarning)
        preapplication = preapplication_conversation()
        objection = objection_conversation()
        withdrawal = withdraw_conversation()
    application.add_handler(TypeHandler(Update, prepare), group=-1)
    application.add_handlers(
        [
            preapplication,
            objection,
            withdrawal,
            CommandHandler("start", start),
            CommandHandler("help", help_command),
            CommandHandler("status", status),
            CommandHandler("stop", stop),
            CommandHandler("lang", lang),
            CommandHandler("cancel", cancel_outside),
            CallbackQueryHandler(stop_button, pattern=r"^stop:(all|\d+)$"),
            CallbackQueryHandler(lang_button, pattern=r"^lang:"),
            CallbackQueryHandler(stale_button),
            MessageHandler(filters.ALL, unknown),
        ],
        group=0,
    )
    application.add_error_handler(on_error)
