"""Staff pages of the sunshine area, through HTTP: 公示 (one or a batch), the
objections inbox, the centre's decision, supervision, near-relatives, policies."""

from __future__ import annotations

import re
from datetime import timedelta

from piccolo.querystring import QueryString

from relief_pwa.services.objections import file_objection
from relief_pwa.services.publicity import do_close_due_notices, do_start_publicity
from relief_pwa.tables import Application, AuditEvent, NearRelativeFiling, Objection, PolicyPage, PublicNotice
from tests.factories import member
from tests.helpers import found
from tests.services.publicity_support import eligible_application, fresh_public_state  # noqa: F401


async def test_station_starts_a_batch_of_notices(world, client):
    one = await eligible_application(world)
    two = await eligible_application(world, members=[member("李四")])
    await client.login("station")
    page = await client.get("/notices")
    assert page.status_code == 200
    assert "张*" in page.text and "李*" in page.text

    bad = await client.post_form(
        "/notices/start",
        [
            ("application", str(one.application_id)),
            (f"amount-{one.application_id}", "12.345"),
            ("application", str(two.application_id)),
            (f"amount-{two.application_id}", "300"),
        ],
    )
    assert bad.status_code == 400 and "field-error" in bad.text
    assert await PublicNotice.count() == 0

    done = await client.post_form(
        "/notices/start",
        [
            ("application", str(one.application_id)),
            (f"amount-{one.application_id}", "615.50"),
            ("application", str(two.application_id)),
            (f"amount-{two.application_id}", ""),
        ],
    )
    assert done.status_code == 303
    amounts = {r["application"]: r["proposed_amount_fen"] for r in await PublicNotice.select()}
    assert amounts[one.application_id] == 61_550
    running = await client.get("/notices")
    assert "615.50" in running.text or "615.5" in running.text

    await client.login("investigator")
    assert (await client.get("/notices")).status_code == 403


async def test_objection_inbox_investigation_answer(world, client):
    app = await eligible_application(world)
    notice_id = await do_start_publicity(world.actor("station"), app.application_id, now=world.now)
    filed = await file_objection(
        kind="objection",
        body="该户隐瞒了出租房屋的收入。",
        notice_id=notice_id,
        contact_phone="13655556666",
        now=world.now,
    )
    await client.login("station")
    inbox = await client.get("/objections")
    assert inbox.status_code == 200 and filed.tracking_code in inbox.text
    detail = await client.get(f"/objections/{filed.objection_id}")
    assert "13655556666" in detail.text and "隐瞒" in detail.text  # staff see the filer's contact

    empty = await client.post_form(f"/objections/{filed.objection_id}/investigation", {"investigation": ""})
    assert empty.status_code == 400
    ok = await client.post_form(
        f"/objections/{filed.objection_id}/investigation",
        {"investigation": "入户核查：确有出租房屋，月租800元。"},
    )
    assert ok.status_code == 303
    answered = await client.post_form(
        f"/objections/{filed.objection_id}/answer",
        {"answer": "经核实反映属实，已重新核定家庭收入。", "close": "1"},
    )
    assert answered.status_code == 303
    row = found(
        await Objection.select(Objection.status, Objection.answer)
        .where(Objection.id == filed.objection_id)
        .first()
    )
    assert row["status"] == "closed"
    public = await client.get(f"/public/objections/status?code={filed.tracking_code}")
    assert "重新核定" in public.text and "13655556666" not in public.text

    await client.login("station_b")
    assert (await client.get(f"/objections/{filed.objection_id}")).status_code == 404


async def test_centre_decides_with_written_reasons_and_prints_the_letter(world, client):
    app = await eligible_application(world)
    await do_start_publicity(world.actor("station"), app.application_id, now=world.now)
    await do_close_due_notices(world.now + timedelta(days=8))
    await client.login("center")
    listing = await client.get("/approvals")
    assert listing.status_code == 200 and f"/approvals/{app.application_id}" in listing.text
    no_reason = await client.post_form(
        f"/approvals/{app.application_id}", {"decision": "reject", "reason": ""}
    )
    assert no_reason.status_code == 400
    rejected = await client.post_form(
        f"/approvals/{app.application_id}", {"decision": "reject", "reason": "核实家庭存款超过规定标准"}
    )
    assert rejected.status_code == 303
    letter = await client.get(f"/approvals/{app.application_id}/letter")
    assert letter.status_code == 200 and "核实家庭存款超过规定标准" in letter.text
    state = found(
        await Application.select(Application.state).where(Application.id == app.application_id).first()
    )
    assert state["state"] == "rejected"


