"""One-card (一卡通) disbursement: payment lines, batches, bank files, reconciliation.

- Every month, each approved cash plan line running that month gets one
  PaymentLine (``do_generate_monthly_lines``) — only for a month inside an
  entitlement period (services.entitlements, docs/lifecycle.md): money
  follows the application's state. Building a batch checks again and pulls
  out (status ``withdrawn``, with the reason) what is no longer entitled.
- Queued lines of one fund are grouped into a DisbursementBatch, exported as
  the bank's CSV/XLSX file, and reconciled from the bank's return file.
- A paid line writes a Payment row whose unique ``pay_key`` ("<plan line>:<month>")
  makes a second payment of the same month impossible in the database; a
  failed line is re-queued as a new attempt with the bank's reason.
- A return file is applied whole or not at all (one transaction); an
  already reconciled line reported again with the same result is skipped, so
  uploading the same file twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from relief_pwa.adapters import bankfiles
from relief_pwa.adapters.spreadsheets import off_the_loop
from relief_pwa.clock import local_date
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability, FourEyes
from relief_pwa.db import advisory_xact_lock, is_sqlite, write_transaction
from relief_pwa.services import entitlements, facts_history, funds, hooks, identifiers
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.four_eyes import require_second_person
from relief_pwa.services.handover import record_aid
from relief_pwa.services.numbers import next_value
from relief_pwa.services.plans import month_name, month_number, month_of, parse_month
from relief_pwa.tables import (
    DisbursementBatch,
    Fund,
    Payment,
    PaymentLine,
    PlanLine,
)

CHUNK = 500
BATCH_PAGE = 100
# Ids per step of the monthly run (lines generated, batch built): its memory is one
# window's rows whatever the size of the city.
WINDOW = 5_000


def payment_line_id(plan_line_id: int, month: str, attempt: int) -> str:
    return f"P{plan_line_id}-{month.replace('-', '')}-{attempt}"


def pay_key(plan_line_id: int, month: str) -> str:
    return f"{plan_line_id}:{month}"


# --- monthly lines -------------------------------------------------------------


@dataclass(frozen=True)
class GenerateResult:
    month: str
    created: int
    already: int
    total_fen: int
    not_entitled: int = 0  # plan lines running this month whose household is not a recipient of it


async def do_generate_monthly_lines(actor: Actor, month: str, *, now: datetime) -> GenerateResult:
    """Create the payment lines of ``month`` for every approved cash line running
    that month (one-off lines in their start month) inside an entitlement period.
    Re-running is harmless; a month withdrawn and entitled again gets a new attempt.

    The jurisdiction is walked ``WINDOW`` plan-line ids at a time and each window's
    lines go in as one bulk insert, so time grows with the caseload and memory
    does not (docs/scale.md, "Monthly batch at scale")."""
    require(actor, Capability.BATCH_CREATE)
    month = parse_month(month)
    if month_number(month) > month_number(month_of(local_date(now))) + 1:
        raise DomainError(N_("Payments can be prepared at most one month ahead."), field="month")
    target = month_number(month)
    engine = PaymentLine._meta.db
    scope = f"{actor.org_path}%"
    created = already = not_entitled = total = 0
    async with write_transaction(engine):
        await advisory_xact_lock(engine, f"payment-lines:{month}")
        await advisory_xact_lock(engine, entitlements.ENTITLEMENT_LOCK)
        span = await PlanLine.raw(
            f"SELECT MIN(pl.id) AS low, MAX(pl.id) AS high {_RUNNING_CASH}", month, scope
        )
        for low, high in _windows(span):
            window = await PlanLine.raw(
                "SELECT pl.id, pl.household, pl.org_path, pl.amount_fen, pl.start_month, pl.months, "
                f"r.fund, r.provider, p.application {_RUNNING_CASH} AND pl.id >= {{}} AND pl.id < {{}} "
                "ORDER BY pl.id",
                month,
                scope,
                low,
                high,
            )
            lines = [line for line in window if _runs_in(line, target)]
            if not lines:
                continue
            # The month's lines of these plan lines: a live one (not withdrawn) means
            # "already"; otherwise the highest attempt so far numbers the next.
            live: set[int] = set()
            attempts: dict[int, int] = {}
            for r in await PaymentLine.raw(
                "SELECT plan_line, status, attempt FROM payment_line "
                "WHERE month = {} AND plan_line >= {} AND plan_line < {}",
                month,
                low,
                high,
            ):
                plan_line = int(r["plan_line"])
                attempts[plan_line] = max(attempts.get(plan_line, 0), int(r["attempt"]))
                if r["status"] != entitlements.WITHDRAWN:
                    live.add(plan_line)
            # A plan of an application is paid in that application's periods, a plan of
            # the household as a whole in any of the household's (Periods.entitled).
            periods = await entitlements.periods_selected(
                "SELECT pl.household FROM plan_line pl JOIN plan p ON p.id = pl.plan "
                "WHERE pl.id >= {} AND pl.id < {} AND p.application IS NULL",
                (low, high),
                applications="SELECT p.application FROM plan_line pl JOIN plan p ON p.id = pl.plan "
                "WHERE pl.id >= {} AND pl.id < {}",
                org_path=actor.org_path,
                month=month,
            )
            rows: list[tuple[Any, ...]] = []
            for line in lines:
                plan_line = int(line["id"])
                if plan_line in live:
                    already += 1
                    continue
                if not periods.entitled(int(line["household"]), line["application"], month):
                    not_entitled += 1
                    continue
                attempt = attempts.get(plan_line, 0) + 1
                amount = int(line["amount_fen"])
                rows.append(
                    (
                        payment_line_id(plan_line, month, attempt),
                        plan_line,
                        int(line["household"]),
                        line["fund"],
                        line["provider"],
                        line["org_path"],
                        month,
                        amount,
                        "queued",
                        "",
                        attempt,
                        now,
                    )
                )
                total += amount
            await _insert_lines(rows)
            created += len(rows)
        await record_event(
            actor,
            "payment.generate",
            "payment_month",
            target,
            org_path=actor.org_path,
            now=now,
            after={
                "month": month,
                "created": created,
                "already": already,
                "not_entitled": not_entitled,
                "total_fen": total,
            },
        )
    return GenerateResult(month, created, already, total, not_entitled)


def _runs_in(line: dict[str, Any], target: int) -> bool:
    """Whether a plan line runs in the month numbered ``target`` (one-off lines: their start month)."""
    start = month_number(line["start_month"])
    return start <= target < start + int(line["months"])


# Approved cash plan lines of a jurisdiction started by a month (params: month, scope).
_RUNNING_CASH = (
    "FROM plan_line pl JOIN resource r ON r.id = pl.resource JOIN plan p ON p.id = pl.plan "
    "WHERE r.kind = 'cash' AND pl.status IN ('approved', 'implemented') AND pl.start_month <> '' "
    "AND pl.start_month <= {} AND pl.org_path LIKE {}"
)


def _windows(span: Sequence[dict[str, Any]]) -> Iterator[tuple[int, int]]:
    """Half-open id ranges of ``WINDOW`` ids covering ``span`` (a MIN/MAX row): each step
    of a monthly run reads one range through the primary key, whatever the table's size."""
    if not span or span[0]["low"] is None:
        return
    low, high = int(span[0]["low"]), int(span[0]["high"])
    for start in range(low, high + 1, WINDOW):
        yield start, start + WINDOW


