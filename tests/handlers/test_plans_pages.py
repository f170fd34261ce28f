"""The resource, plan, fund, batch, hand-over and follow-up pages end to end."""

from __future__ import annotations

import csv
import io
import re

from relief_pwa.core.enums import Role
from relief_pwa.services.four_eyes import do_set_four_eyes
from relief_pwa.tables import (
    AuditEvent,
    DisbursementBatch,
    Fund,
    Handover,
    Payment,
    Plan,
    PlanLine,
    Provider,
    Resource,
)
from tests.adapters.imagefactory import phone_jpeg
from tests.factories import add_staff
from tests.helpers import found
from tests.services.plans_support import recipient


async def setup_pool_by_pages(client) -> tuple[int, int]:
    from relief_pwa.services.actors import SYSTEM_ACTOR
    from relief_pwa.services.standards import do_seed_standards
    from tests.conftest import TEST_NOW

    await do_seed_standards(SYSTEM_ACTOR, now=TEST_NOW)  # plans need a standard in force
    await client.login("center")
    page = await client.get("/resources")
    assert page.status_code == 200
    response = await client.post_form("/resources/providers", {"name": "历下区民政局", "kind": "government"})
    assert response.status_code == 303
    provider = found(await Provider.objects().first())
    await client.get("/funds")
    response = await client.post_form(
        "/funds", {"code": "db-lx", "name": "低保专户", "provider_id": str(provider.id)}
    )
    assert response.status_code == 303
    fund = found(await Fund.objects().first())
    assert fund.code == "DB-LX"
    await client.get("/resources")
    response = await client.post_form(
        "/resources/donations", {"provider_id": str(provider.id), "fund_id": str(fund.id), "amount": "5,000"}
    )
    assert response.status_code == 303
    response = await client.post_form(
        "/resources",
        [
            ("provider_id", str(provider.id)),
            ("fund_id", str(fund.id)),
            ("name", "临时生活补助"),
            ("kind", "cash"),
            ("need", "living"),
            ("unit", "per_household"),
            ("unit_amount", "500"),
            ("periodicity", "one_off"),
            ("months", "1"),
            ("categories", "dibao"),
            ("priority", "10"),
        ],
    )
    assert response.status_code == 303, response.text[:2000]
    resource = found(await Resource.objects().first())
    return fund.id, resource.id


async def test_resource_form_refuses_bad_amounts_and_keeps_input(world, client):
    await client.login("center")
    await client.post_form("/resources/providers", {"name": "某企业", "kind": "enterprise"})
    provider = found(await Provider.objects().first())
    await client.get("/resources")
    response = await client.post_form(
        "/resources",
        {
            "provider_id": str(provider.id),
            "name": "爱心米面",
            "kind": "in_kind",
            "need": "food",
            "unit": "per_household",
            "unit_amount": "-5",
            "unit_quantity": "1",
            "periodicity": "one_off",
        },
    )
    assert response.status_code == 422
    assert "爱心米面" in response.text and "has-error" in response.text
    assert await Resource.count() == 0


