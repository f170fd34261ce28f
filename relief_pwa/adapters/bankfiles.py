"""Bank one-card (一卡通) batch files: export payment batches, read return files.

Export: one row per payment line, CSV (UTF-8 with BOM so Excel shows Chinese)
or XLSX (ID and account numbers as text cells so 18 digits survive Excel).

Return files come back from the bank as CSV (UTF-8, or GB18030/GBK as many
Chinese banks send) or XLSX with at least the columns 批次号, 行号, 金额(元),
状态, 失败原因; other columns (the exported ones) are ignored. A return file is
accepted whole or refused whole: every problem found is reported with its row
number, and nothing is changed by a refused file.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from relief_pwa.adapters.exports import FORMULA_STARTS, SheetSpec, write_csv, write_xlsx
from relief_pwa.adapters.spreadsheets import SheetLimits, SpreadsheetRefused, iter_rows
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import fen_to_decimal, fen_to_decimal_str, parse_yuan

EXPORT_HEADER = ("批次号", "行号", "户主姓名", "身份证号", "一卡通账号", "金额(元)", "资金", "摘要")
TOTAL_LABEL = "合计"
#: A return file bigger than this is not a one-card batch file.
MAX_RETURN_BYTES = 20 * 1024 * 1024
MAX_RETURN_ROWS = 200_000
#: Title rows a bank may put above the header.
MAX_PREAMBLE_ROWS = 5

# Cells a spreadsheet would run as a formula; refused rather than silently altered.
_FORMULA_STARTS = FORMULA_STARTS


class ReturnStatus(StrEnum):
    PAID = "paid"
    FAILED = "failed"


_STATUS_WORDS: dict[str, ReturnStatus] = {
    "成功": ReturnStatus.PAID,
    "paid": ReturnStatus.PAID,
    "失败": ReturnStatus.FAILED,
    "failed": ReturnStatus.FAILED,
}

# Canonical column → accepted header spellings (after NFKC, spaces removed, lower-case).
_RETURN_COLUMNS: dict[str, tuple[str, ...]] = {
    "batch_no": ("批次号", "batch_no"),
    "line_id": ("行号", "line_id"),
    "amount": ("金额(元)", "金额", "amount"),
    "status": ("状态", "status"),
    "reason": ("失败原因", "reason"),
}


@dataclass(frozen=True, slots=True)
class PaymentLine:
    """One cash payment to one household's one-card account."""

    line_id: str
    batch_no: str
    head_name: str
    id_number: str
    account: str
    amount_fen: int
    fund_code: str
    memo: str


@dataclass(frozen=True, slots=True)
class ReturnLine:
    line_id: str
    status: ReturnStatus
    reason: str
    amount_fen: int
    row: int


@dataclass(frozen=True, slots=True)
class ReturnFile:
    batch_no: str
    results: tuple[ReturnLine, ...]


@dataclass(frozen=True, slots=True)
class BankFileProblem:
    """One problem at one row (1-based as the bank sees the file; 0 = whole file)."""

    row: int
    message: str
    params: Mapping[str, str]


class BankFileRejected(DomainError):
    """The file was refused as a whole; ``problems`` lists everything wrong."""

    def __init__(self, problems: Sequence[BankFileProblem]) -> None:
        super().__init__(
            N_("The bank file was refused: {count} problem(s) found."),
            field="file",
            count=len(problems),
        )
        self.problems = tuple(problems[:MAX_PROBLEMS_LISTED])
        self.params["count"] = len(problems)

    def __reduce__(self) -> tuple[Any, ...]:
        # Crosses a process boundary when a big file is parsed in a worker process.
        return (_rejected, (list(self.problems), int(self.params["count"])))


def _rejected(problems: list[BankFileProblem], count: int) -> BankFileRejected:
    rejected = BankFileRejected(problems)
    rejected.params["count"] = count
    return rejected


# ---------------------------------------------------------------------------
# Export


def _check_lines(batch_no: str, lines: Sequence[PaymentLine]) -> None:
    problems: list[BankFileProblem] = []
    seen: set[str] = set()
    for row, line in enumerate(lines, start=2):  # row 1 is the header
        params = {"line_id": line.line_id}
        if line.batch_no != batch_no:
            problems.append(
                BankFileProblem(
                    row, N_("Line {line_id} belongs to batch {other}."), {**params, "other": line.batch_no}
                )
            )
        if line.line_id in seen:
            problems.append(BankFileProblem(row, N_("Line {line_id} appears twice."), params))
        seen.add(line.line_id)
        if line.amount_fen <= 0:
            problems.append(BankFileProblem(row, N_("Line {line_id}: the amount must be positive."), params))
        texts = (line.line_id, line.head_name, line.id_number, line.account, line.fund_code, line.memo)
        if not (line.line_id and line.head_name and line.id_number and line.account):
            problems.append(
                BankFileProblem(row, N_("Line {line_id}: name, ID number and account are required."), params)
            )
        for text in texts:
            if text.startswith(_FORMULA_STARTS) or any(unicodedata.category(ch) == "Cc" for ch in text):
                problems.append(
                    BankFileProblem(
                        row,
                        N_("Line {line_id}: {value} cannot go into a bank file."),
                        {**params, "value": text},
                    )
                )
    if problems:
        raise BankFileRejected(problems)


