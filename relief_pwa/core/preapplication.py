"""Rules for a pre-application typed into the bot, one answer at a time.

Each check takes the raw text of one answer and returns the clean value or
raises a DomainError whose message the bot shows before asking again.
"""

from __future__ import annotations

import re
import unicodedata

from relief_pwa.core.enums import Category
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.materials import Material, required_materials

NAME_MAX = 30
DESCRIPTION_MIN = 5
DESCRIPTION_MAX = 500

# Categories an applicant may choose: the eight national ones (monitoring
# classes are assigned by staff, not applied for).
APPLICABLE_CATEGORIES: tuple[Category, ...] = (
    Category.DIBAO,
    Category.TEKUN,
    Category.DISASTER,
    Category.MEDICAL,
    Category.EDUCATION,
    Category.HOUSING,
    Category.EMPLOYMENT,
    Category.TEMPORARY,
)

# Letters of any script, the middle dot of minority names (·/•), spaces, hyphens and apostrophes.
_NAME = re.compile(r"[^\W\d_](?:[^\W\d_]|[·•' \-])*[^\W\d_]", re.UNICODE)


def clean_name(raw: str) -> str:
    """A person's name: 2 to 30 letters, no digits or symbols."""
    name = " ".join(_fold(raw).split())
    if not name:
        raise DomainError(N_("Please type your name."), field="name")
    if len(name) > NAME_MAX:
        raise DomainError(N_("A name has at most {max} characters."), field="name", max=NAME_MAX)
    if not _NAME.fullmatch(name):
        raise DomainError(
            N_("A name has at least two letters and no digits or symbols. Please type it again."),
            field="name",
        )
    return name


def clean_category(raw: str) -> Category:
    try:
        category = Category(raw)
    except ValueError as exc:
        raise DomainError(N_("Please choose one of the buttons."), field="category") from exc
    if category not in APPLICABLE_CATEGORIES:
        raise DomainError(N_("Please choose one of the buttons."), field="category")
    return category


# Full-width letters and digits (typed with a Chinese input method) read as ASCII;
# Chinese punctuation (，。：（）) is the applicant's own text and stays: NFKC would
# turn "，" into "," and "（" into "(".
_FULL_WIDTH_ALNUM = {
    code: code - 0xFEE0 for code in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))
}


def _fold(raw: str) -> str:
    return unicodedata.normalize("NFC", raw).translate(_FULL_WIDTH_ALNUM)


def clean_description(raw: str) -> str:
    """What happened, in the applicant's words: 5 to 500 characters, no markup."""
    text = _fold(raw).strip()
    if len(text) < DESCRIPTION_MIN:
        raise DomainError(
            N_("Please describe your situation in at least {min} characters."),
            field="description",
            min=DESCRIPTION_MIN,
        )
    if len(text) > DESCRIPTION_MAX:
        raise DomainError(
            N_("Please keep the description under {max} characters."),
            field="description",
            max=DESCRIPTION_MAX,
        )
    if "<" in text or ">" in text:
        raise DomainError(N_("The characters < and > are not allowed."), field="description")
    return text


def materials_to_bring(category: str) -> list[Material]:
    """What to bring to the first meeting: the category's papers before any facts are known."""
    return required_materials(category, members=[], housing="", has_expenses=False)
