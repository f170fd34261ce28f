from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from openpyxl import Workbook, load_workbook

from relief_pwa.adapters.bankfiles import (
    EXPORT_HEADER,
    BankFileRejected,
    PaymentLine,
    ReturnStatus,
    expected_amounts,
    export_csv,
    export_xlsx,
    parse_return_file,
)

BATCH = "B000123"


def payment(n: int, amount_fen: int = 132000, **overrides: str) -> PaymentLine:
    values = {
        "line_id": f"{BATCH}-{n:06d}",
        "batch_no": BATCH,
        "head_name": "王秀英",
        "id_number": f"37010219{n:02d}0101123X",
        "account": f"62284800123456789{n:02d}",
        "amount_fen": amount_fen,
        "fund_code": "DB2025",
        "memo": "低保金 2025年1月",
    }
    values.update(overrides)
    return PaymentLine(**values)  # type: ignore[arg-type]


LINES = [payment(1, 132000), payment(2, 44000), payment(3, 5)]
EXPECTED = expected_amounts(LINES)

RETURN_HEADER = ["批次号", "行号", "金额(元)", "状态", "失败原因"]


def return_csv(rows: list[list[str]], *, header: list[str] = RETURN_HEADER, encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def good_rows() -> list[list[str]]:
    return [
        [BATCH, f"{BATCH}-000001", "1320.00", "成功", ""],
        [BATCH, f"{BATCH}-000002", "440", "失败", "账户已冻结"],
        [BATCH, f"{BATCH}-000003", "0.05", "paid", ""],
    ]


def problems_of(data: bytes, filename: str = "return.csv") -> list[tuple[int, str]]:
    with pytest.raises(BankFileRejected) as caught:
        parse_return_file(data, filename, BATCH, EXPECTED)
    return [(p.row, p.message.format(**p.params)) for p in caught.value.problems]


# ---------------------------------------------------------------------------
# Export


def test_csv_export_has_bom_header_and_plain_amounts() -> None:
    data = export_csv(BATCH, LINES)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == EXPORT_HEADER
    assert rows[1] == [
        BATCH,
        f"{BATCH}-000001",
        "王秀英",
        "37010219010101123X",
        "6228480012345678901",
        "1320.00",
        "DB2025",
        "低保金 2025年1月",
    ]
    assert [row[5] for row in rows[1:]] == ["1320.00", "440.00", "0.05"]
    assert len(rows) == 4


def test_xlsx_export_keeps_long_numbers_as_text_and_amounts_numeric() -> None:
    sheet = load_workbook(io.BytesIO(export_xlsx(BATCH, LINES))).worksheets[0]
    rows = list(sheet.iter_rows(min_row=1))
    assert tuple(c.value for c in rows[0]) == EXPORT_HEADER
    first = rows[1]
    assert first[3].value == "37010219010101123X" and first[3].data_type == "s"
    assert first[4].value == "6228480012345678901" and first[4].data_type == "s"
    assert first[4].number_format == "@"
    assert first[5].value == pytest.approx(1320.00) and first[5].data_type == "n"
    assert first[5].number_format == "0.00"
    totals = rows[-1]
    assert totals[0].value == "合计"
    assert totals[5].value == pytest.approx(1760.05)


@pytest.mark.parametrize(
    "bad",
    [
        payment(9, batch_no="B999"),
        payment(1),  # duplicate line id
        payment(9, amount_fen=0),
        payment(9, head_name=""),
        payment(9, memo='=HYPERLINK("http://x")'),
        payment(9, head_name="王\n五"),
    ],
)
@pytest.mark.parametrize("exporter", [export_csv, export_xlsx])
def test_export_refuses_bad_lines(
    bad: PaymentLine, exporter: Callable[[str, list[PaymentLine]], bytes]
) -> None:
    with pytest.raises(BankFileRejected) as caught:
        exporter(BATCH, [*LINES, bad])
    assert [p.row for p in caught.value.problems] == [5]


# ---------------------------------------------------------------------------
# Round trips: the bank adds 状态 and 失败原因 to our own export


def test_csv_round_trip() -> None:
    rows = list(csv.reader(io.StringIO(export_csv(BATCH, LINES).decode("utf-8-sig"))))
    rows[0] += ["状态", "失败原因"]
    rows[1] += ["成功", ""]
    rows[2] += ["失败", "户名不符"]
    rows[3] += ["成功", ""]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)

    result = parse_return_file(buffer.getvalue().encode("utf-8-sig"), "return.csv", BATCH, EXPECTED)

    assert result.batch_no == BATCH
    assert [(r.line_id, r.status, r.reason, r.amount_fen, r.row) for r in result.results] == [
        (f"{BATCH}-000001", ReturnStatus.PAID, "", 132000, 2),
        (f"{BATCH}-000002", ReturnStatus.FAILED, "户名不符", 44000, 3),
        (f"{BATCH}-000003", ReturnStatus.PAID, "", 5, 4),
    ]


