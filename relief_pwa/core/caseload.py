"""The caseload roster: the columns a bureau's spreadsheet has, and how messy cells are read.

A roster has one row per member with the household's columns repeated (or left
blank on the members' rows, as merged cells read). Cells arrive as the
spreadsheet reader hands them over (text, int, float, date or None); every
rule here is a function of those values. What is unambiguous is accepted
(full-width digits, spaces, ``2023年5月``, Excel serial dates, ``1,200元``, a
lower-case ``x``); what is not is refused with a reason naming the column —
an ID number stored as a floating-point number has lost its last digits and
is never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from relief_pwa.core.enums import Category, Housing, Illness, Relation, Schooling, Sex, WorkCapacity
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.idnumber import IdNumber, parse_id_number
from relief_pwa.core.money import MAX_FEN, parse_yuan
from relief_pwa.core.phone import normalise_phone

#: Rows scanned for the header before the sheet is declared not a roster.
HEADER_SCAN_ROWS = 10
#: Columns read from every row (anything to the right is ignored).
MAX_COLUMNS = 40
#: Longer cell text is refused (no roster field is this long).
MAX_CELL_CHARS = 300
MAX_MEMBERS = 15

Cell = str | int | float | date | datetime | None


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # the template's header (Chinese)
    note: str  # the template's column note (Chinese)
    aliases: tuple[str, ...] = ()
    household: bool = False  # repeated on every member row (or blank there)
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column(
        "file_no",
        "户号",
        "家庭档案编号，同一户每行相同（成员行可留空）",
        ("档案号", "档案编号", "家庭编号", "户编号", "家庭档案号"),
        True,
        True,
    ),
    Column(
        "community",
        "社区",
        "社区（村）12位代码或名称；名称重复时请填代码",
        ("社区代码", "社区名称", "所属社区", "社区村", "村居", "社区居委会"),
        True,
        True,
    ),
    Column("address", "家庭住址", "现居住地址", ("住址", "地址", "居住地址"), True, True),
    Column("phone", "联系电话", "手机11位或带区号的固定电话", ("电话", "手机", "手机号", "联系方式"), True),
    Column("name", "姓名", "成员姓名", ("成员姓名", "家庭成员姓名"), False, True),
    Column(
        "id_number",
        "身份证号",
        "18位公民身份号码，请将列设为文本格式（科学计数法会丢失末几位）",
        ("身份证号码", "公民身份号码", "身份证"),
        False,
        True,
    ),
    Column(
        "relation",
        "与户主关系",
        "户主、配偶、子女、父母、孙子女、祖父母、兄弟姐妹、其他；每户一名户主",
        ("关系", "与户主的关系"),
        False,
        True,
    ),
    Column("sex", "性别", "可不填，按身份证号", ()),
    Column("birth_date", "出生日期", "可不填，按身份证号", ("出生年月",)),
    Column("disability", "残疾等级", "一级至四级，无残疾留空", ("残疾情况", "残疾")),
    Column(
        "work_capacity",
        "劳动能力",
        "有劳动能力、部分丧失劳动能力、无劳动能力",
        ("劳动能力情况",),
        False,
        True,
    ),
    Column(
        "schooling",
        "在校情况",
        "学龄前、小学、初中、高中、中职、大学、非在校、无；留空为非在校",
        ("就学情况", "就读情况", "在校状况"),
    ),
    Column("illness", "患病情况", "无、慢性病、重病；留空为无", ("健康状况", "疾病情况", "身体状况")),
    Column(
        "category",
        "救助类别",
        "低保、特困、低保边缘、临时救助等",
        ("保障类别", "类别", "救助类型"),
        True,
        True,
    ),
    Column(
        "amount",
        "月保障金额",
        "每月金额（元），可带“元”或千位分隔符",
        ("月救助金额", "保障金额", "月发放金额", "救助金额", "月保障金"),
        True,
        True,
    ),
    Column(
        "start_month",
        "起始年月",
        "开始享受的月份，如 2023-05、2023年5月",
        ("享受起始月", "起始月份", "开始发放月份", "享受年月", "起始时间"),
        True,
        True,
    ),
    Column(
        "onecard_account",
        "一卡通账号",
        "惠民一卡通（社保卡）账号，12至30位数字，请设为文本格式",
        ("一卡通", "银行账号", "账号", "卡号"),
        True,
    ),
    Column("bank", "开户银行", "一卡通开户银行", ("开户行", "银行"), True),
    Column(
        "housing", "住房情况", "自有住房、租房、租房负担重、危房、无住房；留空为自有住房", ("住房",), True
    ),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
HOUSEHOLD_KEYS = tuple(c.key for c in COLUMNS if c.household)

# Every value a cell may say, folded (see _fold), → the stored code. The first
# Chinese word of each code is what the template and the export write.
RELATIONS: dict[str, tuple[str, ...]] = {
    Relation.HEAD: ("户主", "本人", "户主本人"),
    Relation.SPOUSE: ("配偶", "妻", "妻子", "夫", "丈夫"),
    Relation.CHILD: ("子女", "子", "女", "儿子", "女儿", "长子", "长女", "次子", "次女"),
    Relation.PARENT: ("父母", "父亲", "母亲", "父", "母"),
    Relation.GRANDCHILD: ("孙子女", "孙子", "孙女", "外孙", "外孙女"),
    Relation.GRANDPARENT: ("祖父母", "祖父", "祖母", "外祖父", "外祖母"),
    Relation.SIBLING: ("兄弟姐妹", "兄", "弟", "姐", "妹", "哥哥", "弟弟", "姐姐", "妹妹"),
    Relation.OTHER: ("其他", "其他亲属"),
}
WORK_CAPACITIES: dict[str, tuple[str, ...]] = {
    WorkCapacity.FULL: ("有劳动能力", "完全劳动能力", "健全"),
    WorkCapacity.PARTIAL: ("部分丧失劳动能力", "部分劳动能力", "部分"),
    WorkCapacity.NONE: ("无劳动能力", "丧失劳动能力", "完全丧失劳动能力"),
}
SCHOOLINGS: dict[str, tuple[str, ...]] = {
    Schooling.NOT_IN_SCHOOL: ("非在校", "不在校", "已毕业", ""),
    Schooling.NONE: ("无", "未上学", "失学"),
    Schooling.PRESCHOOL: ("学龄前", "幼儿园"),
    Schooling.PRIMARY: ("小学", "在读小学"),
    Schooling.JUNIOR: ("初中", "在读初中"),
    Schooling.SENIOR: ("高中", "在读高中"),
    Schooling.VOCATIONAL: ("中职", "中专", "职高", "技校"),
    Schooling.UNIVERSITY: ("大学", "大专", "本科", "研究生"),
}
ILLNESSES: dict[str, tuple[str, ...]] = {
    Illness.NONE: ("无", "健康", ""),
    Illness.CHRONIC: ("慢性病", "慢病"),
    Illness.SERIOUS: ("重病", "大病", "重大疾病"),
}
CATEGORIES: dict[str, tuple[str, ...]] = {
    Category.DIBAO: ("低保", "城乡低保", "最低生活保障", "城市低保", "农村低保", "低保户"),
    Category.TEKUN: ("特困", "特困供养", "特困人员", "特困人员供养", "五保"),
    Category.DISASTER: ("受灾人员救助", "受灾救助"),
    Category.MEDICAL: ("医疗救助",),
    Category.EDUCATION: ("教育救助",),
    Category.HOUSING: ("住房救助",),
    Category.EMPLOYMENT: ("就业救助",),
    Category.TEMPORARY: ("临时救助",),
    Category.DIBAO_EDGE: ("低保边缘", "低边"),
    Category.RIGID_EXPENSE: ("刚性支出困难", "支出型困难"),
}
HOUSINGS: dict[str, tuple[str, ...]] = {
    Housing.OWNED_ADEQUATE: ("自有住房", ""),
    Housing.RENTED: ("租房", "租住"),
    Housing.RENTED_HEAVY: ("租房负担重",),
    Housing.UNSAFE: ("危房", "住房不安全"),
    Housing.NONE: ("无住房",),
}
SEXES: dict[str, tuple[str, ...]] = {Sex.MALE: ("男",), Sex.FEMALE: ("女",)}
_GRADES = {"1": 1, "2": 2, "3": 3, "4": 4, "一": 1, "二": 2, "三": 3, "四": 4}


def _lookup(vocabulary: dict[str, tuple[str, ...]]) -> dict[str, str]:
    table: dict[str, str] = {}
    for code, words in vocabulary.items():
        table[_fold(code)] = code
        for word in words:
            table.setdefault(_fold(word), code)
    return table


def label_of(vocabulary: dict[str, tuple[str, ...]], code: str) -> str:
    """The Chinese word the template and the export write for ``code``."""
    words = [w for w in vocabulary[code] if w]
    return words[0] if words else ""


# --- cells ---------------------------------------------------------------------


def _fold(text: str) -> str:
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return "".join(text.split()).lower()


# Leading or trailing white space, a run of it, or any white space but a plain space.
_UNTIDY_SPACE = re.compile(r"^\s|\s$|\s\s|[^\S ]")


def cell_text(value: Cell) -> str:
    """A cell as text: full-width folded (NFKC), runs of spaces collapsed, trimmed.

    Integral floats lose their ``.0`` (a number column read back as 5.0); the
    apostrophe that the export module (``adapters/exports.neutralise``) put before ``=``, ``+``,
    ``-`` or ``@`` is removed.
    """
    if value is None:
        return ""
    if type(value) is str:
        text = value
    elif isinstance(value, bool):
        return str(value)
    else:
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        if isinstance(value, datetime):
            value = value.date() if value.time() == datetime.min.time() else value
        text = value.isoformat() if isinstance(value, date) else str(value)
    # Most cells are tidy already: normalising and splitting only when needed is most of the speed.
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if _UNTIDY_SPACE.search(text):
        text = " ".join(text.split())
    if text[:1] == "'" and text[1:2] in _FORMULA_STARTS:
        text = text[1:]  # written neutralised by the export module: read back as it was
    return text


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def refuse(message: str, column: str, **params: Any) -> DomainError:
    return DomainError(message, field=column, **params)


_SCIENTIFIC = re.compile(r"[0-9.]+e\+?[0-9]+", re.IGNORECASE)
_INTEGRAL_TEXT = re.compile(r"(\d+)\.0+")


def digits_cell(value: Cell, column: str, *, allow_x: bool = False) -> str:
    """Digits stored as text or as an exact integer; a float has lost digits and is refused.

    An integer cell keeps every digit (the file stores them), as does text such as
    ``370102198001011234.0``. A floating-point number of 16 or more digits
    (``3.70102198001011E+17``) cannot be told apart from its neighbours and is
    refused with the reason.
    """
    if isinstance(value, bool):
        raise refuse(N_("Expected digits, found {value}."), column, value=str(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        raise refuse(
            N_(
                "The number was stored as a number ({value}) and has lost its last digits; "
                "format the column as text and enter it again."
            ),
            column,
            value=f"{value:.6G}",  # enough to recognise the cell; not the person's number
        )
    text = "".join(cell_text(value).split()).removeprefix("'")
    if _SCIENTIFIC.fullmatch(text):
        raise refuse(
            N_(
                "The number was stored as a number ({value}) and has lost its last digits; "
                "format the column as text and enter it again."
            ),
            column,
            value=f"{float(text):.6G}",
        )
    integral = _INTEGRAL_TEXT.fullmatch(text)
    if integral:
        text = integral.group(1)
    return text.upper() if allow_x else text


def id_number_cell(value: Cell, as_of: date) -> str:
    """A member's ID number: text or an exact integer, lower-case x accepted, checksum checked."""
    return parsed_id_cell(value, as_of).number


