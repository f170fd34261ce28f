"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP) and login delays.

Pure: the time is passed in as seconds since the epoch, secrets as bytes or
base32 text; random secrets and recovery codes are drawn by the service layer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6


def b32encode(secret: bytes) -> str:
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def b32decode(text: str) -> bytes:
    cleaned = text.strip().replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(secret: bytes, counter: int, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 4226: the HMAC of the counter, dynamically truncated to ``digits`` digits."""
    mac = hmac.new(secret, struct.pack(">Q", counter), getattr(hashlib, digest)).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def time_step(unix_time: float, step: int = STEP_SECONDS) -> int:
    return int(unix_time // step)


def totp(secret: bytes, unix_time: float, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 6238: HOTP over the number of 30-second steps since the epoch."""
    return hotp(secret, time_step(unix_time), digits=digits, digest=digest)


def verify_totp(
    secret: bytes, code: str, unix_time: float, *, last_step: int = 0, window: int = 1
) -> int | None:
    """The time step the code belongs to (±``window`` steps of clock drift), or None.

    A step at or before ``last_step`` (the last code accepted) is refused: a code works once.
    """
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now_step = time_step(unix_time)
    for candidate in range(now_step - window, now_step + window + 1):
        if candidate > last_step and hmac.compare_digest(hotp(secret, candidate), code):
            return candidate
    return None


def otpauth_uri(secret_b32: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI authenticator apps read from a QR code."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode(
        {
            "secret": secret_b32,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        }
    )
    return f"otpauth://totp/{label}?{query}"


def normalise_recovery_code(text: str) -> str:
    """Recovery codes are shown in groups (abcd-efgh-ijkl); case and dashes do not matter."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def recovery_code_hash(code: str) -> str:
    """Recovery codes carry 60 random bits: one SHA-256 is enough to keep them out of the table."""
    return hashlib.sha256(normalise_recovery_code(code).encode()).hexdigest()


# --- progressive login delays ------------------------------------------------------


def login_delay_seconds(failures: int, *, free: int, base: int = 2, cap: int = 900) -> int:
    """How long to wait after the last failure before the next attempt is heard.

    The first ``free`` failures cost nothing; then each further failure doubles
    the wait (``base``, 2·base, 4·base … seconds), never beyond ``cap``: a
    right password always works again once the wait is over, and nobody can
    lock an account for good by failing on purpose.
    """
    if failures < free:
        return 0
    exponent = min(failures - free, 30)
    return int(min(base * 2**exponent, cap))