async def test_draft_save_adjust_approve_batch_and_reconcile_through_pages(world, client, make_client):
    """Drafter, approver, batch creator, exporter and reconciler: four eyes at every step."""
    colleague = make_client()
    await colleague.login("center_2")
    household = await recipient(world, index="80")
    fund_id, _ = await setup_pool_by_pages(client)
    page = await client.get("/plans/draft")
    assert page.status_code == 200 and "临时生活补助" in page.text
    what_if = await client.get("/plans/what-if")
    assert what_if.status_code == 200
    bad = await client.get("/plans/what-if", params={"change_999": "1.001"})
    assert bad.status_code == 422
    response = await client.post_form("/plans/draft", {"household": str(household)})
    assert response.status_code == 303
    plan = found(await Plan.objects().first())
    line = found(await PlanLine.objects().first())
    detail = await client.get(f"/plans/{plan.id}")
    assert detail.status_code == 200 and "500.00" in detail.text
    response = await client.post_form(
        f"/plans/lines/{line.id}/adjust",
        {"plan_id": str(plan.id), "version": "1", "amount": "9999", "reason": "超标", "action": "change"},
    )
    assert response.status_code == 303
    assert found(await PlanLine.objects().first()).amount_fen == 50000
    await client.get(f"/plans/{plan.id}")
    response = await client.post_form(
        f"/plans/lines/{line.id}/adjust",
        {
            "plan_id": str(plan.id),
            "version": "1",
            "amount": "400",
            "reason": "另有亲属资助",
            "action": "change",
        },
    )
    assert found(await PlanLine.objects().first()).amount_fen == 40000
    # The drafter cannot approve their own plan.
    await client.get(f"/plans/{plan.id}")
    refused = await client.post_form(f"/plans/{plan.id}/approve", {"version": "2"})
    assert refused.status_code == 403 and "四眼" in refused.text
    assert found(await Plan.objects().first()).status == "draft"
    # A colleague who only adjusted a line cannot approve either.
    await colleague.get(f"/plans/{plan.id}")
    response = await colleague.post_form(
        f"/plans/lines/{line.id}/adjust",
        {"plan_id": str(plan.id), "version": "2", "amount": "450", "reason": "重新核定", "action": "change"},
    )
    assert response.status_code == 303
    third = make_client()
    await add_staff(world, "center_3", Role.CENTER, "370102")
    await third.login("center_3")
    refused = await colleague.post_form(f"/plans/{plan.id}/approve", {"version": "3"})
    assert refused.status_code == 403
    await third.get(f"/plans/{plan.id}")
    response = await third.post_form(f"/plans/{plan.id}/approve", {"version": "3"})
    assert response.status_code == 303
    assert found(await Plan.objects().first()).status == "approved"

    await client.get("/batches")
    response = await client.post_form("/batches/generate", {"month": "2026-11"})
    assert response.status_code == 303
    response = await client.post_form("/batches", {"fund_id": str(fund_id), "month": "2026-11"})
    assert response.status_code == 303
    batch = found(await DisbursementBatch.objects().first())
    page = await client.get(f"/batches/{batch.id}")
    assert batch.batch_no in page.text
    # The creator of the batch cannot export it; a colleague does.
    refused = await client.post_form(f"/batches/{batch.id}/export", {"format": "csv"})
    assert refused.status_code == 403 and "四眼" in refused.text
    assert found(await DisbursementBatch.objects().first()).status == "draft"
    await colleague.get(f"/batches/{batch.id}")
    download = await colleague.post_form(f"/batches/{batch.id}/export", {"format": "csv"})
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[1][5] == "450.00"
    xlsx = await colleague.post_form(f"/batches/{batch.id}/export", {"format": "xlsx"})
    assert xlsx.content.startswith(b"PK")

    good = f"批次号,行号,金额(元),状态,失败原因\n{batch.batch_no},{rows[1][1]},450.00,成功,\n".encode()
    # The exporter cannot reconcile the batch they sent to the bank.
    await colleague.get(f"/batches/{batch.id}")
    refused = await colleague.post(
        f"/batches/{batch.id}/return",
        files={"file": ("r.csv", good, "text/csv")},
        headers={"x-csrftoken": colleague.csrf},
    )
    assert refused.status_code == 403 and "四眼" in refused.text
    assert await Payment.count() == 0

    await client.get(f"/batches/{batch.id}")
    bad = f"批次号,行号,金额(元),状态,失败原因\n{batch.batch_no},{rows[1][1]},450.001,成功,\n".encode()
    response = await client.post(
        f"/batches/{batch.id}/return",
        files={"file": ("r.csv", bad, "text/csv")},
        headers={"x-csrftoken": client.csrf},
    )
    assert (
        response.status_code == 422 and "Nothing was changed" in response.text
    ) or "未作任何更改" in response.text
    assert await Payment.count() == 0
    await client.get(f"/batches/{batch.id}")
    response = await client.post(
        f"/batches/{batch.id}/return",
        files={"file": ("r.csv", good, "text/csv")},
        headers={"x-csrftoken": client.csrf},
    )
    assert response.status_code == 303
    assert await Payment.count() == 1
    ledger = await client.get(f"/funds/{fund_id}")
    assert ledger.status_code == 200 and "发放 #" in ledger.text  # the payment entry, by name