def parsed_id_cell(value: Cell, as_of: date) -> IdNumber:
    text = digits_cell(value, "id_number", allow_x=True)
    try:
        return parse_id_number(text, as_of)
    except DomainError as exc:
        raise refuse(exc.message, "id_number", **exc.params) from None


_MONTH = re.compile(r"(\d{4})\s*[年.\-/]\s*(\d{1,2})\s*月?(?:\s*[.\-/]?\s*(\d{1,2})\s*日?)?")
_COMPACT_MONTH = re.compile(r"(\d{4})(\d{2})")
_COMPACT_DAY = re.compile(r"(\d{4})(\d{2})(\d{2})")
_EXCEL_EPOCH = date(1899, 12, 30)
_SERIAL_RANGE = (25569, 73051)  # 1970-01-01 … 2099-12-31 as Excel day numbers


def _serial_date(serial: float) -> date:
    return _EXCEL_EPOCH + timedelta(days=int(serial))


def month_cell(value: Cell, column: str = "start_month") -> str:
    """A month as ``YYYY-MM`` from a date cell, an Excel serial, ``2023年5月``, ``2023.05``,
    ``2023-05``, ``2023/5``, ``202305`` or a full date. A number like 2023.1 is refused:
    it may have been 2023.10 before the spreadsheet dropped the zero."""
    bad = refuse(N_("Enter the month as 2023-05 or 2023年5月."), column, value=cell_text(value))
    if isinstance(value, (date, datetime)):
        return f"{value.year:04d}-{value.month:02d}"
    if isinstance(value, bool) or value is None:
        raise bad
    if isinstance(value, float) and not value.is_integer():
        if 1900 < value < 2100:
            whole, _, fraction = repr(value).partition(".")
            if len(fraction) == 2 and 1 <= int(fraction) <= 12:
                return f"{whole}-{fraction}"
            raise refuse(
                N_("The month {value} is ambiguous as a number (2023.1 may be 2023.10); enter it as text."),
                column,
                value=repr(value),
            )
        value = int(value) if _SERIAL_RANGE[0] <= value <= _SERIAL_RANGE[1] else value
    if isinstance(value, (int, float)):
        number = int(value)
        if 190001 <= number <= 210012 and 1 <= number % 100 <= 12:
            return f"{number // 100:04d}-{number % 100:02d}"
        if _SERIAL_RANGE[0] <= number <= _SERIAL_RANGE[1]:
            day = _serial_date(number)
            return f"{day.year:04d}-{day.month:02d}"
        raise bad
    text = "".join(cell_text(value).split())
    if text.isdigit() and len(text) == 5 and _SERIAL_RANGE[0] <= int(text) <= _SERIAL_RANGE[1]:
        day = _serial_date(int(text))
        return f"{day.year:04d}-{day.month:02d}"
    for pattern in (_MONTH, _COMPACT_MONTH, _COMPACT_DAY):
        match = pattern.fullmatch(text)
        if match:
            year, month = int(match.group(1)), int(match.group(2))
            if 1900 < year < 2100 and 1 <= month <= 12:
                return f"{year:04d}-{month:02d}"
    raise bad


