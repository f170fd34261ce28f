"""The caseload import: rosters become current recipients, all or nothing, never twice."""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook

from relief_pwa.core.enums import AppState
from relief_pwa.core.errors import PermissionDenied
from relief_pwa.i18n import translate
from relief_pwa.services import caseload, identifiers
from relief_pwa.services.audit import verify_chain
from relief_pwa.tables import Application, AuditEvent, Fund, Household, IndexRecord, Member, Plan, PlanLine
from tests.factories import make_intake, member
from tests.helpers import found
from tests.services.caseload_support import benefit, csv_bytes, new_id, row, xlsx


async def _import(
    world: Any, data: bytes, name: str = "roster.xlsx", **options: Any
) -> caseload.ImportReport:
    return await caseload.import_caseload(world.actor("city"), data, filename=name, now=world.now, **options)


def _two_households() -> list[dict[str, Any]]:
    return [
        row(),
        row(name="李四", id_number=new_id(date(1972, 3, 4), male=False), relation="妻",
            work_capacity="部分丧失劳动能力", illness="慢性病"),
        row(file_no="LX-0002", community="和平社区", name="王五", category="特困", amount="1,200.50",
            start_month=45231, disability="二级", work_capacity="无劳动能力"),
    ]  # fmt: skip


async def test_import_creates_current_recipients(world: Any) -> None:
    fund_id, resource_id = await benefit(world)
    report = await _import(world, xlsx(_two_households(), title_rows=2))

    assert report.refusals == []
    assert (report.imported, report.imported_members, report.already) == (2, 3, 0)
    assert report.written and report.scored == 2

    first = found(await Household.objects().where(Household.file_no == "LX-0001").first())
    assert first.is_open and first.head_name == "张三" and first.onecard_bank == "济南农商银行"
    assert first.org_path.endswith("/370102001001/")
    assert first.current_index is not None
    assert await Member.count().where(Member.household == first.id) == 2
    application = found(await Application.objects().where(Application.household == first.id).first())
    assert application.state == AppState.ACTIVE
    assert application.category == "dibao"
    assert application.decided_on == date(2023, 5, 1)
    plan = found(await Plan.objects().where(Plan.household == first.id).first())
    assert plan.status == "approved" and plan.application == application.id
    line = found(await PlanLine.objects().where(PlanLine.plan == plan.id).first())
    assert (line.amount_fen, line.start_month, line.status, line.resource) == (92000, "2023-05", "approved",
                                                                              resource_id)  # fmt: skip
    # 2023-05 … 2026-10 have run (42 months); from this month on, the resource's 12 months.
    assert line.months == 42 + 12
    second = found(await Household.objects().where(Household.file_no == "LX-0002").first())
    second_line = found(await PlanLine.objects().where(PlanLine.household == second.id).first())
    assert (second_line.amount_fen, second_line.start_month) == (120050, "2023-11")
    assert await IndexRecord.count().where(IndexRecord.trigger == "caseload.import") == 2

    fund = found(await Fund.objects().where(Fund.id == fund_id).first())
    assert fund.reserved_fen == (92000 + 120050) * 12

    events = await AuditEvent.select().where(AuditEvent.action == "caseload.import")
    assert len(events) == 1
    after = json.loads(events[0]["after"])
    assert after["imported_households"] == 2 and after["imported_members"] == 3
    assert len(after["sha256"]) == 64
    heads = await Member.select(Member.id_sealed)
    numbers = [identifiers.opened("id_number", m["id_sealed"]) for m in heads]
    assert not any(number in events[0]["after"] for number in numbers)  # no ID numbers in the audit
    assert (await verify_chain()).ok


async def test_same_file_twice_imports_nothing_twice(world: Any) -> None:
    await benefit(world)
    data = xlsx(_two_households())
    await _import(world, data)
    again = await _import(world, data)
    assert (again.imported, again.already, again.refusals) == (0, 2, [])
    assert await Household.count() == 2
    assert await PlanLine.count() == 2


async def test_dry_run_changes_nothing(world: Any) -> None:
    await benefit(world)
    events = await AuditEvent.count()
    report = await _import(world, xlsx(_two_households()), dry_run=True)
    assert report.refusals == [] and not report.written and report.households_in_file == 2
    assert await Household.count() == 0
    assert await AuditEvent.count() == events


def _with_refused_rows() -> list[dict[str, Any]]:
    bad = new_id()
    return [
        *_two_households(),
        row(file_no="LX-0003", id_number=bad[:-1] + ("0" if bad[-1] != "0" else "1")),  # bad check digit
        row(file_no="LX-0004", community="不存在社区"),  # unknown community
        row(file_no="LX-0005", amount="九百元"),  # amount not a number
        row(file_no="LX-0006", relation="子"),  # no head
    ]


