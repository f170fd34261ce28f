"""The caseload roster is written by the one export module: a name a spreadsheet would run as a
formula comes out as text, in the XLSX the service writes and in the roster CSV writer."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from relief_pwa.adapters.roster_sheets import write_csv
from relief_pwa.core import caseload as core
from relief_pwa.core.caseload import Cell
from relief_pwa.services import caseload
from relief_pwa.tables import Member
from tests.services.caseload_support import benefit, row, xlsx

HOSTILE = '=HYPERLINK("http://x.test","XSS5")'


async def test_a_formula_name_is_exported_as_text_in_the_roster_xlsx(world) -> None:
    await benefit(world)
    city = world.actor("city")
    report = await caseload.import_caseload(city, xlsx([row(name="张三")]), filename="r.xlsx", now=world.now)
    assert report.imported == 1
    # However the name got there (an old import, a data fix), the export must not carry a formula.
    await Member.update({Member.name: HOSTILE}).where(Member.name == "张三")

    exported = io.BytesIO()
    assert await caseload.export_roster(city, exported, now=world.now) == 1
    sheet = load_workbook(io.BytesIO(exported.getvalue())).worksheets[0]
    name_column = [c.key for c in core.COLUMNS].index("name")
    cell = sheet.cell(row=2, column=name_column + 1)
    assert cell.value == "'" + HOSTILE and cell.data_type == "s"
    assert not any(c.data_type == "f" for line in sheet.iter_rows() for c in line)
    # And the roster reads back with the name as it was stored.
    assert core.cell_text(cell.value) == HOSTILE


def test_the_roster_csv_writer_neutralises_every_dangerous_start() -> None:
    buffer = io.StringIO()
    dangerous = ["=1+1", "+86", "-5", "@SUM(A1)", "\tx", "\rx", "＝1"]
    rows_out: list[list[Cell]] = [["name", "amount"]]
    rows_out.extend([text, -5] for text in dangerous)
    write_csv(buffer, rows_out)
    rows = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert [r[0] for r in rows[1:]] == ["'" + text for text in dangerous]
    assert all(r[1] == "-5" for r in rows[1:])  # a number's minus sign is a sign, not a formula
