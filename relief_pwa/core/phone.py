"""Phone numbers: mainland mobiles and Jinan landlines.

Normalised forms:
- mobile: 11 digits, ``13912345678``;
- landline: ``0531-88881234`` (8-digit local number) or ``0634-6123456``
  (former Laiwu area code, 7 or 8 digits).
"""

from __future__ import annotations

import re
import unicodedata

from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_

_MOBILE = re.compile(r"1[3-9]\d{9}")
# Local numbers never start with 0 (trunk prefix) or 1 (special services).
_LANDLINE_AREAS: dict[str, re.Pattern[str]] = {
    "0531": re.compile(r"[2-9]\d{7}"),
    "0634": re.compile(r"[2-9]\d{6,7}"),
}
# Widely used as a fake number in examples and forms.
PLACEHOLDER_MOBILES: frozenset[str] = frozenset({"13800138000"})

# Separators people type between digit groups.
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―()]")

MSG_REQUIRED = N_("Enter a phone number.")
MSG_INVALID = N_("Enter an 11-digit mobile number, or a landline with its area code (0531-xxxxxxxx).")
MSG_PLACEHOLDER = N_("{phone} is a sample number; enter a real phone number.")
MSG_NEEDS_AREA_CODE = N_("Add the area code to the landline number (0531-xxxxxxxx).")

_FIELD = "phone"


def normalise_phone(raw: str) -> str:
    """Validate a phone number and return it in canonical form.

    Spaces, dashes, brackets and a ``+86``/``0086``/``86`` country prefix are
    removed.

    Args:
        raw: The number as typed.

    Returns:
        ``13912345678`` for a mobile, ``0531-88881234`` for a landline.

    Raises:
        DomainError: With ``field="phone"`` when the number is empty, not a
            mainland mobile or Jinan landline, a bare local number without
            area code, or the well-known placeholder 13800138000.
    """
    folded = unicodedata.normalize("NFKC", raw).strip()
    if not folded:
        raise DomainError(MSG_REQUIRED, field=_FIELD)
    international = folded.startswith("+")
    digits = _SEPARATORS.sub("", folded.removeprefix("+"))
    if not (digits.isascii() and digits.isdigit()):
        raise DomainError(MSG_INVALID, field=_FIELD)

    digits, had_country_code = _strip_country_code(digits, international)

    if _MOBILE.fullmatch(digits):
        if digits in PLACEHOLDER_MOBILES:
            raise DomainError(MSG_PLACEHOLDER, field=_FIELD, phone=digits)
        return digits

    # After a country code the trunk "0" of the area code is dropped (+86 531 ...).
    if had_country_code and not digits.startswith("0"):
        digits = "0" + digits
    for area, local_pattern in _LANDLINE_AREAS.items():
        if digits.startswith(area) and local_pattern.fullmatch(digits[len(area) :]):
            return f"{area}-{digits[len(area) :]}"

    if not had_country_code and len(digits) in (7, 8) and digits[0] not in "01":
        raise DomainError(MSG_NEEDS_AREA_CODE, field=_FIELD)
    raise DomainError(MSG_INVALID, field=_FIELD)


def mask_phone(phone: str) -> str:
    """Mask a phone number for display: keep the first 3 and last 4 digits.

    Args:
        phone: A normalised number (see :func:`normalise_phone`); other input
            is masked conservatively rather than rejected.

    Returns:
        ``138****5678`` for mobiles, ``0531-****1234`` for landlines.
    """
    text = phone.strip()
    if _MOBILE.fullmatch(text):
        return f"{text[:3]}****{text[-4:]}"
    area, dash, local = text.rpartition("-")
    if dash and area and len(local) > 4:
        return f"{area}-{'*' * (len(local) - 4)}{local[-4:]}"
    if len(text) > 4:
        return "*" * (len(text) - 4) + text[-4:]
    return "*" * len(text)


def _strip_country_code(digits: str, international: bool) -> tuple[str, bool]:
    """Remove China's country code; foreign numbers are rejected.

    A bare ``86`` only counts as the country code when what follows is a
    mobile or a Jinan area code without its trunk 0 (86 + 11 or 10-11 digits).
    """
    if digits.startswith("0086"):
        return digits[4:], True
    if international:
        if not digits.startswith("86"):
            raise DomainError(MSG_INVALID, field=_FIELD)
        return digits[2:], True
    rest = digits[2:]
    if digits.startswith("86") and (
        _MOBILE.fullmatch(rest) or (len(rest) in (10, 11) and rest.startswith(("531", "634")))
    ):
        return rest, True
    return digits, False
