"""Every SMS text fits in two segments (70 Chinese characters each; 67 once
split) with the sender's signature, even with long realistic values, and keeps
what the applicant needs: the application number and how to stop."""

from __future__ import annotations

from datetime import date

import pytest

from relief_pwa.bot import texts
from relief_pwa.core import sms as rules
from relief_pwa.core.applicant_status import next_step
from relief_pwa.core.enums import AppState
from relief_pwa.services import sms as sms_service

NUMBER = "SQ370102001-2026-12345"
LONG_VALUES: dict[str, object] = {
    "number": NUMBER,
    "staff": "欧阳娜娜·买买提艾力（解放路街道社会救助服务站）",
    "date": "2026-12-08",
    "window": "上午09:00-11:30",
    "phone": "0531-88881234",
    "reason": (
        "经入户调查和信息核对，家庭成员张某名下登记有小型轿车一辆（购置价格超过当地规定标准），"
        "另有银行存款及理财产品合计超过家庭月保障标准的24倍，且共同生活的儿子有稳定工资性收入，"
        "家庭人均收入高于当地城市低保标准，根据《山东省最低生活保障办法》相关规定不予纳入。"
    ),
    "days": 7,
    "start": "2026-12-08",
    "end": "2026-12-14",
    "amount": texts.money(12_345_67),
    "period": "2026-12",
    "exit_reason": "拒不配合核查",
    "state": "",
    "next": "",
}
NOTICES = [
    name
    for name in dir(sms_service)
    if name.startswith("SMS_") and name not in {"SMS_LANGUAGE", "SMS_STATUS", "SMS_OPTED_OUT", "SMS_OPTED_IN"}
]


@pytest.fixture(autouse=True)
def signature(sms_settings) -> None:
    """The stub settings name the sender 阳光救助, counted in every segment."""


def test_there_is_a_wording_for_every_notice() -> None:
    assert len(NOTICES) >= 9, NOTICES


@pytest.mark.parametrize("name", NOTICES)
def test_each_notice_fits_two_segments_with_long_values(name: str) -> None:
    message = getattr(sms_service, name)
    with texts.in_language("zh_Hans"):
        step = next_step(AppState.INVESTIGATING, received_on=_day(), state_changed_on=_day())
        following = texts.t(step.next_step, due=texts.day(_day()))
    values = {**LONG_VALUES, "next": following * 3}
    shrink = next((key for key in ("reason", "next", "staff") if "{" + key + "}" in message), "")
    text = sms_service.fit(message, values, shrink=shrink)
    assert rules.segments(text, "阳光救助") <= rules.MAX_SEGMENTS, (len(text), text)
    assert NUMBER in text
    assert text.endswith("回TD退订")
    assert not any(ch.isascii() and ch.isalpha() for ch in text.replace(NUMBER, "").replace("TD", "")), text


def test_short_values_are_not_cut() -> None:
    text = sms_service.fit(
        sms_service.SMS_REJECTED,
        {"number": NUMBER, "reason": "收入高于标准", "phone": "0531-88881234"},
        shrink="reason",
    )
    assert "收入高于标准" in text and rules.ELLIPSIS not in text


def test_confirmations_fit_one_segment() -> None:
    for message in (sms_service.SMS_OPTED_OUT, sms_service.SMS_OPTED_IN):
        assert rules.segments(sms_service.fit(message, {}, hint=False), "阳光救助") == 1


def test_a_notice_without_sms_wording_falls_back_to_its_chat_text_cut_to_fit() -> None:
    def render(reason: str) -> str:
        return texts.t(texts.NOTICE_REJECTED, number=NUMBER, reason=reason, phone="0531-88881234")

    text = sms_service.fallback_text(render, str(LONG_VALUES["reason"]))
    assert rules.segments(text, "阳光救助") <= rules.MAX_SEGMENTS
    assert text.startswith("申请") and NUMBER in text and text.endswith("回TD退订")


def _day() -> date:
    return date(2026, 12, 1)
