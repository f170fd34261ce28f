"""Identifiers at rest: authenticated encryption plus a keyed blind index (docs/identifiers.md).

ID numbers, phone numbers and one-card accounts are stored sealed
(AES-256-GCM, a random 96-bit nonce per value, the field's kind as associated
data so a value cannot be moved to another kind of field) and beside them a
blind index: HMAC-SHA256 of the normalised value under a separate key, so an
exact search or a duplicate check is one indexed equality, and the database
alone reveals neither the value nor which households share it without the key.

Keys come from settings (environment or key files), never from the database.
A sealed value names the key that sealed it (``s1.<key id>.<base64>``), so
keys can be rotated: new values are sealed under the current key, old ones
stay readable until ``relief-pwa keys rotate`` re-seals them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "s1"
NONCE_BYTES = 12


class KeyError_(Exception):  # noqa: N801 - "KeyError" is a builtin
    """A key ring that cannot be used, or a value sealed under a key we do not hold."""


@dataclass(frozen=True)
class KeyRing:
    """Data keys by id (the first is current) and the blind-index key."""

    data_keys: tuple[tuple[str, bytes], ...]
    index_key: bytes

    @property
    def current_id(self) -> str:
        return self.data_keys[0][0]

    def key(self, key_id: str) -> bytes:
        for kid, key in self.data_keys:
            if kid == key_id:
                return key
        raise KeyError_(f"no data key {key_id!r} in the key ring")


def parse_data_keys(text: str) -> tuple[tuple[str, bytes], ...]:
    """``"k2:<base64 32 bytes>,k1:<...>"`` → ((id, key), ...); the first is current."""
    keys: list[tuple[str, bytes]] = []
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        kid, _, encoded = part.partition(":")
        if not kid.isalnum() or len(kid) > 16:
            raise KeyError_("a data key id must be 1-16 letters or digits")
        try:
            key = base64.urlsafe_b64decode(encoded.strip() + "=" * (-len(encoded.strip()) % 4))
        except ValueError as exc:
            raise KeyError_(f"data key {kid!r} is not base64") from exc
        if len(key) != 32:
            raise KeyError_(f"data key {kid!r} must be 32 bytes")
        if any(kid == seen for seen, _ in keys):
            raise KeyError_(f"data key {kid!r} is listed twice")
        keys.append((kid, key))
    if not keys:
        raise KeyError_("no data key")
    return tuple(keys)


def new_data_key_line(key_id: str) -> str:
    return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode('ascii')}"


def new_index_key() -> str:
    return secrets.token_hex(32)


@lru_cache(maxsize=8)
def key_ring(data_keys: str, index_key: str) -> KeyRing:
    if len(index_key) < 32:
        raise KeyError_("the blind-index key must be at least 32 characters")
    return KeyRing(parse_data_keys(data_keys), index_key.encode("utf-8"))


def seal(ring: KeyRing, kind: str, value: str) -> str:
    """The sealed form of ``value`` (empty stays empty: nothing to protect)."""
    if not value:
        return ""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(ring.key(ring.current_id)).encrypt(nonce, value.encode("utf-8"), kind.encode("ascii"))
    return f"{PREFIX}.{ring.current_id}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def unseal(ring: KeyRing, kind: str, token: str) -> str:
    if not token:
        return ""
    prefix, kid, encoded = [*token.split(".", 2), "", ""][:3]
    if prefix != PREFIX or not kid or not encoded:
        raise KeyError_("not a sealed value")
    raw = base64.urlsafe_b64decode(encoded)
    try:
        plain = AESGCM(ring.key(kid)).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], kind.encode("ascii"))
    except InvalidTag as exc:
        raise KeyError_("a sealed value failed its authenticity check") from exc
    return plain.decode("utf-8")


def sealed_key_id(token: str) -> str:
    """Which key sealed a value ("" for an empty value)."""
    return token.split(".", 2)[1] if token.count(".") >= 2 else ""


def blind_index(ring: KeyRing, kind: str, value: str) -> str:
    """A keyed digest of the normalised value for exact search ("" for an empty value)."""
    if not value:
        return ""
    message = f"{kind}:{value}".encode()
    return hmac.new(ring.index_key, message, hashlib.sha256).hexdigest()[:32]
