"""The data-subject export: everything held on one person, found by ID number through the blind
index, in the exporter's jurisdiction; as JSON and a formula-safe XLSX; audited without the
number and itself recorded in the access log."""

from __future__ import annotations

import io
import json

from openpyxl import load_workbook

from relief_pwa.core.permissions import Capability, can
from relief_pwa.services.access_log import flush_access_log, note_read
from relief_pwa.services.household_edit import HouseholdFields, do_update_household
from relief_pwa.services.objections import file_objection
from relief_pwa.tables import AccessLogEntry, AuditEvent, Household
from tests.factories import make_intake, member

PERSON_ID = "370102197005170011"
SPOUSE_ID = "370102197203040023"
PHONE = "13911112222"


async def _person(world) -> int:
    result = await make_intake(
        world,
        members=[
            member("周明", id_number=PERSON_ID),
            member('=HYPERLINK("http://x.test","x")', relation="spouse", id_number=SPOUSE_ID, sex="female"),
        ],
        phone=PHONE,
    )
    await make_intake(world, username="center_b", community="370103002001", members=[member("陈其")])
    await file_objection(
        kind="complaint",
        body="请联系我，我的申请一直没有人处理。",
        board_code="370102001",
        contact_name="周明",
        contact_phone=PHONE,
        now=world.now,
    )
    note_read(world.actor("station"), "household.view", now=world.now, household_id=result.household_id)
    await flush_access_log()
    return result.household_id


def test_the_centre_and_the_city_hold_the_capability() -> None:
    holders = {role for role in ("liaison", "investigator", "station", "center", "city", "supervisor")
               if can(role, Capability.SUBJECT_EXPORT)}  # fmt: skip
    assert holders == {"center", "city"}


async def test_everything_on_one_person_as_json_logged_and_audited(world, client) -> None:
    household_id = await _person(world)
    await client.login("center")
    response = await client.post_form(
        "/privacy/subject-export",
        {"id_number": PERSON_ID.lower(), "reference": "来信 2026-07 号", "format": "json"},
    )
    assert response.status_code == 200, response.text[:400]
    assert response.headers["cache-control"] == "no-store"
    assert "attachment" in response.headers["content-disposition"]
    data = json.loads(response.content)
    assert [p["id_number"] for p in data["person"]] == [PERSON_ID] and data["person"][0]["name"] == "周明"
    assert data["subject"] == "370102********0011" and data["request_reference"] == "来信 2026-07 号"
    assert [h["phone"] for h in data["households"]] == [PHONE]  # the head sees the file's own phone
    # Other members by name and relation only: never their ID numbers.
    assert [m["relation"] for m in data["household_members"]] == ["spouse"]
    assert SPOUSE_ID not in response.text
    assert len(data["applications"]) == 1 and data["applications"][0]["state"] == "received"
    assert data["income_and_assets"], "the declared income is part of what is held"
    assert [o["kind"] for o in data["objections"]] == ["complaint"]  # linked by the filer's phone
    assert any(r["action"] == "household.view" for r in data["access_log"])
    assert "陈其" not in response.text  # another household, another district

    events = await AuditEvent.select(AuditEvent.after).where(AuditEvent.action == "subject.export")
    assert len(events) == 1
    assert PERSON_ID not in events[0]["after"] and PHONE not in events[0]["after"]
    assert json.loads(events[0]["after"])["households"] == 1
    await flush_access_log()
    logged = await AccessLogEntry.select(AccessLogEntry.household_id, AccessLogEntry.purpose).where(
        AccessLogEntry.action == "subject.export"
    )
    assert logged == [{"household_id": household_id, "purpose": "来信 2026-07 号"}]


async def test_the_spreadsheet_is_readable_and_formula_safe(world, client) -> None:
    await _person(world)
    await client.login("city")
    response = await client.post_form(
        "/privacy/subject-export", {"id_number": PERSON_ID, "reference": "ref-1", "format": "xlsx"}
    )
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)
    values = {c.value for c in cells}
    assert PERSON_ID in values and '\'=HYPERLINK("http://x.test","x")' in values
    assert "男" in values  # coded values shown by their label in the reader's language


async def test_scope_rights_and_bad_input(world, client) -> None:
    await _person(world)
    await client.login("center_b")  # the other district holds nothing on this person
    response = await client.post_form(
        "/privacy/subject-export", {"id_number": PERSON_ID, "reference": "ref-2", "format": "json"}
    )
    assert response.status_code == 200 and json.loads(response.content)["person"] == []
    bad = await client.post_form(
        "/privacy/subject-export", {"id_number": "370102197005170012", "reference": "ref", "format": "json"}
    )
    assert bad.status_code == 400 and "370102197005170012" not in bad.text
    no_reference = await client.post_form(
        "/privacy/subject-export", {"id_number": PERSON_ID, "format": "json"}
    )
    assert no_reference.status_code == 400
    await client.login("station")
    assert (await client.get("/privacy/subject-export")).status_code == 403


async def test_earlier_phones_and_accounts_are_part_of_what_is_held(world, client) -> None:
    household_id = await _person(world)
    row = await Household.objects().where(Household.id == household_id).first()
    assert row is not None
    fields = HouseholdFields(row.address, row.area_type, row.housing, "13800009999", "")
    await do_update_household(
        world.actor("center"), household_id, fields, expected_version=row.version, now=world.now
    )
    await client.login("center")
    response = await client.post_form(
        "/privacy/subject-export", {"id_number": PERSON_ID, "reference": "ref-2", "format": "json"}
    )
    history = json.loads(response.content)["contact_history"]
    # The head sees the file's phones in full, the one before the change and the one after.
    assert [(h["phone"], h["valid_to"] is None) for h in history] == [(PHONE, False), ("13800009999", True)]
    assert [h["phone"] for h in json.loads(response.content)["households"]] == ["13800009999"]
