"""Life events as change requests: filed from the household file, approved or refused.

A liaison or station files a request with an effective date; an approver
(station for births, deaths, joining, leaving and head changes; the district
centre for moves, splits, merges and anything that ends the household's
assistance — core/life_events.py) approves it, which applies it in one
transaction: memberships and facts change from the effective date
(services/facts_history.py), the index is recomputed, applications end where
the household ends, and every step is audited. See docs/facts-over-time.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from relief_pwa.clock import local_date
from relief_pwa.core.enums import AppState, ExitReason, OrgLevel, Relation
from relief_pwa.core.errors import Conflict, DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.intake import MemberDraft, check_member
from relief_pwa.core.life_events import (
    ChangeKind,
    ChangeStatus,
    OldHeadOutcome,
    RequestDraft,
    approval_capability,
    check_request,
)
from relief_pwa.core.permissions import Capability, roles_with
from relief_pwa.core.workflow import available_actions
from relief_pwa.db import write_transaction
from relief_pwa.services import facts_history, hooks, identifiers
from relief_pwa.services.access import (
    access_household,
    access_household_by_file_no,
    in_scope,
    valid_id,
    within_jurisdiction,
)
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.household_edit import refuse_duplicate_id
from relief_pwa.services.numbers import household_file_no, next_value
from relief_pwa.tables import (
    Application,
    ChangeRequest,
    Household,
    Member,
    MoneyItem,
    OrgUnit,
    Staff,
    Visit,
)

NOT_PENDING = N_("This request was already decided. Reload to see the decision.")


# --------------------------------------------------------------------------- reading


async def current_members(household_id: int) -> list[dict[str, Any]]:
    """The members valid now (one version per person)."""
    rows: list[dict[str, Any]] = (
        await Member.select(Member.id, Member.name, Member.relation, Member.lineage, Member.birth_date)
        .where((Member.household == household_id) & Member.active.eq(True))
        .order_by(Member.id)
    )
    return rows


def _head_of(members: list[dict[str, Any]]) -> int | None:
    return next((m["id"] for m in members if m["relation"] == Relation.HEAD), None)


@dataclass(frozen=True)
class RequestForm:
    household: dict[str, Any]
    members: list[dict[str, Any]]
    requests: list[dict[str, Any]]


async def get_request_form(actor: Actor, household_id: int) -> RequestForm:
    require(actor, Capability.LIFE_EVENT_REQUEST)
    household = await access_household(actor, household_id)
    requests = (
        await ChangeRequest.select()
        .where(ChangeRequest.household == household.id)
        .order_by(ChangeRequest.id, ascending=False)
        .limit(50)
    )
    return RequestForm(household.to_dict(), await current_members(household.id), _decoded(requests))


def _decoded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["payload_data"] = json.loads(row["payload"] or "{}")
        row["result_data"] = json.loads(row["result"] or "{}") if row.get("result") else {}
    return rows


def _visible(actor: Actor) -> Any:
    """Requests of households in scope, and moves into it (the receiving side sees the hand-over)."""
    if not actor.org_path:
        return ChangeRequest.id > 0
    return in_scope(actor, ChangeRequest.org_path) | in_scope(actor, ChangeRequest.to_org_path)


async def list_change_requests(actor: Actor, status: str = "pending") -> list[dict[str, Any]]:
    """The queue (pending) or the decided requests, newest first, within the actor's jurisdiction."""
    require(actor, Capability.LIFE_EVENTS_READ)
    wanted = status if status in {s.value for s in ChangeStatus} else ChangeStatus.PENDING.value
    rows = (
        await ChangeRequest.select(
            *ChangeRequest.all_columns(),
            ChangeRequest.household.file_no,
            ChangeRequest.household.head_name,
            ChangeRequest.requested_by.display_name,
            ChangeRequest.decided_by.display_name,
        )
        .where(_visible(actor) & (ChangeRequest.status == wanted))
        .order_by(ChangeRequest.id, ascending=False)
        .limit(200)
    )
    return _decoded(rows)


async def _load_request(actor: Actor, request_id: int) -> dict[str, Any]:
    row = (
        await ChangeRequest.select(
            *ChangeRequest.all_columns(),
            ChangeRequest.household.file_no,
            ChangeRequest.household.head_name,
            ChangeRequest.requested_by.display_name,
            ChangeRequest.decided_by.display_name,
        )
        .where((ChangeRequest.id == valid_id(request_id)) & _visible(actor))
        .first()
    )
    if row is None:
        raise NotFoundOrForbidden()
    return _decoded([row])[0]


