"""The HTTP adapter's mapping of gateway answers, the inbound signature, and the
length rules every SMS text is held to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from relief_pwa.adapters.sms import (
    SmsRefused,
    SmsRetryAfter,
    SmsTemporaryError,
    inbound_signature,
    parse_inbound,
    verify_inbound,
)
from relief_pwa.core import sms as rules


async def test_answers_map_to_outcomes(gateway_stub, gateway) -> None:
    await gateway.send(1, "13912345678", "你好")
    assert [d.text for d in gateway_stub.delivered] == ["你好"]
    assert gateway_stub.attempts[0]["message_id"] == "relief-outbox-1"
    assert gateway_stub.attempts[0]["sender"] == "阳光救助"

    gateway_stub.fail_next("429", retry_after=7)
    with pytest.raises(SmsRetryAfter) as limited:
        await gateway.send(2, "13912345678", "x")
    assert limited.value.seconds == 7

    for kind in ("500", "503", "drop", "timeout"):
        gateway_stub.fail_next(kind)
        with pytest.raises(SmsTemporaryError):
            await gateway.send(3, "13912345678", "x")

    gateway_stub.fail_next("400")
    with pytest.raises(SmsRefused):
        await gateway.send(4, "13912345678", "x")

    # The same outbox id again (a retry after a lost answer): accepted, delivered once.
    await gateway.send(1, "13912345678", "你好")
    assert len(gateway_stub.delivered) == 1


async def test_wrong_key_is_a_permanent_refusal(gateway_stub, gateway) -> None:
    gateway.key = "wrong"
    with pytest.raises(SmsRefused):
        await gateway.send(5, "13912345678", "x")
    assert gateway_stub.delivered == []


def test_inbound_signature_and_freshness() -> None:
    now = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
    body = '{"id": "in-1", "from": "13912345678", "text": "查询"}'.encode()
    stamp = str(int(now.timestamp()))
    good = inbound_signature("s3cret", stamp, body)
    assert verify_inbound("s3cret", stamp, good, body, now)
    assert not verify_inbound("s3cret", stamp, good, body + b" ", now)
    assert not verify_inbound("other", stamp, good, body, now)
    assert not verify_inbound("", stamp, good, body, now)  # no secret set: refuse everything
    old = str(int(now.timestamp()) - 3600)
    assert not verify_inbound("s3cret", old, inbound_signature("s3cret", old, body), body, now)
    assert parse_inbound(body) is not None
    assert parse_inbound(b'{"id": 1, "from": "x", "text": "y"}') is None
    assert parse_inbound(b"not json") is None


def test_segments_and_keywords() -> None:
    assert rules.segments("字" * 64, "阳光救助") == 1  # 6 + 64 = 70
    assert rules.segments("字" * 65, "阳光救助") == 2
    assert rules.segments("字" * 128, "阳光救助") == 2  # 134 = 2 × 67
    assert rules.segments("字" * 129, "阳光救助") == 3
    assert rules.budget("阳光救助") == 128
    assert rules.parse_keyword(" 退订 ") == rules.KEYWORD_OPT_OUT
    assert rules.parse_keyword("td") == rules.KEYWORD_OPT_OUT
    assert rules.parse_keyword("ＴＤ") == rules.KEYWORD_OPT_OUT  # full-width letters from a Chinese keyboard
    assert rules.parse_keyword("订阅") == rules.KEYWORD_OPT_IN
    assert rules.parse_keyword("查询。") == rules.KEYWORD_STATUS
    assert rules.parse_keyword("你好，请问什么时候发钱") is None
    assert rules.is_mobile("13912345678") and not rules.is_mobile("053188881234")
    lane = rules.lane_of("ab" * 16)
    assert rules.is_sms_lane(lane) and not rules.is_sms_lane(lane - rules.SMS_LANE_BASE)
