"""The bureau's file of communities and villages (.xlsx or .csv) and its downloadable template.

Columns, by header (Chinese or English, any order): code (12-digit NBS
village-level code), name, parent street (9-digit code), address, hotline.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from relief_pwa.adapters.exports import SheetSpec, write_csv, write_xlsx
from relief_pwa.adapters.spreadsheets import SheetLimits, read_rows
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_

HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("code", "代码", "统计用区划代码", "区划代码", "编码"),
    "name": ("name", "名称", "社区（村）名称", "社区名称"),
    "parent_code": ("parent", "parent_code", "parent street", "所属街道", "所属街道（镇）代码", "街道代码"),
    "address": ("address", "地址", "服务点地址"),
    "hotline": ("hotline", "电话", "服务电话", "联系电话"),
}
TEMPLATE_HEADER = ("代码 code", "名称 name", "所属街道代码 parent", "地址 address", "电话 hotline")
TEMPLATE_EXAMPLES = (
    ("370102001001", "示例社区居委会", "370102001", "历下区解放路1号", "0531-86000000"),
    ("370112104201", "示例村村委会", "370112104", "历城区示例镇示例村", ""),
)
MAX_ROWS = 20_000
# A city's units fit easily; anything bigger is refused while reading, not after.
ORG_LIMITS = SheetLimits(max_bytes=8 * 1024 * 1024, max_rows=MAX_ROWS + 1, max_columns=32)


@dataclass(frozen=True)
class OrgRow:
    line: int  # the row number in the file (header = 1)
    code: str
    name: str
    parent_code: str
    address: str
    hotline: str


def _key(header: str) -> str | None:
    folded = " ".join(str(header or "").replace("\ufeff", "").split()).lower()
    for key, names in HEADERS.items():
        for name in names:
            if (
                folded == name.lower()
                or folded.startswith(name.lower() + " ")
                or folded.endswith(" " + name.lower())
            ):
                return key
    return None


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a code typed into a number cell
    return " ".join(str(value).split())


def _rows_from_table(table: list[list[object]]) -> list[OrgRow]:
    if not table:
        raise DomainError(N_("The file is empty."), field="file")
    columns = {key: i for i, header in enumerate(table[0]) if (key := _key(_text(header)))}
    missing = [k for k in ("code", "name", "parent_code") if k not in columns]
    if missing:
        raise DomainError(
            N_("The file needs the columns code, name and parent street (see the template)."), field="file"
        )
    if len(table) > MAX_ROWS + 1:
        raise DomainError(N_("The file has too many rows."), field="file")
    rows = []
    for number, raw in enumerate(table[1:], start=2):
        values = {key: _text(raw[i]) if i < len(raw) else "" for key, i in columns.items()}
        if not any(values.values()):
            continue
        rows.append(
            OrgRow(
                line=number,
                code=values["code"],
                name=values["name"],
                parent_code=values["parent_code"],
                address=values.get("address", ""),
                hotline=values.get("hotline", ""),
            )
        )
    return rows


def parse_org_file(data: bytes, filename: str) -> list[OrgRow]:
    """Rows of an .xlsx (first sheet) or .csv (UTF-8 or GB18030) file.

    Raises:
        DomainError: the file cannot be read or lacks a required column.
    """
    if filename.lower().endswith(".xlsx") or data[:2] == b"PK":
        # The guarded reader: a zip or shared-string bomb is refused before openpyxl inflates it.
        return _rows_from_table([list(values) for _, values in read_rows(data, filename, ORG_LIMITS)])
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DomainError(N_("The file is not UTF-8 or GB18030 text."), field="file")
    return _rows_from_table([list(r) for r in csv.reader(io.StringIO(text))])


def template_xlsx() -> bytes:
    """The downloadable template: the header row and two example rows (codes as text)."""
    return write_xlsx(
        [SheetSpec(name="org", header=TEMPLATE_HEADER, rows=TEMPLATE_EXAMPLES, widths=(16, 24, 18, 36, 18))]
    )


def template_csv() -> bytes:
    return write_csv(TEMPLATE_HEADER, TEMPLATE_EXAMPLES)