async def get_change_request(actor: Actor, request_id: int) -> dict[str, Any]:
    require(actor, Capability.LIFE_EVENTS_READ)
    row = await _load_request(actor, request_id)
    members = {
        m["id"]: m["name"]
        for m in await Member.select(Member.id, Member.name).where(Member.household == row["household"])
    }
    row["member_names"] = members
    # The receiving side of a move sees the request but neither the file (until it
    # arrives) nor the decision buttons.
    row["in_scope"] = within_jurisdiction(actor, row["org_path"])
    return row


# --------------------------------------------------------------------------- filing


def _member_values(draft: MemberDraft, effective_on: date, kind: ChangeKind) -> dict[str, Any]:
    errors: dict[str, DomainError] = {}
    clean = check_member("", draft, effective_on, errors)
    if clean is not None and clean.relation == Relation.HEAD:
        errors["relation"] = DomainError(N_("The household already has a head."), field="relation")
    if clean is not None and kind == ChangeKind.BIRTH and clean.birth_date != effective_on:
        errors["birth_date"] = DomainError(
            N_("A birth takes effect on the date of birth."), field="birth_date"
        )
    if errors or clean is None:
        raise ValidationFailed(errors)
    sealed_id, _key = identifiers.sealed(identifiers.ID_NUMBER, clean.id_number)
    sealed_phone, _phone_key = identifiers.sealed(identifiers.PHONE, clean.phone)
    return {
        "name": clean.name,
        "id_sealed": sealed_id,
        "phone_sealed": sealed_phone,
        "sex": clean.sex.value,
        "birth_date": clean.birth_date.isoformat(),
        "relation": clean.relation.value,
        "disability_grade": clean.disability_grade,
        "illness": clean.illness.value,
        "work_capacity": clean.work_capacity.value,
        "schooling": clean.schooling.value,
    }


async def _destination(code: str, current_path: str) -> dict[str, Any]:
    unit = await OrgUnit.select().where((OrgUnit.code == code) & OrgUnit.active.eq(True)).first()
    if unit is None or unit["level"] != OrgLevel.COMMUNITY:
        raise ValidationFailed(
            {"to_unit_code": DomainError(N_("No community has this code."), field="to_unit_code")}
        )
    if unit["path"] == current_path:
        raise ValidationFailed(
            {
                "to_unit_code": DomainError(
                    N_("The household already belongs to this community."), field="to_unit_code"
                )
            }
        )
    result: dict[str, Any] = unit
    return result


async def _other_household(actor: Actor, file_no: str, household_id: int) -> dict[str, Any]:
    try:
        found: dict[str, Any] | None = (await access_household_by_file_no(actor, file_no)).to_dict()
    except NotFoundOrForbidden:
        found = None
    if found is None or found["id"] == household_id:
        raise ValidationFailed(
            {
                "other_file_no": DomainError(
                    N_("No other open file has this number in your area."), field="other_file_no"
                )
            }
        )
    if not found["is_open"]:
        raise ValidationFailed(
            {"other_file_no": DomainError(N_("That file is already closed."), field="other_file_no")}
        )
    return found


async def do_request_change(
    actor: Actor,
    household_id: int,
    draft: RequestDraft,
    member_draft: MemberDraft | None = None,
    *,
    now: datetime,
) -> int:
    """File a life event for approval; nothing changes in the file until it is approved."""
    require(actor, Capability.LIFE_EVENT_REQUEST)
    household = await access_household(actor, household_id)
    if not household.is_open:
        raise DomainError(N_("This household file is closed; open a new application to change it."))
    today = local_date(now)
    members = await current_members(household.id)
    clean = check_request(draft, today, {m["id"] for m in members}, _head_of(members))
    payload = clean.payload()
    to_path = ""
    if clean.kind in {ChangeKind.BIRTH, ChangeKind.JOIN}:
        payload["member"] = _member_values(member_draft or MemberDraft(), clean.effective_on, clean.kind)
    elif clean.kind == ChangeKind.MOVE and not clean.out_of_city:
        unit = await _destination(clean.to_unit_code, household.org_path)
        to_path = str(unit["path"])
        payload["to_unit_name"] = unit["name"]
    elif clean.kind == ChangeKind.MERGE:
        other = await _other_household(actor, clean.other_file_no, household.id)
        payload["other_household_id"] = other["id"]
    async with write_transaction(ChangeRequest._meta.db):
        row = ChangeRequest(
            household=household.id,
            org_path=household.org_path,
            to_org_path=to_path,
            kind=clean.kind.value,
            payload=json.dumps(payload, ensure_ascii=False, sort_keys=True),
            effective_on=clean.effective_on,
            status=ChangeStatus.PENDING.value,
            note=clean.note,
            requested_by=actor.staff_id,
            requested_at=now,
        )
        await row.save()
        await record_event(
            actor,
            "life_event.request",
            "change_request",
            row.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            after={
                "kind": clean.kind.value,
                "effective_on": clean.effective_on.isoformat(),
                "note": clean.note,
            },
        )
    return int(row.id)


