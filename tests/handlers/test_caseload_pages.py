"""The caseload upload page through HTTP: upload, progress, result, report, template, export."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from relief_pwa.services import caseload
from relief_pwa.tables import Household
from tests.services.caseload_support import benefit, row, xlsx


async def _upload(client: Any, data: bytes, name: str = "roster.xlsx", **fields: str) -> Any:
    await client.get("/caseload/import")
    return await client.post(
        "/caseload/import",
        data=fields,
        files={"file": (name, data, "application/octet-stream")},
        headers={"x-csrftoken": client.csrf},
    )


async def test_upload_shows_progress_and_imports(world: Any, client: Any) -> None:
    await benefit(world)
    await client.login("city")
    page = await client.get("/caseload/import")
    assert page.status_code == 200
    assert 'type="file"' in page.text and "/caseload/template.xlsx" in page.text

    response = await _upload(client, xlsx([row(), row(file_no="LX-0002")]))
    assert response.status_code == 303, response.text[:500]
    location = response.headers["location"]
    job_id = int(location.rsplit("/", 1)[1])

    running = await client.get(location, headers={"hx-request": "true"})
    assert running.status_code == 200
    assert 'id="import-job"' in running.text and "<html" not in running.text

    await caseload.wait_for_import(job_id)
    done = await client.get(location)
    assert done.status_code == 200
    assert "hx-trigger" not in done.text  # finished: the page stops polling
    assert await Household.count() == 2
    assert "SHA-256" in done.text


async def test_refused_rows_are_listed_with_a_report_to_download(world: Any, client: Any) -> None:
    await benefit(world)
    await client.login("city")
    response = await _upload(client, xlsx([row(), row(file_no="LX-0002", community="不存在社区")]))
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    await caseload.wait_for_import(job_id)
    page = await client.get(f"/caseload/import/jobs/{job_id}")
    assert "不存在社区" in page.text and "社区" in page.text
    assert f"/caseload/import/jobs/{job_id}/report.xlsx" in page.text
    assert await Household.count() == 0  # one refused row: nothing imported

    report = await client.get(f"/caseload/import/jobs/{job_id}/report.xlsx")
    assert report.status_code == 200
    workbook = load_workbook(io.BytesIO(report.content))
    rows = list(workbook.worksheets[1].iter_rows(values_only=True))
    assert rows[1][0] == "LX-0002"

    response = await _upload(client, xlsx([row(), row(file_no="LX-0002", community="不存在社区")]),
                             accept_valid="1")  # fmt: skip
    await caseload.wait_for_import(int(response.headers["location"].rsplit("/", 1)[1]))
    assert await Household.count() == 1


async def test_a_file_that_is_not_a_roster_is_refused_on_the_page(world: Any, client: Any) -> None:
    await client.login("city")
    response = await _upload(client, b"%PDF-1.4", "scan.pdf")
    assert response.status_code == 422
    assert 'role="alert"' in response.text


async def test_template_and_export_downloads(world: Any, client: Any) -> None:
    await benefit(world)
    await client.login("city")
    template = await client.get("/caseload/template.xlsx")
    assert template.status_code == 200
    assert template.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(template.content)).worksheets[0]
    assert sheet.cell(2, 1).value == "户号"

    response = await _upload(client, xlsx([row(name="=HYPERLINK(1)")]))
    await caseload.wait_for_import(int(response.headers["location"].rsplit("/", 1)[1]))
    exported = await client.get("/caseload/export.xlsx")
    assert exported.status_code == 200
    rows = list(load_workbook(io.BytesIO(exported.content)).worksheets[0].iter_rows(values_only=True))
    assert rows[1][0] == "LX-0001"
    assert rows[1][4] == "'=HYPERLINK(1)"  # a formula is written as text


async def test_only_city_staff_see_the_import(world: Any, client: Any) -> None:
    await client.login("center")
    assert (await client.get("/caseload/import")).status_code == 403
    assert (await client.get("/caseload/template.xlsx")).status_code == 403


async def test_an_import_cut_off_by_a_restart_shows_as_failed(world: Any, client: Any) -> None:
    from datetime import timedelta

    from relief_pwa.tables import Job

    job = Job(kind=caseload.IMPORT_JOB, status="running", params='{"filename": "r.xlsx"}',
              created_at=world.now - timedelta(hours=3))  # fmt: skip
    await job.save()
    await client.login("city")
    page = await client.get(f"/caseload/import/jobs/{job.id}")
    assert page.status_code == 200
    assert "hx-trigger" not in page.text and 'role="alert"' in page.text


async def test_a_workers_report_is_served_from_the_database_on_any_machine(world: Any, client: Any) -> None:
    """PostgreSQL: a worker on another machine wrote the report; this machine has no such file."""
    import os

    import pytest

    if not os.environ.get("RELIEF_TEST_DATABASE_URL", "").startswith("postgres"):
        pytest.skip("the queue's workers are PostgreSQL's; on SQLite the app writes its own report")
    await benefit(world)
    await client.login("city")
    response = await _upload(client, xlsx([row(file_no="LX-0003", community="不存在社区")]))
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    await caseload.wait_for_import(job_id)
    caseload.report_path(job_id).unlink()  # the worker's disk is not this one
    report = await client.get(f"/caseload/import/jobs/{job_id}/report.xlsx")
    assert report.status_code == 200
    rows = list(load_workbook(io.BytesIO(report.content)).worksheets[1].iter_rows(values_only=True))
    assert rows[1][0] == "LX-0003"
