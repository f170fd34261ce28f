"""Property: whatever the bank returns, however often the same file is uploaded,
no month of a benefit is paid twice and no fund pays out more than it received."""

from __future__ import annotations

import csv
import io
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relief_pwa.adapters.bankfiles import BankFileRejected
from relief_pwa.services import disbursement, plans
from relief_pwa.services.funds import Overspending
from relief_pwa.services.plans import DraftScope
from relief_pwa.tables import Fund, FundEntry, Payment, PaymentLine
from tests.helpers import found
from tests.services.plans_support import pool, recipient

_counter = itertools.count(1)
_households: dict[int, list[int]] = {}

# An operation: ("batch",) makes and exports a batch of the waiting lines;
# ("return", outcomes) answers the latest batch (True = paid, False = failed,
# None = left out: a partial return); ("repeat", k) uploads an earlier file again.
OPERATION = st.one_of(
    st.just(("batch",)),
    st.tuples(st.just("return"), st.lists(st.sampled_from([True, False, None]), min_size=4, max_size=4)),
    st.tuples(st.just("repeat"), st.integers(min_value=0, max_value=5)),
)


def answer(batch_no: str, lines: list[dict[str, Any]], outcomes: list[bool | None]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["批次号", "行号", "金额(元)", "状态", "失败原因"])
    for line, outcome in zip(lines, outcomes, strict=False):
        if outcome is None:
            continue
        amount = f"{line['amount_fen'] / 100:.2f}"
        writer.writerow(
            [batch_no, line["line_id"], amount, "成功" if outcome else "失败", "" if outcome else "账户异常"]
        )
    return buffer.getvalue().encode()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(OPERATION, min_size=1, max_size=10))
async def test_no_double_payment_and_no_overdraft(world, operations):
    if id(world) not in _households:
        _households[id(world)] = [await recipient(world, index=str(90 - n)) for n in range(3)]
    n = next(_counter)
    center = world.actor("center")
    # 1,200 yuan for three households of 500: the third approval must be refused.
    _, fund, _ = await pool(world, fund_yuan="1200", fund_code=f"F{n}", need=f"need{n}")
    refused = 0
    for plan_id in await plans.do_save_drafts(center, DraftScope(), now=world.now):
        try:
            await plans.do_approve_plan(world.actor("center_2"), plan_id, now=world.now)
        except Overspending:
            refused += 1
    assert refused == 1
    await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)

    files: list[tuple[int, bytes]] = []
    latest: tuple[int, str] | None = None
    for operation in operations:
        if operation[0] == "batch":
            waiting = await PaymentLine.count().where(
                (PaymentLine.fund == fund) & (PaymentLine.status == "queued")
            )
            if waiting:
                made = await disbursement.do_create_batch(center, fund, "2026-11", now=world.now)
                await disbursement.do_export_batch(
                    world.actor("center_2"), made.batch_id, "csv", now=world.now
                )
                latest = (made.batch_id, made.batch_no)
        elif operation[0] == "return" and latest is not None:
            lines = await PaymentLine.select().where(PaymentLine.batch == latest[0]).order_by(PaymentLine.id)
            data = answer(latest[1], lines, operation[1])
            try:
                await disbursement.do_reconcile_batch(center, latest[0], data, "r.csv", now=world.now)
                files.append((latest[0], data))
            except BankFileRejected:
                pass  # empty partial return, or contradicting an earlier answer: nothing changed
        elif operation[0] == "repeat" and files:
            batch_id, data = files[operation[1] % len(files)]
            outcome = await disbursement.do_reconcile_batch(center, batch_id, data, "r.csv", now=world.now)
            assert outcome.paid == 0 and outcome.failed == 0

        fund_row = found(await Fund.objects().where(Fund.id == fund).first())
        assert fund_row.available_fen >= 0 and fund_row.reserved_fen >= 0 and fund_row.paid_fen >= 0
        assert fund_row.available_fen + fund_row.reserved_fen + fund_row.paid_fen == 120000
        payments = await Payment.select(Payment.pay_key, Payment.amount_fen).where(
            Payment.payment_line.fund == fund
        )
        keys = [p["pay_key"] for p in payments]
        assert len(keys) == len(set(keys)) <= 2
        assert sum(p["amount_fen"] for p in payments) == fund_row.paid_fen <= 120000
        pays = await FundEntry.select(FundEntry.amount_fen).where(
            (FundEntry.fund == fund) & (FundEntry.kind == "pay")
        )
        assert sum(p["amount_fen"] for p in pays) == fund_row.paid_fen
