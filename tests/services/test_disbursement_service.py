"""Payment lines, one-card batches, bank files and reconciliation."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from relief_pwa.adapters.bankfiles import EXPORT_HEADER, BankFileRejected
from relief_pwa.core.errors import DomainError
from relief_pwa.services import disbursement, identifiers, plans
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.plans import DraftScope
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.tables import (
    AidRecord,
    AuditEvent,
    DisbursementBatch,
    Fund,
    FundEntry,
    Household,
    Payment,
    PaymentLine,
    PlanLine,
    Visit,
)
from tests.helpers import found
from tests.services.plans_support import pool, recipient

RETURN_HEADER = ["批次号", "行号", "金额(元)", "状态", "失败原因"]


def return_file(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(RETURN_HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


async def approved(world, households: int = 2, **resource) -> tuple[list[int], int]:
    ids = [await recipient(world, index=str(90 - n)) for n in range(households)]
    _, fund, _ = await pool(world, **resource)
    center = world.actor("center")
    for plan_id in await plans.do_save_drafts(center, DraftScope(), now=world.now):
        await plans.do_approve_plan(world.actor("center_2"), plan_id, now=world.now)
    return ids, fund


async def batch_of(world, fund: int, month: str = "2026-11"):
    center = world.actor("center")
    await disbursement.do_generate_monthly_lines(center, month, now=world.now)
    result = await disbursement.do_create_batch(center, fund, month, now=world.now)
    data, _name = await disbursement.do_export_batch(
        world.actor("center_2"), result.batch_id, "csv", now=world.now
    )
    return result, data


async def counts() -> dict[str, int]:
    return {
        "payments": await Payment.count(),
        "lines": await PaymentLine.count(),
        "entries": await FundEntry.count(),
        "aid": await AidRecord.count(),
        "paid": await PaymentLine.count().where(PaymentLine.status == "paid"),
        "failed": await PaymentLine.count().where(PaymentLine.status == "failed"),
    }


async def test_monthly_lines_are_generated_once_per_month(world):
    _, _fund = await approved(world, households=1, periodicity="monthly", months="3", unit_amount="300")
    center = world.actor("center")
    first = await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)
    again = await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)
    assert (first.created, again.created, again.already) == (1, 0, 1)
    assert (await disbursement.do_generate_monthly_lines(center, "2026-12", now=world.now)).created == 1
    later = world.now + timedelta(days=70)
    assert (await disbursement.do_generate_monthly_lines(center, "2027-01", now=later)).created == 1
    assert (
        await disbursement.do_generate_monthly_lines(center, "2027-02", now=later)
    ).created == 0  # 3 months only
    with pytest.raises(DomainError):
        await disbursement.do_generate_monthly_lines(center, "2027-06", now=world.now)  # too far ahead
    with pytest.raises(DomainError):
        await disbursement.do_generate_monthly_lines(center, "2026-13", now=world.now)


async def test_export_csv_and_xlsx_parse_back(world):
    households, fund = await approved(world)
    result, data = await batch_of(world, fund)
    assert result.lines == 2 and result.total_fen == 100000
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == EXPORT_HEADER
    assert {r[0] for r in rows[1:]} == {result.batch_no}
    heads = {
        identifiers.opened("id_number", h["head_id_sealed"]): {
            **h,
            "onecard_account": identifiers.opened("account", h["account_sealed"]),
        }
        for h in await Household.select().where(Household.id.is_in(households))
    }
    for row in rows[1:]:
        assert (
            row[3] in heads and row[4] == "6217000011112222333" and row[5] == "500.00" and row[6] == "DB-LX"
        )
    xlsx, name = await disbursement.do_export_batch(
        world.actor("center_2"), result.batch_id, "xlsx", now=world.now
    )
    assert name.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(xlsx), read_only=True).worksheets[0]
    values = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert tuple(values[0]) == EXPORT_HEADER
    assert [v[1] for v in values[1:3]] == [r[1] for r in rows[1:]]
    assert values[-1][0] == "合计"
    batch = found(await DisbursementBatch.objects().where(DisbursementBatch.id == result.batch_id).first())
    assert batch.status == "exported"
    assert await AuditEvent.count().where(AuditEvent.action == "batch.export") == 2


async def test_reconcile_pays_requeues_and_never_pays_twice(world):
    _households, fund = await approved(world)
    center = world.actor("center")
    result, data = await batch_of(world, fund)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
    paid_line, failed_line = rows[0][1], rows[1][1]
    answer = return_file(
        [
            [result.batch_no, paid_line, "500.00", "成功", ""],
            [result.batch_no, failed_line, "500.00", "失败", "账户已冻结"],
        ]
    )
    outcome = await disbursement.do_reconcile_batch(
        center, result.batch_id, answer, "return.csv", now=world.now
    )
    assert (outcome.paid, outcome.failed, outcome.batch_status) == (1, 1, "reconciled")
    payment = found(await Payment.objects().first())
    line = found(await PaymentLine.objects().where(PaymentLine.line_id == paid_line).first())
    assert payment.pay_key == f"{line.plan_line}:2026-11" and line.status == "paid"
    failed = found(await PaymentLine.objects().where(PaymentLine.line_id == failed_line).first())
    assert failed.status == "failed" and failed.failure_reason == "账户已冻结"
    retry = found(
        await PaymentLine.objects()
        .where((PaymentLine.plan_line == failed.plan_line) & (PaymentLine.status == "queued"))
        .first()
    )
    assert retry.attempt == 2 and retry.line_id.endswith("-2") and retry.failure_reason == "账户已冻结"
    resource = found(
        await PlanLine.select(PlanLine.resource.provider).where(PlanLine.id == line.plan_line).first()
    )
    # the lines carry their resource's provider (the dashboards sum payments by it)
    assert line.provider == failed.provider == retry.provider == resource["resource.provider"] is not None
    fund_row = found(await Fund.objects().where(Fund.id == fund).first())
    assert (fund_row.available_fen, fund_row.reserved_fen, fund_row.paid_fen) == (900000, 50000, 50000)
    assert found(await AidRecord.objects().first()).reference == f"payment:{paid_line}"
    plan_line = found(await PlanLine.objects().where(PlanLine.id == line.plan_line).first())
    assert plan_line.status == "implemented"
    # The same file again changes nothing.
    before = await counts()
    again = await disbursement.do_reconcile_batch(
        center, result.batch_id, answer, "return.csv", now=world.now
    )
    assert (again.paid, again.failed, again.unchanged) == (0, 0, 2)
    assert await counts() == before
    # The retry goes into the next batch; when paid, the month is paid once.
    second = await disbursement.do_create_batch(center, fund, "2026-11", now=world.now)
    assert second.lines == 1
    await disbursement.do_export_batch(world.actor("center_2"), second.batch_id, "csv", now=world.now)
    await disbursement.do_reconcile_batch(
        center,
        second.batch_id,
        return_file([[second.batch_no, retry.line_id, "500", "成功", ""]]),
        "r2.csv",
        now=world.now,
    )
    assert await Payment.count() == 2
    fund_row = found(await Fund.objects().where(Fund.id == fund).first())
    assert (fund_row.reserved_fen, fund_row.paid_fen) == (0, 100000)


async def test_the_database_refuses_a_second_payment_of_a_month(world):
    _, fund = await approved(world, households=1)
    result, data = await batch_of(world, fund)
    line_id = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1][1]
    await disbursement.do_reconcile_batch(
        world.actor("center"),
        result.batch_id,
        return_file([[result.batch_no, line_id, "500", "成功", ""]]),
        "r.csv",
        now=world.now,
    )
    payment = found(await Payment.objects().first())
    with pytest.raises(Exception):  # noqa: B017 - sqlite3/asyncpg raise their own integrity errors
        await Payment.insert(
            Payment(
                pay_key=payment.pay_key, payment_line=payment.payment_line, amount_fen=1, paid_at=world.now
            )
        )


async def test_contradicting_an_earlier_reconciliation_is_refused(world):
    _, fund = await approved(world, households=1)
    result, data = await batch_of(world, fund)
    line_id = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1][1]
    center = world.actor("center")
    await disbursement.do_reconcile_batch(
        center,
        result.batch_id,
        return_file([[result.batch_no, line_id, "500", "失败", "户名不符"]]),
        "r.csv",
        now=world.now,
    )
    before = await counts()
    with pytest.raises(BankFileRejected) as refused:
        await disbursement.do_reconcile_batch(
            center,
            result.batch_id,
            return_file([[result.batch_no, line_id, "500", "成功", ""]]),
            "r.csv",
            now=world.now,
        )
    assert refused.value.problems[0].row == 2
    assert await counts() == before


@pytest.mark.parametrize(
    ("rows", "bad_rows"),
    [
        ([["OTHER", "{a}", "500", "成功", ""], ["{b}", "{b_id}", "500", "成功", ""]], [2]),  # another batch
        (
            [["{b}", "P999-202611-1", "500", "成功", ""], ["{b}", "{a}", "500", "成功", ""]],
            [2],
        ),  # unknown line
        (
            [["{b}", "{a}", "500.001", "成功", ""], ["{b}", "{b_id}", "-500", "成功", ""]],
            [2, 3],
        ),  # decimals, negative
        (
            [["{b}", "{a}", "499.99", "成功", ""], ["{b}", "{b_id}", "500", "失败", ""]],
            [2, 3],
        ),  # amount, no reason
        ([["{b}", "{a}", "500", "maybe", ""]], [2]),  # unknown status
        ([["{b}", "{a}", "500", "成功", ""], ["{b}", "{a}", "500", "成功", ""]], [3]),  # line twice
    ],
)
async def test_bad_return_files_are_refused_with_rows_and_change_nothing(world, rows, bad_rows):
    _, fund = await approved(world)
    result, data = await batch_of(world, fund)
    ids = [r[1] for r in list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]]
    filled = [[cell.format(a=ids[0], b=result.batch_no, b_id=ids[1]) for cell in row] for row in rows]
    before = await counts()
    with pytest.raises(BankFileRejected) as refused:
        await disbursement.do_reconcile_batch(
            world.actor("center"), result.batch_id, return_file(filled), "r.csv", now=world.now
        )
    assert sorted({p.row for p in refused.value.problems}) == bad_rows
    assert await counts() == before
    batch = found(await DisbursementBatch.objects().where(DisbursementBatch.id == result.batch_id).first())
    assert batch.status == "exported"


async def test_malformed_files_are_refused(world):
    _, fund = await approved(world, households=1)
    result, _ = await batch_of(world, fund)
    before = await counts()
    for data, name in (
        (b"", "r.csv"),
        (b"\xd0\xcf\x11\xe0junk", "r.xls"),
        (b"PK\x03\x04junk", "r.xlsx"),
        ("批次号,金额\n1,2\n".encode(), "r.csv"),
    ):
        with pytest.raises(BankFileRejected):
            await disbursement.do_reconcile_batch(
                world.actor("center"), result.batch_id, data, name, now=world.now
            )
    assert await counts() == before


async def test_batches_hold_lines_without_an_account_and_need_export_before_return(world):
    await recipient(world, index="80", account="")
    _, fund = await approved(world, households=1)
    center = world.actor("center")
    await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)
    result = await disbursement.do_create_batch(center, fund, "2026-11", now=world.now)
    assert (result.lines, result.held_without_account) == (1, 1)
    with pytest.raises(DomainError):
        await disbursement.do_reconcile_batch(center, result.batch_id, b"x", "r.csv", now=world.now)
    with pytest.raises(DomainError):
        await disbursement.do_create_batch(center, fund, "2026-11", now=world.now)


async def test_a_paid_line_lowers_the_index_and_schedules_a_follow_up(world):
    await do_seed_standards(SYSTEM_ACTOR, now=world.now)
    household = await recipient(world)
    before = found(await Household.objects().where(Household.id == household).first()).current_index
    assert before is not None
    _, fund, _ = await pool(world, unit_amount="3000")
    center = world.actor("center")
    for plan_id in await plans.do_save_drafts(center, DraftScope(), now=world.now):
        await plans.do_approve_plan(world.actor("center_2"), plan_id, now=world.now)
    result, data = await batch_of(world, fund)
    line_id = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1][1]
    await disbursement.do_reconcile_batch(
        center,
        result.batch_id,
        return_file([[result.batch_no, line_id, "3000", "成功", ""]]),
        "r.csv",
        now=world.now,
    )
    after = found(await Household.objects().where(Household.id == household).first()).current_index
    assert after < before
    visit = found(await Visit.objects().where(Visit.kind == "follow_up").first())
    assert visit.household == household and visit.scheduled_for == world.now.date() + timedelta(days=14)
    assert visit.assigned_to == world.actor("liaison").staff_id
