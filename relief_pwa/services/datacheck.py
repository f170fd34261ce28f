"""Data checks with other agencies (信息核对): the applicant's authorisation, check requests,
batch files per agency, result import, exclusion warnings, the check report the station
opinion needs and the periodic re-check of recipients (docs/datacheck.md).

Results come back whole or not at all, each problem reported with its row (the
habit of the bank return file). Amounts that are money items of the means test
land in the declared-vs-verified ledger: a value that confirms the file is
written on the current version; a different one closes the version and opens
the next with source ``data_check`` (docs/facts-over-time.md).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from relief_pwa.adapters import exports
from relief_pwa.adapters.spreadsheets import SpreadsheetRefused, off_the_loop, read_rows
from relief_pwa.clock import local_date
from relief_pwa.core.datacheck import (
    EXPORT_HEADER,
    LAYOUTS,
    MAX_PROBLEMS_LISTED,
    WARNING_LABELS,
    Agency,
    ExclusionThresholds,
    HouseholdResults,
    ParsedResults,
    ResultRow,
    RowProblem,
    agencies_text,
    covered_agencies,
    exclusion_warnings,
    parse_result_rows,
)
from relief_pwa.core.enums import AppState, AreaType
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden
from relief_pwa.core.facts import select_standard
from relief_pwa.core.fieldwork import VerificationSource
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import format_yuan
from relief_pwa.core.permissions import Capability
from relief_pwa.core.scoring import add_months
from relief_pwa.db import advisory_xact_lock, is_sqlite, write_transaction
from relief_pwa.services import identifiers
from relief_pwa.services.access import access_application, access_household, in_scope, valid_id
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor, require
from relief_pwa.services.audit import EventDraft, record_event, record_events
from relief_pwa.services.bulk_scoring import (
    Lookback,
    Query,
    assemble_city,
    bulk_allocation,
    district_code_of,
    fact_queries,
    households_query,
    score_rows,
)
from relief_pwa.services.facts_history import Source
from relief_pwa.services.prepared import Prepared, Read
from relief_pwa.services.rules import load_calendar
from relief_pwa.services.standards import load_standards
from relief_pwa.tables import (
    Application,
    DataCheckBatch,
    DataCheckConsent,
    DataCheckRequest,
    DataCheckWaiver,
    DataCheckWarning,
    Household,
    Member,
    MoneyItem,
    OrgUnit,
)

CHUNK = 500
WAIVER_MIN_LENGTH = 4
WAIVER_MAX_LENGTH = 2000
# Applications still before the station's opinion: checks are asked for them.
_CHECKABLE = {AppState.RECEIVED, AppState.INVESTIGATING, AppState.REINVESTIGATING}
# Recipients re-checked periodically (docs/datacheck.md).
RECIPIENT_STATES = (AppState.ACTIVE.value, AppState.UNDER_REVIEW.value)
RECHECK_AGENCIES: tuple[Agency, ...] = tuple(Agency)


class DataCheckRejected(DomainError):
    """A result file refused as a whole; ``problems`` lists what is wrong, row by row."""

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        super().__init__(
            N_("The result file was refused: {count} problem(s) found; nothing was changed."),
            field="file",
            count=len(problems),
        )
        self.problems = tuple(problems[:MAX_PROBLEMS_LISTED])


def _engine() -> Any:
    return DataCheckRequest._meta.db


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# --- authorisation ----------------------------------------------------------------------------


DOCUMENT_REF_MAX = 200
REVOKE_MIN_LENGTH = 4


async def do_record_authorisation(
    actor: Actor,
    household_id: int,
    *,
    authorised_on: date,
    application_id: int | None = None,
    signed_by: int | None = None,
    agencies: Iterable[Agency] = (),
    document_ref: str = "",
    now: datetime,
) -> int:
    """Record that the applicant authorised data checks (signed form), for an application or,
    without one, for the household's periodic re-checks: who signed (a member of the
    household), the day, the agencies it covers (none chosen: every agency) and where the
    signed form's photo or scan is kept. Audited (the member's row id, never an identifier)."""
    require(actor, Capability.DATACHECK_AUTHORISE)
    household = await access_household(actor, household_id)
    if application_id is not None:
        application = await access_application(actor, application_id)
        if application.household != household.id:
            raise NotFoundOrForbidden()
    if authorised_on > local_date(now):
        raise DomainError(N_("The date cannot be in the future."), field="authorised_on")
    document_ref = document_ref.strip()
    if len(document_ref) > DOCUMENT_REF_MAX:
        raise DomainError(N_("At most {maximum} characters."), field="document_ref", maximum=DOCUMENT_REF_MAX)
    if signed_by is not None:
        signer = (
            await Member.select(Member.id)
            .where(
                (Member.id == valid_id(signed_by))
                & (Member.household == household.id)
                & Member.active.eq(True)
            )
            .first()
        )
        if signer is None:
            raise DomainError(N_("Choose the member of the household who signed."), field="signed_by")
    scope = agencies_text(agencies)
    async with write_transaction(_engine()):
        row = DataCheckConsent(
            household=household.id,
            application=application_id,
            org_path=household.org_path,
            authorised=True,
            authorised_on=authorised_on,
            recorded_by=actor.staff_id,
            recorded_at=now,
            signed_by=signed_by,
            agencies=scope,
            document_ref=document_ref,
        )
        await row.save()
        await record_event(
            actor,
            "datacheck.authorise",
            "datacheck_consent",
            row.id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            after={
                "application_id": application_id,
                "authorised_on": authorised_on.isoformat(),
                "signed_by_member": signed_by,
                "agencies": scope.split(",") if scope else "all",
                "document_ref": bool(document_ref),
            },
        )
    return int(row.id)


async def do_revoke_authorisation(
    actor: Actor, household_id: int, consent_id: int, *, reason: str, now: datetime
) -> bool:
    """The applicant withdrew the authorisation: from now on no check covered only by it goes
    out (export skips it, re-checks are not queued). Audited with the reason; revoking
    again changes nothing (returns False)."""
    require(actor, Capability.DATACHECK_AUTHORISE)
    reason = reason.strip()
    if len(reason) < REVOKE_MIN_LENGTH or len(reason) > WAIVER_MAX_LENGTH:
        raise DomainError(
            N_("Give the reason in {minimum} to {maximum} characters."),
            field="reason",
            minimum=REVOKE_MIN_LENGTH,
            maximum=WAIVER_MAX_LENGTH,
        )
    household = await access_household(actor, household_id)
    found = await DataCheckConsent.select(DataCheckConsent.id).where(
        (DataCheckConsent.id == valid_id(consent_id)) & (DataCheckConsent.household == household.id)
    )
    if not found:
        raise NotFoundOrForbidden()
    async with write_transaction(_engine()):
        await advisory_xact_lock(_engine(), f"datacheck-consent:{consent_id}")
        row = await DataCheckConsent.select().where(DataCheckConsent.id == consent_id).first()
        if row is None or row["revoked_at"] is not None:
            return False
        await DataCheckConsent.update(
            {
                DataCheckConsent.authorised: False,
                DataCheckConsent.revoked_at: now,
                DataCheckConsent.revoked_by: actor.staff_id,
                DataCheckConsent.revoke_reason: reason,
            }
        ).where(DataCheckConsent.id == consent_id)
        await record_event(
            actor,
            "datacheck.revoke",
            "datacheck_consent",
            consent_id,
            org_path=household.org_path,
            now=now,
            household_id=household.id,
            before={"authorised": True},
            after={"authorised": False, "reason": reason[:500]},
        )
    return True


_CONSENT_COLUMNS = (
    DataCheckConsent.id,
    DataCheckConsent.application,
    DataCheckConsent.authorised,
    DataCheckConsent.authorised_on,
    DataCheckConsent.recorded_at,
    DataCheckConsent.agencies,
    DataCheckConsent.document_ref,
    DataCheckConsent.revoked_at,
    DataCheckConsent.revoke_reason,
    DataCheckConsent.recorded_by.display_name,
    DataCheckConsent.signed_by.name,
    DataCheckConsent.revoked_by.display_name,
)


_HOUSEHOLD_AUTHORISATION: Prepared[dict[str, Any]] = Prepared(
    lambda household: (
        DataCheckConsent.select(*_CONSENT_COLUMNS)
        .where(
            (DataCheckConsent.household == household)
            & DataCheckConsent.authorised.eq(True)
            & DataCheckConsent.application.is_null()
        )
        .order_by(DataCheckConsent.id, ascending=False)
        .first()
    )
)
_APPLICATION_AUTHORISATION: Prepared[dict[str, Any]] = Prepared(
    lambda household, application: (
        DataCheckConsent.select(*_CONSENT_COLUMNS)
        .where(
            (DataCheckConsent.household == household)
            & DataCheckConsent.authorised.eq(True)
            & (DataCheckConsent.application.is_null() | (DataCheckConsent.application == application))
        )
        .order_by(DataCheckConsent.id, ascending=False)
        .first()
    )
)


async def authorisation(household_id: int, application_id: int | None) -> dict[str, Any] | None:
    """The newest authorisation in force covering the application (its own, else the household's)."""
    row = (
        await _HOUSEHOLD_AUTHORISATION.first(household_id)
        if application_id is None
        else await _APPLICATION_AUTHORISATION.first(household_id, application_id)
    )
    if row is not None:
        row["covers"] = sorted(covered_agencies(row["agencies"]))
    return row


@dataclass(frozen=True)
class AuthorisationPage:
    household_id: int
    file_no: str
    authorisations: list[dict[str, Any]]  # newest first, revoked ones too
    signers: list[dict[str, Any]]  # the household's members today (id, name)


async def authorisation_page(actor: Actor, household_id: int) -> AuthorisationPage:
    """Every authorisation of the household (in force and revoked) and who may sign one."""
    require(actor, Capability.DATACHECKS_READ)
    household = await access_household(actor, household_id)
    rows = (
        await DataCheckConsent.select(*_CONSENT_COLUMNS)
        .where(DataCheckConsent.household == household.id)
        .order_by(DataCheckConsent.id, ascending=False)
    )
    for row in rows:
        row["covers"] = sorted(covered_agencies(row["agencies"]))
    signers = (
        await Member.select(Member.id, Member.name)
        .where((Member.household == household.id) & Member.active.eq(True))
        .order_by(Member.id)
    )
    return AuthorisationPage(household.id, str(household.file_no), list(rows), list(signers))


def _covers(consents: list[dict[str, Any]], application_id: int | None, agency: str) -> bool:
    """Some authorisation in force covers this request: for an application's request, the
    household's or that application's own; for a recipient's re-check (no application), any
    of the household's (docs/datacheck.md)."""
    return any(
        (application_id is None or c["application"] is None or c["application"] == application_id)
        and agency in covered_agencies(c["agencies"])
        for c in consents
    )


async def _consents_of(where: Any) -> dict[int, list[dict[str, Any]]]:
    """The authorisations in force, per household."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in await DataCheckConsent.select(
        DataCheckConsent.household, DataCheckConsent.application, DataCheckConsent.agencies
    ).where(DataCheckConsent.authorised.eq(True) & where):
        found[row["household"]].append(row)
    return found


# --- requests ---------------------------------------------------------------------------------


async def _members_with_id(household_id: int) -> list[dict[str, Any]]:
    rows = await Member.select(Member.id, Member.id_index).where(
        (Member.household == household_id) & Member.active.eq(True)
    )
    return [r for r in rows if r["id_index"]]


async def do_request_checks(
    actor: Actor, application_id: int, agencies: Iterable[Agency], *, now: datetime
) -> int:
    """Ask the chosen agencies about every member (with an ID number) of the application's
    household. Needs the applicant's authorisation; asking again adds nothing already asked."""
    require(actor, Capability.DATACHECK_REQUEST)
    chosen = sorted(set(agencies))
    if not chosen:
        raise DomainError(N_("Choose at least one agency."), field="agencies")
    application = await access_application(actor, application_id)
    if AppState(application.state) not in _CHECKABLE:
        raise DomainError(
            N_("Checks are requested while the application is being investigated."), field="agencies"
        )
    consents = (await _consents_of(DataCheckConsent.household == application.household)).get(
        application.household, []
    )
    if not any(c["application"] in (None, application.id) for c in consents):
        raise DomainError(
            N_("Record the applicant's authorisation before requesting data checks."), field="agencies"
        )
    uncovered = [a.value for a in chosen if not _covers(consents, application.id, a.value)]
    if uncovered:
        raise DomainError(
            N_("The applicant's authorisation does not cover these agencies: {agencies}."),
            field="agencies",
            agencies=", ".join(uncovered),
        )
    members = await _members_with_id(application.household)
    if not members:
        raise DomainError(N_("No member of the household has an ID number to check."), field="agencies")
    async with write_transaction(_engine()):
        await advisory_xact_lock(_engine(), f"datacheck-app:{application.id}")
        asked = {
            (r["member"], r["agency"])
            for r in await DataCheckRequest.select(DataCheckRequest.member, DataCheckRequest.agency).where(
                DataCheckRequest.application == application.id
            )
        }
        rows = [
            DataCheckRequest(
                household=application.household,
                application=application.id,
                member=m["id"],
                org_path=application.org_path,
                agency=agency.value,
                purpose="application",
                requested_at=now,
            )
            for agency in chosen
            for m in members
            if (m["id"], agency.value) not in asked
        ]
        await _insert(rows)
        if rows:
            await record_event(
                actor,
                "datacheck.request",
                "application",
                application.id,
                org_path=application.org_path,
                now=now,
                household_id=application.household,
                after={"agencies": [a.value for a in chosen], "persons": len(members), "requests": len(rows)},
            )
    return len(rows)


async def _insert(rows: Sequence[Any]) -> None:
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        await type(chunk[0]).insert(*chunk)


def _connection() -> Any:
    transaction = _engine().current_transaction.get()
    if transaction is None:
        raise RuntimeError("bulk writes run inside a write transaction")
    return transaction.connection


async def _bulk_insert(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Many rows in one round trip (executemany / COPY), inside the caller's transaction."""
    if not rows:
        return
    connection = _connection()
    if is_sqlite(_engine()):
        marks = ", ".join("?" * len(columns))
        await connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608  (fixed names)
            rows,
        )
    else:
        await connection.copy_records_to_table(table, records=rows, columns=columns)


VERIFICATION_COLUMNS = (
    "money_item",
    "household",
    "visit",
    "org_path",
    "verified_fen",
    "source",
    "note",
    "recorded_by",
    "recorded_at",
)
WARNING_COLUMNS = ("household", "application", "request", "org_path", "code", "numbers", "raised_at")


# --- export -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedBatch:
    batch_id: int
    agency: Agency
    persons: int
    filename: str
    content: bytes
    skipped: int = 0  # requests left waiting: no authorisation in force covers them


@dataclass(frozen=True)
class PendingCount:
    """Requests not yet sent to one agency: those an export would send now, and those
    waiting because no authorisation in force covers them (they stay until one does)."""

    ready: int = 0
    unauthorised: int = 0


async def pending_counts(actor: Actor) -> dict[str, PendingCount]:
    """Requests not yet sent, per agency with any, in the actor's jurisdiction."""
    rows = await DataCheckRequest.select(
        DataCheckRequest.agency, DataCheckRequest.household, DataCheckRequest.application
    ).where(DataCheckRequest.batch.is_null() & in_scope(actor, DataCheckRequest.org_path))
    if not rows:
        return {}
    consents = await _consents_of(in_scope(actor, DataCheckConsent.org_path))
    ready: dict[str, int] = defaultdict(int)
    unauthorised: dict[str, int] = defaultdict(int)
    for row in rows:
        covered = _covers(consents.get(row["household"], []), row["application"], row["agency"])
        (ready if covered else unauthorised)[row["agency"]] += 1
    return {
        agency: PendingCount(ready[agency], unauthorised[agency])
        for agency in sorted(set(ready) | set(unauthorised))
    }


def _among(q: Any, ids: list[int]) -> tuple[str, Any]:
    """``id`` among many ids in one statement: (the predicate's SQL, its one argument)."""
    if q.sqlite:
        return "IN (SELECT value FROM json_each({}))", json.dumps(ids)
    return "= ANY({}::integer[])", ids


async def do_export_batch(actor: Actor, agency: Agency, *, now: datetime) -> ExportedBatch:
    """Put every pending request for ``agency`` in the actor's jurisdiction into one batch
    and write its file (ID numbers opened here, and only here). Audited without identifiers."""
    from relief_pwa.services.scoring import RawSql

    require(actor, Capability.DATACHECK_EXCHANGE)
    layout = LAYOUTS[agency]
    async with write_transaction(_engine()):
        await advisory_xact_lock(_engine(), "datacheck-export")
        waiting = (
            await DataCheckRequest.select(
                DataCheckRequest.id,
                DataCheckRequest.member,
                DataCheckRequest.household,
                DataCheckRequest.application,
            )
            .where(
                DataCheckRequest.batch.is_null()
                & (DataCheckRequest.agency == agency.value)
                & in_scope(actor, DataCheckRequest.org_path)
            )
            .order_by(DataCheckRequest.id)
        )
        if not waiting:
            raise DomainError(N_("No check requests are waiting for this agency."), field="agency")
        # A request goes out only under an authorisation still in force that covers this
        # agency; the others wait (a revoked authorisation, a narrower scope).
        consents = await _consents_of(in_scope(actor, DataCheckConsent.org_path))
        pending = [
            r for r in waiting if _covers(consents.get(r["household"], []), r["application"], agency.value)
        ]
        skipped = len(waiting) - len(pending)
        if not pending:
            raise DomainError(
                N_(
                    "The {count} check requests waiting for this agency are not covered by an"
                    " authorisation in force; none was exported."
                ),
                field="agency",
                count=skipped,
            )
        batch = DataCheckBatch(
            agency=agency.value,
            org_path=actor.org_path,
            persons=len(pending),
            status="exported",
            exported_by=actor.staff_id,
            exported_at=now,
        )
        await batch.save()
        q = RawSql()
        among, ids = _among(q, [r["id"] for r in pending])
        await q.fetch(f"UPDATE datacheck_request SET batch = {{}} WHERE id {among}", batch.id, ids)  # noqa: S608
        await record_event(
            actor,
            "datacheck.export",
            "datacheck_batch",
            batch.id,
            org_path=actor.org_path,
            now=now,
            after={"agency": agency.value, "persons": len(pending), "skipped_unauthorised": skipped},
        )
    member_ids = sorted({r["member"] for r in pending})
    among, ids = _among(q, member_ids)
    people: dict[int, tuple[str, str]] = {
        int(member_id): (name, token)
        for member_id, name, token in await q.fetch(
            f"SELECT {q.num('id')}, name, id_sealed FROM member WHERE id {among}",  # noqa: S608
            ids,
        )
    }
    rows = []
    for r in pending:
        name, token = people[r["member"]]
        rows.append((batch.id, r["id"], identifiers.opened(identifiers.ID_NUMBER, token), name, layout.asked))
    content = await off_the_loop(exports.write_csv, EXPORT_HEADER, rows)
    filename = f"datacheck-{agency.value}-{batch.id}.csv"
    return ExportedBatch(int(batch.id), agency, len(pending), filename, content, skipped)


# --- import -----------------------------------------------------------------------------------


def read_result_file(data: bytes, filename: str) -> ParsedResults:
    """Read and check a result file (CSV or XLSX); module level so a worker process can run it."""
    try:
        rows = read_rows(data, filename)
    except SpreadsheetRefused as exc:
        return ParsedResults((), (RowProblem(exc.params.get("row", 0) or 0, exc.message, dict(exc.params)),))
    return parse_result_rows(rows)


@dataclass(frozen=True)
class ImportResult:
    batch_id: int
    agency: Agency
    answered: int
    confirmed: int  # ledger values that confirmed the file
    new_versions: int  # ledger items whose value changed (a new version)
    new_items: int  # undeclared items found
    warnings: int
    changed: int  # re-check results flagged for review
    batch_status: str


@dataclass
class _ItemPlan:
    """What one household's results do to its ledger items of one kind."""

    confirm: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    change: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    create: list[tuple[int, int]] = field(default_factory=list)  # (member id, amount)


def _plan_items(items: list[dict[str, Any]], amounts: dict[int, int]) -> _ItemPlan:
    """Give each member's amount to their own item; the rest to the household-level item;
    members with neither get a new (undeclared) item when the agency found something."""
    plan = _ItemPlan()
    own: dict[int, dict[str, Any]] = {}
    shared: dict[str, Any] | None = None
    for item in items:
        if item["member"] is None:
            shared = shared or item
        else:
            own.setdefault(item["member"], item)
    leftover = 0
    leftover_members: list[tuple[int, int]] = []
    for member_id, amount in sorted(amounts.items()):
        mine = own.get(member_id)
        if mine is not None:
            _assign(plan, mine, amount)
        else:
            leftover += amount
            leftover_members.append((member_id, amount))
    if shared is not None:
        if leftover_members:
            _assign(plan, shared, leftover)
    else:
        plan.create.extend((m, a) for m, a in leftover_members if a > 0)
    return plan


def _assign(plan: _ItemPlan, item: dict[str, Any], amount: int) -> None:
    current = item["verified_fen"] if item["verified_fen"] is not None else item["declared_fen"]
    (plan.confirm if amount == current else plan.change).append((item, amount))


async def do_import_results(actor: Actor, data: bytes, filename: str, *, now: datetime) -> ImportResult:
    """Apply an agency's result file, whole or not at all.

    Raises:
        DataCheckRejected: anything wrong in the file (bad batch id, unknown person,
            an ID number that is not the one asked, malformed amount, a duplicate
            row, a row already answered); every problem with its row. Nothing changes.
    """
    require(actor, Capability.DATACHECK_EXCHANGE)
    parsed = await off_the_loop(read_result_file, data, filename)
    if not parsed.rows:
        raise DataCheckRejected(parsed.problems)
    batch_ids = {r.batch_id for r in parsed.rows}
    if len(batch_ids) != 1:
        raise DataCheckRejected(
            [*parsed.problems, RowProblem(0, N_("A result file answers exactly one batch."))]
        )
    batch_id = batch_ids.pop()
    engine = _engine()
    today = local_date(now)
    async with write_transaction(engine):
        await advisory_xact_lock(engine, f"datacheck-batch:{batch_id}")
        batch = (
            await DataCheckBatch.select().where(DataCheckBatch.id == valid_id(batch_id)).first()
            if 0 < batch_id < 2**31
            else None
        )
        if batch is None or not str(batch["org_path"]).startswith(actor.org_path):
            raise DataCheckRejected(
                [RowProblem(parsed.rows[0].row, N_("Batch {batch} does not exist."), {"batch": batch_id})]
            )
        agency = Agency(batch["agency"])
        requests = {
            r["id"]: r
            for r in await DataCheckRequest.select(
                DataCheckRequest.id,
                DataCheckRequest.household,
                DataCheckRequest.application,
                DataCheckRequest.member,
                DataCheckRequest.org_path,
                DataCheckRequest.purpose,
                DataCheckRequest.answered_at,
                DataCheckRequest.member.id_index,
            ).where(DataCheckRequest.batch == batch_id)
        }
        problems: list[RowProblem] = list(parsed.problems)  # the rows' own, then against the batch
        for row in parsed.rows:
            request = requests.get(row.request_id)
            if request is None:
                problems.append(
                    RowProblem(
                        row.row,
                        N_("Row {request} is not a person of this batch."),
                        {"request": row.request_id},
                    )
                )
            elif identifiers.index_of(identifiers.ID_NUMBER, row.id_number) != request["member.id_index"]:
                problems.append(
                    RowProblem(
                        row.row,
                        N_("Row {request}: the ID number is not the one asked."),
                        {"request": row.request_id},
                    )
                )
            elif request["answered_at"] is not None:
                problems.append(
                    RowProblem(
                        row.row, N_("Row {request} was already answered."), {"request": row.request_id}
                    )
                )
        if problems:
            raise DataCheckRejected(sorted(problems, key=lambda p: p.row))
        result = await _apply_results(actor, batch, agency, parsed.rows, requests, now=now, today=today)
    return result


async def _apply_results(
    actor: Actor,
    batch: dict[str, Any],
    agency: Agency,
    rows: Sequence[ResultRow],
    requests: dict[int, dict[str, Any]],
    *,
    now: datetime,
    today: date,
) -> ImportResult:
    layout = LAYOUTS[agency]
    by_household: dict[int, list[ResultRow]] = defaultdict(list)
    for row in rows:
        by_household[requests[row.request_id]["household"]].append(row)
    household_ids = sorted(by_household)
    changed_households: set[int] = set()  # the ledger changed or a warning was raised
    ledger_changed: set[int] = set()  # the facts changed: the relief index follows
    changed_requests: set[int] = set()
    confirmed = new_versions = new_items = 0
    history: list[tuple[Any, ...]] = []
    note = f"{agency.value} batch {batch['id']}"
    if layout.ledger is not None:
        section, kind = layout.ledger
        items_by_household: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for start in range(0, len(household_ids), CHUNK):
            for item in (
                await MoneyItem.select()
                .where(
                    MoneyItem.household.is_in(household_ids[start : start + CHUNK])
                    & (MoneyItem.section == section)
                    & (MoneyItem.kind == kind)
                    & MoneyItem.active.eq(True)
                )
                .order_by(MoneyItem.id)
            ):
                items_by_household[item["household"]].append(item)
        confirms: list[tuple[dict[str, Any], int]] = []
        changes: list[tuple[dict[str, Any], int]] = []
        creates: list[tuple[int, int, int]] = []  # household, member, amount
        for household_id in household_ids:
            amounts: dict[int, int] = defaultdict(int)
            for row in by_household[household_id]:
                amounts[requests[row.request_id]["member"]] += row.amount_fen if row.found else 0
            plan = _plan_items(items_by_household.get(household_id, []), amounts)
            confirms.extend(plan.confirm)
            changes.extend(plan.change)
            creates.extend((household_id, m, a) for m, a in plan.create)
            if plan.change or plan.create:
                changed_households.add(household_id)
                ledger_changed.add(household_id)
                changed_requests.update(r.request_id for r in by_household[household_id])
        # Confirmed: the verified value is written on the version in force.
        await _set_verified([(item["id"], amount) for item, amount in confirms], note, now)
        for item, amount in confirms:
            history.append(_verification(actor, item["id"], item, amount, note, now))
        # Changed: close the version in force, open the next with the verified value.
        old_ids = [item["id"] for item, _ in changes]
        for start in range(0, len(old_ids), CHUNK):
            await MoneyItem.update({MoneyItem.valid_to: today, MoneyItem.active: False}).where(
                MoneyItem.id.is_in(old_ids[start : start + CHUNK])
            )
        fresh = [_version(item, amount, note, now, today) for item, amount in changes] + [
            _undeclared(
                household_id, member_id, amount, section, kind, requests, by_household, note, now, today
            )
            for household_id, member_id, amount in creates
        ]
        await _insert_returning_ids(fresh)
        for version in fresh:
            history.append(
                _verification(actor, version.id, version.to_dict(), int(version.verified_fen), note, now)
            )
        confirmed, new_versions, new_items = len(confirms), len(changes), len(creates)
        await _bulk_insert("verification", VERIFICATION_COLUMNS, history)

    # Exclusion warnings from this agency's answers, per household.
    limits = await _thresholds(today)
    households = {
        h["id"]: h
        for start in range(0, len(household_ids), CHUNK)
        for h in await Household.select(Household.id, Household.org_path, Household.area_type).where(
            Household.id.is_in(household_ids[start : start + CHUNK])
        )
    }
    sizes: dict[int, int] = defaultdict(int)
    for start in range(0, len(household_ids), CHUNK):
        for m in await Member.select(Member.household).where(
            Member.household.is_in(household_ids[start : start + CHUNK]) & Member.active.eq(True)
        ):
            sizes[m["household"]] += 1
    standards = await _standard_picker(today)
    warnings: list[tuple[Any, ...]] = []  # WARNING_COLUMNS
    for household_id in household_ids:
        answers = by_household[household_id]
        household = households[household_id]
        summary = HouseholdResults(
            members=sizes.get(household_id, 1),
            standard_monthly_fen=standards(str(household["org_path"]), str(household["area_type"])),
            counts={agency: sum(r.count for r in answers if r.found)},
            amounts={agency: sum(r.amount_fen for r in answers if r.found)},
        )
        for warning in exclusion_warnings(summary, limits):
            first = requests[answers[0].request_id]
            warnings.append(
                (
                    household_id,
                    first["application"],
                    first["id"],
                    first["org_path"],
                    warning.code,
                    _dump(dict(warning.numbers)),
                    now,
                )
            )
            changed_households.add(household_id)
            changed_requests.update(r.request_id for r in answers)
    await _bulk_insert("datacheck_warning", WARNING_COLUMNS, warnings)

    # The answers themselves; re-check answers that change something are flagged for review.
    flagged = {rid for rid in changed_requests if requests[rid]["purpose"] == "recheck"}
    await _record_answers(rows, flagged, now)
    remaining = await DataCheckRequest.count().where(
        (DataCheckRequest.batch == batch["id"]) & DataCheckRequest.answered_at.is_null()
    )
    status = "answered" if remaining == 0 else "exported"
    await DataCheckBatch.update(
        {DataCheckBatch.status: status, DataCheckBatch.answered_at: now if remaining == 0 else None}
    ).where(DataCheckBatch.id == batch["id"])
    await record_event(
        actor,
        "datacheck.import",
        "datacheck_batch",
        batch["id"],
        org_path=batch["org_path"],
        now=now,
        before={"status": batch["status"]},
        after={
            "agency": agency.value,
            "answered": len(rows),
            "confirmed": confirmed,
            "new_versions": new_versions,
            "new_items": new_items,
            "warnings": len(warnings),
            "flagged_for_review": len(flagged),
            "status": status,
        },
    )
    # The households whose file changed: one audit event each (the file's history), chained
    # in one go; where the facts changed, their relief index and ranks, in bulk.
    warned: dict[int, list[str]] = defaultdict(list)
    for w in warnings:
        warned[int(w[0])].append(str(w[4]))
    await record_events(
        actor,
        [
            EventDraft(
                "datacheck.result",
                "household",
                household_id,
                str(households[household_id]["org_path"]),
                household_id=household_id,
                after={
                    "agency": agency.value,
                    "batch_id": batch["id"],
                    "warnings": warned.get(household_id, []),
                },
            )
            for household_id in sorted(changed_households)
        ],
        now=now,
    )
    await rescore_households(sorted(ledger_changed), trigger="data_check", now=now)
    return ImportResult(
        int(batch["id"]),
        agency,
        len(rows),
        confirmed,
        new_versions,
        new_items,
        len(warnings),
        len(flagged),
        status,
    )


RESCORE_CHUNK = 2_000  # households re-scored per round of queries
_SPAN = "household >= {} AND household <= {}"  # how bulk_scoring.fact_queries selects a span


def _narrowed(queries: list[Query], ids: list[int], sqlite: bool) -> list[Query]:
    """The fact queries of households low…high narrowed to ``ids`` (the few that changed,
    not every household between them); a query not in the expected shape is kept as it
    is and its rows are filtered by the caller."""
    value: Any = json.dumps(ids) if sqlite else ids
    predicate = (
        "household IN (SELECT value FROM json_each({}))" if sqlite else "household = ANY({}::integer[])"
    )
    narrowed: list[Query] = []
    for sql, args in queries:
        if sql.count(_SPAN) == 1 and sql.index(_SPAN) <= sql.index("{}"):
            narrowed.append((sql.replace(_SPAN, predicate), (value, *args[2:])))
        else:
            narrowed.append((sql, args))
    return narrowed


async def rescore_households(household_ids: Sequence[int], *, trigger: str, now: datetime) -> int:
    """Recompute the relief index of these households together and move their stored ranks:
    what the per-household listener of ``hooks.household_changed`` does for one (the same
    facts, model, standards and records; a household whose facts did not change keeps its
    latest record), in a few statements. Runs inside the caller's write transaction.

    The relief index is the only listener of household changes that a data-check result
    concerns (services/wiring.py); a new one must be called here too.
    """
    from relief_pwa.services.rank_store import sync_households
    from relief_pwa.services.scoring import RawSql, _bulk_write, get_active_model

    ids = sorted(set(household_ids))
    if not ids:
        return 0
    today = local_date(now)
    model = await get_active_model(now=now)
    standards = await load_standards()
    lookback = Lookback.for_models([model], today)
    q = RawSql()
    written = 0
    for start in range(0, len(ids), RESCORE_CHUNK):
        span = ids[start : start + RESCORE_CHUNK]
        wanted = set(span)
        if not q.sqlite:  # serialise with single recomputations of these households
            await q.fetch(
                "SELECT id FROM household WHERE id = ANY({}::integer[]) ORDER BY id FOR UPDATE", span
            )
        with bulk_allocation():
            sql, args = households_query(q, after_id=span[0] - 1, last_id=span[-1], only_open=False)
            households = [h for h in await q.fetch(sql, *args) if int(h[0]) in wanted]
            if not households:
                continue
            facts = [
                [r for r in await q.fetch(fsql, *fargs) if int(r[0]) in wanted]
                for fsql, fargs in _narrowed(
                    fact_queries(q, span[0], span[-1], today, lookback), span, q.sqlite
                )
            ]
            city = assemble_city(households, facts, as_of=today)
            rows = score_rows(city, model, standards, now=now, trigger=trigger, sqlite=q.sqlite)
        unchanged = await _unchanged(q, rows.records, model.version, today)
        if unchanged:
            rows = rows._replace(
                records=[r for r in rows.records if int(r[0]) not in unchanged],
                updates=[u for u in rows.updates if int(u[3]) not in unchanged],
            )
        if rows.records:
            await _bulk_write(rows)
            written += len(rows.records)
    # The stored ranks: these households' rows replaced, or beyond SYNC_LIMIT all stored afresh.
    await sync_households(ids)
    return written


async def _unchanged(q: Any, records: list[tuple[Any, ...]], version: str, today: date) -> set[int]:
    """Households whose latest index record already holds this snapshot, model and day
    (a recomputation would only repeat it)."""
    if not records:
        return set()
    digests = {int(r[0]): r[8] for r in records}  # RECORD_COLUMNS: household … snapshot_digest
    ids = sorted(digests)
    marks = ", ".join("{}" for _ in ids)
    latest: dict[int, tuple[str, str, str]] = {}
    for hid, digest, model_version, as_of in await q.fetch(
        f"SELECT {q.num('household')}, snapshot_digest, model_version, {q.text('as_of')}"  # noqa: S608  (placeholders only)
        f" FROM index_record WHERE household IN ({marks}) ORDER BY household, computed_at, id",
        *ids,
    ):
        latest[int(hid)] = (str(digest), str(model_version), str(as_of)[:10])
    return {hid for hid, digest in digests.items() if latest.get(hid) == (digest, version, today.isoformat())}


def _verification(
    actor: Actor, item_id: int, item: dict[str, Any], amount: int, note: str, now: datetime
) -> tuple[Any, ...]:
    """A ``verification`` row (VERIFICATION_COLUMNS): the ledger's history of the value."""
    return (
        item_id,
        item["household"],
        None,
        item["org_path"],
        amount,
        VerificationSource.DATA_CHECK.value,
        note,
        actor.staff_id,
        now,
    )


def _version(item: dict[str, Any], amount: int, note: str, now: datetime, today: date) -> MoneyItem:
    return MoneyItem(
        household=item["household"],
        org_path=item["org_path"],
        section=item["section"],
        kind=item["kind"],
        member=item["member"],
        description=item["description"],
        declared_fen=item["declared_fen"],
        verified_fen=amount,
        verified_source=VerificationSource.DATA_CHECK.value,
        verified_note=note,
        verified_at=now,
        active=True,
        valid_from=today,
        valid_to=None,
        source=Source.DATA_CHECK,
    )


def _undeclared(
    household_id: int,
    member_id: int,
    amount: int,
    section: str,
    kind: str,
    requests: dict[int, dict[str, Any]],
    by_household: dict[int, list[ResultRow]],
    note: str,
    now: datetime,
    today: date,
) -> MoneyItem:
    org_path = requests[by_household[household_id][0].request_id]["org_path"]
    return _version(
        {
            "household": household_id,
            "org_path": org_path,
            "section": section,
            "kind": kind,
            "member": member_id,
            "description": "",
            "declared_fen": 0,
        },
        amount,
        note,
        now,
        today,
    )


async def _insert_returning_ids(rows: list[MoneyItem]) -> None:
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        returned = await MoneyItem.insert(*chunk).returning(MoneyItem.id)
        for row, ids in zip(chunk, returned, strict=True):
            row.id = ids["id"]


async def _set_verified(values: list[tuple[int, int]], note: str, now: datetime) -> None:
    """Write verified values on the versions in force, in one round trip."""
    if not values:
        return
    connection = _connection()
    source = VerificationSource.DATA_CHECK.value
    if is_sqlite(_engine()):
        await connection.executemany(
            "UPDATE money_item SET verified_fen = ?, verified_source = ?, verified_note = ?, verified_at = ?"
            " WHERE id = ?",
            [(amount, source, note, now, item_id) for item_id, amount in values],
        )
        return
    await connection.execute(
        "UPDATE money_item AS m SET verified_fen = v.amount, verified_source = $3, verified_note = $4,"
        " verified_at = $5 FROM unnest($1::integer[], $2::bigint[]) AS v(id, amount) WHERE m.id = v.id",
        [item_id for item_id, _ in values],
        [amount for _, amount in values],
        source,
        note,
        now,
    )


async def _record_answers(rows: Sequence[ResultRow], flagged: set[int], now: datetime) -> None:
    """The answers on their requests, in one round trip (a file may hold 60,000 rows)."""
    connection = _connection()
    if is_sqlite(_engine()):
        await connection.executemany(
            "UPDATE datacheck_request SET answered_at = ?, found = ?, found_count = ?, amount_fen = ?,"
            " detail = ?, changed = ? WHERE id = ?",
            [
                (now, r.found, r.count, r.amount_fen, r.detail, r.request_id in flagged, r.request_id)
                for r in rows
            ],
        )
        return
    await connection.execute(
        "UPDATE datacheck_request AS r SET answered_at = $1, found = v.found, found_count = v.count,"
        " amount_fen = v.amount, detail = v.detail, changed = v.changed"
        " FROM unnest($2::integer[], $3::boolean[], $4::integer[], $5::bigint[], $6::varchar[],"
        " $7::boolean[])"
        " AS v(id, found, count, amount, detail, changed) WHERE r.id = v.id",
        now,
        [r.request_id for r in rows],
        [r.found for r in rows],
        [r.count for r in rows],
        [r.amount_fen for r in rows],
        [r.detail for r in rows],
        [r.request_id in flagged for r in rows],
    )


async def _thresholds(today: date) -> ExclusionThresholds:
    calendar = await load_calendar()
    return ExclusionThresholds(
        vehicle_value_fen=calendar.rule("datacheck_vehicle_value_yuan", today) * 100,
        max_properties=calendar.rule("datacheck_max_properties", today),
        deposit_months=calendar.rule("datacheck_deposit_months", today),
        max_businesses=calendar.rule("datacheck_max_businesses", today),
    )


async def _standard_picker(today: date) -> Any:
    standards = await load_standards()
    cache: dict[tuple[str, str], int] = {}

    def pick(org_path: str, area_type: str) -> int:
        key = (district_code_of(org_path), area_type)
        if key not in cache:
            try:
                cache[key] = select_standard(standards, key[0], AreaType(key[1]), today).dibao_monthly_fen
            except DomainError:
                cache[key] = 0  # no standard in force: the deposit rule cannot be applied
        return cache[key]

    return pick


# --- the check report and the station opinion --------------------------------------------------


@dataclass(frozen=True)
class AgencyStatus:
    agency: Agency
    label: str
    requested: int
    answered: int

    @property
    def complete(self) -> bool:
        return self.requested > 0 and self.answered == self.requested


@dataclass(frozen=True)
class WarningView:
    code: str
    label: str  # an English message id with {placeholders} filled from ``params``
    params: dict[str, Any]  # amounts already in yuan
    raised_at: datetime
    application_id: int | None


@dataclass(frozen=True)
class CheckReport:
    application_id: int
    household_id: int
    authorisation: dict[str, Any] | None
    agencies: list[AgencyStatus]
    warnings: list[WarningView]
    waivers: list[dict[str, Any]]
    results: list[dict[str, Any]]

    @property
    def complete(self) -> bool:
        """Every requested agency answered for every person asked (and something was asked)."""
        return bool(self.agencies) and all(a.complete for a in self.agencies)


def _warning_view(row: dict[str, Any]) -> WarningView:
    try:
        numbers = json.loads(row["numbers"])
    except (TypeError, ValueError):
        numbers = {}
    params = {key: format_yuan(value) if key.endswith("_fen") else value for key, value in numbers.items()}
    return WarningView(
        row["code"],
        WARNING_LABELS.get(row["code"], row["code"]),
        params,
        row["raised_at"],
        row["application"],
    )


async def _report(application: dict[str, Any]) -> CheckReport:
    requests = (
        await DataCheckRequest.select(
            DataCheckRequest.id,
            DataCheckRequest.agency,
            DataCheckRequest.answered_at,
            DataCheckRequest.found,
            DataCheckRequest.found_count,
            DataCheckRequest.amount_fen,
            DataCheckRequest.detail,
            DataCheckRequest.batch,
            DataCheckRequest.member.name,
        )
        .where(DataCheckRequest.application == application["id"])
        .order_by(DataCheckRequest.agency, DataCheckRequest.id)
    )
    statuses: dict[str, list[int]] = {}
    for r in requests:
        counts = statuses.setdefault(r["agency"], [0, 0])
        counts[0] += 1
        counts[1] += 1 if r["answered_at"] is not None else 0
    warnings = (
        await DataCheckWarning.select()
        .where(DataCheckWarning.application == application["id"])
        .order_by(DataCheckWarning.id)
    )
    waivers = (
        await DataCheckWaiver.select(
            DataCheckWaiver.reason, DataCheckWaiver.recorded_at, DataCheckWaiver.recorded_by.display_name
        )
        .where(DataCheckWaiver.application == application["id"])
        .order_by(DataCheckWaiver.id)
    )
    return CheckReport(
        application_id=application["id"],
        household_id=application["household"],
        authorisation=await authorisation(application["household"], application["id"]),
        agencies=[
            AgencyStatus(Agency(code), LAYOUTS[Agency(code)].label, counts[0], counts[1])
            for code, counts in sorted(statuses.items())
        ],
        warnings=[_warning_view(w) for w in warnings],
        waivers=list(waivers),
        results=list(requests),
    )


async def get_check_report(actor: Actor, application_id: int) -> CheckReport:
    require(actor, Capability.DATACHECKS_READ)
    application = await access_application(actor, application_id)
    return await _report(application.to_dict())


async def report_of_application(application: dict[str, Any]) -> CheckReport:
    """The report of an application the caller has already loaded through ``access_application``."""
    return await _report(application)


async def ensure_check_report(
    actor: Actor, application: dict[str, Any], *, waiver_reason: str, now: datetime
) -> CheckReport:
    """The station opinion needs the check report; without it, a recorded reason (audited).

    Runs inside the opinion's write transaction.
    """
    report = await _report(application)
    if report.complete:
        return report
    reason = waiver_reason.strip()
    if not reason:
        raise DomainError(
            N_(
                "The data-check report is not complete: wait for every agency's answer,"
                " or record why the opinion cannot wait."
            ),
            field="check_waiver",
        )
    require(actor, Capability.DATACHECK_REQUEST)
    if len(reason) < WAIVER_MIN_LENGTH or len(reason) > WAIVER_MAX_LENGTH:
        raise DomainError(
            N_("Give the reason in {minimum} to {maximum} characters."),
            field="check_waiver",
            minimum=WAIVER_MIN_LENGTH,
            maximum=WAIVER_MAX_LENGTH,
        )
    row = DataCheckWaiver(
        application=application["id"],
        org_path=application["org_path"],
        reason=reason,
        recorded_by=actor.staff_id,
        recorded_at=now,
    )
    await row.save()
    await record_event(
        actor,
        "datacheck.waive",
        "application",
        application["id"],
        org_path=application["org_path"],
        now=now,
        household_id=application["household"],
        after={
            "reason": reason,
            "agencies": {a.agency.value: [a.answered, a.requested] for a in report.agencies},
        },
    )
    return report


# --- the household file -----------------------------------------------------------------------


@dataclass(frozen=True)
class HouseholdChecks:
    authorisation: dict[str, Any] | None
    warnings: list[WarningView]
    pending: int
    to_review: list[dict[str, Any]]


async def household_checks(actor: Actor, household_id: int) -> HouseholdChecks:
    """Exclusion warnings, pending requests and re-check changes waiting for review."""
    require(actor, Capability.DATACHECKS_READ)
    return await checks_of(actor, await access_household(actor, household_id))


def checks_reads(household_id: int) -> list[Read]:
    """The reads ``checks_of`` sends, for a page to send them together (``prefetched``)."""
    return [
        (_HOUSEHOLD_WARNINGS, (household_id,)),
        (_HOUSEHOLD_OPEN_REQUESTS, (household_id,)),
        (_HOUSEHOLD_AUTHORISATION, (household_id,)),
    ]


async def checks_of(actor: Actor, household: Household) -> HouseholdChecks:
    """The same for a household the caller has already loaded through ``access_household``."""
    require(actor, Capability.DATACHECKS_READ)
    warnings = await _HOUSEHOLD_WARNINGS.rows(household.id)
    requests = await _HOUSEHOLD_OPEN_REQUESTS.rows(household.id)
    pending = sum(1 for r in requests if r["answered_at"] is None)
    to_review = [r for r in requests if r["answered_at"] is not None][:200]
    return HouseholdChecks(
        await authorisation(household.id, None), [_warning_view(w) for w in warnings], pending, to_review
    )


_HOUSEHOLD_WARNINGS: Prepared[dict[str, Any]] = Prepared(
    lambda household: (
        DataCheckWarning.select()
        .where(DataCheckWarning.household == household)
        .order_by(DataCheckWarning.id, ascending=False)
        .limit(50)
    )
)
# One read for both: the requests still unanswered (counted) and the answered ones whose
# change waits for review (listed). A household has a few dozen requests at most.
_HOUSEHOLD_OPEN_REQUESTS: Prepared[dict[str, Any]] = Prepared(
    lambda household: _request_query(
        (DataCheckRequest.household == household)
        & (
            DataCheckRequest.answered_at.is_null()
            | (DataCheckRequest.changed.eq(True) & DataCheckRequest.reviewed_at.is_null())
        )
    )
)


async def _changes_query(where: Any, limit: int = 200) -> list[dict[str, Any]]:
    """Answered requests whose change waits for review."""
    return await _request_rows(
        where & DataCheckRequest.changed.eq(True) & DataCheckRequest.reviewed_at.is_null(), limit
    )


def _request_query(where: Any) -> Any:
    return (
        DataCheckRequest.select(
            DataCheckRequest.id,
            DataCheckRequest.household,
            DataCheckRequest.agency,
            DataCheckRequest.found,
            DataCheckRequest.found_count,
            DataCheckRequest.amount_fen,
            DataCheckRequest.detail,
            DataCheckRequest.answered_at,
            DataCheckRequest.member.name,
            DataCheckRequest.household.file_no,
        )
        .where(where)
        .order_by(DataCheckRequest.id)
    )


async def _request_rows(where: Any, limit: int | None) -> list[dict[str, Any]]:
    query = _request_query(where)
    rows: list[dict[str, Any]] = await (query if limit is None else query.limit(limit))
    return rows


async def changes_to_review(actor: Actor) -> list[dict[str, Any]]:
    require(actor, Capability.DATACHECKS_READ)
    return await _changes_query(in_scope(actor, DataCheckRequest.org_path))


async def do_mark_reviewed(actor: Actor, request_id: int, *, note: str, now: datetime) -> None:
    """A re-check change was looked at (a review started, or nothing to do): audited."""
    require(actor, Capability.DATACHECK_REQUEST)
    note = note.strip()
    if len(note) < WAIVER_MIN_LENGTH:
        raise DomainError(N_("Please give a written reason (at least 4 characters)."), field="note")
    async with write_transaction(_engine()):
        row = await DataCheckRequest.select().where(DataCheckRequest.id == valid_id(request_id)).first()
        if row is None or not str(row["org_path"]).startswith(actor.org_path) or not row["changed"]:
            raise NotFoundOrForbidden()
        if row["reviewed_at"] is not None:
            return
        await DataCheckRequest.update({DataCheckRequest.reviewed_at: now}).where(
            DataCheckRequest.id == row["id"]
        )
        await record_event(
            actor,
            "datacheck.review",
            "datacheck_request",
            row["id"],
            org_path=row["org_path"],
            now=now,
            household_id=row["household"],
            after={"agency": row["agency"], "note": note[:500]},
        )


# --- batches ----------------------------------------------------------------------------------


async def list_batches(actor: Actor, limit: int = 100) -> list[dict[str, Any]]:
    require(actor, Capability.DATACHECK_EXCHANGE)
    rows: list[dict[str, Any]] = (
        await DataCheckBatch.select(
            DataCheckBatch.id,
            DataCheckBatch.agency,
            DataCheckBatch.persons,
            DataCheckBatch.status,
            DataCheckBatch.exported_at,
            DataCheckBatch.answered_at,
            DataCheckBatch.exported_by.display_name,
        )
        .where(in_scope(actor, DataCheckBatch.org_path))
        .order_by(DataCheckBatch.id, ascending=False)
        .limit(limit)
    )
    return rows


# --- the periodic re-check of recipients --------------------------------------------------------


async def queue_recipient_rechecks(now: datetime) -> int:
    """Ask every agency again about recipients (with a household authorisation) whose last
    check is older than the re-check interval; returns the number of requests queued.

    Idempotent per day: a household with re-check requests still unanswered, or checked
    within the interval, is skipped.
    """
    today = local_date(now)
    calendar = await load_calendar()
    months = calendar.rule("datacheck_recheck_months", today)
    cutoff = add_months(today, -months)
    engine = _engine()
    recipients = {
        r["household"]: r
        for r in await Application.select(Application.household, Application.org_path).where(
            Application.state.is_in(list(RECIPIENT_STATES))
        )
    }
    if not recipients:
        return 0
    consents = await _consents_of(DataCheckConsent.household.is_not_null())
    last: dict[int, datetime] = {}
    pending: set[int] = set()
    for r in await DataCheckRequest.select(
        DataCheckRequest.household, DataCheckRequest.requested_at, DataCheckRequest.answered_at
    ):
        if r["answered_at"] is None:
            pending.add(r["household"])
        if r["household"] not in last or r["requested_at"] > last[r["household"]]:
            last[r["household"]] = r["requested_at"]
    due = sorted(
        h
        for h in recipients
        if h in consents and h not in pending and (h not in last or local_date(last[h]) <= cutoff)
    )
    if not due:
        return 0
    members: dict[int, list[int]] = defaultdict(list)
    for start in range(0, len(due), CHUNK):
        for m in await Member.select(Member.id, Member.household, Member.id_index).where(
            Member.household.is_in(due[start : start + CHUNK]) & Member.active.eq(True)
        ):
            if m["id_index"]:
                members[m["household"]].append(m["id"])
    rows = [
        DataCheckRequest(
            household=h,
            application=None,
            member=m,
            org_path=recipients[h]["org_path"],
            agency=agency.value,
            purpose="recheck",
            requested_at=now,
        )
        for h in due
        for m in members.get(h, [])
        for agency in RECHECK_AGENCIES
        if _covers(consents[h], None, agency.value)
    ]
    if not rows:
        return 0
    async with write_transaction(engine):
        await advisory_xact_lock(engine, "datacheck-recheck")
        await _insert(rows)
        city = await OrgUnit.select(OrgUnit.path).order_by(OrgUnit.path).first()
        await record_event(
            SYSTEM_ACTOR,
            "datacheck.recheck_queued",
            "datacheck_request",
            0,
            org_path=str(city["path"]) if city else "",
            now=now,
            after={"households": len(due), "requests": len(rows)},
        )
    return len(rows)