_LINE_COLUMNS = (
    "line_id",
    "plan_line",
    "household",
    "fund",
    "provider",
    "org_path",
    "month",
    "amount_fen",
    "status",
    "failure_reason",
    "attempt",
    "created_at",
)


def _transaction_connection() -> Any:
    transaction = PaymentLine._meta.db.current_transaction.get()
    if transaction is None:
        raise RuntimeError("payment lines are written inside a write transaction")
    return transaction.connection


async def _insert_lines(rows: list[tuple[Any, ...]]) -> None:
    """Payment lines (tuples in ``_LINE_COLUMNS`` order) in one round trip, in the
    caller's transaction: executemany on SQLite, COPY on PostgreSQL."""
    if not rows:
        return
    engine = PaymentLine._meta.db
    connection = _transaction_connection()
    if is_sqlite(engine):
        await connection.executemany(
            f"INSERT INTO payment_line ({', '.join(_LINE_COLUMNS)}) "  # noqa: S608  (fixed names)
            f"VALUES ({', '.join('?' * len(_LINE_COLUMNS))})",
            rows,
        )
    else:
        await connection.copy_records_to_table("payment_line", records=rows, columns=_LINE_COLUMNS)


# --- batches -------------------------------------------------------------------


async def access_batch(actor: Actor, batch_id: int) -> DisbursementBatch:
    batch = await DisbursementBatch.objects().where(DisbursementBatch.id == batch_id).first()
    if batch is None or not actor.org_path or not batch.org_path.startswith(actor.org_path):
        raise NotFoundOrForbidden()
    return batch


