"""What the bot says when something fails, and the log line staff need."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, NetworkError, RetryAfter
from telegram.ext import ContextTypes

from relief_pwa.bot import texts
from relief_pwa.core.errors import AccessRefused, DomainError, ValidationFailed
from relief_pwa.i18n import translate

log = logging.getLogger("relief_pwa.bot")


def domain_message(exc: DomainError | AccessRefused) -> str:
    """A translated, user-safe sentence for a broken rule."""
    if isinstance(exc, ValidationFailed):
        return " ".join(translate(e.message, **e.params) for e in exc.errors.values())
    return translate(exc.message, **exc.params)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """PTB's error handler: log it; tell the user when the failure was ours."""
    error = context.error
    if isinstance(error, (Forbidden, RetryAfter, NetworkError)):
        # Replies that could not be delivered: nothing more to say to the user.
        log.warning("bot: reply not delivered: %s", error)
        return
    log.error("bot: handler failed on %r", update, exc_info=error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(update.effective_chat.id, texts.t(texts.SOMETHING_WRONG))
        except Exception:  # the apology itself may fail; the log has the cause
            log.warning("bot: could not send the error message", exc_info=True)
