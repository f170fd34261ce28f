"""Money as integer fen (分): parsing what people type and formatting for display.

Amounts never pass through ``float``. Input is text in yuan (元) as staff type
it or as a bank file carries it; output is integer fen.
"""

from __future__ import annotations

import re
from decimal import Decimal

from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_

FEN_PER_YUAN = 100
#: Anything above 1,000,000,000 yuan is a typing accident, not relief.
MAX_FEN = 10**11

# Either plain digits or correctly grouped thousands, then at most two decimals.
# More decimals are matched separately so the error can say what is wrong.
_AMOUNT = re.compile(r"(?P<whole>\d+|\d{1,3}(?:,\d{3})+)(?:\.(?P<frac>\d+))?", re.ASCII)
_NEGATIVE_SIGNS = ("-", "\u2212")  # ASCII hyphen-minus and the real minus sign
#: Longer input is not an amount (and ``int()`` of thousands of digits is refused by Python).
MAX_AMOUNT_CHARS = 32
# Only the full-width forms Chinese input methods type are folded, one for one:
# digits, comma, full stop, plus/minus and the yen sign. Other "digits" that
# NFKC would fold (superscripts ², circled ①, other scripts) are refused.
_FULL_WIDTH = {chr(0xFF10 + i): str(i) for i in range(10)} | {
    "\uff0c": ",",
    "\uff0e": ".",
    "\uff0b": "+",
    "\uff0d": "-",
    "\uffe5": "¥",
    "\u3000": " ",
}
_FOLD = str.maketrans(_FULL_WIDTH)
_CURRENCY_PREFIXES = ("¥", "CNY", "RMB")
_CURRENCY_SUFFIXES = ("元",)


def parse_yuan(text: str, *, field: str) -> int:
    """Parse an amount in yuan into integer fen; only unambiguous forms.

    Accepted: ``"12"``, ``"12.5"``, ``"12.50"``, correctly grouped thousands
    ``"1,234.56"`` (in China the comma is never a decimal separator, and
    ``"12,34"`` is refused), an optional ``¥``/``￥``/``CNY``/``RMB`` prefix or
    ``元`` suffix, surrounding spaces. Full-width digits, comma and full stop
    typed with a Chinese input method (``"１２．５"``) are folded explicitly,
    character for character.

    Refused: empty, a sign (``-5``, and ``+5``: a sign has no place in an
    amount, and a leading ``+`` is a formula in a spreadsheet), spaces inside
    the number (``"1 000"``), more than two decimals, exponents, digits of
    other scripts or superscripts, more than 32 characters, more than
    ``MAX_FEN``.

    Args:
        text: The amount as typed or read from a file.
        field: The form or file field, reported on the error.

    Returns:
        The amount in fen.

    Raises:
        DomainError: as above, with ``field`` set.
    """
    if len(text) > MAX_AMOUNT_CHARS:
        raise DomainError(N_("Enter an amount in yuan, for example 1,234.56."), field=field, value=text[:40])
    cleaned = text.translate(_FOLD).strip()
    if not cleaned:
        raise DomainError(N_("Enter an amount."), field=field)
    for prefix in _CURRENCY_PREFIXES:
        if cleaned.upper().startswith(prefix):
            cleaned = cleaned[len(prefix) :].lstrip()
            break
    for suffix in _CURRENCY_SUFFIXES:
        cleaned = cleaned.removesuffix(suffix).rstrip()
    if cleaned.startswith(_NEGATIVE_SIGNS):
        raise DomainError(N_("The amount cannot be negative."), field=field, value=text)
    match = _AMOUNT.fullmatch(cleaned)
    if match is None:
        raise DomainError(N_("Enter an amount in yuan, for example 1,234.56."), field=field, value=text)
    fraction = match.group("frac") or ""
    if len(fraction) > 2:
        raise DomainError(N_("An amount has at most two decimal places (fen)."), field=field, value=text)
    whole = match.group("whole").replace(",", "")
    fen = int(whole) * FEN_PER_YUAN + int(fraction.ljust(2, "0"))
    if fen > MAX_FEN:
        raise DomainError(N_("The amount {value} is too large."), field=field, value=text)
    return fen


def format_yuan(fen: int) -> str:
    """Format fen as yuan with thousands separators, e.g. ``123456`` → ``"1,234.56"``.

    Args:
        fen: Amount in fen; negative amounts (differences) keep their sign.

    Returns:
        The display string, always with two decimals.
    """
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole:,}.{cents:02d}"


def fen_to_decimal_str(fen: int) -> str:
    """Format fen as a plain decimal string for files, e.g. ``123456`` → ``"1234.56"``.

    Args:
        fen: Amount in fen.

    Returns:
        The amount in yuan without grouping, always with two decimals.
    """
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{cents:02d}"


def fen_to_decimal(fen: int) -> Decimal:
    """Exact yuan amount as a two-place ``Decimal`` (for spreadsheets).

    Args:
        fen: Amount in fen.

    Returns:
        ``Decimal`` yuan with exponent -2.
    """
    return Decimal(fen).scaleb(-2)