@dataclass(frozen=True)
class BatchResult:
    batch_id: int
    batch_no: str
    lines: int
    total_fen: int
    held_without_account: int


async def do_create_batch(actor: Actor, fund_id: int, month: str, *, now: datetime) -> BatchResult:
    """Group the queued lines of one fund (months up to ``month``) into a batch.
    Lines of households without a one-card account stay queued and are counted.

    The queue is walked ``WINDOW`` line ids at a time; each window's lines are
    checked against the entitlement periods and the accounts of their own
    households and marked batched in one statement."""
    require(actor, Capability.BATCH_CREATE)
    month = parse_month(month)
    engine = DisbursementBatch._meta.db
    async with write_transaction(engine):
        fund = await funds.access_fund(actor, fund_id)
        await advisory_xact_lock(engine, f"batch-fund:{fund.id}")
        await advisory_xact_lock(engine, entitlements.ENTITLEMENT_LOCK)
        query = (fund.id, month, f"{actor.org_path}%")
        span = await PaymentLine.raw(
            f"SELECT MIN(l.id) AS low, MAX(l.id) AS high FROM payment_line l WHERE {_QUEUED}",  # noqa: S608
            *query,
        )
        # Numbered and saved first, so that each window's lines can point at it; an empty
        # batch is refused below, and the refusal rolls all of it back.
        seq = await next_value(f"batch:{month}")
        batch_no = f"B{month.replace('-', '')}{seq:05d}"
        batch = DisbursementBatch(
            batch_no=batch_no,
            fund=fund.id,
            org_path=actor.org_path,
            month=month,
            status="draft",
            line_count=0,
            total_fen=0,
            created_by=actor.staff_id,
            created_at=now,
        )
        await batch.save()
        ready = held = total = 0
        unentitled: list[int] = []
        unentitled_households: set[int] = set()
        for low, high in _windows(span):
            rows = await PaymentLine.raw(
                "SELECT l.id, l.amount_fen, l.household, l.month, l.attempt, h.account_sealed, "
                "p.application AS application_id "
                f"{_QUEUED_JOINS} WHERE {_QUEUED} AND l.id >= {{}} AND l.id < {{}} "
                "ORDER BY l.id",
                *query,
                low,
                high,
            )
            if not rows:
                continue
            # Checked again: a line queued before its month stopped being entitled is pulled
            # out (below, all at once, so each household's withdrawal is one audit event).
            periods = await entitlements.periods_selected(
                "SELECT l.household FROM payment_line l WHERE l.id >= {} AND l.id < {}", (low, high)
            )
            entitled: list[dict[str, Any]] = []
            for r in rows:
                if periods.entitled(int(r["household"]), r["application_id"], r["month"]):
                    entitled.append(r)
                else:
                    unentitled.append(int(r["id"]))
                    unentitled_households.add(int(r["household"]))
            paid_out = [r for r, account in zip(entitled, await _accounts(entitled), strict=True) if account]
            held += len(entitled) - len(paid_out)
            if paid_out:
                await _mark_batched(batch.id, [int(r["id"]) for r in paid_out])
                ready += len(paid_out)
                total += sum(int(r["amount_fen"]) for r in paid_out)
        if unentitled:
            await entitlements.pull_unentitled_lines(
                actor, sorted(unentitled_households), now=now, why="batch.create", line_ids=unentitled
            )
        if not ready:
            raise DomainError(
                N_("No payment lines of this fund are waiting (held without a one-card account: {held})."),
                field="fund",
                held=held,
            )
        await DisbursementBatch.update(
            {DisbursementBatch.line_count: ready, DisbursementBatch.total_fen: total}
        ).where(DisbursementBatch.id == batch.id)
        await record_event(
            actor,
            "batch.create",
            "disbursement_batch",
            batch.id,
            org_path=actor.org_path,
            now=now,
            after={
                "batch_no": batch_no,
                "fund": fund.code,
                "month": month,
                "lines": ready,
                "total_fen": total,
                "held_without_account": held,
            },
        )
    return BatchResult(int(batch.id), batch_no, ready, total, held)


