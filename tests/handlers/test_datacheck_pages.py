"""The data-check pages through HTTP: the batch file download (its content, formulas
neutralised, the exporter's jurisdiction), the result upload (a good file, a malformed one
that changes nothing, an oversize one) and the household's authorisation section
(docs/datacheck.md)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

from relief_pwa.adapters.spreadsheets import DEFAULT_LIMITS
from relief_pwa.core.datacheck import RESULT_HEADER, Agency
from relief_pwa.services.datacheck import do_record_authorisation, do_request_checks
from relief_pwa.tables import (
    AuditEvent,
    DataCheckBatch,
    DataCheckConsent,
    DataCheckRequest,
    Member,
    MoneyItem,
)
from tests.helpers import found
from tests.services.fieldwork_support import household_with_items, seed_standards


async def _asked(world: Any, community: str = "370102001001", username: str = "station") -> Any:
    """A household of two (张三, 李四) with its authorisation and a social-insurance check asked."""
    result = await household_with_items(world, community=community, username=username)
    actor = world.actor(username)
    await do_record_authorisation(
        actor,
        result.household_id,
        application_id=result.application_id,
        authorised_on=world.now.date(),
        now=world.now,
    )
    await do_request_checks(actor, result.application_id, [Agency.SOCIAL_INSURANCE], now=world.now)
    return result


def _rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def _answer(exported: list[dict[str, str]], wages_yuan: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(RESULT_HEADER)
    for r in exported:
        amount = wages_yuan if r["name"] == "张三" else ""
        found_ = "1" if amount else "0"
        writer.writerow(
            [r["batch"], r["row"], r["id_number"], r["name"], r["asked"], found_, found_, amount, ""]
        )
    return buffer.getvalue().encode("utf-8")


async def _export(client: Any, agency: str = "social_insurance") -> Any:
    await client.get("/datacheck")
    return await client.post_form("/datacheck/export", {"agency": agency})


async def _upload(client: Any, data: bytes, name: str = "results.csv") -> Any:
    await client.get("/datacheck")
    return await client.post(
        "/datacheck/import",
        files={"file": (name, data, "text/csv")},
        headers={"x-csrftoken": client.csrf},
    )


async def _state() -> tuple[Any, ...]:
    """What an import may change: answers, ledger versions, batch status, audit events."""
    return (
        await DataCheckRequest.count().where(DataCheckRequest.answered_at.is_not_null()),
        await MoneyItem.count(),
        [b["status"] for b in await DataCheckBatch.select(DataCheckBatch.status).order_by(DataCheckBatch.id)],
        await AuditEvent.count(),
    )


async def test_download_then_upload_the_answer(world: Any, client: Any) -> None:
    await seed_standards(world)
    result = await _asked(world)
    await client.login("center")
    download = await _export(client)
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith(
        'attachment; filename="datacheck-social_insurance-'
    )
    assert download.headers["content-type"].startswith("text/csv")
    exported = _rows(download.content)
    assert [r["name"] for r in exported] == ["张三", "李四"]
    assert all(
        len(r["id_number"]) == 18 and r["asked"] == "social_insurance:wage_base_monthly" for r in exported
    )

    uploaded = await _upload(client, _answer(exported, "2000"))
    assert uploaded.status_code == 303 and uploaded.headers["location"] == "/datacheck"
    page = await client.get("/datacheck")
    assert "2" in page.text and page.status_code == 200
    wages = await MoneyItem.select().where(
        (MoneyItem.household == result.household_id) & (MoneyItem.kind == "wages") & MoneyItem.active.eq(True)
    )
    assert [(w["verified_fen"], w["source"]) for w in wages] == [(2000_00, "data_check")]
    assert await DataCheckRequest.count().where(DataCheckRequest.answered_at.is_null()) == 0
    # The same file again: every row already answered, refused, nothing changes.
    before = await _state()
    again = await _upload(client, _answer(exported, "2000"))
    assert again.status_code == 422 and await _state() == before


async def test_a_malformed_upload_rerenders_the_form_with_row_errors_and_changes_nothing(
    world: Any, client: Any
) -> None:
    await seed_standards(world)
    await _asked(world)
    await client.login("center")
    exported = _rows((await _export(client)).content)
    good = _answer(exported, "2000").decode().splitlines()
    # Row 2: an amount that is not one; row 3: a row number not in the batch.
    bad_amount = good[1].replace("2000", "12,34")
    fields = good[2].split(",")
    fields[1] = "999999"
    data = "\n".join([good[0], f'{bad_amount.split(",12,34")[0]},"12,34",', ",".join(fields)]).encode()
    before = await _state()
    response = await _upload(client, data)
    assert response.status_code == 422
    assert 'action="/datacheck/import"' in response.text and 'enctype="multipart/form-data"' in response.text
    table = response.text.split('aria-label="问题"')[1].split("</table>")[0]
    problems = re.findall(
        r'<tr><td data-label="[^"]*">([^<]*)</td><td data-label="[^"]*">([^<]*)</td></tr>', table
    )
    assert [row for row, _message in problems] == ["2", "3"], table
    assert "999999" in problems[1][1]
    assert await _state() == before

    # Not a spreadsheet at all: refused with the form, nothing changed.
    junk = await _upload(client, b"\x00\x01PK\x03garbage", name="results.xlsx")
    assert junk.status_code == 422 and 'action="/datacheck/import"' in junk.text
    assert await _state() == before


async def test_an_oversize_upload_is_refused(world: Any, client: Any) -> None:
    await _asked(world)
    await client.login("center")
    before = await _state()
    # Over the reader's limit but within the request's: the form says why.
    too_big = b"batch,row\n" + b"1,1\n" * ((DEFAULT_LIMITS.max_bytes + 4096) // 4)
    response = await _upload(client, too_big)
    assert response.status_code == 422 and "文件过大" in response.text
    assert 'action="/datacheck/import"' in response.text
    # Over the request's limit: refused before the handler reads it.
    huge = b"x" * (DEFAULT_LIMITS.max_bytes + 256 * 1024)
    assert (await _upload(client, huge)).status_code == 413
    assert await _state() == before


async def test_the_batch_file_neutralises_formulas(world: Any, client: Any) -> None:
    result = await _asked(world)
    await Member.update({Member.name: '=HYPERLINK("http://x.test","X")'}).where(
        (Member.household == result.household_id) & (Member.name == "李四")
    )
    await client.login("center")
    exported = _rows((await _export(client)).content)
    names = [r["name"] for r in exported]
    assert names == ["张三", '\'=HYPERLINK("http://x.test","X")']


async def test_each_exporter_sends_only_its_jurisdiction(world: Any, make_client: Any) -> None:
    mine = await _asked(world)
    theirs = await _asked(world, community="370103002001", username="center_b")
    names = {
        m["household"]: m["name"]
        for m in await Member.select(Member.household, Member.name).where(Member.relation == "head")
    }
    assert names[mine.household_id] == names[theirs.household_id] == "张三"
    center_b = make_client()
    await center_b.login("center_b")
    exported_b = _rows((await _export(center_b)).content)
    asked_b = {
        r["household"]
        for r in await DataCheckRequest.select(DataCheckRequest.household).where(
            DataCheckRequest.id.is_in([int(r["row"]) for r in exported_b])
        )
    }
    assert asked_b == {theirs.household_id}
    center = make_client()
    await center.login("center")
    exported = _rows((await _export(center)).content)
    asked = {
        r["household"]
        for r in await DataCheckRequest.select(DataCheckRequest.household).where(
            DataCheckRequest.id.is_in([int(r["row"]) for r in exported])
        )
    }
    assert asked == {mine.household_id}
    # Nothing left for either: a second export says so and makes no batch.
    again = await _export(center)
    assert again.status_code == 303 and await DataCheckBatch.count() == 2


@pytest.mark.parametrize("username", ["liaison", "investigator", "station", "supervisor", "department"])
async def test_other_roles_cannot_exchange_batch_files(world: Any, client: Any, username: str) -> None:
    await _asked(world)
    await client.login(username)
    assert (await client.get("/datacheck")).status_code == 403
    await client.get("/cases")
    assert (await client.post_form("/datacheck/export", {"agency": "social_insurance"})).status_code == 403
    refused = await client.post(
        "/datacheck/import",
        files={"file": ("r.csv", b"batch,row\n1,1\n", "text/csv")},
        headers={"x-csrftoken": client.csrf},
    )
    assert refused.status_code == 403
    assert await DataCheckBatch.count() == 0


async def test_the_household_authorisation_is_recorded_and_revoked_from_the_file(
    world: Any, client: Any, make_client: Any
) -> None:
    result = await household_with_items(world)
    hid = result.household_id
    head = found(
        await Member.select(Member.id).where((Member.household == hid) & (Member.name == "张三")).first()
    )
    await client.login("liaison")
    file_page = await client.get(f"/households/{hid}")
    assert f'href="/households/{hid}/datacheck"' in file_page.text and 'id="data-checks"' in file_page.text
    page = await client.get(f"/households/{hid}/datacheck")
    assert page.status_code == 200 and 'name="signed_by"' in page.text and "张三" in page.text
    fragment = await client.get(f"/households/{hid}/datacheck", headers={"hx-request": "true"})
    assert fragment.text.lstrip().startswith('<div id="dc-authorisation">') and "<html" not in fragment.text

    # No signer, no agency: the form comes back with the messages; nothing recorded.
    bad = await client.post_form(
        f"/households/{hid}/datacheck/authorise",
        {"signed_by": "", "authorised_on": world.now.date().isoformat(), "document_ref": ""},
    )
    assert bad.status_code == 422 and "field-error" in bad.text and 'name="signed_by"' in bad.text
    assert await DataCheckConsent.count() == 0
    future = await client.post_form(
        f"/households/{hid}/datacheck/authorise",
        [("signed_by", str(head["id"])), ("authorised_on", "2099-01-01"), ("agency", "tax")],
    )
    assert future.status_code == 422 and await DataCheckConsent.count() == 0

    saved = await client.post_form(
        f"/households/{hid}/datacheck/authorise",
        [
            ("signed_by", str(head["id"])),
            ("authorised_on", world.now.date().isoformat()),
            ("agency", "social_insurance"),
            ("agency", "bank_deposits"),
            ("document_ref", "扫描件 2026-118"),
        ],
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/households/{hid}/datacheck"
    consent = found(await DataCheckConsent.select().where(DataCheckConsent.household == hid).first())
    assert (consent["signed_by"], consent["agencies"], consent["document_ref"], consent["application"]) == (
        head["id"],
        "bank_deposits,social_insurance",
        "扫描件 2026-118",
        None,
    )
    event = found(await AuditEvent.select().where(AuditEvent.action == "datacheck.authorise").first())
    assert event["household_id"] == hid and "扫描件" not in event["after"]
    shown = await client.get(f"/households/{hid}/datacheck")
    assert "扫描件 2026-118" in shown.text and "/revoke" in shown.text

    # A check the authorisation does not cover is refused; a covered one goes out.
    station = world.actor("station")
    with pytest.raises(Exception, match="cover"):
        await do_request_checks(station, result.application_id, [Agency.TAX], now=world.now)
    await do_request_checks(station, result.application_id, [Agency.SOCIAL_INSURANCE], now=world.now)

    # Revoking needs a reason; then the household's pending checks stay at home.
    url = f"/households/{hid}/datacheck/authorisations/{consent['id']}/revoke"
    short = await client.post_form(url, {"reason": "不"}, headers={"hx-request": "true"})
    # htmx gets the fragment back with the message (200: htmx swaps no 4xx); nothing changed.
    assert short.status_code == 200 and "field-error" in short.text and "<html" not in short.text
    assert found(await DataCheckConsent.select().where(DataCheckConsent.id == consent["id"]).first())[
        "authorised"
    ]
    plain = await client.post_form(url, {"reason": "不"})
    assert plain.status_code == 422 and "field-error" in plain.text
    revoked = await client.post_form(url, {"reason": "申请人书面撤回授权"}, headers={"hx-request": "true"})
    assert revoked.status_code == 200 and revoked.text.lstrip().startswith('<div id="dc-authorisation">')
    row = found(await DataCheckConsent.select().where(DataCheckConsent.id == consent["id"]).first())
    assert row["authorised"] is False and row["revoked_at"] is not None and row["revoke_reason"]
    assert await AuditEvent.count().where(AuditEvent.action == "datacheck.revoke") == 1
    twice = await client.post_form(url, {"reason": "申请人书面撤回授权"})
    assert (
        twice.status_code == 303
        and await AuditEvent.count().where(AuditEvent.action == "datacheck.revoke") == 1
    )
    center = make_client()
    await center.login("center")
    refused = await _export(center)
    assert refused.status_code == 303 and await DataCheckBatch.count() == 0

    # Another street's staff cannot see or touch it; a supervisor reads without the form.
    other = make_client()
    await other.login("liaison_b")
    assert (await other.get(f"/households/{hid}/datacheck")).status_code in (403, 404)
    supervisor = make_client()
    await supervisor.login("supervisor")
    read_only = await supervisor.get(f"/households/{hid}/datacheck")
    assert read_only.status_code == 200 and 'name="signed_by"' not in read_only.text
    await supervisor.get("/cases")
    denied = await supervisor.post_form(url, {"reason": "试图撤回授权"})
    assert denied.status_code == 403
