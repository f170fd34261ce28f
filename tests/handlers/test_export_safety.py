"""Every CSV and XLSX the app writes: a formula-shaped name comes back as text, and
each export is recorded (who, what, how many rows)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook

from relief_pwa.adapters.bankfiles import BankFileRejected, PaymentLine, export_csv, export_xlsx
from relief_pwa.adapters.exports import FORMULA_STARTS, SheetSpec, neutralise, write_csv, write_xlsx
from relief_pwa.services import plans
from relief_pwa.services.access_log import flush_access_log
from relief_pwa.services.analytics import DrawRequest, do_draw_sample
from relief_pwa.services.plans import DraftScope
from relief_pwa.tables import AccessLogEntry, AuditEvent, Household
from tests.services.plans_support import pool, recipient

DANGEROUS = ['=HYPERLINK("http://x.test","X")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1", "＝1+1"]


def _csv_cells(data: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for cell in row]


def _xlsx_cells(data: bytes) -> list[Any]:
    workbook = load_workbook(io.BytesIO(data))
    return [cell for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]


def _assert_safe_csv(data: bytes, name: str) -> None:
    cells = _csv_cells(data)
    assert "'" + name in cells, (name, cells[:40])
    numeric = {c for c in cells if c.lstrip("-").replace(".", "").isdigit()}
    assert not any(c.startswith(FORMULA_STARTS) for c in cells if c not in numeric)


def _assert_safe_xlsx(data: bytes, name: str) -> None:
    cells = _xlsx_cells(data)
    assert all(c.data_type != "f" for c in cells)
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert ("'" + name).replace("\r", "\n") in texts  # XML reads a lone CR as LF
    assert all(c.data_type == "s" and c.number_format == "@" for c in cells if isinstance(c.value, str))
    assert not any(t.startswith(FORMULA_STARTS) for t in texts)


@pytest.mark.parametrize("name", DANGEROUS)
def test_the_export_module_neutralises_every_dangerous_first_character(name: str) -> None:
    assert neutralise(name) == "'" + name
    assert neutralise("王五") == "王五"
    _assert_safe_csv(write_csv(["name", "n"], [[name, -3]]), name)
    _assert_safe_xlsx(write_xlsx([SheetSpec("s", ["name", "n"], [[name, -3]])]), name)


@pytest.mark.parametrize("name", DANGEROUS)
def test_bank_files_refuse_a_formula_shaped_payee(name: str) -> None:
    line = PaymentLine("L1", "B1", name, "370102198001011234", "6217000011112222333", 100, "F", "m")
    for exporter in (export_csv, export_xlsx):
        with pytest.raises(BankFileRejected):
            exporter("B1", [line])


async def test_every_analytics_export_writes_a_formula_name_as_text(world: Any, client: Any) -> None:
    households = [await recipient(world, index=str(90 - n)) for n in range(len(DANGEROUS))]
    for household, name in zip(households, DANGEROUS, strict=True):
        await Household.update({Household.head_name: name}).where(Household.id == household)
    await pool(world)
    center = world.actor("center")
    for plan_id in await plans.do_save_drafts(center, DraftScope(), now=world.now):
        await plans.do_approve_plan(world.actor("center_2"), plan_id, now=world.now)  # four eyes
    sample_id = await do_draw_sample(world.actor("city"), DrawRequest("", 6, 0, seed=3), now=world.now)
    await client.login("city")
    urls = [
        "/analytics/370100/households?measure=open&format={fmt}",
        "/analytics/370102/households?measure=active&format={fmt}",
    ]
    for template in urls:
        for fmt in ("csv", "xlsx"):
            before = await AuditEvent.count()
            await flush_access_log()
            exports_before = await AccessLogEntry.count().where(AccessLogEntry.action == "export")
            response = await client.get(template.format(fmt=fmt))
            assert response.status_code == 200, response.text[:300]
            assert response.headers["cache-control"] == "no-store"
            for name in DANGEROUS:
                (_assert_safe_csv if fmt == "csv" else _assert_safe_xlsx)(response.content, name)
            # The export is a logged read: the access log has it, and the GET itself wrote nothing.
            assert await AuditEvent.count() == before
            assert await flush_access_log() == 1
            entry = await AccessLogEntry.select().order_by(AccessLogEntry.id, ascending=False).first()
            assert await AccessLogEntry.count().where(AccessLogEntry.action == "export") == exports_before + 1
            assert entry is not None and entry["action"] == "export" and f" · {fmt} · " in entry["detail"]
            assert entry["staff"] == world.actor("city").staff_id
    sample = await client.get(f"/analytics/targeting/{sample_id}?format=xlsx")
    assert sample.status_code == 200, sample.text[:300]
    texts = [c for c in _xlsx_cells(sample.content) if isinstance(c.value, str)]
    assert all(c.data_type == "s" and not str(c.value).startswith(FORMULA_STARTS) for c in texts)
    dashboard = await client.get("/analytics/370100?format=xlsx")
    assert dashboard.status_code == 200
    assert all(c.data_type != "f" for c in _xlsx_cells(dashboard.content))