# The queued lines of a fund in a jurisdiction up to a month (params: fund, month, scope).
_QUEUED = "l.fund = {} AND l.status = 'queued' AND l.month <= {} AND l.org_path LIKE {}"
# A queued line with its household's account and its plan's application (the entitlement check).
_QUEUED_JOINS = (
    "FROM payment_line l JOIN household h ON h.id = l.household "
    "LEFT JOIN plan_line pl ON pl.id = l.plan_line LEFT JOIN plan p ON p.id = pl.plan"
)


async def _mark_batched(batch_id: int, line_ids: list[int]) -> None:
    """One statement per window of lines (at most ``WINDOW`` ids), on the transaction's
    connection: an id array on PostgreSQL, one prepared statement run per id on SQLite
    (as fast there as an IN list, without building a query of thousands of parameters)."""
    engine = PaymentLine._meta.db
    connection = _transaction_connection()
    if is_sqlite(engine):
        await connection.executemany(
            "UPDATE payment_line SET status = 'batched', batch = ? WHERE status = 'queued' AND id = ?",
            [(batch_id, line_id) for line_id in line_ids],
        )
        return
    await connection.execute(
        "UPDATE payment_line SET status = 'batched', batch = $1 WHERE status = 'queued' AND id = ANY($2)",
        batch_id,
        line_ids,
    )


async def _accounts(rows: list[dict[str, Any]]) -> list[str]:
    """Each line's one-card account, sealed: the household's account valid for the line's month
    (docs/facts-over-time.md). A retry (attempt 2 on) goes to the account valid now: the
    month's account is the one the bank refused, and a new card is why the line is paid again."""
    current = {int(r["household"]): r["account_sealed"] for r in rows}
    of_month = await facts_history.accounts_for_months(
        [(int(r["household"]), r["month"]) for r in rows if int(r["attempt"]) == 1], current
    )
    return [
        of_month[int(r["household"]), r["month"]] if int(r["attempt"]) == 1 else current[int(r["household"])]
        for r in rows
    ]


async def _bank_lines(batch: DisbursementBatch) -> list[bankfiles.PaymentLine]:
    rows = await PaymentLine.raw(
        "SELECT l.line_id, l.amount_fen, l.month, l.household, l.attempt, h.head_name, h.head_id_sealed, "
        "h.account_sealed, f.code AS fund_code, r.name AS resource_name "
        "FROM payment_line l JOIN household h ON h.id = l.household JOIN fund f ON f.id = l.fund "
        "JOIN plan_line pl ON pl.id = l.plan_line JOIN resource r ON r.id = pl.resource "
        "WHERE l.batch = {} ORDER BY l.id",
        batch.id,
    )
    return [
        bankfiles.PaymentLine(
            line_id=r["line_id"],
            batch_no=batch.batch_no,
            head_name=r["head_name"],
            # The bank needs the numbers in full: the file is the one place they leave sealed storage.
            id_number=identifiers.opened(identifiers.ID_NUMBER, r["head_id_sealed"]),
            account=identifiers.opened(identifiers.ACCOUNT, account),
            amount_fen=int(r["amount_fen"]),
            fund_code=r["fund_code"],
            memo=f"{r['resource_name']} {r['month']}"[:60],
        )
        for r, account in zip(rows, await _accounts(rows), strict=True)
    ]


