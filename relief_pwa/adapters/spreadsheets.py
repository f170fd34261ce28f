"""Reading uploaded spreadsheets (CSV or XLSX) without letting one stall the server.

Every uploaded spreadsheet (bank return files now; caseload imports and any
later upload should use it too) is read through :func:`iter_rows`, which

* refuses legacy ``.xls`` and anything that is neither CSV nor XLSX;
* for XLSX, opens the file as a zip **before** openpyxl does and checks the
  declared (uncompressed) sizes: the total, each member, the number of
  members, the compression ratio, and ``xl/sharedStrings.xml`` in particular
  (openpyxl loads every shared string into memory even in read-only mode).
  Python's zip reader never inflates a member beyond its declared size, so the
  declared sizes bound the work;
* streams rows (openpyxl read-only mode, ``csv.reader``) and stops at limits on
  rows, columns, cells and characters per cell, refusing the file with a
  clear message.

The work is CPU-bound: callers in the web process run it in a thread
(:func:`read_rows_in_thread` or ``asyncio.to_thread``) so pages stay responsive.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import multiprocessing
import threading
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_

MiB = 1024 * 1024
XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls
SHARED_STRINGS = "xl/sharedStrings.xml"

T = TypeVar("T")


@dataclass(frozen=True)
class SheetLimits:
    """What an uploaded spreadsheet may contain. The defaults fit a bank return
    file of a whole city's month (tens of thousands of lines) with room to spare."""

    max_bytes: int = 20 * MiB
    max_rows: int = 200_000
    max_columns: int = 64
    max_cells: int = 4_000_000
    max_cell_chars: int = 2_000
    max_uncompressed: int = 200 * MiB  # sum of the zip members' declared sizes
    max_member_uncompressed: int = 150 * MiB
    max_shared_strings: int = 16 * MiB  # declared size of xl/sharedStrings.xml
    max_members: int = 500
    max_ratio: int = 200  # declared size / compressed size of one member


DEFAULT_LIMITS = SheetLimits()


class SpreadsheetRefused(DomainError):
    """The upload is not a spreadsheet we read, or exceeds a limit. ``row`` is 0 for the whole file."""

    def __init__(self, message: str, *, row: int = 0, **params: Any) -> None:
        super().__init__(message, field="file", row=row, **params)
        self.row = row


def cell_text(value: Any) -> str:
    """Spreadsheet cell → text, without float noise for whole numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        # repr is the shortest round-tripping form; "f" expands 1e-05.
        return format(Decimal(repr(value)), "f")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def check_xlsx_container(data: bytes, limits: SheetLimits = DEFAULT_LIMITS) -> None:
    """Refuse a zip bomb before any XML is inflated: declared sizes only."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SpreadsheetRefused(N_("The XLSX file cannot be opened.")) from exc
    with archive:
        members = archive.infolist()
        if len(members) > limits.max_members:
            raise SpreadsheetRefused(N_("The XLSX file has too many parts."))
        total = 0
        for info in members:
            total += info.file_size
            if info.filename == SHARED_STRINGS and info.file_size > limits.max_shared_strings:
                raise SpreadsheetRefused(
                    N_("The XLSX file's shared text table is too large ({size} MB, at most {limit} MB)."),
                    size=info.file_size // MiB,
                    limit=limits.max_shared_strings // MiB,
                )
            if info.file_size > limits.max_member_uncompressed:
                raise SpreadsheetRefused(N_("The XLSX file unpacks to too much data."))
            if (
                info.compress_size
                and info.file_size / info.compress_size > limits.max_ratio
                and info.file_size > MiB
            ):
                raise SpreadsheetRefused(N_("The XLSX file is compressed suspiciously well; it is refused."))
        if total > limits.max_uncompressed:
            raise SpreadsheetRefused(N_("The XLSX file unpacks to too much data."))


