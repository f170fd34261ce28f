"""Applicants' own words keep their Chinese punctuation."""

from __future__ import annotations

from relief_pwa.core.preapplication import clean_description


def test_chinese_punctuation_is_kept_and_full_width_digits_fold():
    text = clean_description("家中老人住院，花费较大（约３万元）：请帮助。")
    assert text == "家中老人住院，花费较大（约3万元）：请帮助。"