async def do_export_batch(
    actor: Actor, batch_id: int, file_format: str, *, now: datetime
) -> tuple[bytes, str]:
    """The bank file of a batch (CSV or XLSX); the first export marks it sent.
    Every download is audited: the file carries ID numbers and accounts."""
    require(actor, Capability.BATCH_EXPORT)
    if file_format not in ("csv", "xlsx"):
        raise DomainError(N_("Choose CSV or XLSX."), field="format")
    async with write_transaction(DisbursementBatch._meta.db):
        batch = await access_batch(actor, batch_id)
        if batch.status == "cancelled":
            raise DomainError(
                N_("This batch was emptied and cancelled; there is nothing to export."), field="format"
            )
        await require_second_person(actor, FourEyes.BATCH_EXPORT, [batch.created_by])
        lines = await _bank_lines(batch)
        data = (
            bankfiles.export_csv(batch.batch_no, lines)
            if file_format == "csv"
            else bankfiles.export_xlsx(batch.batch_no, lines)
        )
        if batch.status == "draft":
            await DisbursementBatch.update(
                {
                    DisbursementBatch.status: "exported",
                    DisbursementBatch.exported_at: now,
                    DisbursementBatch.exported_by: actor.staff_id,
                }
            ).where(DisbursementBatch.id == batch.id)
        await record_event(
            actor,
            "batch.export",
            "disbursement_batch",
            batch.id,
            org_path=batch.org_path,
            now=now,
            after={"format": file_format, "lines": len(lines)},
        )
    return data, f"{batch.batch_no}.{file_format}"


# --- reconciliation ------------------------------------------------------------


@dataclass(frozen=True)
class ReconcileResult:
    paid: int
    failed: int
    unchanged: int
    paid_fen: int
    batch_status: str


async def do_reconcile_batch(
    actor: Actor, batch_id: int, data: bytes, filename: str, *, now: datetime
) -> ReconcileResult:
    """Apply the bank's return file to a batch, whole or not at all.

    Raises:
        BankFileRejected: the file is malformed, for another batch, names
            unknown lines, or contradicts an earlier reconciliation; each
            problem with its row number. Nothing is changed then.
    """
    require(actor, Capability.BATCH_RECONCILE)
    engine = DisbursementBatch._meta.db
    # Parse first, in a worker thread and outside the write transaction: a big
    # file must neither stall the event loop nor hold the database's write lock.
    batch = await access_batch(actor, batch_id)
    if batch.status == "draft":
        raise DomainError(N_("Export the batch file before reconciling it."), field="file")
    await require_second_person(actor, FourEyes.BATCH_RECONCILE, [batch.exported_by])
    sent = await PaymentLine.select(PaymentLine.line_id, PaymentLine.amount_fen).where(
        PaymentLine.batch == batch.id
    )
    returned = await off_the_loop(
        bankfiles.parse_return_file,
        data,
        filename,
        batch.batch_no,
        {row["line_id"]: int(row["amount_fen"]) for row in sent},
    )
    async with write_transaction(engine):
        batch = await access_batch(actor, batch_id)
        await advisory_xact_lock(engine, f"batch:{batch.id}")
        await require_second_person(actor, FourEyes.BATCH_RECONCILE, [batch.exported_by])
        lines = await PaymentLine.select().where(PaymentLine.batch == batch.id)
        by_line_id = {row["line_id"]: row for row in lines}
        problems: list[bankfiles.BankFileProblem] = []
        to_pay: list[tuple[dict[str, Any], bankfiles.ReturnLine]] = []
        to_fail: list[tuple[dict[str, Any], bankfiles.ReturnLine]] = []
        unchanged = 0
        for result in returned.results:
            row = by_line_id.get(result.line_id)
            if row is None:  # the batch changed while the file was being read
                problems.append(
                    bankfiles.BankFileProblem(
                        result.row, N_("Line {line_id} is not in this batch."), {"line_id": result.line_id}
                    )
                )
                continue
            settled = row["status"] in ("paid", "failed")
            if settled:
                if row["status"] != result.status.value:
                    problems.append(
                        bankfiles.BankFileProblem(
                            result.row,
                            N_("Line {line_id} was already reconciled as {status}."),
                            {"line_id": result.line_id, "status": row["status"]},
                        )
                    )
                else:
                    unchanged += 1
                continue
            (to_pay if result.status is bankfiles.ReturnStatus.PAID else to_fail).append((row, result))
        keys = [pay_key(int(row["plan_line"]), row["month"]) for row, _ in to_pay]
        if keys:
            taken = {
                r["pay_key"] for r in await Payment.select(Payment.pay_key).where(Payment.pay_key.is_in(keys))
            }
            for (row, result), key in zip(to_pay, keys, strict=True):
                if key in taken:
                    problems.append(
                        bankfiles.BankFileProblem(
                            result.row,
                            N_("Line {line_id}: month {month} of this benefit is already paid."),
                            {"line_id": result.line_id, "month": row["month"]},
                        )
                    )
        if problems:
            raise bankfiles.BankFileRejected(problems)

        paid_fen = 0
        plans = await _plan_info([int(row["plan_line"]) for row, _ in to_pay])
        for row, _result in to_pay:
            paid_fen += await _settle_paid(actor, row, plans[int(row["plan_line"])], now)
        for row, result in to_fail:
            await _settle_failed(row, result.reason, now)
        remaining = await PaymentLine.count().where(
            (PaymentLine.batch == batch.id) & (PaymentLine.status == "batched")
        )
        status = "reconciled" if remaining == 0 else batch.status
        if status != batch.status:
            await DisbursementBatch.update(
                {DisbursementBatch.status: status, DisbursementBatch.reconciled_at: now}
            ).where(DisbursementBatch.id == batch.id)
        await record_event(
            actor,
            "batch.reconcile",
            "disbursement_batch",
            batch.id,
            org_path=batch.org_path,
            now=now,
            before={"status": batch.status},
            after={
                "status": status,
                "file": filename[:100],
                "paid": [row["line_id"] for row, _ in to_pay],
                "failed": [{"line": row["line_id"], "reason": result.reason} for row, result in to_fail],
                "unchanged": unchanged,
                "paid_fen": paid_fen,
            },
        )
    return ReconcileResult(len(to_pay), len(to_fail), unchanged, paid_fen, status)


