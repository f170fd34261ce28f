"""What an audit event may say about a person: references and masked values only.

An audit event is kept for ever and shown to supervisors, auditors and in
exports, so it must never carry a full ID number, phone number or bank
account. :func:`redact_payload` is applied to every payload before it is
hashed and stored: values under known keys are masked with the same rules as
staff screens, and any free text that still contains something shaped like
an ID number, a mobile number or a bank account is masked where it stands.
The event keeps the row references (household, member, batch ids) needed to
find the full value for someone who is allowed to see it.
"""

from __future__ import annotations

import re
from typing import Any

from relief_pwa.core.idnumber import mask_id_number
from relief_pwa.core.masking import mask_bank_account
from relief_pwa.core.phone import mask_phone

_ID_KEYS = frozenset({"id_number", "id_no", "idnumber", "id_card", "old_id_number", "new_id_number"})
_PHONE_KEYS = frozenset({"phone", "mobile", "telephone", "contact_phone", "tel", "old_phone", "new_phone"})
_ACCOUNT_KEYS = frozenset(
    {"bank_account", "account", "account_number", "card_number", "card_no", "one_card", "old_account"}
)

# Shapes, bounded so that digits inside longer words or hashes are left alone.
_ID_SHAPE = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}\d{7}[0-9Xx](?![0-9A-Za-z])")
_MOBILE_SHAPE = re.compile(r"(?<![0-9A-Za-z])(?:\+?86[- ]?)?1[3-9]\d{9}(?![0-9A-Za-z])")
_OLD_ID_SHAPE = re.compile(  # first-generation 15-digit ID numbers (YYMMDD birth date)
    r"(?<![0-9A-Za-z])[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?![0-9A-Za-z])"
)
# Bank cards of individuals: 16-19 digits, plain or in groups of four. (12-digit
# org codes and 15-digit numbers are not accounts.)
_ACCOUNT_SHAPE = re.compile(r"(?<![0-9A-Za-z])\d{4}(?:[ -]?\d{4}){3}(?:[ -]?\d{1,3})?(?![0-9A-Za-z])")


def redact_text(text: str) -> str:
    """Mask every ID-number, mobile- and account-shaped run inside free text."""
    if not any(char.isdigit() for char in text):
        return text
    text = _ID_SHAPE.sub(lambda m: mask_id_number(m.group(0)), text)
    text = _OLD_ID_SHAPE.sub(lambda m: mask_id_number(m.group(0)), text)
    text = _MOBILE_SHAPE.sub(lambda m: mask_phone(m.group(0)[-11:]), text)
    return _ACCOUNT_SHAPE.sub(lambda m: mask_bank_account(m.group(0)), text)


def _mask_under_key(key: str, value: str) -> str:
    lowered = key.lower()
    if lowered in _ID_KEYS or lowered.endswith("id_number"):
        return mask_id_number(value) if value else value
    if lowered in _PHONE_KEYS or lowered.endswith("_phone"):
        return mask_phone(value) if value else value
    if lowered in _ACCOUNT_KEYS or lowered.endswith("bank_account"):
        return mask_bank_account(value) if value else value
    return redact_text(value)


def redact_payload(value: Any, *, _key: str = "") -> Any:
    """A copy of ``value`` (JSON-like) with every personal identifier masked."""
    if isinstance(value, str):
        return _mask_under_key(_key, value) if _key else redact_text(value)
    if isinstance(value, dict):
        return {k: redact_payload(v, _key=str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_payload(v, _key=_key) for v in value]
    return value


def contains_identifier(text: str) -> bool:
    """Whether ``text`` still holds something shaped like a full ID number or mobile number."""
    return bool(_ID_SHAPE.search(text) or _MOBILE_SHAPE.search(text))