def _row(line: PaymentLine) -> list[str]:
    return [
        line.batch_no,
        line.line_id,
        line.head_name,
        line.id_number,
        line.account,
        fen_to_decimal_str(line.amount_fen),
        line.fund_code,
        line.memo,
    ]


def export_csv(batch_no: str, lines: Sequence[PaymentLine]) -> bytes:
    """Write a batch as CSV: UTF-8 with BOM, header row first, amounts as ``123.45``.

    Args:
        batch_no: The batch every line must belong to.
        lines: Payment lines, written in the given order.

    Returns:
        The file contents (written by :mod:`relief_pwa.adapters.exports`).

    Raises:
        BankFileRejected: a line is for another batch, repeated, non-positive,
            incomplete, or has text a spreadsheet would run as a formula (a
            payee's name is never altered in a bank file: it is refused).
    """
    _check_lines(batch_no, lines)
    return write_csv(EXPORT_HEADER, (_row(line) for line in lines))


def export_xlsx(batch_no: str, lines: Sequence[PaymentLine]) -> bytes:
    """Write a batch as XLSX with a totals row (合计) after the lines.

    Every text is a text cell (format ``@``, so ID and account numbers keep
    their 18+ digits); amounts are numbers with two decimals.

    Args:
        batch_no: The batch every line must belong to.
        lines: Payment lines, written in the given order.

    Returns:
        The file contents.

    Raises:
        BankFileRejected: as for :func:`export_csv`.
    """
    _check_lines(batch_no, lines)
    rows = [
        [
            line.batch_no,
            line.line_id,
            line.head_name,
            line.id_number,
            line.account,
            fen_to_decimal(line.amount_fen),
            line.fund_code,
            line.memo,
        ]
        for line in lines
    ]
    total_fen = sum(line.amount_fen for line in lines)
    return write_xlsx(
        [
            SheetSpec(
                name="一卡通批次",
                header=EXPORT_HEADER,
                rows=rows,
                widths=(16, 18, 12, 22, 24, 14, 12, 30),
                freeze_header=True,
                totals=[TOTAL_LABEL, None, None, None, None, fen_to_decimal(total_fen), None, None],
                decimal_format="0.00",
            )
        ]
    )


# ---------------------------------------------------------------------------
# Return files


def _header_key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace(" ", "").strip().lower()


RETURN_LIMITS = SheetLimits(max_bytes=MAX_RETURN_BYTES, max_rows=MAX_RETURN_ROWS + 1, max_columns=64)
#: A refused file lists at most this many problems (the count says how many there were).
MAX_PROBLEMS_LISTED = 200


def _rows(data: bytes, filename: str) -> Iterator[tuple[int, list[str]]]:
    """Rows through the guarded reader; its refusals become a refused bank file."""
    try:
        yield from iter_rows(data, filename, RETURN_LIMITS)
    except SpreadsheetRefused as exc:
        raise BankFileRejected(
            [BankFileProblem(exc.row, exc.message, {k: str(v) for k, v in exc.params.items()})]
        ) from exc


def _find_columns(header: list[str]) -> tuple[dict[str, int], list[str]]:
    keys = [_header_key(cell) for cell in header]
    found: dict[str, int] = {}
    missing: list[str] = []
    for column, spellings in _RETURN_COLUMNS.items():
        positions = [i for i, key in enumerate(keys) if key in {_header_key(s) for s in spellings}]
        if positions:
            found[column] = positions[0]
        else:
            missing.append(spellings[0])
    return found, missing