# --------------------------------------------------------------------------- deciding


def _ends_household(kind: ChangeKind, payload: dict[str, Any], member_count: int) -> bool:
    if kind == ChangeKind.MOVE:
        return bool(payload.get("out_of_city"))
    if kind == ChangeKind.DEATH:
        return member_count <= 1
    return False


async def do_decide_change(
    actor: Actor,
    request_id: int,
    *,
    approve: bool,
    reason: str,
    expected_version: int,
    now: datetime,
) -> dict[str, Any]:
    """Approve (and apply) or refuse a pending request; the approver is not the requester."""
    if not (actor.can(Capability.LIFE_EVENT_APPROVE) or actor.can(Capability.LIFE_EVENT_APPROVE_MAJOR)):
        require(actor, Capability.LIFE_EVENT_APPROVE)
    reason = " ".join(reason.split())
    if not approve and len(reason) < 4:
        raise ValidationFailed(
            {
                "reason": DomainError(
                    N_("Please give a written reason (at least 4 characters)."), field="reason"
                )
            }
        )
    async with write_transaction(ChangeRequest._meta.db):
        row = await _load_request(actor, request_id)
        # The household side decides: a move's receiving station sees it but does not approve it.
        household = await access_household(actor, row["household"])
        if row["status"] != ChangeStatus.PENDING:
            raise Conflict(NOT_PENDING)
        if row["requested_by"] is not None and row["requested_by"] == actor.staff_id:
            raise DomainError(N_("A second person approves a life event: not the one who filed it."))
        kind = ChangeKind(row["kind"])
        payload = row["payload_data"]
        members = await current_members(household.id)
        require(actor, approval_capability(kind, _ends_household(kind, payload, len(members))))
        claimed = (
            await ChangeRequest.update(
                {
                    ChangeRequest.status: (ChangeStatus.APPROVED if approve else ChangeStatus.REFUSED).value,
                    ChangeRequest.decided_by: actor.staff_id,
                    ChangeRequest.decided_at: now,
                    ChangeRequest.decision_reason: reason[:1000],
                    ChangeRequest.version: ChangeRequest.version + 1,
                }
            )
            .where(
                (ChangeRequest.id == row["id"])
                & (ChangeRequest.version == expected_version)
                & (ChangeRequest.status == ChangeStatus.PENDING.value)
            )
            .returning(ChangeRequest.id)
        )
        if not claimed:
            raise Conflict(NOT_PENDING)
        result: dict[str, Any] = {}
        if approve:
            if not household.is_open:
                raise DomainError(N_("This household file is closed; open a new application to change it."))
            result = await _apply(actor, household.to_dict(), kind, row, payload, members, now=now)
            await ChangeRequest.update({ChangeRequest.result: json.dumps(result, sort_keys=True)}).where(
                ChangeRequest.id == row["id"]
            )
        await record_event(
            actor,
            "life_event.approve" if approve else "life_event.refuse",
            "change_request",
            row["id"],
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            before={"status": ChangeStatus.PENDING.value},
            after={"kind": kind.value, "effective_on": str(row["effective_on"]), "reason": reason, **result},
        )
    return result


# --------------------------------------------------------------------------- applying