async def test_four_eyes_can_be_switched_off_by_the_city(world, client):
    """A one-clerk office: the city turns the rule off (audited); the drafter may then approve."""
    household = await recipient(world, index="80")
    await setup_pool_by_pages(client)
    await client.post_form("/plans/draft", {"household": str(household)})
    plan = found(await Plan.objects().first())
    await client.get(f"/plans/{plan.id}")
    assert (await client.post_form(f"/plans/{plan.id}/approve", {})).status_code == 403
    await do_set_four_eyes(world.actor("city"), False, now=world.now)
    await client.get(f"/plans/{plan.id}")
    assert (await client.post_form(f"/plans/{plan.id}/approve", {})).status_code == 303
    assert await AuditEvent.count().where(AuditEvent.action == "setting.update") == 1


async def test_handover_page_by_file_number_with_photo(world, client):
    from relief_pwa.services.actors import SYSTEM_ACTOR
    from relief_pwa.services.standards import do_seed_standards

    household = await recipient(world, index="80")
    await do_seed_standards(SYSTEM_ACTOR, now=world.now)  # plans need a standard in force
    await client.login("center")
    await client.post_form("/resources/providers", {"name": "慈善总会", "kind": "social_org"})
    provider = found(await Provider.objects().first())
    await client.get("/resources")
    await client.post_form(
        "/resources",
        {
            "provider_id": str(provider.id),
            "name": "米面油",
            "kind": "in_kind",
            "need": "food",
            "unit": "per_household",
            "unit_amount": "120",
            "unit_quantity": "1",
            "periodicity": "one_off",
            "quantity_total": "50",
        },
    )
    await client.get("/plans/draft")
    await client.post_form("/plans/draft", {})
    plan = found(await Plan.objects().first())
    await client.login("center_2")  # four eyes: a colleague approves what was drafted
    await client.get(f"/plans/{plan.id}")
    await client.post_form(f"/plans/{plan.id}/approve", {})
    line = found(await PlanLine.objects().first())
    assert line.status == "approved"

    liaison = client
    await liaison.login("liaison")
    page = await liaison.get("/handover")
    assert page.status_code == 200 and 'capture="environment"' in page.text
    file_no = found(await Plan.objects().first()).household
    from relief_pwa.tables import Household

    number = found(await Household.objects().where(Household.id == household).first()).file_no
    response = await liaison.post("/handover/find", data={"file_no": number, "_csrf_token": liaison.csrf})
    assert response.status_code == 303
    location = response.headers["location"]
    page = await liaison.get(location)
    assert "米面油" in page.text
    match = re.search(r'action="/handover/lines/(\d+)"', page.text)
    assert match and int(match.group(1)) == line.id
    response = await liaison.post(
        f"/handover/lines/{line.id}",
        data={"household": str(file_no), "quantity": "1", "method": "file_no"},
        files={"photo": ("p.jpg", phone_jpeg(), "image/jpeg")},
        headers={"x-csrftoken": liaison.csrf},
    )
    assert response.status_code == 303, response.text[:500]
    assert await Handover.count() == 1
    follow = await liaison.get("/followups")
    assert follow.status_code == 200


async def test_pages_respect_roles(world, client):
    await client.login("supervisor")
    for url in ("/resources", "/plans", "/plans/draft", "/funds", "/batches", "/followups"):
        assert (await client.get(url)).status_code == 200, url
    response = await client.post_form("/resources/providers", {"name": "x", "kind": "government"})
    assert response.status_code == 403
    await client.login("liaison")
    assert (await client.get("/plans/draft")).status_code == 403
    assert (await client.get("/handover")).status_code == 200
