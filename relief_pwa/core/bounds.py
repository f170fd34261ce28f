"""The bounds every value from outside must fit before it reaches a query.

Row ids are the tables' serial keys: 32-bit on PostgreSQL (a SERIAL is an
int4), so a larger number in a URL or a form is a row that does not exist and
must be refused before it reaches a query (asyncpg refuses to send it). Other
integers (Telegram update ids, amounts) are checked against 64 bits. Dates typed into forms and URLs are
read strictly (``YYYY-MM-DD``) and must fall in 1900–2100, so date arithmetic
(``+ timedelta``) can never overflow and nothing absurd is stored.
"""

from __future__ import annotations

from datetime import date

from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MIN_YEAR = 1900
MAX_YEAR = 2100
MAX_PATH_TEXT = 256  # characters of one text path parameter
MAX_QUERY_VALUE = 4000  # characters of one query parameter
MAX_QUERY_STRING = 16 * 1024  # bytes of the whole query string


ROW_ID_MAX = 2**31 - 1  # the largest SERIAL value on PostgreSQL


def fits_row_id(value: int) -> bool:
    return 0 < value <= ROW_ID_MAX


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def year_ok(year: int) -> bool:
    return MIN_YEAR <= year <= MAX_YEAR


def parse_day(raw: str, field: str) -> date:
    """A date written ``YYYY-MM-DD`` (ASCII digits) between 1900 and 2100.

    Raises:
        DomainError: anything else, with ``field`` set.
    """
    text = raw.strip()
    if len(text) != 10 or not (text[:4] + text[5:7] + text[8:]).isascii():
        raise DomainError(N_("Enter a date as YYYY-MM-DD."), field=field)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise DomainError(N_("Enter a date as YYYY-MM-DD."), field=field) from None
    if not year_ok(day.year):
        raise DomainError(
            N_("Enter a date between {first} and {last}."), field=field, first=MIN_YEAR, last=MAX_YEAR
        )
    return day


def parse_day_or_none(raw: str, field: str) -> date | None:
    """:func:`parse_day`, or ``None`` for an empty value."""
    return parse_day(raw, field) if raw.strip() else None


def parse_big_id(raw: str) -> int | None:
    """A 64-bit row id (index records, audit events) typed as text, or ``None``."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= INT64_MAX else None


def parse_id(raw: str) -> int | None:
    """A row id typed as text (ASCII digits, 64-bit), or ``None``."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if fits_row_id(value) else None