async def _apply(
    actor: Actor,
    household: dict[str, Any],
    kind: ChangeKind,
    row: dict[str, Any],
    payload: dict[str, Any],
    members: list[dict[str, Any]],
    *,
    now: datetime,
) -> dict[str, Any]:
    on = (
        row["effective_on"]
        if isinstance(row["effective_on"], date)
        else date.fromisoformat(str(row["effective_on"]))
    )
    today = local_date(now)
    by_id = {m["id"]: m for m in members}
    result: dict[str, Any] = {}
    hid = household["id"]

    async def member_row(member_id: int | None) -> dict[str, Any]:
        if member_id not in by_id:
            raise DomainError(
                N_("A member named in the request has changed since; refuse it and file it again.")
            )
        found = await Member.select().where(Member.id == member_id).first()
        if found is None:
            raise NotFoundOrForbidden()
        return found

    if kind == ChangeKind.DEATH:
        died = await member_row(payload.get("member_id"))
        await facts_history.close_member(died["id"], on, reason="death", today=today)
        if len(members) <= 1:
            result.update(await _end_household(actor, household, ExitReason.DEATH, on, now=now))
        elif died["relation"] == Relation.HEAD:
            await _make_head(await member_row(payload.get("new_head_id")), on, today=today)
    elif kind == ChangeKind.HEAD_CHANGE:
        head_id = _head_of(members)
        new_head = await member_row(payload.get("new_head_id"))
        old_head = await member_row(head_id)
        outcome = OldHeadOutcome(payload.get("old_head_outcome", OldHeadOutcome.STAYS))
        if outcome == OldHeadOutcome.STAYS:
            await facts_history.supersede_member(
                old_head,
                {"relation": Relation.OTHER.value},
                on,
                source=facts_history.Source.CHANGE_REQUEST,
                today=today,
            )
        else:
            await facts_history.close_member(old_head["id"], on, reason=outcome.value, today=today)
        await _make_head(new_head, on, today=today)
    elif kind in {ChangeKind.BIRTH, ChangeKind.JOIN}:
        values = dict(payload["member"])
        id_number = identifiers.opened(identifiers.ID_NUMBER, values.pop("id_sealed"))
        phone = identifiers.opened(identifiers.PHONE, values.pop("phone_sealed"))
        await refuse_duplicate_id(actor, id_number, "id_number", None)
        values["birth_date"] = date.fromisoformat(values["birth_date"])
        new = Member(
            household=hid,
            org_path=household["org_path"],
            **values,
            **identifiers.member_identifier_columns(id_number=id_number, phone=phone),
            active=True,
            valid_from=on,
            source=facts_history.Source.CHANGE_REQUEST,
        )
        await new.save()
        result["member_id"] = new.id
    elif kind == ChangeKind.LEAVE:
        leaving = await member_row(payload.get("member_id"))
        await facts_history.close_member(
            leaving["id"], on, reason=str(payload.get("leave_reason", "left")), today=today
        )
    elif kind == ChangeKind.MOVE:
        if payload.get("out_of_city"):
            for member in members:
                await facts_history.close_member(member["id"], on, reason="moved", today=today)
            result.update(await _end_household(actor, household, ExitReason.MOVED_AWAY, on, now=now))
        else:
            result.update(
                await _move(actor, household, row["to_org_path"], str(payload["address"]), on, now=now)
            )
    elif kind == ChangeKind.SPLIT:
        result.update(await _split(actor, household, payload, by_id, on, now=now))
    elif kind == ChangeKind.MERGE:
        result.update(await _merge(actor, household, int(payload["other_household_id"]), on, now=now))
    await Household.update({Household.version: Household.version + 1, Household.updated_at: now}).where(
        Household.id == hid
    )
    await hooks.household_changed(hid, trigger=f"life_event:{kind.value}", now=now)
    return result


async def _make_head(member: dict[str, Any], on: date, *, today: date) -> None:
    await facts_history.supersede_member(
        member, {"relation": Relation.HEAD.value}, on, source=facts_history.Source.CHANGE_REQUEST, today=today
    )
    head_sealed, head_key = member["id_sealed"], member["id_index"]
    await Household.update(
        {
            Household.head_name: member["name"],
            Household.head_id_sealed: head_sealed,
            Household.head_id_index: head_key,
        }
    ).where(Household.id == member["household"])


