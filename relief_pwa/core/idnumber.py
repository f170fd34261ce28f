"""Citizen ID numbers (居民身份证号, GB 11643-1999).

Structure of the 18 characters: 6-digit address code (GB/T 2260 county of
hukou at issuance), 8-digit birth date YYYYMMDD, 3-digit sequence (odd = male)
and an ISO 7064 MOD 11-2 check character (0-9 or X).

The address code is fixed when the number is issued, so validation accepts
any area code inside a real province, including codes that no longer exist
(Jinan's former counties and the former Laiwu city among them).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from relief_pwa.core.enums import Sex
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_

ID_LENGTH = 18
MAX_AGE_YEARS = 130

# ISO 7064 MOD 11-2: weight of position i (0-based) is 2**(17 - i) mod 11.
_WEIGHTS: tuple[int, ...] = tuple(pow(2, 17 - i, 11) for i in range(17))
# Remainder r = sum mod 11 maps to the check character _CHECK_CHARS[r].
_CHECK_CHARS = "10X98765432"

# Province-level prefixes of GB/T 2260 (incl. Taiwan, Hong Kong, Macao).
PROVINCE_CODES: frozenset[str] = frozenset(
    [str(n) for n in range(11, 16)]
    + [str(n) for n in range(21, 24)]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
    + ["71", "81", "82"]
)

JINAN_AREA_CODES: Mapping[str, str] = MappingProxyType(
    {
        # Current GB/T 2260 codes.
        "370100": "济南市",
        "370101": "济南市市辖区",
        "370102": "历下区",
        "370103": "市中区",
        "370104": "槐荫区",
        "370105": "天桥区",
        "370112": "历城区",
        "370113": "长清区",
        "370114": "章丘区",
        "370115": "济阳区",
        "370116": "莱芜区",
        "370117": "钢城区",
        "370124": "平阴县",
        "370126": "商河县",
        # Historic codes still printed on valid ID cards.
        "370121": "历城县",
        "370122": "章丘县",
        "370123": "长清县",
        "370125": "济阳县",
        "370181": "章丘市",
        "371200": "莱芜市",
        "371202": "莱城区",
        "371203": "钢城区",
    }
)

MSG_REQUIRED = N_("Enter the 18-character citizen ID number.")
MSG_OLD_FORMAT = N_("Old 15-digit ID numbers are not accepted; enter the 18-character number.")
MSG_BAD_FORMAT = N_("The ID number must have 18 characters: 17 digits and a final digit or X.")
MSG_BAD_CHECKSUM = N_("The ID number's check character is wrong; please re-check the number.")
MSG_BAD_PROVINCE = N_("The ID number's region code {area_code} is not in a known province.")
MSG_BAD_BIRTH_DATE = N_("The ID number contains an impossible birth date ({digits}).")
MSG_FUTURE_BIRTH = N_("The birth date in the ID number ({birth_date}) is in the future.")
MSG_TOO_OLD = N_("The birth date in the ID number ({birth_date}) is more than {max_age} years ago.")
MSG_BIRTH_MISMATCH = N_("The birth date does not match the ID number ({birth_date}).")
MSG_SEX_MISMATCH = N_("The sex does not match the ID number.")

_FIELD = "id_number"


@dataclass(frozen=True)
class IdNumber:
    """A validated 18-character citizen ID number and what it encodes."""

    number: str
    area_code: str
    birth_date: date
    sex: Sex

    @property
    def sequence(self) -> int:
        """The 3-digit sequence code (odd for men, even for women)."""
        return int(self.number[14:17])

    def age_on(self, as_of: date) -> int:
        """Full years of age on ``as_of``.

        Args:
            as_of: The reference date (never read from the clock in core).

        Returns:
            Completed years between the birth date and ``as_of``.
        """
        return _full_years(self.birth_date, as_of)


def check_digit(body17: str) -> str:
    """Compute the ISO 7064 MOD 11-2 check character for a 17-digit body.

    Args:
        body17: The first 17 digits of an ID number.

    Returns:
        The check character, ``"0"``-``"9"`` or ``"X"``.

    Raises:
        ValueError: If ``body17`` is not exactly 17 ASCII digits.
    """
    if len(body17) != 17 or not _is_ascii_digits(body17):
        raise ValueError(f"expected 17 digits, got {body17!r}")
    total = sum(int(digit) * weight for digit, weight in zip(body17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def make_id_number(area_code: str, birth_date: date, sequence: int) -> str:
    """Build a valid 18-character ID number (for synthetic demo data and tests).

    Args:
        area_code: 6-digit GB/T 2260 code.
        birth_date: Birth date to encode.
        sequence: Sequence code 0-999; odd for a man, even for a woman.

    Returns:
        The number with its correct check character.

    Raises:
        ValueError: If the area code or sequence is out of range.
    """
    if len(area_code) != 6 or not _is_ascii_digits(area_code):
        raise ValueError(f"area code must be 6 digits, got {area_code!r}")
    if not 0 <= sequence <= 999:
        raise ValueError(f"sequence must be 0-999, got {sequence}")
    body = f"{area_code}{birth_date:%Y%m%d}{sequence:03d}"
    return body + check_digit(body)


def parse_id_number(raw: str, as_of: date) -> IdNumber:
    """Validate and decode a citizen ID number.

    Spaces are removed, full-width characters folded and a lower-case ``x``
    accepted.

    Args:
        raw: The number as typed.
        as_of: Today's date, passed in by the caller; birth dates after it, or
            more than 130 years before it, are rejected.

    Returns:
        The normalised, decoded number.

    Raises:
        DomainError: With ``field="id_number"`` when the number is malformed,
            its check character is wrong, its province is unknown or its
            birth date is impossible, in the future or too old.
    """
    number = _normalise(raw)
    if not number:
        raise DomainError(MSG_REQUIRED, field=_FIELD)
    if len(number) == 15 and _is_ascii_digits(number):
        raise DomainError(MSG_OLD_FORMAT, field=_FIELD)
    if (
        len(number) != ID_LENGTH
        or not _is_ascii_digits(number[:17])
        or not (_is_ascii_digits(number[17]) or number[17] == "X")
    ):
        raise DomainError(MSG_BAD_FORMAT, field=_FIELD)
    if check_digit(number[:17]) != number[17]:
        raise DomainError(MSG_BAD_CHECKSUM, field=_FIELD)

    area_code = number[:6]
    if area_code[:2] not in PROVINCE_CODES:
        raise DomainError(MSG_BAD_PROVINCE, field=_FIELD, area_code=area_code)

    birth_digits = number[6:14]
    try:
        birth_date = date(int(birth_digits[:4]), int(birth_digits[4:6]), int(birth_digits[6:]))
    except ValueError:
        raise DomainError(MSG_BAD_BIRTH_DATE, field=_FIELD, digits=birth_digits) from None
    if birth_date > as_of:
        raise DomainError(MSG_FUTURE_BIRTH, field=_FIELD, birth_date=birth_date.isoformat())
    if _full_years(birth_date, as_of) > MAX_AGE_YEARS:
        raise DomainError(MSG_TOO_OLD, field=_FIELD, birth_date=birth_date.isoformat(), max_age=MAX_AGE_YEARS)

    sex = Sex.MALE if int(number[14:17]) % 2 == 1 else Sex.FEMALE
    return IdNumber(number=number, area_code=area_code, birth_date=birth_date, sex=sex)


def check_id_matches(
    id: IdNumber,  # name fixed by the shared interface
    birth_date: date | None,
    sex: Sex | None,
) -> list[DomainError]:
    """Compare separately entered birth date and sex with the ID number.

    Args:
        id: A parsed ID number.
        birth_date: The birth date entered on the form, if any.
        sex: The sex entered on the form, if any.

    Returns:
        One error per mismatching field (``"birth_date"``, ``"sex"``); empty
        when everything agrees or nothing was entered.
    """
    errors: list[DomainError] = []
    if birth_date is not None and birth_date != id.birth_date:
        errors.append(
            DomainError(MSG_BIRTH_MISMATCH, field="birth_date", birth_date=id.birth_date.isoformat())
        )
    if sex is not None and sex != id.sex:
        errors.append(DomainError(MSG_SEX_MISMATCH, field="sex"))
    return errors


def is_jinan_area(code: str) -> bool:
    """Tell whether an address code belongs to Jinan (current or historic).

    Args:
        code: A 6-digit GB/T 2260 code, e.g. ``IdNumber.area_code``.

    Returns:
        True for any 3701xx code and for Jinan's historic codes (former
        counties, former Laiwu city).
    """
    if len(code) != 6 or not _is_ascii_digits(code):
        return False
    return code in JINAN_AREA_CODES or code.startswith("3701")


def mask_id_number(number: str) -> str:
    """Mask an ID number for staff screens: region code and last 4 stay.

    Hiding the middle hides the birth date (``370102********1234``).

    Args:
        number: The ID number (normalised or as typed).

    Returns:
        The masked number, same length; short or odd inputs are masked
        entirely except at most their last 4 characters.
    """
    cleaned = _normalise(number)
    if len(cleaned) >= 11:
        return cleaned[:6] + "*" * (len(cleaned) - 10) + cleaned[-4:]
    if len(cleaned) > 4:
        return "*" * (len(cleaned) - 4) + cleaned[-4:]
    return "*" * len(cleaned)


def _normalise(raw: str) -> str:
    # NFKC folds full-width digits and Ｘ typed with Chinese input methods.
    folded = unicodedata.normalize("NFKC", raw)
    return "".join(folded.split()).upper()


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit() accepts other scripts' digits and superscripts.
    return text.isascii() and text.isdigit()


def _full_years(born: date, on: date) -> int:
    years = on.year - born.year
    if (on.month, on.day) < (born.month, born.day):
        years -= 1
    return years