async def _plan_info(plan_line_ids: list[int]) -> dict[int, dict[str, Any]]:
    info: dict[int, dict[str, Any]] = {}
    for start in range(0, len(plan_line_ids), CHUNK * 4):
        chunk = plan_line_ids[start : start + CHUNK * 4]
        rows = await PlanLine.select(
            PlanLine.id,
            PlanLine.status,
            PlanLine.plan.application.as_alias("application_id"),
        ).where(PlanLine.id.is_in(chunk))
        info.update({int(r["id"]): r for r in rows})
    return info


async def _settle_paid(actor: Actor, row: dict[str, Any], plan_line: dict[str, Any], now: datetime) -> int:
    amount = int(row["amount_fen"])
    # The unique pay_key is the database's own guarantee against a double payment.
    await Payment.insert(
        Payment(
            pay_key=pay_key(int(row["plan_line"]), row["month"]),
            payment_line=row["id"],
            amount_fen=amount,
            paid_at=now,
        )
    )
    await PaymentLine.update({PaymentLine.status: "paid", PaymentLine.paid_at: now}).where(
        (PaymentLine.id == row["id"]) & (PaymentLine.status == "batched")
    )
    await funds.pay(
        row["fund"], amount, reference=f"payment:{row['line_id']}", staff_id=actor.staff_id, now=now
    )
    await record_aid(
        int(row["household"]),
        value_fen=amount,
        source="payment",
        reference=f"payment:{row['line_id']}",
        note=row["month"],
        now=now,
    )
    first_time = plan_line["status"] == "approved"
    if first_time:
        await PlanLine.update({PlanLine.status: "implemented", PlanLine.implemented_at: now}).where(
            (PlanLine.id == row["plan_line"]) & (PlanLine.status == "approved")
        )
        plan_line["status"] = "implemented"
    await hooks.emit(
        "payment.paid",
        household_id=int(row["household"]),
        application_id=plan_line["application_id"],
        payment_line_id=int(row["id"]),
        plan_line_id=int(row["plan_line"]),
        amount_fen=amount,
        month=row["month"],
        now=now,
    )
    if first_time:
        from relief_pwa.services.followups import schedule_followup

        await schedule_followup(actor, int(row["plan_line"]), now=now)
    return amount