async def test_one_refused_row_imports_nothing_by_default(world: Any) -> None:
    await benefit(world)
    report = await _import(world, xlsx(_with_refused_rows()))
    assert not report.written and report.imported == 0
    assert report.refused_households == 4
    reasons = {(r.row, r.column): r.message for r in report.refusals}
    assert "check character" in reasons[(5, "id_number")]
    assert "Unknown community" in reasons[(6, "community")]
    assert "not a number" in reasons[(7, "amount")]
    assert "no head" in reasons[(8, "relation")]
    assert all(r.sheet == "花名册" for r in report.refusals)
    assert await Household.count() == 0


async def test_accept_valid_imports_the_rest_and_the_fixed_rows_import_later(world: Any) -> None:
    await benefit(world)
    report = await _import(world, xlsx(_with_refused_rows()), accept_valid=True)
    assert report.imported == 2 and report.refused_households == 4
    assert await Household.count() == 2

    buffer = io.BytesIO()
    caseload.write_report(report, buffer, translate)
    workbook = load_workbook(io.BytesIO(buffer.getvalue()))
    problems = list(workbook.worksheets[0].iter_rows(values_only=True))
    assert len(problems[0]) == 4  # sheet, row, column, reason
    assert problems[2][:3] == ("花名册", 6, "社区")
    fix = workbook.worksheets[1]
    rows = list(fix.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == ["LX-0003", "LX-0004", "LX-0005", "LX-0006"]
    # Fix the rows in the refused-rows file and import the report itself.
    for cells in fix.iter_rows(min_row=2):
        by_header = {rows[0][i]: c for i, c in enumerate(cells)}
        if by_header["户号"].value == "LX-0003":
            by_header["身份证号"].value = new_id()
        by_header["社区"].value = "370102001002"
        by_header["月保障金额"].value = "900"
        by_header["与户主关系"].value = "户主"
    fixed = io.BytesIO()
    workbook.save(fixed)
    again = await _import(world, fixed.getvalue())
    assert (again.imported, again.refusals) == (4, [])
    assert await Household.count() == 6


async def test_people_already_in_an_open_household_are_refused(world: Any) -> None:
    await benefit(world)
    existing = await make_intake(world, members=[member("赵六")])
    sealed = found(await Member.objects().where(Member.household == existing.household_id).first()).id_sealed
    number = identifiers.opened("id_number", sealed)
    report = await _import(world, xlsx([row(name="赵六", id_number=number)]))
    (refusal,) = report.refusals
    assert refusal.column == "id_number" and "already belongs to open household" in refusal.message
    assert refusal.params["file_no"] == existing.file_no
    # A different household under a number that is already taken is refused too.
    report = await _import(world, xlsx([row(file_no=existing.file_no)]))
    assert "already belongs to another household" in report.refusals[0].message


async def test_csv_with_messy_cells(world: Any) -> None:
    await benefit(world)
    head = new_id()
    rows = [
        row(id_number=head.lower(), file_no="LX-0009", amount="１，２００元", start_month="2023.05",
            phone="139 0531 0001", name=" 张 三 "),
        row(file_no=None, community=None, address=None, phone=None, category=None, amount=None,
            start_month=None, onecard_account=None, bank=None, name="张小", relation="子",
            id_number=new_id(date(2015, 1, 1)), work_capacity="无劳动能力", schooling="小学"),
    ]  # fmt: skip
    report = await _import(world, csv_bytes(rows), "roster.csv")
    assert report.refusals == [] and report.imported == 1 and report.imported_members == 2
    line = found(await PlanLine.objects().first())
    assert (line.amount_fen, line.start_month) == (120000, "2023-05")
    head_row = found(await Household.objects().first())
    assert (
        head_row.head_name == "张 三" and identifiers.opened("phone", head_row.phone_sealed) == "13905310001"
    )


async def test_an_interrupted_import_leaves_nothing(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    await benefit(world)

    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("power cut")

    monkeypatch.setattr(caseload, "record_event", fail)
    with pytest.raises(RuntimeError):
        await _import(world, xlsx(_two_households()))
    assert await Household.count() == 0
    assert await Member.count() == 0
    assert await PlanLine.count() == 0
    assert await IndexRecord.count() == 0


async def test_only_city_staff_import(world: Any) -> None:
    with pytest.raises(PermissionDenied):
        await caseload.import_caseload(world.actor("center"), xlsx([row()]), filename="r.xlsx", now=world.now)


async def test_files_that_are_not_rosters_are_refused(world: Any) -> None:
    with pytest.raises(caseload.ImportRefused):
        await _import(world, b"not a zip")
    with pytest.raises(caseload.ImportRefused):
        await _import(world, b"a,b\n1,2\n", "x.csv")
    with pytest.raises(caseload.ImportRefused):
        await _import(world, b"", "x.pdf")


async def test_a_shared_string_bomb_is_refused_before_it_is_inflated(world: Any) -> None:
    """A roster whose shared text table inflates 1000-fold is refused from the zip's own figures."""
    import io
    import zipfile

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/sharedStrings.xml", b"<sst>" + b"A" * (40 * 1024 * 1024) + b"</sst>")
    assert len(bomb.getvalue()) < 1024 * 1024
    with pytest.raises(caseload.ImportRefused) as caught:
        await _import(world, bomb.getvalue())
    assert "unpacks to too much" in caught.value.message or "compress" in caught.value.message


async def test_too_many_rows_are_refused(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from relief_pwa.settings import get_settings

    small = replace(get_settings(), import_max_rows=3)
    monkeypatch.setattr(caseload, "get_settings", lambda: small)
    with pytest.raises(caseload.ImportRefused) as caught:
        await _import(world, xlsx([row(file_no=f"F{n}") for n in range(5)]))
    assert "more than 3 rows" in str(caught.value)


async def test_template_reads_as_an_empty_roster(world: Any) -> None:
    await benefit(world)
    buffer = io.BytesIO()
    caseload.write_template(buffer)
    report = await _import(world, buffer.getvalue())
    assert (report.households_in_file, report.refusals, report.imported) == (0, [], 0)
    workbook = load_workbook(io.BytesIO(buffer.getvalue()))
    sheet = workbook.worksheets[0]
    assert sheet.cell(2, 1).value == "户号" and sheet.cell(3, 1).value.startswith("例")
    assert "文本格式" in str(sheet.cell(1, 6).value)


def test_the_demo_roster_is_shipped_as_generated_and_valid() -> None:
    from relief_pwa.demo import DEMO_ROSTER, demo_roster, demo_roster_csv

    assert DEMO_ROSTER.read_bytes().decode("utf-8") == demo_roster_csv()
    parsed = caseload.parse_roster(DEMO_ROSTER, "csv", as_of=date(2026, 11, 20), max_rows=10_000)
    assert parsed.grouped.refusals == []
    assert len(parsed.grouped.households) == len(demo_roster()) == 120


async def test_a_messy_workbook_as_bureaus_keep_them(world: Any) -> None:
    """Title and group headers in merged cells, the header on row 3, numbers and dates as
    Excel stores them, the household's cells merged down over its members."""
    from datetime import datetime

    from openpyxl import Workbook

    await benefit(world)
    head, spouse, lost = new_id(), new_id(date(1975, 2, 3), male=False), new_id()
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "城乡低保"
    sheet.append(["历下区城乡低保对象花名册（2026年11月）"])
    sheet.merge_cells("A1:L1")
    sheet.append(["户信息", None, None, "成员信息", None, None, None, "保障信息"])
    sheet.merge_cells("A2:C2")
    sheet.append(["户  号", "社区名称", "家庭住址", "姓名", "身份证号码", "与户主关系", "劳动能力",
                  "保障类别", "月保障金额（元）", "享受起始月", "一卡通账号", "联系电话"])  # fmt: skip
    sheet.append(["ＬＸ－００１", "解放路社区", "解放路1号", "张三", f" {head} ", "户主", "无劳动能力",
                  "低保", 1200.5, datetime(2023, 5, 1), "6217000011112222333", 13905310001])  # fmt: skip
    sheet.append([None, None, None, "李四", spouse.lower(), "配偶", "有劳动能力"])
    sheet.merge_cells("A4:A5")
    # An 18-digit number in a number cell: Excel (and openpyxl) keep only 16 or 17 digits of it.
    sheet.append(["LX-002", "和平社区", "和平路2号", "王五", int(lost), "户主", "有劳动能力",
                  "低保", "800元", 45047, None, None])  # fmt: skip
    buffer = io.BytesIO()
    workbook.save(buffer)

    report = await _import(world, buffer.getvalue(), accept_valid=True)
    assert report.imported == 1 and report.imported_members == 2
    (refusal,) = report.refusals
    assert (refusal.sheet, refusal.row, refusal.column) == ("城乡低保", 6, "id_number")
    assert "lost its last digits" in refusal.message
    household = found(await Household.objects().where(Household.file_no == "LX-001").first())
    line = found(await PlanLine.objects().where(PlanLine.household == household.id).first())
    assert (line.amount_fen, line.start_month) == (120050, "2023-05")
    assert identifiers.opened("account", household.account_sealed) == "6217000011112222333"
    assert identifiers.opened("phone", household.phone_sealed) == "13905310001"


def test_the_example_household_is_skipped_with_its_merged_rows() -> None:
    rows = [
        row(file_no="例370102-0001"),
        row(file_no=None, name="张小", relation="子", id_number=new_id(date(2012, 1, 1))),
        row(file_no="LX-0007"),
    ]
    parsed = caseload.parse_roster(xlsx(rows), "xlsx", as_of=date(2026, 11, 16), max_rows=100)
    assert parsed.skipped_examples == 2
    assert [h.file_no for h in parsed.grouped.households] == ["LX-0007"]
    assert parsed.grouped.refusals == []