def parse_return_file(
    data: bytes,
    filename: str,
    expected_batch_no: str,
    expected_lines: Mapping[str, int],
) -> ReturnFile:
    """Read and check a bank's return file for one batch.

    The header is the first non-blank row naming the 行号 column (a few title
    rows above it are tolerated). Blank rows and a totals row (合计
    in the batch column, no line id) are skipped. A file may cover only some
    of the batch's lines (partial return).

    Args:
        data: The uploaded bytes (CSV in UTF-8/GB18030, or XLSX).
        filename: The uploaded name, used only to spot legacy ``.xls``.
        expected_batch_no: The batch this return must be for.
        expected_lines: line id → amount in fen, as exported.

    Returns:
        One result per line in the file, in file order.

    Raises:
        BankFileRejected: with every problem and its row number, when the
            file is unreadable, lacks a column, is for another batch, names an
            unknown or repeated line, has a wrong/invalid amount, an unknown
            status, or a failure without a reason. Nothing is returned then.
    """
    if len(data) > MAX_RETURN_BYTES:
        raise BankFileRejected([BankFileProblem(0, N_("The file is too large for a bank return file."), {})])
    if not data.strip():
        raise BankFileRejected([BankFileProblem(0, N_("The file is empty."), {})])

    problems: list[BankFileProblem] = []
    results: list[ReturnLine] = []
    rows = _rows(data, filename)
    columns: dict[str, int] | None = None
    seen: dict[str, int] = {}
    preamble = 0
    for number, cells in rows:
        if number > MAX_RETURN_ROWS:
            problems.append(BankFileProblem(number, N_("The file has too many rows."), {}))
            break
        if not any(cells):
            continue
        if columns is None:
            found, missing = _find_columns(cells)
            if "line_id" not in found:
                preamble += 1  # a title row above the header
                if preamble <= MAX_PREAMBLE_ROWS:
                    continue
            if missing:
                problems.append(
                    BankFileProblem(
                        number, N_("Missing column(s): {columns}."), {"columns": ", ".join(missing)}
                    )
                )
                break
            columns = found
            continue
        result = _check_row(number, cells, columns, expected_batch_no, expected_lines, seen, problems)
        if result is not None:
            results.append(result)
    if columns is None and not problems:
        problems.append(BankFileProblem(0, N_("The file has no header row."), {}))
    elif not results and not problems:
        problems.append(BankFileProblem(0, N_("The file has no payment lines."), {}))
    if problems:
        raise BankFileRejected(problems)
    return ReturnFile(batch_no=expected_batch_no, results=tuple(results))


def _check_row(
    number: int,
    cells: list[str],
    columns: Mapping[str, int],
    expected_batch_no: str,
    expected_lines: Mapping[str, int],
    seen: dict[str, int],
    problems: list[BankFileProblem],
) -> ReturnLine | None:
    """Check one data row; append its problems; return the line when clean."""

    def cell(column: str) -> str:
        position = columns[column]
        return cells[position].strip() if position < len(cells) else ""

    batch_no, line_id = cell("batch_no"), cell("line_id")
    if not line_id and batch_no == TOTAL_LABEL:
        return None  # the totals row of our own export, possibly kept by the bank
    before = len(problems)

    def problem(message: str, **params: str) -> None:
        problems.append(BankFileProblem(number, message, {"line_id": line_id, **params}))

    if batch_no != expected_batch_no:
        problem(
            N_("Row for batch {batch_no}, but this is batch {expected}."),
            batch_no=batch_no,
            expected=expected_batch_no,
        )
    expected_fen: int | None = None
    if not line_id:
        problem(N_("The line id is missing."))
    elif line_id in seen:
        problem(N_("Line {line_id} already appears at row {first_row}."), first_row=str(seen[line_id]))
    elif line_id not in expected_lines:
        problem(N_("Line {line_id} is not in this batch."))
    else:
        expected_fen = expected_lines[line_id]
    if line_id and line_id not in seen:
        seen[line_id] = number

    amount_fen: int | None = None
    try:
        amount_fen = parse_yuan(cell("amount"), field="amount")
    except DomainError as exc:
        problem(exc.message, **{key: str(value) for key, value in exc.params.items()})
    if amount_fen is not None and expected_fen is not None and amount_fen != expected_fen:
        problem(
            N_("Line {line_id}: amount {amount} differs from the {expected} yuan sent."),
            amount=fen_to_decimal_str(amount_fen),
            expected=fen_to_decimal_str(expected_fen),
        )

    status_text = cell("status")
    status = _STATUS_WORDS.get(status_text.lower())
    if status is None:
        problem(N_("Line {line_id}: unknown status {status}."), status=status_text)
    reason = cell("reason")
    if status is ReturnStatus.FAILED and not reason:
        problem(N_("Line {line_id}: a failed payment needs a reason."))

    if len(problems) != before or status is None or amount_fen is None:
        return None
    return ReturnLine(line_id=line_id, status=status, reason=reason, amount_fen=amount_fen, row=number)


def expected_amounts(lines: Iterable[PaymentLine]) -> dict[str, int]:
    """Line id → amount, the ``expected_lines`` argument for a batch's lines."""
    return {line.line_id: line.amount_fen for line in lines}
