"""Life events as change requests: each kind applied and refused, moves between
districts, deaths with their date, who may approve what."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from relief_pwa.clock import local_date
from relief_pwa.core.enums import AppState
from relief_pwa.core.errors import (
    Conflict,
    DomainError,
    NotFoundOrForbidden,
    PermissionDenied,
    ValidationFailed,
)
from relief_pwa.core.life_events import RequestDraft
from relief_pwa.services.access import access_household
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.change_requests import do_decide_change, do_request_change, list_change_requests
from relief_pwa.services.facts_history import household_facts_on, members_on
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.tables import (
    Application,
    AuditEvent,
    ChangeRequest,
    Household,
    IndexRecord,
    Member,
    MoneyItem,
    Visit,
)
from tests.factories import add_staff, make_intake, member, new_id_number
from tests.helpers import found
from tests.services.plans_support import recipient


@pytest.fixture()
async def scored(world: Any, now: Any) -> Any:
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    await add_staff(world, "station_2", "station", "370102001")
    return world


async def _file(world: Any, household_id: int, username: str = "liaison", **fields: Any) -> int:
    fields.setdefault("note", "居委会证明材料已收")
    member_draft = fields.pop("member_draft", None)
    return await do_request_change(
        world.actor(username), household_id, RequestDraft(**fields), member_draft, now=world.now
    )


async def _decide(
    world: Any, request_id: int, username: str, *, approve: bool = True, reason: str = ""
) -> Any:
    row = found(await ChangeRequest.select().where(ChangeRequest.id == request_id).first())
    return await do_decide_change(
        world.actor(username),
        request_id,
        approve=approve,
        reason=reason,
        expected_version=row["version"],
        now=world.now,
    )


async def _members(household_id: int) -> list[dict[str, Any]]:
    return (
        await Member.select()
        .where((Member.household == household_id) & Member.active.eq(True))
        .order_by(Member.id)
    )


async def _status(request_id: int) -> str:
    return str(found(await ChangeRequest.select().where(ChangeRequest.id == request_id).first())["status"])


def _today(world: Any) -> str:
    return local_date(world.now).isoformat()


async def test_move_between_districts_hands_the_file_over(scored: Any, now: datetime) -> None:
    hid = await recipient(scored, members=2)
    application = found(await Application.select().where(Application.household == hid).first())
    visit = Visit(
        household=hid,
        application=application["id"],
        org_path="370100/370102/370102001/370102001001/",
        kind="review",
        scheduled_for=local_date(now) + timedelta(days=3),
        assigned_to=scored.actor("liaison").staff_id,
        status="scheduled",
        created_at=now,
    )
    await visit.save()
    await add_staff(scored, "liaison_dgy", "liaison", "370103002001")
    moved_on = local_date(now) - timedelta(days=5)
    request_id = await _file(
        scored,
        hid,
        kind="move",
        effective_on=moved_on.isoformat(),
        to_unit_code="370103002001",
        address="大观园路8号",
    )
    # Nothing changes until approved; the receiving side already sees the request.
    assert (await access_household(scored.actor("station"), hid)).id == hid
    assert request_id in {r["id"] for r in await list_change_requests(scored.actor("center_b"))}
    with pytest.raises(PermissionDenied):  # a station may not approve a move
        await _decide(scored, request_id, "station")
    with pytest.raises(NotFoundOrForbidden):  # the receiving centre sees it but does not decide it
        await _decide(scored, request_id, "center_b")
    before_index = found(await Household.select().where(Household.id == hid).first())["current_index"]
    result = await _decide(scored, request_id, "center")
    assert result["to"].endswith("370103002001/")

    # The old station loses the file, the new one gains it, rows follow.
    with pytest.raises(NotFoundOrForbidden):
        await access_household(scored.actor("station"), hid)
    assert (await access_household(scored.actor("center_b"), hid)).org_path.endswith("370103002001/")
    for table in (Member, MoneyItem, Application, Visit):
        paths = {r["org_path"] for r in await table.select(table.org_path).where(table.household == hid)}
        assert paths == {"370100/370103/370103002/370103002001/"}, table
    moved_visit = found(await Visit.select().where(Visit.id == visit.id).first())
    assert moved_visit["assigned_to"] == scored.actor("liaison_dgy").staff_id
    # Both sides see the hand-over in their history.
    events = await AuditEvent.select(AuditEvent.action, AuditEvent.org_path).where(
        AuditEvent.household_id == hid
    )
    by_action = {e["action"]: e["org_path"] for e in events}
    assert by_action["household.move_out"].startswith("370100/370102/370102001/")
    assert by_action["household.move_in"].startswith("370100/370103/370103002/")
    assert request_id in {r["id"] for r in await list_change_requests(scored.actor("station"), "approved")}, (
        "the old station keeps the hand-over in its history"
    )
    # The facts of a day before the move still name the old community; the index follows.
    before = found(await household_facts_on(hid, moved_on - timedelta(days=1)))
    after = found(await household_facts_on(hid, moved_on))
    assert before["org_path"].startswith("370100/370102/") and after["org_path"].startswith("370100/370103/")
    latest = found(
        await IndexRecord.select()
        .where(IndexRecord.household == hid)
        .order_by(IndexRecord.id, ascending=False)
        .first()
    )
    assert latest["trigger"] == "life_event:move" and latest["org_path"].startswith("370100/370103/")
    assert before_index is not None


async def test_death_of_the_only_member_exits_with_its_date(scored: Any, now: datetime) -> None:
    hid = await recipient(scored)
    head = (await _members(hid))[0]
    died_on = local_date(now) - timedelta(days=20)
    request_id = await _file(
        scored, hid, kind="death", effective_on=died_on.isoformat(), member_id=str(head["id"])
    )
    with pytest.raises(PermissionDenied):  # ending the household is the centre's decision
        await _decide(scored, request_id, "station")
    await _decide(scored, request_id, "center")
    application = found(await Application.select().where(Application.household == hid).first())
    assert application["state"] == AppState.EXITED
    event = found(
        await AuditEvent.select()
        .where((AuditEvent.household_id == hid) & (AuditEvent.action == "application.exit"))
        .first()
    )
    after = json.loads(event["after"])
    assert after["exit_reason"] == "death" and after["effective_on"] == died_on.isoformat()
    household = found(await Household.select().where(Household.id == hid).first())
    assert household["is_open"] is False
    dead = found(await Member.select().where(Member.id == head["id"]).first())
    assert dead["valid_to"] == died_on and dead["end_reason"] == "death" and dead["active"] is False
    assert [m["name"] for m in await members_on(hid, died_on - timedelta(days=1))] == [head["name"]]
    assert await members_on(hid, died_on) == []


async def test_move_out_of_the_city_exits_as_moved_away(scored: Any, now: datetime) -> None:
    hid = await recipient(scored, members=2)
    request_id = await _file(scored, hid, kind="move", effective_on=_today(scored), out_of_city="1")
    await _decide(scored, request_id, "center")
    event = found(
        await AuditEvent.select()
        .where((AuditEvent.household_id == hid) & (AuditEvent.action == "application.exit"))
        .first()
    )
    assert json.loads(event["after"])["exit_reason"] == "moved_away"
    assert await _members(hid) == []


async def test_death_of_a_member_with_a_date_keeps_the_household(scored: Any, now: datetime) -> None:
    hid = await recipient(scored, members=3)
    head, child = (await _members(hid))[:2]
    died_on = local_date(now) - timedelta(days=3)
    # The head dies: another member must be named head.
    with pytest.raises(ValidationFailed) as refused:
        await _file(scored, hid, kind="death", effective_on=died_on.isoformat(), member_id=str(head["id"]))
    assert "new_head_id" in refused.value.errors
    request_id = await _file(
        scored,
        hid,
        "station",
        kind="death",
        effective_on=died_on.isoformat(),
        member_id=str(head["id"]),
        new_head_id=str(child["id"]),
    )
    with pytest.raises(DomainError):  # the person who filed it does not approve it
        await _decide(scored, request_id, "station")
    await _decide(scored, request_id, "station_2")
    members = await _members(hid)
    assert len(members) == 2
    assert [m["relation"] for m in members if m["name"] == child["name"]] == ["head"]
    household = found(await Household.select().where(Household.id == hid).first())
    assert household["head_name"] == child["name"] and household["is_open"] is True
    application = found(await Application.select().where(Application.household == hid).first())
    assert application["state"] == AppState.ACTIVE


async def test_every_kind_can_be_refused_with_a_reason_and_changes_nothing(
    scored: Any, now: datetime
) -> None:
    hid = (
        await make_intake(scored, members=[member("孙一"), member("孙二", relation="spouse")])
    ).household_id
    other = (await make_intake(scored, members=[member("孙三")])).household_id
    head, spouse = await _members(hid)
    today = _today(scored)
    drafts: list[dict[str, Any]] = [
        {"kind": "move", "to_unit_code": "370102002001", "address": "千佛山路1号"},
        {"kind": "head_change", "new_head_id": str(spouse["id"]), "old_head_outcome": "stays"},
        {"kind": "death", "member_id": str(spouse["id"])},
        {
            "kind": "birth",
            "member_draft": member("孙小", relation="child", id_number=new_id_number(born=local_date(now))),
        },
        {"kind": "join", "member_draft": member("周一", relation="other")},
        {"kind": "leave", "member_id": str(spouse["id"]), "leave_reason": "divorce"},
        {
            "kind": "split",
            "member_ids": (str(spouse["id"]),),
            "new_head_id": str(spouse["id"]),
            "address": "和平路2号",
        },
        {
            "kind": "merge",
            "other_file_no": found(await Household.select().where(Household.id == other).first())["file_no"],
        },
    ]
    before = await Member.count()
    for fields in drafts:
        request_id = await _file(scored, hid, effective_on=today, **fields)
        with pytest.raises(ValidationFailed):
            await _decide(scored, request_id, "center", approve=False, reason="")
        await _decide(scored, request_id, "center", approve=False, reason="材料不全，请补充")
        assert await _status(request_id) == "refused"
        with pytest.raises(Conflict):
            await _decide(scored, request_id, "center")
    assert await Member.count() == before
    assert [m["id"] for m in await _members(hid)] == [head["id"], spouse["id"]]


async def test_every_kind_applied(scored: Any, now: datetime) -> None:
    hid = (
        await make_intake(
            scored,
            members=[member("钱一"), member("钱二", relation="spouse"), member("钱三", relation="child")],
        )
    ).household_id
    other = (await make_intake(scored, members=[member("钱四")], community="370102001002")).household_id
    head, spouse, child = await _members(hid)
    today = local_date(now)

    async def approve(username: str = "station_2", **fields: Any) -> Any:
        fields.setdefault("effective_on", today.isoformat())
        request_id = await _file(scored, hid, **fields)
        return await _decide(scored, request_id, username)

    born = today - timedelta(days=2)
    result = await approve(
        kind="birth",
        effective_on=born.isoformat(),
        member_draft=member("钱小", relation="child", id_number=new_id_number(born=born)),
    )
    baby = found(await Member.select().where(Member.id == result["member_id"]).first())
    assert baby["valid_from"] == born and baby["source"] == "change_request"
    await approve(kind="join", member_draft=member("吴一", relation="other"))
    assert "吴一" in {m["name"] for m in await _members(hid)}
    await approve(kind="leave", member_id=str(child["id"]), leave_reason="marriage")
    left = found(await Member.select().where(Member.id == child["id"]).first())
    assert left["end_reason"] == "marriage" and left["active"] is False
    await approve(kind="head_change", new_head_id=str(spouse["id"]), old_head_outcome="left")
    household = found(await Household.select().where(Household.id == hid).first())
    assert household["head_name"] == "钱二"
    assert head["id"] not in {m["id"] for m in await _members(hid)}
    new_spouse_version = next(m for m in await _members(hid) if m["name"] == "钱二")
    joined = next(m for m in await _members(hid) if m["name"] == "吴一")
    split = await approve(
        "center",
        kind="split",
        member_ids=(str(joined["id"]),),
        new_head_id=str(joined["id"]),
        address="和平路9号",
    )
    new_members = await _members(split["new_household_id"])
    assert [(m["name"], m["relation"]) for m in new_members] == [("吴一", "head")]
    assert "吴一" not in {m["name"] for m in await _members(hid)}
    assert await IndexRecord.exists().where(IndexRecord.household == split["new_household_id"])
    other_file = found(await Household.select().where(Household.id == other).first())["file_no"]
    # The other file has an open application: end it first.
    with pytest.raises(ValidationFailed):  # the liaison does not see the other community's file
        await _file(scored, hid, kind="merge", effective_on=today.isoformat(), other_file_no=other_file)
    request_id = await _file(
        scored, hid, "station", kind="merge", effective_on=today.isoformat(), other_file_no=other_file
    )
    with pytest.raises(DomainError):
        await _decide(scored, request_id, "center")
    await Application.update({Application.state: AppState.WITHDRAWN}).where(Application.household == other)
    await _decide(scored, request_id, "center")
    assert "钱四" in {m["name"] for m in await _members(hid)}
    assert found(await Household.select().where(Household.id == other).first())["is_open"] is False
    assert new_spouse_version["relation"] == "head"


async def test_requests_are_checked_when_filed(scored: Any, now: datetime) -> None:
    hid = (await make_intake(scored, members=[member("郑一"), member("郑二", relation="child")])).household_id
    head, child = await _members(hid)
    future = (local_date(now) + timedelta(days=1)).isoformat()
    with pytest.raises(ValidationFailed) as refused:
        await _file(
            scored, hid, kind="leave", effective_on=future, member_id=str(child["id"]), leave_reason="other"
        )
    assert "effective_on" in refused.value.errors
    with pytest.raises(ValidationFailed) as refused:
        await _file(
            scored,
            hid,
            kind="leave",
            effective_on=_today(scored),
            member_id=str(head["id"]),
            leave_reason="other",
        )
    assert "member_id" in refused.value.errors
    with pytest.raises(ValidationFailed) as refused:
        await _file(
            scored,
            hid,
            kind="move",
            effective_on=_today(scored),
            to_unit_code="370102001001",
            address="x路1号",
        )
    assert "to_unit_code" in refused.value.errors
    with pytest.raises(PermissionDenied):
        await _file(
            scored, hid, "supervisor", kind="leave", effective_on=_today(scored), member_id=str(child["id"])
        )
    with pytest.raises(NotFoundOrForbidden):
        await _file(
            scored, hid, "liaison_b", kind="leave", effective_on=_today(scored), member_id=str(child["id"])
        )
    assert date.fromisoformat(_today(scored)) == local_date(now)
