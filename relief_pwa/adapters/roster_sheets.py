"""Reading and writing roster spreadsheets (XLSX and CSV), bounded and formula-safe.

Reading streams (openpyxl read-only mode, the csv module) and stops at a
row limit, so a huge or hostile file costs bounded memory and time; these
functions are synchronous and are run in a thread by the services. Writing
goes through the single export module (``adapters/exports.py``), which
neutralises cells that a spreadsheet would run as formulas.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from openpyxl import load_workbook

from relief_pwa.adapters import exports
from relief_pwa.adapters.spreadsheets import MiB, SheetLimits, SpreadsheetRefused, check_xlsx_container
from relief_pwa.core.caseload import Cell
from relief_pwa.core.i18n import N_

#: A city's roster is bigger than a bank return file: its shared text table may reach tens of
#: megabytes. The compression-ratio check still refuses a zip bomb (adapters/spreadsheets.py).
ROSTER_LIMITS = SheetLimits(
    max_bytes=512 * MiB,
    max_rows=10_000_000,
    max_cells=100_000_000,
    max_uncompressed=2048 * MiB,
    max_member_uncompressed=2048 * MiB,
    max_shared_strings=512 * MiB,
)

#: A cell longer than this is cut (no roster value is nearly this long; a cut value is refused later).
MAX_CELL_CHARS = 1000


class SpreadsheetRejected(Exception):
    """The file is not a readable XLSX or CSV, or exceeds the limits."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message.format(**params) if params else message)
        self.message = message
        self.params = params


Row = tuple[Cell, ...]


def iter_sheets(
    source: Path | bytes,
    *,
    kind: str,
    max_rows: int,
    max_columns: int,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[str, Iterator[Row]]]:
    """Every sheet's name and its rows (values only, at most ``max_columns`` each), streamed.

    Consume each sheet's rows before asking for the next sheet; nothing is kept.

    Args:
        source: A file path or the file's bytes.
        kind: ``"xlsx"`` or ``"csv"`` (CSV: UTF-8 with or without BOM, or GB18030).
        max_rows: More rows than this in all sheets together refuse the file.
        max_columns: Cells to the right are not read.
        progress: Called with the number of rows read so far, every 1,000 rows.

    Raises:
        SpreadsheetRejected: Unreadable, or more than ``max_rows`` rows.
    """
    counter = _Counter(max_rows, progress)
    if kind == "csv":
        raw = source.read_bytes() if isinstance(source, Path) else source
        yield "CSV", _csv_rows(_decode(raw), max_columns, counter)
        return
    # The guarded reader's container check first: a zip bomb is refused before any XML is inflated.
    raw = source if isinstance(source, bytes) else source.read_bytes()
    try:
        check_xlsx_container(raw, ROSTER_LIMITS)
    except SpreadsheetRefused as exc:
        raise SpreadsheetRejected(exc.message, **exc.params) from None
    handle: IO[bytes] | Path = io.BytesIO(raw)
    try:
        workbook = load_workbook(handle, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SpreadsheetRejected(N_("The file is not a readable XLSX workbook.")) from exc
    try:
        for worksheet in workbook.worksheets:
            # max_col given: a wrong declared range in the file cannot hide columns.
            yield (
                str(worksheet.title),
                _xlsx_rows(worksheet.iter_rows(max_col=max_columns, values_only=True), counter),
            )
    finally:
        workbook.close()


class _Counter:
    def __init__(self, max_rows: int, progress: Callable[[int], None] | None) -> None:
        self.count, self.max_rows, self.progress = 0, max_rows, progress

    def tick(self) -> None:
        self.count += 1
        if self.count > self.max_rows:
            raise SpreadsheetRejected(N_("The file has more than {max_rows} rows."), max_rows=self.max_rows)
        if self.progress is not None and self.count % 1000 == 0:
            self.progress(self.count)


def _csv_rows(text: str, max_columns: int, counter: _Counter) -> Iterator[Row]:
    for row in csv.reader(io.StringIO(text, newline="")):
        counter.tick()
        yield tuple(v[:MAX_CELL_CHARS] if v != "" else None for v in row[:max_columns])


def _xlsx_rows(rows: Iterable[Row], counter: _Counter) -> Iterator[Row]:
    # Values are None, str, int, float, bool or dates, as openpyxl hands them over; the
    # caller keeps only the roster's columns (core.caseload.row_cells cuts long text).
    for row in rows:
        counter.tick()
        yield row


def _decode(raw: bytes) -> str:
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


@dataclass
class SheetOut:
    title: str
    rows: Iterable[Sequence[Cell]]
    widths: dict[int, int] = field(default_factory=dict)  # 0-based column → width


def write_xlsx(target: Path | IO[bytes], sheets: Sequence[SheetOut]) -> None:
    """Roster sheets through the one export module (``adapters/exports.py``): streamed, typed, no formulas."""
    exports.save_xlsx(
        target,
        [
            exports.SheetSpec(name=out.title, header=(), rows=out.rows, column_widths=out.widths)
            for out in sheets
        ],
    )


def write_csv(target: IO[str], rows: Iterable[Sequence[Cell]]) -> None:
    """Roster CSV rows (header first) through the one export module, neutralised the same way."""
    exports.write_csv_rows(target, rows)
