"""Sealing and finding identifiers: ID numbers, phone numbers, one-card accounts.

Every write of an identifier goes through ``sealed(kind, value)`` (the sealed
text and its blind index); every exact search through ``index_of(kind,
value)``; every read that needs the value through ``opened(kind, token)``.
Pages show identifiers masked (``masked``); revealing one in full is a logged
read with a purpose (``services/access_log``).
"""

from __future__ import annotations

from typing import Any

from relief_pwa.adapters import crypto
from relief_pwa.core.idnumber import mask_id_number
from relief_pwa.core.masking import mask_bank_account
from relief_pwa.settings import get_settings

ID_NUMBER = "id_number"
PHONE = "phone"
ACCOUNT = "account"
KINDS = (ID_NUMBER, PHONE, ACCOUNT)
# Staff second-factor secrets are sealed the same way (no blind index: never searched).
TOTP = "totp"


def ring() -> crypto.KeyRing:
    settings = get_settings()
    return crypto.key_ring(settings.data_keys, settings.blind_index_key)


def normalise(kind: str, value: str) -> str:
    """The form that is sealed and indexed: upper-case ID numbers, digits only for phones and accounts."""
    text = value.strip()
    if kind in (ID_NUMBER, TOTP):
        return text.upper()
    return "".join(ch for ch in text if ch.isdigit()) if text else ""


def sealed(kind: str, value: str) -> tuple[str, str]:
    """(sealed text, blind index) of one identifier; ("", "") for a blank one."""
    clean = normalise(kind, value)
    keys = ring()
    return crypto.seal(keys, kind, clean), crypto.blind_index(keys, kind, clean)


def index_of(kind: str, value: str) -> str:
    return crypto.blind_index(ring(), kind, normalise(kind, value))


def opened(kind: str, token: str) -> str:
    return crypto.unseal(ring(), kind, token)


def sealed_totp(secret_b32: str) -> str:
    """A staff TOTP secret (base32) as stored ("" stays "": not enrolled)."""
    return crypto.seal(ring(), TOTP, normalise(TOTP, secret_b32))


def opened_totp(token: str) -> str:
    return crypto.unseal(ring(), TOTP, token)


def masked(kind: str, token: str) -> str:
    """What a page shows by default."""
    value = opened(kind, token)
    if not value:
        return ""
    if kind == ID_NUMBER:
        return mask_id_number(value)
    if kind == ACCOUNT:
        return mask_bank_account(value)
    return f"{value[:3]}****{value[-4:]}" if len(value) >= 8 else "****"


def identifier_columns(*, head_id: str, phone: str, account: str) -> dict[str, Any]:
    """The household row's sealed identifier columns, by column name."""
    head_sealed, head_index = sealed(ID_NUMBER, head_id)
    phone_sealed, phone_index = sealed(PHONE, phone)
    account_sealed, account_index = sealed(ACCOUNT, account)
    return {
        "head_id_sealed": head_sealed,
        "head_id_index": head_index,
        "phone_sealed": phone_sealed,
        "phone_index": phone_index,
        "account_sealed": account_sealed,
        "account_index": account_index,
    }


def member_identifier_columns(*, id_number: str, phone: str) -> dict[str, Any]:
    """A member row's sealed identifier columns, by column name."""
    id_sealed, id_index = sealed(ID_NUMBER, id_number)
    phone_sealed, phone_index = sealed(PHONE, phone)
    return {
        "id_sealed": id_sealed,
        "id_index": id_index,
        "phone_sealed": phone_sealed,
        "phone_index": phone_index,
    }
