"""RFC 4226 / RFC 6238 test vectors, one-time use, recovery codes and login delays."""

from __future__ import annotations

import pytest

from relief_pwa.core.totp import (
    b32decode,
    b32encode,
    hotp,
    login_delay_seconds,
    otpauth_uri,
    recovery_code_hash,
    totp,
    verify_totp,
)

RFC_SECRET = b"12345678901234567890"


@pytest.mark.parametrize(
    ("counter", "code"),
    [
        (0, "755224"),
        (1, "287082"),
        (2, "359152"),
        (3, "969429"),
        (4, "338314"),
        (5, "254676"),
        (6, "287922"),
        (7, "162583"),
        (8, "399871"),
        (9, "520489"),
    ],
)
def test_hotp_rfc4226_vectors(counter, code):
    assert hotp(RFC_SECRET, counter) == code


@pytest.mark.parametrize(
    ("unix_time", "code"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_totp_rfc6238_sha1_vectors(unix_time, code):
    assert totp(RFC_SECRET, unix_time, digits=8) == code


def test_sha256_vector():
    secret = b"12345678901234567890123456789012"
    assert totp(secret, 59, digits=8, digest="sha256") == "46119246"


def test_verify_accepts_one_step_of_drift_and_each_step_once():
    now = 1_700_000_000
    code = totp(RFC_SECRET, now - 30)
    step = verify_totp(RFC_SECRET, code, now)
    assert step == now // 30 - 1
    assert verify_totp(RFC_SECRET, code, now, last_step=step) is None
    assert verify_totp(RFC_SECRET, totp(RFC_SECRET, now - 90), now) is None
    assert verify_totp(RFC_SECRET, "12345", now) is None
    assert verify_totp(RFC_SECRET, "abcdef", now) is None


def test_base32_round_trip_and_uri():
    assert b32decode(b32encode(RFC_SECRET)) == RFC_SECRET
    assert b32decode(b32encode(RFC_SECRET).lower()) == RFC_SECRET
    uri = otpauth_uri("ABC", account="center", issuer="Sunshine Relief")
    assert uri.startswith("otpauth://totp/Sunshine%20Relief%3Acenter?secret=ABC&issuer=Sunshine+Relief")
    assert "digits=6" in uri and "period=30" in uri


def test_recovery_codes_ignore_case_and_dashes():
    assert recovery_code_hash("abcd-EFGH-ijkl") == recovery_code_hash("ABCDefghIJKL")
    assert recovery_code_hash("abcd-efgh-ijkl") != recovery_code_hash("abcd-efgh-ijkm")


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0), (4, 0), (5, 2), (6, 4), (7, 8), (13, 512), (14, 900), (100, 900)],
)
def test_login_delays_double_and_stop_at_the_cap(failures, delay):
    assert login_delay_seconds(failures, free=5, base=2, cap=900) == delay
