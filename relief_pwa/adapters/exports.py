"""Every CSV and XLSX file the system writes goes through here.

* **No formulas.** Text that a spreadsheet program would run as a formula
  (first character ``=``, ``+``, ``-``, ``@``, tab, CR or LF) is written with a
  leading apostrophe, the convention spreadsheets use for "this is text"
  (CSV injection / formula injection). Full-width ``＝＋－＠`` are treated the
  same, since some spreadsheet programs fold them.
* **Explicit cell types.** In XLSX, text is a string cell with the text format
  ``@`` (so 18-digit ID numbers and leading zeros survive editing), whole
  numbers are numbers, :class:`~decimal.Decimal` amounts are numbers with two
  decimals, dates are dates. No cell is ever a formula.
* **Recording** the export (who, what, how many rows) is the caller's service's
  job (``services.exports.do_record_export`` or the service's own audit event).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from relief_pwa.clock import CHINA_TZ

CSV_MEDIA = "text/csv; charset=utf-8"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
_ILLEGAL_XLSX = {chr(c) for c in range(32) if chr(c) not in "\t\n\r"}


def neutralise(text: str) -> str:
    """Text that cannot run as a formula: a leading apostrophe when it could."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _text(value: Any) -> str:
    return neutralise("" if value is None else str(value))


def _beijing(moment: datetime) -> datetime:
    """Times are stored in UTC and shown in Beijing time; a spreadsheet cell has no zone."""
    return moment.astimezone(CHINA_TZ).replace(tzinfo=None) if moment.tzinfo else moment


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _text(value)
    if isinstance(value, int | float | Decimal):
        return str(value)  # numbers are written as numbers: a minus sign is a sign here
    if isinstance(value, datetime):
        return _beijing(value).strftime("%Y-%m-%d %H:%M:%S")  # as on the pages
    if isinstance(value, date):
        return value.isoformat()
    return _text(value)


def write_csv(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = True, lineterminator: str = "\r\n"
) -> bytes:
    """A CSV file, UTF-8 (with a BOM by default, so spreadsheet programs read Chinese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=lineterminator)
    writer.writerow([_text(h) for h in header])
    for row in rows:
        writer.writerow([_csv_value(v) for v in row])
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8")


def write_csv_rows(target: IO[str], rows: Iterable[Sequence[Any]]) -> None:
    """CSV rows (the first is the header, if any) streamed to an open text file, neutralised as above."""
    writer = csv.writer(target)
    for row in rows:
        writer.writerow([_csv_value(v) for v in row])


@dataclass
class SheetSpec:
    """One worksheet: an optional bold title row, a header row, typed rows."""

    name: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    title: str = ""
    widths: Sequence[int] = ()
    freeze_header: bool = False
    totals: Sequence[Any] | None = None  # a bold last row
    decimal_format: str = "#,##0.00"
    number_formats: dict[int, str] = field(default_factory=dict)  # column (0-based) → format
    column_widths: dict[int, int] = field(default_factory=dict)  # column (0-based) → width, beside ``widths``


def _sheet_title(name: str, used: set[str]) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)[:31] or "Sheet"
    title = cleaned
    while title in used:
        title = f"{cleaned[:28]}{len(used)}"
    used.add(title)
    return title


def _cell(
    sheet: WriteOnlyWorksheet, value: Any, *, decimal_format: str, fmt: str = "", bold: bool = False
) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        text = "".join(ch for ch in neutralise(value) if ch not in _ILLEGAL_XLSX)
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"  # never "f": set after the value, which would guess a formula
        cell.number_format = "@"
    elif isinstance(value, Decimal):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "n"
        cell.number_format = fmt or decimal_format
    elif isinstance(value, int | float):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "n"
        if fmt:
            cell.number_format = fmt
    elif isinstance(value, datetime | date):
        cell = WriteOnlyCell(sheet, value=_beijing(value) if isinstance(value, datetime) else value)
        cell.number_format = fmt or ("yyyy-mm-dd hh:mm" if isinstance(value, datetime) else "yyyy-mm-dd")
    else:
        return _cell(sheet, str(value), decimal_format=decimal_format, fmt=fmt, bold=bold)
    if bold:
        cell.font = Font(bold=True)
    return cell


def write_xlsx(sheets: Sequence[SheetSpec]) -> bytes:
    """An XLSX workbook (streamed, write-only) with explicitly typed cells."""
    buffer = io.BytesIO()
    save_xlsx(buffer, sheets)
    return buffer.getvalue()


def save_xlsx(target: Path | IO[bytes], sheets: Sequence[SheetSpec]) -> None:
    """``write_xlsx`` streamed to a file or an open binary stream (large rosters)."""
    workbook = Workbook(write_only=True)
    used: set[str] = set()
    for spec in sheets:
        sheet = workbook.create_sheet(title=_sheet_title(spec.name, used))
        widths = {index: width for index, width in enumerate(spec.widths)} | spec.column_widths
        for index, width in widths.items():
            sheet.column_dimensions[_column_letter(index)].width = width
        if spec.freeze_header:
            sheet.freeze_panes = "A3" if spec.title else "A2"
        fmt = spec.decimal_format
        if spec.title:
            sheet.append([_cell(sheet, spec.title, decimal_format=fmt, bold=True)])
        if spec.header:
            sheet.append([_cell(sheet, h, decimal_format=fmt) for h in spec.header])
        for row in spec.rows:
            sheet.append(
                [
                    _cell(sheet, v, decimal_format=fmt, fmt=spec.number_formats.get(i, ""))
                    for i, v in enumerate(row)
                ]
            )
        if spec.totals is not None:
            sheet.append(
                [
                    _cell(sheet, v, decimal_format=fmt, fmt=spec.number_formats.get(i, ""), bold=True)
                    for i, v in enumerate(spec.totals)
                ]
            )
    workbook.save(target)


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index + 1))