async def test_supervision_pages_show_flags_log_and_a_broken_chain(world, client):
    app = await eligible_application(world)
    await do_start_publicity(world.actor("station"), app.application_id, now=world.now)
    await client.login("supervisor")
    home = await client.get("/supervision")
    assert home.status_code == 200 and "/supervision/flags/shared_phone" in home.text
    assert (await client.get("/supervision/flags/self_approval")).status_code == 200
    assert (await client.get("/supervision/flags/nonsense")).status_code == 400
    audit = await client.get("/supervision/audit?action=notice.start")
    assert audit.status_code == 200 and "notice.start" in audit.text
    assert "field-error" in (await client.get("/supervision/audit?actor=ghost")).text
    ok = await client.get("/supervision/verify")
    assert "chain-ok" in ok.text

    seq = found(await AuditEvent.select(AuditEvent.seq).where(AuditEvent.action == "notice.start").first())[
        "seq"
    ]
    await AuditEvent._meta.db.run_querystring(
        QueryString("UPDATE audit_event SET after = {} WHERE seq = {}", '{"forged":true}', seq)
    )
    broken = await client.get("/supervision/verify", headers={"hx-request": "true"})
    assert "chain-broken" in broken.text
    assert re.search(rf"\b{seq}\b", broken.text)
    assert "<html" not in broken.text  # htmx gets only the result block

    await client.login("station")
    assert (await client.get("/supervision")).status_code == 403


async def test_near_relative_filing_page(world, client):
    app = await eligible_application(world)
    await client.login("station")
    page = await client.get(f"/households/{app.household_id}/near-relatives")
    assert page.status_code == 200
    bad = await client.post_form(f"/households/{app.household_id}/near-relatives", {"relative_name": ""})
    assert bad.status_code == 400
    ok = await client.post_form(
        f"/households/{app.household_id}/near-relatives",
        {"relative_name": "张主任", "relation": "户主之弟", "staff_username": "liaison"},
    )
    assert ok.status_code == 303 and await NearRelativeFiling.count() == 1
    assert "张主任" in (await client.get(f"/households/{app.household_id}/near-relatives")).text


async def test_city_publishes_a_policy_version(world, client):
    await client.login("city")
    assert (await client.get("/policies/new")).status_code == 200
    created = await client.post_form(
        "/policies",
        {
            "slug": "tekun-guide",
            "title": "特困供养办理流程",
            "body": "# 流程\n\n申请、调查、公示、审批。\n\n- 身份证",
        },
    )
    assert created.status_code == 303
    edit = await client.get("/policies/tekun-guide/edit")
    assert edit.status_code == 200
    updated = await client.post_form(
        "/policies",
        {
            "slug": "tekun-guide",
            "version": "1",
            "title": "特困供养办理流程（修订）",
            "body": "# 流程\n\n申请、调查、公示、审批、公布。",
        },
    )
    assert updated.status_code == 303
    stale = await client.post_form(
        "/policies",
        {"slug": "tekun-guide", "version": "1", "title": "旧稿", "body": "# 流程\n\n过期的编辑内容。"},
    )
    assert stale.status_code == 409
    public = await client.get("/public/policies/tekun-guide")
    assert "（修订）" in public.text and "<h2>流程</h2>" in public.text
    assert "旧稿" not in (await client.get("/public/policies/tekun-guide?version=1")).text
    assert await PolicyPage.count() == 2

    await client.login("center")
    assert (await client.get("/policies/new")).status_code == 403


async def test_an_approval_letter_states_the_monthly_amount_and_the_period(world, client):
    app = await eligible_application(world)
    await do_start_publicity(
        world.actor("station"), app.application_id, now=world.now, proposed_amount_fen=61_000
    )
    await do_close_due_notices(world.now + timedelta(days=8))
    await client.login("center")
    approved = await client.post_form(
        f"/approvals/{app.application_id}", {"decision": "approve", "reason": "经审核符合低保条件"}
    )
    assert approved.status_code == 303
    letter = await client.get(f"/approvals/{app.application_id}/letter")
    assert letter.status_code == 200
    assert "610.00" in letter.text  # the amount proposed in the 公示, per month
    decided = found(
        await Application.select(Application.decided_on).where(Application.id == app.application_id).first()
    )
    assert decided["decided_on"].strftime("%Y-%m") + " –" in letter.text
