"""The roster's cell rules, table-driven over the messy cells real spreadsheets hold."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from relief_pwa.adapters.exports import neutralise
from relief_pwa.core import caseload as core
from relief_pwa.core.enums import Category, Housing, Illness, Relation, Schooling, WorkCapacity
from relief_pwa.core.errors import DomainError
from relief_pwa.core.idnumber import make_id_number

AS_OF = date(2026, 11, 16)
ID = make_id_number("370102", date(1980, 1, 2), 123)  # a man (odd sequence)
ID_X = next(n for s in range(1, 999) if (n := make_id_number("370102", date(1975, 6, 1), s)).endswith("X"))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (ID, ID),
        (f" {ID[:6]} {ID[6:14]} {ID[14:]} ", ID),  # spaces
        ("".join(chr(ord(c) + 0xFEE0) for c in ID), ID),  # full-width digits
        (ID_X.lower(), ID_X),  # lower-case x
        (ID_X[:-1] + "ｘ", ID_X),  # full-width x
        (int(ID) if not ID.endswith("X") else ID, ID),  # an exact integer cell keeps every digit
        (f"{ID}.0", ID),  # text of an integral number: every digit is there
        (f"'{ID}", ID),  # a text-prefix apostrophe
    ],
)
def test_id_number_cells_accepted(cell: Any, expected: str) -> None:
    assert core.id_number_cell(cell, AS_OF) == expected


@pytest.mark.parametrize(
    ("cell", "message_part"),
    [
        (float(ID), "lost its last digits"),  # 3.70102198001021E+17 stored as a number
        ("3.70102198001021E+17", "lost its last digits"),  # the same, read as CSV text
        ("3.70102198001021e17", "lost its last digits"),
        (ID[:-1] + ("0" if ID[-1] != "0" else "1"), "check character"),  # bad check digit
        (ID[:15], "15-digit"),
        ("", "18-character"),
        (None, "18-character"),
        ("ABC", "18 characters"),
    ],
)
def test_id_number_cells_refused(cell: Any, message_part: str) -> None:
    with pytest.raises(DomainError) as caught:
        core.id_number_cell(cell, AS_OF)
    assert message_part in caught.value.message
    assert caught.value.field == "id_number"


@pytest.mark.parametrize(
    ("cell", "month"),
    [
        ("2023-05", "2023-05"),
        ("2023年5月", "2023-05"),
        ("２０２３年５月", "2023-05"),  # full-width
        ("2023 年 5 月", "2023-05"),
        ("2023.05", "2023-05"),
        ("2023.5", "2023-05"),  # typed text: unambiguous
        ("2023/5", "2023-05"),
        ("2023-05-01", "2023-05"),
        ("2023年5月1日", "2023-05"),
        ("202305", "2023-05"),
        ("20230501", "2023-05"),
        (202305, "2023-05"),
        (45047, "2023-05"),  # Excel serial of 2023-05-01
        (45047.0, "2023-05"),
        ("45047", "2023-05"),  # the serial as CSV text
        (2023.05, "2023-05"),  # a number with both digits of the month
        (2023.12, "2023-12"),
        (datetime(2023, 5, 1), "2023-05"),
        (date(2023, 5, 31), "2023-05"),
    ],
)
def test_month_cells_accepted(cell: Any, month: str) -> None:
    assert core.month_cell(cell) == month


@pytest.mark.parametrize(
    ("cell", "message_part"),
    [
        (2023.1, "ambiguous"),  # 2023.10 once the trailing zero was dropped, or January?
        ("2023-13", "2023-05"),
        ("五月", "2023-05"),
        ("", "2023-05"),
        (None, "2023-05"),
        (12, "2023-05"),
    ],
)
def test_month_cells_refused(cell: Any, message_part: str) -> None:
    with pytest.raises(DomainError) as caught:
        core.month_cell(cell)
    assert message_part in caught.value.message


@pytest.mark.parametrize(
    ("cell", "fen"),
    [
        ("920", 92000),
        ("920元", 92000),
        ("920.5元", 92050),
        ("1,200.50", 120050),
        ("１，２００元", 120000),  # full-width
        ("￥1,200", 120000),
        (" 920 元/月 ", 92000),
        (920, 92000),
        (920.5, 92050),
        (1200.25, 120025),
    ],
)
def test_amount_cells_accepted(cell: Any, fen: int) -> None:
    assert core.amount_cell(cell) == fen


@pytest.mark.parametrize(
    ("cell", "message_part"),
    [
        ("九百二十", "not a number"),
        ("1.200,50", "not a number"),  # European separators: ambiguous
        ("12,00", "not a number"),  # a wrongly grouped separator
        ("920.555", "not a number"),
        (920.555, "two decimal"),
        ("-920", "not a number"),
        ("0", "more than zero"),
        (0, "more than zero"),
        ("", "missing"),
        (None, "missing"),
    ],
)
def test_amount_cells_refused(cell: Any, message_part: str) -> None:
    with pytest.raises(DomainError) as caught:
        core.amount_cell(cell)
    assert message_part in caught.value.message


@pytest.mark.parametrize(
    ("vocabulary", "cell", "code"),
    [
        (core.RELATIONS, "户主", Relation.HEAD),
        (core.RELATIONS, " 本人 ", Relation.HEAD),
        (core.RELATIONS, "女儿", Relation.CHILD),
        (core.RELATIONS, "head", Relation.HEAD),
        (core.WORK_CAPACITIES, "部分丧失劳动能力", WorkCapacity.PARTIAL),
        (core.WORK_CAPACITIES, "无劳动能力", WorkCapacity.NONE),
        (core.SCHOOLINGS, "", Schooling.NOT_IN_SCHOOL),
        (core.SCHOOLINGS, "初中", Schooling.JUNIOR),
        (core.ILLNESSES, None, Illness.NONE),
        (core.ILLNESSES, "大病", Illness.SERIOUS),
        (core.CATEGORIES, "城乡低保", Category.DIBAO),
        (core.CATEGORIES, "特困供养", Category.TEKUN),
        (core.HOUSINGS, "租房", Housing.RENTED),
        (core.HOUSINGS, None, Housing.OWNED_ADEQUATE),
    ],
)
def test_choices(vocabulary: dict[str, tuple[str, ...]], cell: Any, code: str) -> None:
    assert core.choice_cell(cell, vocabulary, "x") == code


def test_unknown_choice_names_the_choices() -> None:
    with pytest.raises(DomainError) as caught:
        core.choice_cell("邻居", core.RELATIONS, "relation")
    assert caught.value.field == "relation"
    assert "户主" in caught.value.params["choices"]


@pytest.mark.parametrize(
    ("cell", "grade"),
    [
        ("", None),
        (None, None),
        ("无", None),
        (0, None),
        (2, 2),
        ("2", 2),
        ("二级", 2),
        ("4级", 4),
        ("残疾一级", 1),
    ],
)
def test_disability_grades(cell: Any, grade: int | None) -> None:
    assert core.grade_cell(cell) == grade


@pytest.mark.parametrize("cell", ["五级", "重度", 7])
def test_bad_disability_grades(cell: Any) -> None:
    with pytest.raises(DomainError):
        core.grade_cell(cell)


@pytest.mark.parametrize(
    ("cell", "phone"),
    [("13905310001", "13905310001"), (13905310001, "13905310001"), (13905310001.0, "13905310001"),
     ("0531-8888 1234", "0531-88881234"), ("", ""), (None, "")],
)  # fmt: skip
def test_phones(cell: Any, phone: str) -> None:
    assert core.phone_cell(cell) == phone


@pytest.mark.parametrize(
    ("cell", "account"),
    [
        ("6217 0000 1111 2222 333", "6217000011112222333"),
        (6217000011112222333, "6217000011112222333"),
        ("", ""),
    ],
)
def test_accounts(cell: Any, account: str) -> None:
    assert core.account_cell(cell) == account


def test_account_stored_as_float_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        core.account_cell(6.217000011112222e18)
    assert "lost its last digits" in caught.value.message


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+86 139", "'+86 139"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("张三", "张三"),
    ],
)
def test_formula_cells_are_neutralised(cell: str, safe: str) -> None:
    assert neutralise(cell) == safe
    if cell[:1] not in "\t\r":
        assert core.cell_text(neutralise(cell)) == cell  # read back as it was


# --- the header --------------------------------------------------------------------------


def test_header_on_row_three_with_merged_title_cells() -> None:
    rows: list[tuple[Any, ...]] = [
        ("济南市城乡低保对象花名册", None, None, None, None, None),  # a merged title
        ("户信息", None, None, "成员信息", None, None),  # merged group headers
        ("户号", "社区", None, "姓名", "身份证号码（18位）", "与户主关系"),
        ("A1", "解放路社区", None, "张三", ID, "户主"),
    ]
    rows[2] = ("户号", "社区", None, "姓名", "身份证号码（18位）", "与户主关系")
    header = core.find_header(rows)
    assert header is not None
    assert header.row_index == 2
    assert header.columns == {"file_no": 0, "community": 1, "name": 3, "id_number": 4, "relation": 5}


def test_header_cell_merged_down_from_the_row_above() -> None:
    rows: list[tuple[Any, ...]] = [
        ("户号", "社区名称", "家庭住址", "家庭成员", None, None),
        (None, None, None, "姓 名", "身份证号", "关系"),
    ]
    header = core.find_header(rows)
    assert header is not None
    assert header.row_index == 1
    assert header.columns == {
        "file_no": 0, "community": 1, "address": 2, "name": 3, "id_number": 4, "relation": 5,
    }  # fmt: skip


def test_no_header() -> None:
    assert core.find_header([("a", "b"), (1, 2)]) is None


# --- rows into households -------------------------------------------------------------------


def _row(n: int, **cells: Any) -> core.SourceRow:
    base: dict[str, Any] = {
        "file_no": "H1", "community": "370102001001", "address": "解放路1号", "phone": "13905310001",
        "name": "张三", "id_number": ID, "relation": "户主", "work_capacity": "有劳动能力",
        "category": "低保", "amount": "920元", "start_month": "2023年5月",
    }  # fmt: skip
    base.update(cells)
    return core.SourceRow("花名册", n, base)


SPOUSE = make_id_number("370102", date(1982, 3, 4), 124)
CHILD = make_id_number("370102", date(2012, 7, 8), 125)


def test_one_row_per_member_with_the_household_repeated_or_blank() -> None:
    rows = [
        _row(2),
        _row(3, name="李四", id_number=SPOUSE, relation="妻"),
        # a merged cell: the household columns are empty on the member's row
        _row(4, file_no=None, community=None, address=None, phone=None, category=None, amount=None,
             start_month=None, name="张小", id_number=CHILD, relation="子", work_capacity="无劳动能力",
             schooling="小学"),
    ]  # fmt: skip
    grouped = core.group_households(rows, AS_OF)
    assert grouped.refusals == []
    (household,) = grouped.households
    assert household.file_no == "H1"
    assert household.monthly_fen == 92000
    assert household.start_month == "2023-05"
    assert [m.relation for m in household.members] == [Relation.HEAD, Relation.SPOUSE, Relation.CHILD]
    assert household.members[2].schooling == Schooling.PRIMARY
    assert household.members[1].birth_date == date(1982, 3, 4)
    assert household.rows == (2, 3, 4)


def _refusals(rows: list[core.SourceRow]) -> list[tuple[int, str, str]]:
    grouped = core.group_households(rows, AS_OF)
    return [(r.row, r.column, r.message) for r in grouped.refusals]


@pytest.mark.parametrize(
    ("rows", "expected_column", "message_part"),
    [
        ([_row(2, id_number=ID[:-1] + ("1" if ID[-1] == "0" else "0"))], "id_number", "check character"),
        ([_row(2, id_number=float(ID))], "id_number", "lost its last digits"),
        ([_row(2, relation="配偶")], "relation", "no head"),
        ([_row(2), _row(3, name="李四", id_number=SPOUSE)], "relation", "more than one head"),
        ([_row(2, amount="九百")], "amount", "not a number"),
        ([_row(2, start_month="五月")], "start_month", "2023-05"),
        ([_row(2, sex="女")], "sex", "sex does not match"),
        ([_row(2, birth_date="1980-01-03")], "birth_date", "birth date does not match"),
        (
            [_row(2), _row(3, name="李四", id_number=SPOUSE, relation="妻", amount="800")],
            "amount",
            "disagrees",
        ),
        ([_row(2), _row(3, id_number=ID, relation="子")], "id_number", "twice"),
        ([_row(2, file_no=None)], "file_no", "household number is missing"),
        ([_row(2, work_capacity=None)], "work_capacity", "required"),
        ([_row(2, category="扶贫")], "category", "is not one of"),
    ],
)
def test_refused_households(rows: list[core.SourceRow], expected_column: str, message_part: str) -> None:
    grouped = core.group_households(rows, AS_OF)
    assert grouped.households == []
    assert any(r.column == expected_column and message_part in r.message for r in grouped.refusals), (
        grouped.refusals
    )
    assert [r.row for r in grouped.refused_rows] == [r.row for r in rows]


def test_a_person_in_two_households_refuses_both() -> None:
    rows = [
        _row(2),
        _row(3, file_no="H2", name="张三", id_number=ID, relation="户主"),
        _row(4, file_no="H3", id_number=SPOUSE, name="李四"),
    ]
    grouped = core.group_households(rows, AS_OF)
    assert [h.file_no for h in grouped.households] == ["H3"]
    assert {(r.row, r.column) for r in grouped.refusals} == {(2, "id_number"), (3, "id_number")}
    assert all("also in household" in r.message for r in grouped.refusals)


def test_export_rows_read_back_identically() -> None:
    rows = [
        _row(2),
        _row(3, name="李四", id_number=SPOUSE, relation="配偶", disability="二级", illness="慢性病"),
    ]
    (household,) = core.group_households(rows, AS_OF).households
    header = core.find_header([core.header_row()])
    assert header is not None
    again = [
        core.SourceRow("x", n, core.row_cells(header, values))
        for n, values in enumerate(core.household_rows(household), start=2)
    ]
    (back,) = core.group_households(again, AS_OF).households
    assert back.members == household.members
    assert (back.monthly_fen, back.start_month, back.category) == (92000, "2023-05", Category.DIBAO)


def test_month_count() -> None:
    assert core.month_count("2023-05", "2023-05") == 1
    assert core.month_count("2023-05", "2024-04") == 12
    assert core.month_count("2027-01", "2026-11") == 0
