"""The ranking on a phone and on a desktop: one table, read as cards on the phone."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.browser.conftest import LiveServer
from tests.browser.test_role_flows import Phone

pytestmark = pytest.mark.browser


def test_the_ranking_reads_as_cards_on_a_phone_and_as_a_table_on_a_desktop(
    live_server: LiveServer, phone: Any
) -> None:
    me = Phone(phone, live_server)
    me.login("center", "/ranking")
    rows = me.page.locator("main table.rank-table tbody tr")
    assert rows.count() >= 1
    first = rows.first
    assert first.evaluate("tr => getComputedStyle(tr).display") == "block"  # a card
    # The column heads are for screen readers only (clipped to a pixel).
    head_height = "h => h.getBoundingClientRect().height"
    assert me.page.locator("main table.rank-table thead").evaluate(head_height) <= 1
    # The card's first line: rank, name and index side by side, not one cell under another.
    rank_box = first.locator("td.r-rank").bounding_box()
    index_box = first.locator("td.r-index").bounding_box()
    file_box = first.locator("td.r-file").bounding_box()
    assert rank_box is not None and index_box is not None and file_box is not None
    assert abs(rank_box["y"] - index_box["y"]) < 4  # the same line
    assert file_box["y"] > rank_box["y"] + 10  # community and file number on the next
    assert first.locator("td.r-rank").inner_text().strip().isdigit()
    assert first.locator("td.r-head a").is_visible()
    if shots := os.environ.get("RELIEF_SCREENSHOTS"):
        me.page.screenshot(path=f"{shots}/ranking-phone.png", full_page=True)

    me.page.set_viewport_size({"width": 1280, "height": 900})
    me.visit("/ranking")
    assert me.page.locator("main table.rank-table thead").evaluate(head_height) > 20
    assert first.evaluate("tr => getComputedStyle(tr).display") == "table-row"
    if shots:
        me.page.screenshot(path=f"{shots}/ranking-desktop.png", full_page=True)
