"""Loading communities and villages from the bureau's file: pages, service, command line."""

from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook

from relief_pwa.adapters.orgfile import parse_org_file, template_csv, template_xlsx
from relief_pwa.services.org_import import do_import_org
from relief_pwa.tables import AuditEvent, OrgUnit, OrgUnitVersion
from tests.helpers import found


async def _places() -> int:
    """Org units of the network (the test world's relief department is not one)."""
    return int(await OrgUnit.count().where(OrgUnit.department_kind == ""))


def workbook(*rows: tuple[object, ...]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["代码", "名称", "所属街道", "地址", "电话"])
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


GOOD = (
    ("370102001003", "文化东路社区", "370102001", "文化东路5号", "0531-86011111"),
    (370102001002, "和平路社区", 370102001, "", ""),  # numbers typed into cells; a new name
    ("370102002201", "佛山村", "370102002", "", ""),
)


async def test_a_dry_run_writes_nothing_and_a_bad_row_refuses_the_whole_file(world):
    city = world.actor("city")
    rows = parse_org_file(workbook(*GOOD), "org.xlsx")
    plan = await do_import_org(city, rows, now=world.now, dry_run=True)
    assert plan.ok and len(plan.create) == 2 and len(plan.rename) == 1
    assert await _places() == 10

    bad = parse_org_file(
        workbook(
            *GOOD, ("37010200100", "短码", "370102001", "", ""), ("370102001004", "x", "370199001", "", "")
        ),
        "org.xlsx",
    )
    plan = await do_import_org(city, bad, now=world.now)
    assert [p.line for p in plan.problems] == [5, 6]
    assert await _places() == 10


async def test_loading_creates_renames_and_is_audited(world):
    city = world.actor("city")
    plan = await do_import_org(city, parse_org_file(workbook(*GOOD), "org.xlsx"), now=world.now)
    assert plan.ok
    new = found(await OrgUnit.select().where(OrgUnit.code == "370102001003").first())
    assert new["path"] == "370100/370102/370102001/370102001003/" and new["hotline"]
    village = found(await OrgUnit.select().where(OrgUnit.code == "370102002201").first())
    assert village["area_type"] == "rural"
    renamed = found(await OrgUnit.select().where(OrgUnit.code == "370102001002").first())
    assert renamed["name"] == "和平路社区"
    assert await OrgUnitVersion.count().where(OrgUnitVersion.name == "和平社区") == 1
    assert await AuditEvent.count().where(AuditEvent.action.is_in(["org.create", "org.rename"])) >= 3
    again = await do_import_org(city, parse_org_file(workbook(*GOOD), "org.xlsx"), now=world.now)
    assert again.unchanged == 3 and not again.create and not again.rename


def test_the_templates_read_back():
    rows = parse_org_file(template_xlsx(), "template.xlsx")
    assert [r.code for r in rows] == ["370102001001", "370112104201"]
    assert [r.parent_code for r in parse_org_file(template_csv(), "template.csv")] == [
        "370102001",
        "370112104",
    ]
    sheet = load_workbook(io.BytesIO(template_xlsx())).active
    assert sheet is not None and sheet["A2"].number_format == "@"


async def test_city_staff_load_the_file_on_a_page(client, world):
    await client.login("city")
    assert (await client.get("/admin/org/import")).status_code == 200
    assert (await client.get("/admin/org/template.xlsx")).status_code == 200
    csv_file = "code,name,parent,address,hotline\n370102001003,文化东路社区,370102001,文化东路5号,\n".encode()
    token = await client.ensure_csrf()
    trial = await client.post(
        "/admin/org/import",
        data={"_csrf_token": token, "dry_run": "1"},
        files={"file": ("org.csv", csv_file, "text/csv")},
    )
    assert trial.status_code == 200 and await _places() == 10
    loaded = await client.post(
        "/admin/org/import", data={"_csrf_token": token}, files={"file": ("org.csv", csv_file, "text/csv")}
    )
    assert loaded.status_code == 200 and await _places() == 11
    await client.login("station")
    assert (await client.get("/admin/org/import")).status_code == 403


async def test_city_staff_merge_on_the_unit_page(client, world):
    await client.login("city")
    unit_id = world.units["370102001002"]
    page = await client.get(f"/admin/org?unit={unit_id}")
    assert page.status_code == 200 and f"/admin/org/{unit_id}/merge" in page.text
    response = await client.post_form(
        f"/admin/org/{unit_id}/merge", {"target_code": "370102001001", "new_name": ""}
    )
    assert response.status_code == 303
    assert not found(await OrgUnit.select().where(OrgUnit.id == unit_id).first())["active"]
    refused = await client.post_form(f"/admin/org/{unit_id}/rename", {"name": "<b>"})
    assert refused.status_code == 303  # back to the page with the message


async def test_a_merged_community_in_the_file_is_a_row_problem(world):
    from relief_pwa.services.org_changes import do_merge_units

    city = world.actor("city")
    await do_merge_units(city, world.units["370102001002"], "370102001001", now=world.now)
    plan = await do_import_org(city, parse_org_file(workbook(*GOOD), "org.xlsx"), now=world.now)
    assert [(p.line, p.message) for p in plan.problems] == [(3, "That unit is no longer active.")]
