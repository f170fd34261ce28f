"""Supervision: tamper detection located by seq, the audit browser's filters and
scope, integrity flags on seeded cases, near-relative filings and policies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from piccolo.querystring import QueryString

from relief_pwa.core.errors import Conflict, PermissionDenied, ValidationFailed
from relief_pwa.services import identifiers
from relief_pwa.services.applications import do_transition
from relief_pwa.services.four_eyes import do_set_four_eyes
from relief_pwa.services.integrity import compute_flags, do_record_near_relative, list_near_relatives
from relief_pwa.services.policies import do_publish_policy, get_policy, parse_body, policy_history
from relief_pwa.services.publicity import do_close_due_notices, do_start_publicity
from relief_pwa.services.supervision import AuditQuery, check_chain, list_audit_events
from relief_pwa.tables import (
    AuditEvent,
    DisbursementBatch,
    Fund,
    Household,
    MoneyItem,
    PaymentLine,
    Photo,
    Plan,
    PlanLine,
    Provider,
    Resource,
    Staff,
    Visit,
)
from tests.factories import make_intake, member
from tests.helpers import found
from tests.services.publicity_support import eligible_application, fresh_public_state  # noqa: F401


async def test_tampering_with_an_audit_row_is_detected_and_located(world):
    for name in ("甲一", "乙二", "丙三"):
        await make_intake(world, members=[member(name + "某")])
    supervisor = world.actor("supervisor")
    clean = await check_chain(supervisor, now=world.now)
    assert clean.report.ok and clean.report.events_checked == clean.total_events > 10

    target = found(
        await AuditEvent.select(AuditEvent.seq)
        .where(AuditEvent.action == "intake.create")
        .order_by(AuditEvent.seq)
        .offset(1)
        .first()
        or await AuditEvent.select(AuditEvent.seq).order_by(AuditEvent.seq).offset(12).first()
    )
    seq = target["seq"]
    engine = AuditEvent._meta.db
    await engine.run_querystring(
        QueryString("UPDATE audit_event SET after = {} WHERE seq = {}", '{"state":"approved"}', seq)
    )
    broken = await check_chain(supervisor, now=world.now)
    assert not broken.report.ok
    assert found(broken.report.first_break).seq == seq
    assert broken.report.events_checked == seq - 1
    assert "changed" in found(broken.report.first_break).reason
    assert broken.broken_event is not None and broken.broken_event.seq == seq
    # A supervisor of another district learns where the break is, not what the event says.
    other = await check_chain(world.actor("supervisor_b"), now=world.now)
    assert found(other.report.first_break).seq == seq and other.broken_event is None

    with pytest.raises(PermissionDenied):
        await check_chain(world.actor("station"), now=world.now)


async def test_deleting_an_audit_row_is_located_too(world):
    await make_intake(world)
    await make_intake(world, members=[member("李四")])
    last = found(await AuditEvent.select(AuditEvent.seq).order_by(AuditEvent.seq, ascending=False).first())
    gap = last["seq"] - 1
    await AuditEvent._meta.db.run_querystring(QueryString("DELETE FROM audit_event WHERE seq = {}", gap))
    report = (await check_chain(world.actor("city"), now=world.now)).report
    assert found(report.first_break).seq == gap


async def test_audit_browser_filters_and_scope(world):
    first = await make_intake(world, members=[member("周一")])
    await make_intake(world, username="center", community="370102002001", members=[member("吴二")])
    app = await eligible_application(world, members=[member("郑三")])
    await do_start_publicity(world.actor("station"), app.application_id, now=world.now + timedelta(days=2))
    supervisor = world.actor("supervisor")

    everything = await list_audit_events(supervisor, AuditQuery())
    assert [r.seq for r in everything.rows] == sorted((r.seq for r in everything.rows), reverse=True)

    by_actor = await list_audit_events(supervisor, AuditQuery(actor="center"))
    assert by_actor.rows and {r.actor_label for r in by_actor.rows} == {"center (center)"}

    by_household = await list_audit_events(supervisor, AuditQuery(household=first.file_no))
    assert by_household.rows and {r.household_id for r in by_household.rows} == {first.household_id}
    assert (await list_audit_events(supervisor, AuditQuery(household=str(first.household_id)))).rows

    prefix = await list_audit_events(supervisor, AuditQuery(action="application."))
    assert prefix.rows and all(r.action.startswith("application.") for r in prefix.rows)
    exact = await list_audit_events(supervisor, AuditQuery(action="notice.start"))
    assert [r.action for r in exact.rows] == ["notice.start"]

    day = (world.now + timedelta(days=2)).date().isoformat()
    dated = await list_audit_events(supervisor, AuditQuery(date_from=day, date_to=day))
    assert dated.rows and {r.action for r in dated.rows} >= {"notice.start", "application.start_publicity"}
    assert not (await list_audit_events(supervisor, AuditQuery(date_to="2026-01-01"))).rows

    with pytest.raises(ValidationFailed) as caught:
        await list_audit_events(
            supervisor, AuditQuery(actor="nobody", household="XX", date_from="16/11/2026")
        )
    assert set(caught.value.errors) == {"actor", "household", "date_from"}

    # Another district's supervisor sees none of 历下区's events.
    assert not (await list_audit_events(world.actor("supervisor_b"), AuditQuery(action="intake."))).rows
    with pytest.raises(PermissionDenied):
        await list_audit_events(world.actor("center"), AuditQuery())


async def _payment_line(household_id: int, org_path: str, plan_status: str, line_id: str, now) -> None:
    provider = Provider(name="市财政", kind="government", org_path="370100/", created_at=now)
    await provider.save()
    fund = Fund(
        code=f"F-{line_id}", name="低保资金", provider=provider.id, org_path="370100/", created_at=now
    )
    await fund.save()
    resource = Resource(
        provider=provider.id,
        fund=fund.id,
        org_path="370100/",
        name="低保金",
        kind="cash",
        need="income",
        unit="per_household",
        periodicity="monthly",
        created_at=now,
    )
    await resource.save()
    plan = Plan(household=household_id, org_path=org_path, status=plan_status, created_at=now)
    await plan.save()
    line = PlanLine(
        plan=plan.id,
        household=household_id,
        resource=resource.id,
        org_path=org_path,
        amount_fen=50_000,
        status="approved" if plan_status == "approved" else "draft",
    )
    await line.save()
    batch = DisbursementBatch(
        batch_no=f"B-{line_id}", fund=fund.id, org_path=org_path, status="exported", created_at=now
    )
    await batch.save()
    await PaymentLine(
        line_id=line_id,
        plan_line=line.id,
        household=household_id,
        fund=fund.id,
        batch=batch.id,
        org_path=org_path,
        month="2026-11",
        amount_fen=50_000,
        status="paid",
        created_at=now,
    ).save()


async def test_integrity_flags_found_on_seeded_cases(world):
    now = world.now
    a = await make_intake(world, members=[member("陈一")], phone="13700000001")
    b = await make_intake(world, members=[member("陈二")], phone="13700000002", community="370102001002")
    c = await make_intake(world, members=[member("陈三")], phone="13700000001")  # same phone as a
    d = await make_intake(
        world, members=[member("陈四")], phone="13700000004", community="370103002001", username="center_b"
    )
    clean = await make_intake(world, members=[member("陈五")], phone="13700000005")

    # Same one-card account on a (历下区) and d (市中区).
    for household in (a, d):
        account_sealed, account_key = identifiers.sealed(identifiers.ACCOUNT, "6222020200112233445")
        await Household.update(
            {Household.account_sealed: account_sealed, Household.account_index: account_key}
        ).where(Household.id == household.household_id)
    # b's phone is also a staff member's phone.
    phone_sealed, phone_key = identifiers.sealed(identifiers.PHONE, "13700000002")
    await Staff.update({Staff.phone_sealed: phone_sealed, Staff.phone_index: phone_key}).where(
        Staff.username == "liaison"
    )
    # Near-relative filing on c, which has an open application.
    await do_record_near_relative(
        world.actor("liaison"),
        c.household_id,
        relative_name="陈立",
        relation="户主之子",
        staff_username="liaison",
        now=now,
    )
    # A verified income far above the declared one on b.
    await MoneyItem.update({MoneyItem.verified_fen: 250_000}).where(MoneyItem.household == b.household_id)
    # Payments: one without an approved plan (a), one with an approved plan (clean).
    await _payment_line(a.household_id, "370100/370102/370102001/370102001001/", "draft", "PL-1", now)
    await _payment_line(clean.household_id, "370100/370102/370102001/370102001001/", "approved", "PL-2", now)
    # Visits: a done home visit without photo (b), one with a photo (clean).
    bare = Visit(
        household=b.household_id,
        org_path="370100/370102/370102001/370102001002/",
        kind="home",
        scheduled_for=now.date(),
        status="done",
        created_at=now,
    )
    await bare.save()
    evidenced = Visit(
        household=clean.household_id,
        org_path="370100/370102/370102001/370102001001/",
        kind="home",
        scheduled_for=now.date(),
        status="done",
        created_at=now,
    )
    await evidenced.save()
    await Photo(
        household=clean.household_id,
        visit=evidenced.id,
        org_path=evidenced.org_path,
        sha256="ab" * 32,
        width=10,
        height=10,
        uploaded_at=now,
    ).save()
    # The centre took in d's neighbour e and wants to approve it itself: four eyes refuse,
    # until the city switches the rule off; what then slips through is flagged.
    e = await make_intake(world, username="center", members=[member("陈六")], phone="13700000006")
    center, station = world.actor("center"), world.actor("station")
    await do_transition(station, e.application_id, "start_investigation", now=now)
    await do_transition(station, e.application_id, "find_eligible", reason="符合条件条件", now=now)
    await do_start_publicity(station, e.application_id, now=now)
    await do_close_due_notices(now + timedelta(days=8))
    with pytest.raises(PermissionDenied):
        await do_transition(
            center, e.application_id, "approve", reason="同意救助申请", now=now + timedelta(days=9)
        )
    await do_set_four_eyes(world.actor("city"), False, now=now)
    await do_transition(
        center, e.application_id, "approve", reason="同意救助申请", now=now + timedelta(days=9)
    )

    report = await compute_flags(world.actor("supervisor"), now=now)
    households = {kind: {i.household_id for i in items} for kind, items in report.items.items()}
    assert households["shared_account"] == {a.household_id, d.household_id}
    assert households["shared_phone"] == {a.household_id, c.household_id, b.household_id}
    assert households["near_relative"] == {c.household_id}
    assert households["ledger_gap"] == {b.household_id}
    assert households["payment_without_plan"] == {a.household_id}
    assert households["visit_without_evidence"] == {b.household_id}
    assert households["self_approval"] == {e.household_id}
    assert clean.household_id not in set().union(*households.values())

    # 市中区's supervisor sees the shared account from its side only.
    other = await compute_flags(world.actor("supervisor_b"), now=now)
    assert {i.household_id for i in other.items["shared_account"]} == {d.household_id}
    assert other.counts["near_relative"] == 0
    with pytest.raises(PermissionDenied):
        await compute_flags(world.actor("station"), now=now)


async def test_near_relative_filing_validation_and_audit(world):
    intake = await make_intake(world)
    with pytest.raises(ValidationFailed) as caught:
        await do_record_near_relative(
            world.actor("station"),
            intake.household_id,
            relative_name="",
            relation="",
            staff_username="ghost",
            now=world.now,
        )
    assert set(caught.value.errors) == {"relative_name", "relation", "staff_username"}
    with pytest.raises(PermissionDenied):
        await do_record_near_relative(
            world.actor("supervisor"),
            intake.household_id,
            relative_name="王某某",
            relation="配偶",
            now=world.now,
        )
    await do_record_near_relative(
        world.actor("station"),
        intake.household_id,
        relative_name="王某某",
        relation="配偶",
        note="社区主任",
        now=world.now,
    )
    [filing] = await list_near_relatives(world.actor("supervisor"), intake.household_id)
    assert (filing.relative_name, filing.relation, filing.note) == ("王某某", "配偶", "社区主任")
    assert await AuditEvent.exists().where(AuditEvent.action == "household.near_relative")


async def test_policies_are_versioned_and_only_city_edits(world):
    city = world.actor("city")
    body = "# 申请条件\n\n户籍在本市，家庭人均收入低于当地低保标准。\n\n- 身份证\n- 户口簿"
    assert (
        await do_publish_policy(city, slug="dibao-guide", title="低保办理指南", body=body, now=world.now) == 1
    )
    with pytest.raises(ValidationFailed):  # the address is taken: a new page may not overwrite it
        await do_publish_policy(city, slug="dibao-guide", title="另一个", body=body, now=world.now)
    assert (
        await do_publish_policy(
            city,
            slug="dibao-guide",
            title="低保办理指南（2027）",
            body=body + "\n\n补充说明。",
            now=world.now,
            based_on_version=1,
        )
        == 2
    )
    with pytest.raises(Conflict):
        await do_publish_policy(
            city, slug="dibao-guide", title="过期编辑", body=body, now=world.now, based_on_version=1
        )
    for username in ("station", "center", "supervisor"):
        with pytest.raises(PermissionDenied):
            await do_publish_policy(
                world.actor(username), slug="x-guide", title="标题", body=body, now=world.now
            )
    with pytest.raises(ValidationFailed) as caught:
        await do_publish_policy(city, slug="Bad Slug!", title="", body="短", now=world.now)
    assert set(caught.value.errors) == {"slug", "title", "body"}

    latest = await get_policy("dibao-guide")
    assert (latest.version, latest.title) == (2, "低保办理指南（2027）")
    assert (await get_policy("dibao-guide", 1)).title == "低保办理指南"
    assert [p.version for p in await policy_history("dibao-guide")] == [2, 1]
    assert [b.kind for b in parse_body(body)] == ["heading", "paragraph", "list"]