def test_xlsx_round_trip_skips_the_totals_row() -> None:
    workbook = load_workbook(io.BytesIO(export_xlsx(BATCH, LINES)))
    sheet = workbook.worksheets[0]
    sheet.cell(row=1, column=9, value="状态")
    sheet.cell(row=1, column=10, value="失败原因")
    for row, (status, reason) in enumerate([("成功", None), ("失败", "卡已注销"), ("成功", None)], start=2):
        sheet.cell(row=row, column=9, value=status)
        sheet.cell(row=row, column=10, value=reason)
    buffer = io.BytesIO()
    workbook.save(buffer)

    result = parse_return_file(buffer.getvalue(), "return.xlsx", BATCH, EXPECTED)

    assert [(r.line_id, r.status, r.amount_fen) for r in result.results] == [
        (f"{BATCH}-000001", ReturnStatus.PAID, 132000),
        (f"{BATCH}-000002", ReturnStatus.FAILED, 44000),
        (f"{BATCH}-000003", ReturnStatus.PAID, 5),
    ]
    assert result.results[1].reason == "卡已注销"


def test_gbk_return_csv_with_title_row_and_full_width_header_is_accepted() -> None:
    text = (
        "济南农商银行代发结果\r\n"
        + return_csv(good_rows(), header=["批次号", "行号", "金额（元）", "状态", "失败原因"]).decode()
    )
    result = parse_return_file(text.encode("gbk"), "RETURN.CSV", BATCH, EXPECTED)
    assert [r.status for r in result.results] == [ReturnStatus.PAID, ReturnStatus.FAILED, ReturnStatus.PAID]
    assert result.results[1].reason == "账户已冻结"
    assert result.results[0].row == 3


def test_partial_return_is_allowed() -> None:
    result = parse_return_file(return_csv(good_rows()[:1]), "r.csv", BATCH, EXPECTED)
    assert [r.line_id for r in result.results] == [f"{BATCH}-000001"]


def test_xlsx_numeric_line_cells_and_float_amounts_are_read() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(RETURN_HEADER)
    sheet.append([BATCH, f"{BATCH}-000002", 440.0, "FAILED", "余额不足"])
    sheet.append([BATCH, f"{BATCH}-000001", 1320, "Paid", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = parse_return_file(buffer.getvalue(), "x.xlsx", BATCH, EXPECTED)
    assert [(r.amount_fen, r.status) for r in result.results] == [
        (44000, ReturnStatus.FAILED),
        (132000, ReturnStatus.PAID),
    ]


# ---------------------------------------------------------------------------
# Refusals: the whole file, with every problem and its row


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda rows: rows[1].__setitem__(0, "B000999"), [(3, "batch")]),
        (lambda rows: rows[2].__setitem__(1, f"{BATCH}-000099"), [(4, "not in this batch")]),
        (lambda rows: rows.append(list(rows[0])), [(5, "already appears at row 2")]),
        (lambda rows: rows[0].__setitem__(2, "1321.00"), [(2, "differs")]),
        (lambda rows: rows[0].__setitem__(2, "1320.001"), [(2, "two decimal")]),
        (lambda rows: rows[0].__setitem__(2, "-1320.00"), [(2, "negative")]),
        (lambda rows: rows[0].__setitem__(2, "abc"), [(2, "for example")]),
        (lambda rows: rows[0].__setitem__(3, "处理中"), [(2, "unknown status")]),
        (lambda rows: rows[1].__setitem__(4, ""), [(3, "needs a reason")]),
        (lambda rows: rows[0].__setitem__(1, ""), [(2, "line id is missing")]),
    ],
)
def test_each_refusal_names_its_row(
    mutate: Callable[[list[list[str]]], None], expected: list[tuple[int, str]]
) -> None:
    rows = good_rows()
    mutate(rows)
    found = problems_of(return_csv(rows))
    assert len(found) == len(expected)
    for (row, message), (want_row, fragment) in zip(found, expected, strict=True):
        assert row == want_row
        assert fragment in message


def test_all_problems_are_reported_not_just_the_first() -> None:
    rows = good_rows()
    rows[0][0] = "B000999"
    rows[1][3] = "unknown"
    rows[2][2] = "0.051"
    assert [row for row, _ in problems_of(return_csv(rows))] == [2, 3, 4]


def test_missing_columns_are_named() -> None:
    with pytest.raises(BankFileRejected) as caught:
        parse_return_file(
            return_csv([[BATCH, f"{BATCH}-000001", "成功"]], header=["批次号", "行号", "状态"]),
            "r.csv",
            BATCH,
            EXPECTED,
        )
    (problem,) = caught.value.problems
    assert problem.row == 1
    assert problem.params["columns"] == "金额(元), 失败原因"


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"", "r.csv"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "r.xls"),
        (b"PK\x03\x04not really a zip", "r.xlsx"),
        (b"plain text", "r.xlsx"),
        (b"\x00\x01\x02binary", "r.csv"),
        ("批次号,行号\r\n".encode(), "r.csv"),
        (return_csv([]), "r.csv"),
    ],
)
def test_unreadable_files_are_refused(data: bytes, filename: str) -> None:
    assert problems_of(data, filename)


def test_refused_file_returns_nothing_and_keeps_good_lines_out() -> None:
    rows = good_rows()
    rows[2][1] = "B000123-999999"
    with pytest.raises(BankFileRejected) as caught:
        parse_return_file(return_csv(rows), "r.csv", BATCH, EXPECTED)
    assert caught.value.field == "file"
    assert caught.value.params == {"count": 1}
