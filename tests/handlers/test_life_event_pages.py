"""The life-event pages and the household file's "facts on" date, through HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from relief_pwa.clock import local_date
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.tables import ChangeRequest, Household, Member
from tests.factories import make_intake, member
from tests.helpers import found


async def test_file_then_approve_a_death_through_the_pages(
    client: Any, make_client: Any, world: Any, now: Any
) -> None:
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    hid = (await make_intake(world, members=[member("冯一"), member("冯二", relation="spouse")])).household_id
    spouse = found(await Member.select().where(Member.name == "冯二").first())
    died_on = (local_date(now) - timedelta(days=4)).isoformat()
    await client.login("liaison")
    page = await client.get(f"/households/{hid}/life-events")
    assert page.status_code == 200 and "冯二" in page.text
    bad = await client.post_form(
        f"/households/{hid}/life-events",
        {"kind": "death", "effective_on": died_on, "note": "", "member_id": ""},
    )
    assert bad.status_code == 422 and "field-error" in bad.text
    filed = await client.post_form(
        f"/households/{hid}/life-events",
        {"kind": "death", "effective_on": died_on, "note": "医院死亡证明", "member_id": str(spouse["id"])},
    )
    assert filed.status_code == 303
    request_row = found(await ChangeRequest.select().where(ChangeRequest.household == hid).first())
    # The liaison may read but not decide.
    assert (await client.get("/life-events")).status_code == 200
    refused = await client.post_form(
        f"/life-events/{request_row['id']}/decide", {"decision": "approve", "version": "1", "reason": ""}
    )
    assert refused.status_code == 403

    station = make_client()
    await station.login("station")
    queue = await station.get("/life-events")
    assert queue.status_code == 200 and f"/life-events/{request_row['id']}" in queue.text
    detail = await station.get(f"/life-events/{request_row['id']}")
    assert detail.status_code == 200 and "冯二" in detail.text
    approved = await station.post_form(
        f"/life-events/{request_row['id']}/decide", {"decision": "approve", "version": "1", "reason": ""}
    )
    assert approved.status_code == 303
    dead = found(await Member.select().where(Member.id == spouse["id"]).first())
    assert str(dead["valid_to"]) == died_on and dead["end_reason"] == "death"
    again = await station.post_form(
        f"/life-events/{request_row['id']}/decide",
        {"decision": "refuse", "version": "2", "reason": "重复提交"},
    )
    assert again.status_code == 422

    # The file shows her as died today, and as a member on a day before.
    today_page = await station.get(f"/households/{hid}")
    assert f"冯二 (已死亡 {died_on})" in today_page.text
    before = (local_date(now) - timedelta(days=5)).isoformat()
    past_page = await station.get(f"/households/{hid}?on={before}")
    assert past_page.status_code == 200
    assert f'value="{before}"' in past_page.text
    assert f"冯二 (已死亡 {died_on})" not in past_page.text and "冯二" in past_page.text


async def test_refusing_needs_a_reason_and_the_other_station_sees_nothing(
    client: Any, make_client: Any, world: Any, now: Any
) -> None:
    hid = (await make_intake(world, members=[member("褚一"), member("褚二", relation="child")])).household_id
    child = found(await Member.select().where(Member.name == "褚二").first())
    await client.login("liaison")
    await client.post_form(
        f"/households/{hid}/life-events",
        {
            "kind": "leave",
            "effective_on": local_date(now).isoformat(),
            "note": "外出务工落户",
            "member_id": str(child["id"]),
            "leave_reason": "moved_out",
        },
    )
    request_row = found(await ChangeRequest.select().where(ChangeRequest.household == hid).first())
    other = make_client()
    await other.login("station_b")
    assert (await other.get(f"/life-events/{request_row['id']}")).status_code == 404
    station = make_client()
    await station.login("station")
    no_reason = await station.post_form(
        f"/life-events/{request_row['id']}/decide", {"decision": "refuse", "version": "1", "reason": ""}
    )
    assert no_reason.status_code == 422
    done = await station.post_form(
        f"/life-events/{request_row['id']}/decide",
        {"decision": "refuse", "version": "1", "reason": "材料不全"},
    )
    assert done.status_code == 303
    assert (
        found(await ChangeRequest.select().where(ChangeRequest.id == request_row["id"]).first())["status"]
        == "refused"
    )
    assert found(await Member.select().where(Member.id == child["id"]).first())["active"] is True
    household = found(await Household.select().where(Household.id == hid).first())
    assert household["is_open"] is True
