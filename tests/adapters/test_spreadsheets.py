"""The guarded spreadsheet reader: zip bombs and oversized files are refused early."""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook

from relief_pwa.adapters.spreadsheets import (
    MiB,
    SheetLimits,
    SpreadsheetRefused,
    check_xlsx_container,
    read_rows,
)

_CONTENT_TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/></Types>'
)


def _zip_with(name: str, size: int, chunk: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        with archive.open(name, "w") as member:
            written = 0
            while written < size:
                member.write(chunk)
                written += len(chunk)
    return buffer.getvalue()


def test_a_shared_string_bomb_is_refused_before_openpyxl_opens_it() -> None:
    item = b"<si><t>" + b"x" * 200 + b"</t></si>"
    data = _zip_with("xl/sharedStrings.xml", 17 * MiB, item * 1000)
    assert len(data) < MiB  # small upload, huge inside
    with pytest.raises(SpreadsheetRefused) as caught:
        read_rows(data, "return.xlsx")
    assert "shared text table is too large" in caught.value.message
    assert str(caught.value) == "The XLSX file's shared text table is too large (17 MB, at most 16 MB)."


def test_a_member_that_unpacks_too_far_is_refused() -> None:
    data = _zip_with("xl/worksheets/sheet1.xml", 30 * MiB, b"\0" * 65536)
    with pytest.raises(SpreadsheetRefused, match="compressed suspiciously well"):
        check_xlsx_container(data)
    small = SheetLimits(max_uncompressed=10 * MiB, max_ratio=10**9)
    with pytest.raises(SpreadsheetRefused, match="unpacks to too much"):
        check_xlsx_container(data, small)


def test_rows_columns_cells_and_cell_size_are_bounded() -> None:
    limits = SheetLimits(max_rows=3, max_columns=4, max_cell_chars=10, max_cells=10)
    assert read_rows(b"a,b\n1,2\n", "x.csv", limits) == [(1, ["a", "b"]), (2, ["1", "2"])]
    with pytest.raises(SpreadsheetRefused, match="too many rows"):
        read_rows(b"a\n" * 4, "x.csv", limits)
    with pytest.raises(SpreadsheetRefused, match="too many columns"):
        read_rows(b"a,b,c,d,e\n", "x.csv", limits)
    with pytest.raises(SpreadsheetRefused, match="longer than 10"):
        read_rows(b"a," + b"x" * 11 + b"\n", "x.csv", limits)
    with pytest.raises(SpreadsheetRefused, match="too many cells"):
        read_rows(b"a,b,c\n" * 3 + b"", "x.csv", SheetLimits(max_cells=8))
    with pytest.raises(SpreadsheetRefused, match="too large"):
        read_rows(b"a" * 101, "x.csv", SheetLimits(max_bytes=100))
    with pytest.raises(SpreadsheetRefused, match=r"\.xls"):
        read_rows(b"\xd0\xcf\x11\xe0rest", "x.xls")


def test_a_real_workbook_reads_and_a_forged_dimension_does_not_pad_rows() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["批次号", "行号"])
    sheet.append(["B1", 12345678901234567890])
    buffer = io.BytesIO()
    workbook.save(buffer)
    rows = read_rows(buffer.getvalue(), "r.xlsx")
    assert rows[0] == (1, ["批次号", "行号"]) and rows[1][1][0] == "B1"
    # a dimension claiming 16384 columns: rows stay as wide as their data
    data = buffer.getvalue()
    forged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(forged, "w") as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                assert b'<dimension ref="A1:B2" />' in content
                content = content.replace(b'<dimension ref="A1:B2" />', b'<dimension ref="A1:XFD1048576" />')
            target.writestr(info, content)
    assert [len(cells) for _, cells in read_rows(forged.getvalue(), "r.xlsx")] == [2, 2]