async def _settle_failed(row: dict[str, Any], reason: str, now: datetime) -> None:
    await PaymentLine.update({PaymentLine.status: "failed", PaymentLine.failure_reason: reason[:200]}).where(
        (PaymentLine.id == row["id"]) & (PaymentLine.status == "batched")
    )
    attempt = int(row["attempt"]) + 1
    await PaymentLine.insert(
        PaymentLine(
            line_id=payment_line_id(int(row["plan_line"]), row["month"], attempt),
            plan_line=row["plan_line"],
            household=row["household"],
            fund=row["fund"],
            provider=row["provider"],
            org_path=row["org_path"],
            month=row["month"],
            amount_fen=row["amount_fen"],
            status="queued",
            attempt=attempt,
            failure_reason=f"{reason}"[:200],
            created_at=now,
        )
    )


# --- reading -------------------------------------------------------------------


async def list_batches(actor: Actor, limit: int = 100) -> list[dict[str, Any]]:
    return list(
        await DisbursementBatch.select(
            *DisbursementBatch.all_columns(), DisbursementBatch.fund.code.as_alias("fund_code")
        )
        .where(DisbursementBatch.org_path.like(f"{actor.org_path}%"))
        .order_by(DisbursementBatch.id, ascending=False)
        .limit(limit)
    )


async def queue_summary(actor: Actor) -> list[dict[str, Any]]:
    """Waiting payment lines per fund and month (what the next batch would take)."""
    rows = await PaymentLine.raw(
        "SELECT l.fund, f.code AS fund_code, l.month, COUNT(*) AS lines, SUM(l.amount_fen) AS total, "
        "SUM(CASE WHEN l.attempt > 1 THEN 1 ELSE 0 END) AS retries "
        "FROM payment_line l JOIN fund f ON f.id = l.fund "
        "WHERE l.status = 'queued' AND l.org_path LIKE {} "
        "GROUP BY l.fund, f.code, l.month ORDER BY f.code, l.month",
        f"{actor.org_path}%",
    )
    return [dict(r) for r in rows]


@dataclass
class BatchDetail:
    batch: dict[str, Any]
    lines: list[dict[str, Any]]
    counts: dict[str, int]
    page: int
    pages: int


async def get_batch(actor: Actor, batch_id: int, page: int = 1) -> BatchDetail:
    batch = await access_batch(actor, batch_id)
    counts = {s: 0 for s in ("batched", "paid", "failed")}
    for r in await PaymentLine.raw(
        "SELECT status, COUNT(*) AS n FROM payment_line WHERE batch = {} GROUP BY status", batch.id
    ):
        counts[r["status"]] = int(r["n"])
    total = sum(counts.values())
    pages = max(1, -(-total // BATCH_PAGE))
    page = max(1, min(page, pages))
    lines = await (
        PaymentLine.select(
            *PaymentLine.all_columns(),
            PaymentLine.household.file_no.as_alias("file_no"),
            PaymentLine.household.head_name.as_alias("head_name"),
        )
        .where(PaymentLine.batch == batch.id)
        .order_by(PaymentLine.id)
        .limit(BATCH_PAGE)
        .offset((page - 1) * BATCH_PAGE)
    )
    data = batch.to_dict()
    fund = await Fund.select(Fund.code, Fund.name).where(Fund.id == batch.fund).first()
    data["fund_code"] = fund["code"] if fund else ""
    return BatchDetail(data, list(lines), counts, page, pages)


async def household_payments(household_id: int) -> list[dict[str, Any]]:
    return list(
        await PaymentLine.select().where(PaymentLine.household == household_id).order_by(PaymentLine.id)
    )


__all__ = [
    "BatchResult",
    "GenerateResult",
    "ReconcileResult",
    "do_create_batch",
    "do_export_batch",
    "do_generate_monthly_lines",
    "do_reconcile_batch",
    "get_batch",
    "list_batches",
    "month_name",
    "queue_summary",
]
