"""Translations at the edge: gettext catalogs (Babel .po files) per language.

Message ids are English; Simplified Chinese is the default language. The .po
files are compiled in memory at start-up, so no build step or binary .mo file
is needed. The current language lives in a context variable set per request
(or per bot update), which the Jinja ``_()`` and the bot texts read.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import lru_cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = {"zh_Hans": "简体中文", "en": "English"}
DEFAULT_LANGUAGE = "zh_Hans"

current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)


@lru_cache(maxsize=4)
def translations(language: str) -> NullTranslations:
    po_file = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not po_file.exists():
        return NullTranslations()
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return GNUTranslations(buffer)


def normalise_language(raw: str | None) -> str:
    if not raw:
        return DEFAULT_LANGUAGE
    raw = raw.replace("-", "_")
    if raw in LANGUAGES:
        return raw
    return "en" if raw.lower().startswith("en") else DEFAULT_LANGUAGE


def gettext(message: str) -> str:
    return translations(current_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_language.get()).ngettext(singular, plural, n)


def translate(message: str, **params: Any) -> str:
    """Translate a message id and fill its ``{name}`` placeholders."""
    text = gettext(message)
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return message.format(**params)
    return text


_ = gettext
