"""The city reads the quarterly assessment on a phone, drills into a district and
prints the report: A4 pages, the menus left out."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from relief_pwa.clock import CHINA_TZ
from tests.browser.conftest import LiveServer
from tests.browser.test_role_flows import Phone

pytestmark = pytest.mark.browser

A4_POINTS = (595, 842)  # 210 × 297 mm


def test_the_city_ranks_districts_and_prints_the_assessment(live_server: LiveServer, phone: Any) -> None:
    me = Phone(phone, live_server)
    me.login("city", "/assessment")
    today = datetime.now(CHINA_TZ).date()
    me.type("#f-quarter", f"{today.year}-Q{(today.month - 1) // 3 + 1}")  # the cases seeded today
    me.submit("main form.filters button[type=submit]")
    rows = me.page.locator("main table[data-table=ranking] tbody tr:not(.empty)")
    assert rows.count() == 2  # 历下区 and 市中区
    me.tap("main table[data-table=ranking] a:text('历下区')")
    me.page.wait_for_url(re.compile(r"org=370102"))
    me.check()
    assert me.page.locator("main table[data-table=ranking] tbody tr:not(.empty)").count() == 2  # its streets
    me.tap("main a[href^='/assessment/report']")
    me.page.wait_for_url(re.compile(r"/assessment/report"))
    me.check()
    assert me.page.locator("main table[data-table=total]").count() == 1  # the figures behind the score
    me.page.emulate_media(media="print")
    assert not me.page.locator(".site-header").is_visible()
    assert not me.page.locator("main form.filters").is_visible()
    pdf = me.page.pdf(prefer_css_page_size=True)
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert boxes, "a PDF with pages"
    for width, height in boxes:
        assert (round(float(width)), round(float(height))) == A4_POINTS