def date_cell(value: Cell, column: str) -> date | None:
    """A full date (birth date): date cell, Excel serial, 1980-01-02, 1980年1月2日, 19800102."""
    if value is None or cell_text(value) == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    bad = refuse(N_("Enter the date as 1980-01-02."), column, value=cell_text(value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if _SERIAL_RANGE[0] - 25000 <= value <= _SERIAL_RANGE[1]:
            return _serial_date(value)
        if isinstance(value, int) and _COMPACT_DAY.fullmatch(str(value)):
            value = str(value)
        else:
            raise bad
    text = "".join(cell_text(value).split())
    for pattern in (_MONTH, _COMPACT_DAY):
        match = pattern.fullmatch(text)
        if match and match.group(3):
            try:
                return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            except ValueError:
                raise bad from None
    raise bad


def amount_cell(value: Cell, column: str = "amount") -> int:
    """A monthly amount in fen from a number, or text with 元, ¥ or thousands separators."""
    if isinstance(value, bool):
        raise refuse(N_("The amount is not a number ({value})."), column, value=str(value))
    if isinstance(value, (int, float)):
        try:
            amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation:
            raise refuse(N_("The amount is not a number ({value})."), column, value=str(value)) from None
        fen = amount * 100
        if fen != fen.to_integral_value():
            raise refuse(N_("An amount has at most two decimal places (fen)."), column)
        result = int(fen)
        if result < 0 or result > MAX_FEN:
            raise refuse(N_("The amount is not a number ({value})."), column, value=str(value))
    else:
        text = cell_text(value).removesuffix("/月").removesuffix("每月")
        if not text:
            raise refuse(N_("The amount is missing."), column)
        try:
            result = parse_yuan(text, field=column)
        except DomainError:
            raise refuse(N_("The amount is not a number ({value})."), column, value=text) from None
    if result <= 0:
        raise refuse(N_("The monthly amount must be more than zero."), column)
    return result


def choice_cell(value: Cell, vocabulary: dict[str, tuple[str, ...]], column: str) -> str:
    text = cell_text(value).replace(" ", "").lower()
    code = _lookup_cached(id(vocabulary), vocabulary).get(text)
    if code is None:
        raise refuse(
            N_("{value} is not one of: {choices}."),
            column,
            value=cell_text(value),
            choices="、".join(label_of(vocabulary, c) for c in vocabulary),
        )
    return code


_LOOKUPS: dict[int, dict[str, str]] = {}


def _lookup_cached(key: int, vocabulary: dict[str, tuple[str, ...]]) -> dict[str, str]:
    table = _LOOKUPS.get(key)
    if table is None:
        table = _LOOKUPS[key] = _lookup(vocabulary)
    return table


_GRADE = re.compile(r"(?:残疾)?([1-4一二三四])级?(?:残疾)?")


def grade_cell(value: Cell) -> int | None:
    """Disability grade 1-4 (``2``, ``二级``, ``2级``); empty, 无 or 0 is none."""
    text = _fold(cell_text(value))
    if text in ("", "无", "0", "否", "-"):
        return None
    match = _GRADE.fullmatch(text)
    if match is None:
        raise refuse(N_("Disability grade is 1 to 4, or empty."), "disability", value=cell_text(value))
    return _GRADES[match.group(1)]


def phone_cell(value: Cell) -> str:
    if value is None or cell_text(value) == "":
        return ""
    text = digits_cell(value, "phone") if isinstance(value, (int, float)) else cell_text(value)
    try:
        return normalise_phone(text)
    except DomainError as exc:
        raise refuse(exc.message, "phone", **exc.params) from None


def account_cell(value: Cell) -> str:
    if value is None or cell_text(value) == "":
        return ""
    account = digits_cell(value, "onecard_account")
    if not (account.isascii() and account.isdigit() and 12 <= len(account) <= 30):
        raise refuse(N_("The one-card account is 12 to 30 digits."), "onecard_account")
    return account


def text_cell(value: Cell, column: str, *, required: bool, max_len: int) -> str:
    text = cell_text(value)
    if required and not text:
        raise refuse(N_("This column is required."), column)
    if len(text) > max_len:
        raise refuse(N_("At most {max} characters."), column, max=max_len)
    if any(ch in text for ch in "<>"):
        raise refuse(N_("The characters < and > are not allowed."), column)
    return text


# --- the header ------------------------------------------------------------------

_PARENTHESES = re.compile(r"[(（\[【].*?[)）\]】]")


def _header_key(text: str) -> str:
    return _PARENTHESES.sub("", _fold(text)).strip("*:：")


_HEADER_LOOKUP: dict[str, str] = {}
for _column in COLUMNS:
    for _alias in (_column.header, *_column.aliases):
        _HEADER_LOOKUP.setdefault(_header_key(_alias), _column.key)


@dataclass(frozen=True)
class Header:
    row_index: int  # 0-based position of the header row among the rows scanned
    columns: dict[str, int]  # column key → 0-based column position

    def missing(self) -> list[str]:
        return [c.key for c in COLUMNS if c.required and c.key not in self.columns]


def find_header(rows: Sequence[Sequence[Cell]]) -> Header | None:
    """The header among the first rows: the row naming most roster columns (at least four).

    A header cell left empty by a merge takes the text above it (a title merged
    over two header rows); the first column named wins when a name repeats.
    """
    best: Header | None = None
    for index, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        above = rows[index - 1] if index > 0 else ()
        columns: dict[str, int] = {}
        for position, value in enumerate(row[:MAX_COLUMNS]):
            text = cell_text(value)
            if not text and position < len(above):
                text = cell_text(above[position])
            key = _HEADER_LOOKUP.get(_header_key(text)) if text else None
            if key is not None and key not in columns:
                columns[key] = position
        if len(columns) >= 4 and (best is None or len(columns) > len(best.columns)):
            best = Header(index, columns)
    return best


# --- rows into households ---------------------------------------------------------


@dataclass(frozen=True)
class RosterMember:
    name: str
    id_number: str
    sex: Sex
    birth_date: date
    relation: Relation
    disability_grade: int | None
    illness: Illness
    work_capacity: WorkCapacity
    schooling: Schooling


@dataclass(frozen=True)
class RosterHousehold:
    file_no: str
    community: str
    address: str
    phone: str
    category: Category
    monthly_fen: int
    start_month: str
    onecard_account: str
    bank: str
    housing: Housing
    members: tuple[RosterMember, ...]
    sheet: str
    rows: tuple[int, ...]

    @property
    def head(self) -> RosterMember:
        return next(m for m in self.members if m.relation == Relation.HEAD)


@dataclass(frozen=True)
class Refusal:
    sheet: str
    row: int  # 1-based row number in the sheet
    column: str  # column key ("" when the whole row or household is refused)
    message: str  # message id (English), translated at the edge
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceRow:
    sheet: str
    row: int  # 1-based row number in the sheet
    cells: dict[str, Cell]


def row_cells(header: Header, row: Sequence[Cell]) -> dict[str, Cell]:
    """The roster's cells of one row by column key; text longer than MAX_CELL_CHARS is cut
    (the value is refused later anyway; a huge cell is not kept)."""
    width = len(row)
    cells: dict[str, Cell] = {}
    for key, pos in header.columns.items():
        value = row[pos] if pos < width else None
        if type(value) is str and len(value) > MAX_CELL_CHARS:
            value = value[:MAX_CELL_CHARS]
        cells[key] = value
    return cells


def is_blank(cells: dict[str, Cell]) -> bool:
    return all(v is None or cell_text(v) == "" for v in cells.values())


def _member(row: SourceRow, as_of: date) -> RosterMember:
    cells = row.cells
    name = text_cell(cells.get("name"), "name", required=True, max_len=40)
    parsed = parsed_id_cell(cells.get("id_number"), as_of)
    id_number = parsed.number
    if cell_text(cells.get("sex")) and choice_cell(cells.get("sex"), SEXES, "sex") != parsed.sex:
        raise refuse(N_("The sex does not match the ID number."), "sex")
    birth = date_cell(cells.get("birth_date"), "birth_date")
    if birth is not None and birth != parsed.birth_date:
        raise refuse(
            N_("The birth date does not match the ID number ({birth_date})."),
            "birth_date",
            birth_date=parsed.birth_date.isoformat(),
        )
    if not cell_text(cells.get("work_capacity")):
        raise refuse(N_("This column is required."), "work_capacity")
    return RosterMember(
        name=name,
        id_number=id_number,
        sex=parsed.sex,
        birth_date=parsed.birth_date,
        relation=Relation(choice_cell(cells.get("relation"), RELATIONS, "relation")),
        disability_grade=grade_cell(cells.get("disability")),
        illness=Illness(choice_cell(cells.get("illness"), ILLNESSES, "illness")),
        work_capacity=WorkCapacity(choice_cell(cells.get("work_capacity"), WORK_CAPACITIES, "work_capacity")),
        schooling=Schooling(choice_cell(cells.get("schooling"), SCHOOLINGS, "schooling")),
    )


_HOUSEHOLD_PARSERS: dict[str, Any] = {
    "file_no": lambda v: text_cell(v, "file_no", required=True, max_len=24),
    "community": lambda v: text_cell(v, "community", required=True, max_len=100),
    "address": lambda v: text_cell(v, "address", required=True, max_len=120),
    "phone": phone_cell,
    "category": lambda v: Category(choice_cell(v, CATEGORIES, "category")),
    "amount": amount_cell,
    "start_month": month_cell,
    "onecard_account": account_cell,
    "bank": lambda v: text_cell(v, "bank", required=False, max_len=60),
    "housing": lambda v: Housing(choice_cell(v, HOUSINGS, "housing")),
}


def file_no_of(cells: dict[str, Cell]) -> str:
    return "".join(cell_text(cells.get("file_no")).split())


@dataclass
class Grouped:
    households: list[RosterHousehold]
    refusals: list[Refusal]
    refused_rows: list[SourceRow]  # every row of a refused household, in file order


def group_households(rows: Iterable[SourceRow], as_of: date) -> Grouped:
    """Group member rows into households and check every cell and every household.

    A row with an empty household number continues the household above it (a
    merged cell). A household is refused whole when any of its rows is refused;
    a person in two households refuses both.
    """
    groups: dict[str, list[SourceRow]] = {}
    orphans: list[SourceRow] = []
    current: str | None = None
    for row in rows:
        if is_blank(row.cells):
            continue
        key = file_no_of(row.cells)
        if key:
            current = key
        if current is None:
            orphans.append(row)
            continue
        groups.setdefault(current, []).append(row)

    refusals: list[Refusal] = [
        Refusal(r.sheet, r.row, "file_no", N_("The household number is missing.")) for r in orphans
    ]
    refused_keys: set[str] = set()
    parsed: dict[str, tuple[dict[str, Any], list[RosterMember]]] = {}
    seen_people: dict[str, tuple[str, SourceRow]] = {}
    for key, group in groups.items():
        problems: list[Refusal] = []
        values: dict[str, Any] = {}
        raw_seen: dict[str, tuple[str, int]] = {}
        first_values: dict[str, Cell] = {}
        first_row: dict[str, SourceRow] = {}
        for row in group:
            cells = row.cells
            for column in HOUSEHOLD_KEYS:
                value = cells.get(column)
                if value is None or (column in first_values and value == first_values[column]):
                    continue  # empty, or the household's value repeated
                text = cell_text(value)
                if not text:
                    continue
                if column not in first_values:
                    first_values[column], first_row[column] = value, row
                if column in raw_seen and raw_seen[column][0] != text and column != "file_no":
                    problems.append(
                        Refusal(
                            row.sheet,
                            row.row,
                            column,
                            N_("This row of household {file_no} disagrees with row {other} on this column."),
                            {"file_no": key, "other": raw_seen[column][1]},
                        )
                    )
                    continue
                raw_seen.setdefault(column, (text, row.row))
        for column, parser in _HOUSEHOLD_PARSERS.items():
            try:
                values[column] = parser(first_values.get(column))
            except DomainError as exc:
                source = first_row.get(column, group[0])
                problems.append(Refusal(source.sheet, source.row, column, exc.message, dict(exc.params)))
        members: list[RosterMember] = []
        ids_here: dict[str, int] = {}
        for row in group:
            try:
                person = _member(row, as_of)
            except DomainError as exc:
                problems.append(Refusal(row.sheet, row.row, exc.field or "", exc.message, dict(exc.params)))
                continue
            if person.id_number in ids_here:
                problems.append(
                    Refusal(
                        row.sheet,
                        row.row,
                        "id_number",
                        N_("The same person appears twice in this household (row {other})."),
                        {"other": ids_here[person.id_number]},
                    )
                )
                continue
            ids_here[person.id_number] = row.row
            other = seen_people.get(person.id_number)
            if other is not None and other[0] != key:
                problems.append(
                    Refusal(
                        row.sheet,
                        row.row,
                        "id_number",
                        N_("This person is also in household {file_no} (row {other})."),
                        {"file_no": other[0], "other": other[1].row},
                    )
                )
                refused_keys.add(other[0])
                refusals.append(
                    Refusal(
                        other[1].sheet,
                        other[1].row,
                        "id_number",
                        N_("This person is also in household {file_no} (row {other})."),
                        {"file_no": key, "other": row.row},
                    )
                )
            else:
                seen_people[person.id_number] = (key, row)
            members.append(person)
        heads = [m for m in members if m.relation == Relation.HEAD]
        if not problems and not heads:
            problems.append(
                Refusal(group[0].sheet, group[0].row, "relation", N_("The household has no head."))
            )
        elif not problems and len(heads) > 1:
            problems.append(
                Refusal(group[0].sheet, group[0].row, "relation", N_("The household has more than one head."))
            )
        if len(group) > MAX_MEMBERS:
            problems.append(
                Refusal(group[0].sheet, group[0].row, "", N_("At most {max} members."), {"max": MAX_MEMBERS})
            )
        if problems:
            refused_keys.add(key)
            refusals.extend(problems)
        parsed[key] = (values, members)

    households: list[RosterHousehold] = []
    refused_rows: list[SourceRow] = list(orphans)
    for key, group in groups.items():
        if key in refused_keys:
            refused_rows.extend(group)
            continue
        values, members = parsed[key]
        households.append(
            RosterHousehold(
                file_no=values["file_no"],
                community=values["community"],
                address=values["address"],
                phone=values["phone"],
                category=values["category"],
                monthly_fen=values["amount"],
                start_month=values["start_month"],
                onecard_account=values["onecard_account"],
                bank=values["bank"],
                housing=values["housing"],
                members=tuple(members),
                sheet=group[0].sheet,
                rows=tuple(r.row for r in group),
            )
        )
    refused_rows.sort(key=lambda r: (r.sheet, r.row))
    refusals.sort(key=lambda r: (r.sheet, r.row, r.column))
    return Grouped(households, refusals, refused_rows)


# --- writing a roster ----------------------------------------------------------------


def header_row() -> list[str]:
    return [c.header for c in COLUMNS]


def household_rows(household: RosterHousehold, *, head_first: bool = True) -> list[list[Cell]]:
    """The roster rows of one household (head first), household columns repeated."""
    from relief_pwa.core.money import fen_to_decimal_str

    rows: list[list[Cell]] = []
    ordered = (
        sorted(household.members, key=lambda m: m.relation != Relation.HEAD)
        if head_first
        else list(household.members)
    )
    for person in ordered:
        values: dict[str, Cell] = {
            "file_no": household.file_no,
            "community": household.community,
            "address": household.address,
            "phone": household.phone,
            "name": person.name,
            "id_number": person.id_number,
            "relation": label_of(RELATIONS, person.relation),
            "sex": label_of(SEXES, person.sex),
            "birth_date": person.birth_date.isoformat(),
            "disability": f"{person.disability_grade}级" if person.disability_grade else "",
            "work_capacity": label_of(WORK_CAPACITIES, person.work_capacity),
            "schooling": label_of(SCHOOLINGS, person.schooling),
            "illness": label_of(ILLNESSES, person.illness),
            "category": label_of(CATEGORIES, household.category),
            "amount": fen_to_decimal_str(household.monthly_fen),
            "start_month": household.start_month,
            "onecard_account": household.onecard_account,
            "bank": household.bank,
            "housing": label_of(HOUSINGS, household.housing),
        }
        rows.append([values[c.key] for c in COLUMNS])
    return rows


def month_count(start_month: str, current_month: str) -> int:
    """Months from ``start_month`` to ``current_month`` inclusive (0 when it starts later)."""
    sy, sm = (int(p) for p in start_month.split("-"))
    cy, cm = (int(p) for p in current_month.split("-"))
    return max(0, (cy * 12 + cm) - (sy * 12 + sm) + 1)