async def _end_household(
    actor: Actor, household: dict[str, Any], exit_reason: ExitReason, on: date, *, now: datetime
) -> dict[str, Any]:
    """The household is gone (last member died, moved out of the city): its assistance ends
    from the effective date and the file closes."""
    from relief_pwa.services.applications import do_transition

    exited: list[int] = []
    withdrawn: list[int] = []
    left_open: list[int] = []
    note = (
        "家庭成员均已死亡 / all members have died"
        if exit_reason == ExitReason.DEATH
        else "迁出本市 / moved out of the city"
    )
    for application in await Application.select(Application.id, Application.state).where(
        Application.household == household["id"]
    ):
        actions = {t.action for t in available_actions(AppState(application["state"]), actor.role)}
        if "exit" in actions:
            await do_transition(
                actor,
                application["id"],
                "exit",
                reason=note,
                exit_reason=exit_reason,
                effective_on=on,
                now=now,
            )
            exited.append(application["id"])
        elif "withdraw" in actions:
            await do_transition(actor, application["id"], "withdraw", reason=note, now=now)
            withdrawn.append(application["id"])
        elif application["state"] not in _CLOSED_STATES:
            left_open.append(application["id"])
    if not left_open:
        await Household.update({Household.is_open: False}).where(Household.id == household["id"])
        await record_event(
            actor,
            "household.close",
            "household",
            household["id"],
            org_path=household["org_path"],
            now=now,
            household_id=household["id"],
            before={"is_open": True},
            after={"is_open": False, "exit_reason": exit_reason.value, "effective_on": on.isoformat()},
        )
    return {"exited": exited, "withdrawn": withdrawn, "left_open": left_open}


_CLOSED_STATES = {AppState.REJECTED.value, AppState.EXITED.value, AppState.WITHDRAWN.value}


async def _move(
    actor: Actor, household: dict[str, Any], to_path: str, address: str, on: date, *, now: datetime
) -> dict[str, Any]:
    unit = await OrgUnit.select().where(OrgUnit.path == to_path).first()
    if unit is None or not unit["active"]:
        raise DomainError(
            N_("The destination community no longer exists; refuse the request and file it again.")
        )
    old_path = str(household["org_path"])
    await facts_history.set_household_facts(
        household,
        {"org_path": to_path, "org_unit": unit["id"], "address": address},
        on,
        source=facts_history.Source.CHANGE_REQUEST,
        now=now,
    )
    await facts_history.move_household_rows(household["id"], to_path, unit["id"])
    await Household.update({Household.address: address}).where(Household.id == household["id"])
    # Open visits go to the new community's own field worker (its liaison), or wait
    # unassigned for the new station.
    liaison = (
        await Staff.select(Staff.id)
        .where(
            (Staff.org_path == to_path)
            & Staff.role.is_in(list(roles_with(Capability.VISIT_RECORD)))
            & Staff.active.eq(True)
        )
        .order_by(Staff.id)
        .first()
    )
    reassigned = (
        await Visit.update({Visit.assigned_to: liaison["id"] if liaison else None})
        .where((Visit.household == household["id"]) & (Visit.status == "scheduled"))
        .returning(Visit.id)
    )
    common = {"from": old_path, "to": to_path, "to_unit": unit["name"], "effective_on": on.isoformat()}
    # Both sides see the hand-over: one event in the old jurisdiction, one in the new.
    for action, path in (("household.move_out", old_path), ("household.move_in", to_path)):
        await record_event(
            actor,
            action,
            "household",
            household["id"],
            org_path=path,
            now=now,
            household_id=household["id"],
            before={"org_path": old_path},
            after=common,
        )
    return {"from": old_path, "to": to_path, "visits_reassigned": len(reassigned)}


async def _copy_member_into(
    member: dict[str, Any],
    household_id: int,
    org_path: str,
    on: date,
    *,
    relation: str,
    today: date,
    reason: str,
) -> int:
    """Close the person's version in their household and open one in ``household_id``;
    their items follow."""
    await Member.update({Member.valid_to: on, Member.end_reason: reason, Member.active: on > today}).where(
        Member.id == member["id"]
    )
    carried = {
        key: member[key]
        for key in (
            "name",
            "id_sealed",
            "id_index",
            "sex",
            "birth_date",
            "disability_grade",
            "illness",
            "work_capacity",
            "schooling",
            "phone_sealed",
            "phone_index",
        )
    }
    new = Member(
        **carried,
        household=household_id,
        org_path=org_path,
        relation=relation,
        active=True,
        valid_from=on,
        source=facts_history.Source.CHANGE_REQUEST,
        lineage=facts_history.lineage_of(member),
    )
    await new.save()
    for item in await MoneyItem.select().where(
        (MoneyItem.member == member["id"]) & MoneyItem.valid_to.is_null()
    ):
        await facts_history.close_item(item["id"], on, today=today)
        await MoneyItem(
            household=household_id,
            org_path=org_path,
            section=item["section"],
            kind=item["kind"],
            member=new.id,
            description=item["description"],
            declared_fen=item["declared_fen"],
            verified_fen=item["verified_fen"],
            verified_source=item["verified_source"],
            verified_note=item["verified_note"],
            verified_at=item["verified_at"],
            active=True,
            valid_from=on,
            source=facts_history.Source.CHANGE_REQUEST,
        ).save()
    return int(new.id)