def _decode_csv(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SpreadsheetRefused(N_("The file is not readable text (UTF-8 or GBK)."))


class _Budget:
    def __init__(self, limits: SheetLimits) -> None:
        self.limits = limits
        self.cells = 0

    def row(self, number: int, cells: list[str]) -> list[str]:
        limits = self.limits
        if number > limits.max_rows:
            raise SpreadsheetRefused(
                N_("The file has too many rows (at most {limit})."), row=number, limit=limits.max_rows
            )
        while cells and not cells[-1]:
            cells.pop()
        if len(cells) > limits.max_columns:
            raise SpreadsheetRefused(
                N_("Row {row} has too many columns (at most {limit})."),
                row=number,
                limit=limits.max_columns,
            )
        self.cells += len(cells)
        if self.cells > limits.max_cells:
            raise SpreadsheetRefused(N_("The file has too many cells."), row=number)
        for text in cells:
            if len(text) > limits.max_cell_chars:
                raise SpreadsheetRefused(
                    N_("Row {row} has a cell longer than {limit} characters."),
                    row=number,
                    limit=limits.max_cell_chars,
                )
        return cells


def _csv_rows(data: bytes, budget: _Budget) -> Iterator[tuple[int, list[str]]]:
    text = _decode_csv(data)
    if "\x00" in text:
        raise SpreadsheetRefused(N_("The file is not a CSV or XLSX file."))
    reader = csv.reader(io.StringIO(text, newline=""))
    number = 0
    try:
        for cells in reader:
            number += 1
            yield reader.line_num, budget.row(number, [cell.strip() for cell in cells])
    except csv.Error as exc:
        raise SpreadsheetRefused(
            N_("The CSV cannot be read: {error}"), row=reader.line_num, error=str(exc)[:200]
        ) from exc


def _xlsx_rows(data: bytes, budget: _Budget) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    check_xlsx_container(data, budget.limits)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # untrusted upload: any parser failure means "unreadable"
        raise SpreadsheetRefused(N_("The XLSX file cannot be opened.")) from exc
    try:
        if not workbook.worksheets:
            raise SpreadsheetRefused(N_("The XLSX file has no sheet."))
        sheet = workbook.worksheets[0]
        # Bounded columns: a forged dimension (A1:XFD1048576) must not pad every row.
        rows = sheet.iter_rows(values_only=True, max_col=budget.limits.max_columns + 1)
        for number, values in enumerate(rows, start=1):
            yield number, budget.row(number, [cell_text(value) for value in values])
    except SpreadsheetRefused:
        raise
    except Exception as exc:  # malformed XML, bad zip data, CRC errors: all "unreadable"
        raise SpreadsheetRefused(N_("The XLSX file cannot be read.")) from exc
    finally:
        workbook.close()


def iter_rows(
    data: bytes, filename: str = "", limits: SheetLimits = DEFAULT_LIMITS
) -> Iterator[tuple[int, list[str]]]:
    """Rows of the first sheet as ``(row number, stripped texts)``, trailing blanks removed.

    Raises:
        SpreadsheetRefused: legacy .xls, unreadable, or over a limit (while iterating).
    """
    if len(data) > limits.max_bytes:
        raise SpreadsheetRefused(
            N_("The file is too large (at most {limit} MB)."), limit=limits.max_bytes // MiB
        )
    suffix = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    if data.startswith(OLE_MAGIC) or suffix == "xls":
        raise SpreadsheetRefused(N_("Old .xls files are not accepted; save as XLSX or CSV."))
    budget = _Budget(limits)
    # Trust the content over the name: banks rename files freely.
    if data.startswith(XLSX_MAGIC):
        return _xlsx_rows(data, budget)
    if suffix == "xlsx":
        raise SpreadsheetRefused(N_("The XLSX file cannot be opened."))
    return _csv_rows(data, budget)


def read_rows(
    data: bytes, filename: str = "", limits: SheetLimits = DEFAULT_LIMITS
) -> list[tuple[int, list[str]]]:
    """Every row at once (see :func:`iter_rows`)."""
    return list(iter_rows(data, filename, limits))


_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _parse_pool() -> ProcessPoolExecutor | None:
    """One lazily started worker process for big parses (``spawn``: no forked threads)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            try:
                _POOL = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            except (OSError, ValueError, NotImplementedError):  # no process support: threads only
                return None
        return _POOL


async def off_the_loop(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a CPU-bound parse away from the event loop so pages keep being served.

    Files up to 1 MB are parsed in a worker thread. Bigger ones go to a worker
    process: in a thread, a parse holding the GIL (and the garbage collections
    its rows trigger) still delays the event loop by 50–150 ms at a time; in
    another process it cannot. ``function`` and its arguments, result and
    exceptions must then be picklable (module-level function, plain data).
    """
    big = any(isinstance(a, bytes | bytearray) and len(a) > MiB for a in args)
    pool = _parse_pool() if big else None
    if pool is None:
        return await asyncio.to_thread(function, *args, **kwargs)
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(pool, functools.partial(function, *args, **kwargs))
    except BrokenProcessPool:
        _reset_pool()
        return await asyncio.to_thread(function, *args, **kwargs)


def _reset_pool() -> None:
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.shutdown(wait=False, cancel_futures=True)
        _POOL = None
