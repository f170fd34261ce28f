"""The monthly payment run walks the caseload in windows of ids (docs/scale.md,
"Monthly batch at scale"): whatever the window, the same lines, the same batch,
the same withdrawals and the same audit."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from relief_pwa.core.errors import DomainError
from relief_pwa.services import disbursement, plans
from relief_pwa.services.plans import DraftScope
from relief_pwa.tables import AuditEvent, DisbursementBatch, Entitlement, PaymentLine, Plan
from tests.helpers import found
from tests.services.plans_support import pool, recipient

MONTHLY = {"periodicity": "monthly", "months": "12", "unit_amount": "300", "fund_yuan": "100000"}


async def _approved(world, accounts: list[str]) -> tuple[list[int], int]:
    households = [
        await recipient(world, index=str(90 - n), account=account) for n, account in enumerate(accounts)
    ]
    _, fund, _ = await pool(world, **MONTHLY)
    for plan_id in await plans.do_save_drafts(world.actor("center"), DraftScope(), now=world.now):
        await plans.do_approve_plan(world.actor("center_2"), plan_id, now=world.now)
    return households, fund


async def _lines() -> list[tuple[int, str, str, int, bool]]:
    rows = await PaymentLine.select().order_by(PaymentLine.household, PaymentLine.month, PaymentLine.attempt)
    return [
        (int(r["household"]), r["month"], r["status"], int(r["attempt"]), r["batch"] is not None)
        for r in rows
    ]


@pytest.mark.parametrize("window", [2, 3, 10_000])
async def test_any_window_gives_the_same_lines_batch_and_withdrawals(world, monkeypatch, window):
    monkeypatch.setattr(disbursement, "WINDOW", window)
    account = "6217000011112222333"
    (a, b, c, d, no_account), fund = await _approved(world, [account, account, account, account, ""])
    # A plan for the household as a whole: paid while the household holds any period.
    await Plan.update({Plan.application: None}).where(Plan.household == d)
    center = world.actor("center")

    november = await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)
    december = await disbursement.do_generate_monthly_lines(center, "2026-12", now=world.now)
    again = await disbursement.do_generate_monthly_lines(center, "2026-12", now=world.now)
    assert (november.created, november.total_fen, december.created) == (5, 150_000, 5)
    assert (again.created, again.already, again.not_entitled) == (0, 5, 0)
    ids = [r["line_id"] for r in await PaymentLine.select(PaymentLine.line_id)]
    assert len(ids) == len(set(ids)) == 10 and all(i.endswith("-1") for i in ids)

    # Entitlement ends behind the queue's back: b's December line is pulled at batch time.
    await Entitlement.update({Entitlement.to_month: "2026-12"}).where(Entitlement.household == b)
    batch = await disbursement.do_create_batch(center, fund, "2026-12", now=world.now)
    assert (batch.lines, batch.total_fen, batch.held_without_account) == (7, 210_000, 2)
    row = found(await DisbursementBatch.select().where(DisbursementBatch.id == batch.batch_id).first())
    assert (row["line_count"], row["total_fen"], row["status"]) == (7, 210_000, "draft")
    assert await _lines() == sorted(
        [
            *[(h, m, "batched", 1, True) for h in (a, c, d) for m in ("2026-11", "2026-12")],
            (b, "2026-11", "batched", 1, True),
            (b, "2026-12", "withdrawn", 1, False),
            (no_account, "2026-11", "queued", 1, False),
            (no_account, "2026-12", "queued", 1, False),
        ]
    )
    withdrawals = await AuditEvent.select().where(AuditEvent.action == "payment.withdraw")
    assert [(int(w["entity_id"]), "batch.create" in w["after"]) for w in withdrawals] == [(b, True)]
    created = found(await AuditEvent.select().where(AuditEvent.action == "batch.create").first())
    after = json.loads(created["after"]) if isinstance(created["after"], str) else created["after"]
    assert (after["lines"], after["total_fen"], after["held_without_account"]) == (7, 210_000, 2)

    # The next month: b is no longer entitled, the others are, nothing is generated twice.
    later = world.now + timedelta(days=30)
    january = await disbursement.do_generate_monthly_lines(center, "2027-01", now=later)
    assert (january.created, january.not_entitled) == (4, 1)


async def test_a_batch_with_nothing_ready_is_refused_whole(world, monkeypatch):
    monkeypatch.setattr(disbursement, "WINDOW", 2)
    (first, _second, _third), fund = await _approved(world, ["", "", ""])
    center = world.actor("center")
    await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)
    await Entitlement.update({Entitlement.to_month: "2026-11"}).where(Entitlement.household == first)
    with pytest.raises(DomainError):
        await disbursement.do_create_batch(center, fund, "2026-11", now=world.now)
    # Rolled back: no batch, no line moved, the withdrawal of the first household's line undone.
    assert await DisbursementBatch.count() == 0
    assert {r["status"] for r in await PaymentLine.select(PaymentLine.status)} == {"queued"}
    assert await AuditEvent.count().where(AuditEvent.action == "payment.withdraw") == 0
