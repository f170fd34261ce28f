"""The bureau's org file is read by the guarded spreadsheet reader and its templates are written
by the export module."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from relief_pwa.adapters.orgfile import parse_org_file, template_xlsx
from relief_pwa.core.errors import DomainError
from tests.adapters.test_spreadsheets import _zip_with


def test_a_shared_string_bomb_is_refused_before_it_is_inflated() -> None:
    item = b"<si><t>" + b"x" * 200 + b"</t></si>"
    bomb = _zip_with("xl/sharedStrings.xml", 17 * 1024 * 1024, item * 1000)
    assert len(bomb) < 1024 * 1024
    with pytest.raises(DomainError) as caught:
        parse_org_file(bomb, "org.xlsx")
    assert caught.value.field == "file" and "shared text table is too large" in caught.value.message


def test_the_template_keeps_codes_as_text() -> None:
    sheet = load_workbook(io.BytesIO(template_xlsx())).worksheets[0]
    code = sheet.cell(row=2, column=1)
    assert code.value == "370102001001" and code.data_type == "s" and code.number_format == "@"