async def _split(
    actor: Actor,
    household: dict[str, Any],
    payload: dict[str, Any],
    by_id: dict[int, dict[str, Any]],
    on: date,
    *,
    now: datetime,
) -> dict[str, Any]:
    today = local_date(now)
    chosen = [int(i) for i in payload.get("member_ids", [])]
    if any(i not in by_id for i in chosen) or int(payload["new_head_id"]) not in chosen:
        raise DomainError(N_("A member named in the request has changed since; refuse it and file it again."))
    district_code = [c for c in str(household["org_path"]).split("/") if c][1]
    head = await Member.select().where(Member.id == int(payload["new_head_id"])).first()
    if head is None:
        raise NotFoundOrForbidden()
    new = Household(
        file_no=household_file_no(district_code, await next_value(f"household:{district_code}")),
        org_unit=household["org_unit"],
        org_path=household["org_path"],
        address=str(payload["address"]),
        area_type=household["area_type"],
        housing=household["housing"],
        head_name=head["name"],
        head_id_sealed=head["id_sealed"],
        head_id_index=head["id_index"],
        created_by=actor.staff_id,
        created_at=now,
        updated_at=now,
    )
    await new.save()
    for member_id in chosen:
        member = by_id[member_id] | (await Member.select().where(Member.id == member_id).first() or {})
        relation = Relation.HEAD.value if member_id == head["id"] else Relation.OTHER.value
        await _copy_member_into(
            member, new.id, household["org_path"], on, relation=relation, today=today, reason="split"
        )
    await facts_history.set_household_facts(
        new.to_dict(), {}, on, source=facts_history.Source.CHANGE_REQUEST, now=now
    )
    await record_event(
        actor,
        "household.split",
        "household",
        new.id,
        org_path=household["org_path"],
        now=now,
        household_id=new.id,
        before=None,
        after={
            "from_file_no": household["file_no"],
            "file_no": new.file_no,
            "members": len(chosen),
            "effective_on": on.isoformat(),
        },
    )
    await hooks.household_changed(new.id, trigger="life_event:split", now=now)
    return {"new_household_id": new.id, "new_file_no": new.file_no}


async def _merge(
    actor: Actor, household: dict[str, Any], other_id: int, on: date, *, now: datetime
) -> dict[str, Any]:
    today = local_date(now)
    try:
        other = (await access_household(actor, other_id)).to_dict()
    except NotFoundOrForbidden:
        other = None
    if other is None or not other["is_open"]:
        raise DomainError(N_("The other file is closed or out of your area; refuse the request."))
    open_states = await Application.select(Application.id).where(
        (Application.household == other_id) & Application.state.not_in(sorted(_CLOSED_STATES))
    )
    if open_states:
        raise DomainError(
            N_("The other file still has open applications: end or withdraw them first, then approve.")
        )
    moved = 0
    for member in await Member.select().where((Member.household == other_id) & Member.active.eq(True)):
        relation = Relation.OTHER.value if member["relation"] == Relation.HEAD else member["relation"]
        await _copy_member_into(
            member,
            household["id"],
            household["org_path"],
            on,
            relation=relation,
            today=today,
            reason="merged",
        )
        moved += 1
    await Household.update(
        {Household.is_open: False, Household.version: Household.version + 1, Household.updated_at: now}
    ).where(Household.id == other_id)
    for target, path in ((other_id, other["org_path"]), (household["id"], household["org_path"])):
        await record_event(
            actor,
            "household.merge",
            "household",
            target,
            org_path=path,
            now=now,
            household_id=target,
            before=None,
            after={
                "into_file_no": household["file_no"],
                "merged_file_no": other["file_no"],
                "members": moved,
                "effective_on": on.isoformat(),
            },
        )
    await hooks.household_changed(other_id, trigger="life_event:merge", now=now)
    return {"merged_household_id": other_id, "members_moved": moved}
