"""Data checks with other agencies: authorisation, batch files, result import into the
declared-vs-verified ledger, exclusion warnings, the check report before the opinion and
the periodic re-check of recipients (docs/datacheck.md)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import pytest

from relief_pwa.adapters.exports import SheetSpec, write_xlsx
from relief_pwa.core.datacheck import RESULT_HEADER, Agency
from relief_pwa.core.errors import DomainError, PermissionDenied
from relief_pwa.services.datacheck import (
    DataCheckRejected,
    changes_to_review,
    do_export_batch,
    do_import_results,
    do_mark_reviewed,
    do_record_authorisation,
    do_request_checks,
    get_check_report,
    household_checks,
    queue_recipient_rechecks,
)
from relief_pwa.services.ledger import get_ledger
from relief_pwa.services.opinions import do_record_opinion, do_start_investigation
from relief_pwa.tables import (
    Application,
    AuditEvent,
    DataCheckRequest,
    DataCheckWaiver,
    DataCheckWarning,
    Member,
    MoneyItem,
    Verification,
)
from tests.services.fieldwork_support import household_with_items, seed_standards

Answer = tuple[str, str, str]  # found, count, amount_yuan


async def _authorised(world: Any, result: Any) -> None:
    await do_record_authorisation(
        world.actor("station"),
        result.household_id,
        application_id=result.application_id,
        authorised_on=world.now.date(),
        now=world.now,
    )


def _exported_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def _result_csv(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(RESULT_HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _answers(exported: list[dict[str, str]], by_name: dict[str, Answer]) -> list[list[Any]]:
    """The agency's answer: the exported rows with the result columns, per person's name."""
    return [
        [
            r["batch"],
            r["row"],
            r["id_number"],
            r["name"],
            r["asked"],
            *by_name.get(r["name"], ("0", "0", "")),
            "",
        ]
        for r in exported
    ]


async def _round_trip(world: Any, agency: Agency, by_name: dict[str, Answer], *, xlsx: bool = False) -> Any:
    center = world.actor("center")
    batch = await do_export_batch(center, agency, now=world.now)
    rows = _answers(_exported_rows(batch.content), by_name)
    if xlsx:
        data = write_xlsx([SheetSpec("results", RESULT_HEADER, rows)])
        return await do_import_results(center, data, "results.xlsx", now=world.now)
    return await do_import_results(center, _result_csv(rows), "results.csv", now=world.now)


async def _items(household_id: int, kind: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await MoneyItem.select()
        .where((MoneyItem.household == household_id) & (MoneyItem.kind == kind))
        .order_by(MoneyItem.id)
    )
    return rows


async def test_no_check_without_the_applicants_authorisation(world: Any, now: datetime) -> None:
    result = await household_with_items(world)
    station = world.actor("station")
    with pytest.raises(DomainError) as refused:
        await do_request_checks(station, result.application_id, [Agency.VEHICLES], now=now)
    assert refused.value.field == "agencies" and await DataCheckRequest.count() == 0
    with pytest.raises(PermissionDenied):
        await do_record_authorisation(
            world.actor("investigator"), result.household_id, authorised_on=now.date(), now=now
        )
    await _authorised(world, result)
    report = await get_check_report(station, result.application_id)
    assert report.authorisation is not None and report.authorisation["recorded_by.display_name"] == "station"
    assert (
        await do_request_checks(station, result.application_id, [Agency.VEHICLES, Agency.TAX], now=now) == 4
    )
    # Asking again adds nothing already asked.
    assert await do_request_checks(station, result.application_id, [Agency.VEHICLES], now=now) == 0
    actions = [r["action"] for r in await AuditEvent.select(AuditEvent.action).order_by(AuditEvent.seq)]
    assert actions[-2:] == ["datacheck.authorise", "datacheck.request"]


async def test_results_land_in_the_ledger_and_raise_exclusion_warnings(world: Any, now: datetime) -> None:
    await seed_standards(world)
    result = await household_with_items(world)  # 张三 (head, wages 600) and 李四; deposits 5,000
    station = world.actor("station")
    await _authorised(world, result)
    agencies = [Agency.SOCIAL_INSURANCE, Agency.VEHICLES, Agency.BANK_DEPOSITS, Agency.REAL_ESTATE]
    await do_request_checks(station, result.application_id, agencies, now=now)

    batch = await do_export_batch(world.actor("center"), Agency.SOCIAL_INSURANCE, now=now)
    exported = _exported_rows(batch.content)
    assert [r["name"] for r in exported] == ["张三", "李四"]
    head_id = (await Member.select(Member.id_sealed).where(Member.name == "张三").first() or {})["id_sealed"]
    assert exported[0]["id_number"] and exported[0]["id_number"] not in head_id  # opened for the agency only
    audit = await AuditEvent.select(AuditEvent.after).where(AuditEvent.action == "datacheck.export").first()
    assert audit is not None and exported[0]["id_number"] not in audit["after"]

    center = world.actor("center")
    rows = _answers(exported, {"张三": ("1", "1", "2000"), "李四": ("0", "0", "")})
    wages = await do_import_results(center, _result_csv(rows), "social.csv", now=now)
    assert (wages.answered, wages.new_versions, wages.confirmed, wages.new_items) == (2, 1, 0, 0)
    versions = await _items(result.household_id, "wages")
    assert [(v["declared_fen"], v["verified_fen"], v["active"], v["source"]) for v in versions] == [
        (600_00, None, False, "declared"),
        (600_00, 2000_00, True, "data_check"),
    ]
    assert versions[0]["valid_to"] == now.date() and versions[1]["valid_from"] == now.date()

    vehicles = await _round_trip(world, Agency.VEHICLES, {"张三": ("1", "1", "150000")}, xlsx=True)
    assert vehicles.new_items == 1 and vehicles.warnings == 1
    car = await _items(result.household_id, "vehicle")
    assert [(c["declared_fen"], c["verified_fen"], c["source"]) for c in car] == [
        (0, 150000_00, "data_check")
    ]

    deposits = await _round_trip(
        world, Agency.BANK_DEPOSITS, {"张三": ("1", "2", "3000"), "李四": ("1", "1", "2000")}
    )
    assert (deposits.confirmed, deposits.new_versions, deposits.warnings) == (1, 0, 0)
    saved = await _items(result.household_id, "deposits")
    assert [(d["verified_fen"], d["active"]) for d in saved] == [(5000_00, True)]  # confirmed in place

    flats = await _round_trip(world, Agency.REAL_ESTATE, {"张三": ("1", "2", "900000")})
    assert flats.warnings == 1

    ledger = await get_ledger(station, result.household_id, now=now)
    wage_line = next(line for line in ledger.lines if line.kind == "wages")
    assert wage_line.verified_fen == 2000_00 and wage_line.source is not None
    assert wage_line.source.value == "data_check_record" and "social_insurance" in wage_line.note
    assert await Verification.count().where(Verification.source == "data_check_record") == 4

    report = await get_check_report(station, result.application_id)
    assert report.complete and [a.agency for a in report.agencies] == sorted(agencies)
    assert sorted(w.code for w in report.warnings) == ["second_property", "vehicle_value"]
    car_warning = next(w for w in report.warnings if w.code == "vehicle_value")
    assert car_warning.params == {"value_fen": "150,000.00", "limit_fen": "100,000.00"}
    shown = await household_checks(station, result.household_id)
    assert {w.code for w in shown.warnings} == {"second_property", "vehicle_value"} and shown.pending == 0
    assert await AuditEvent.count().where(AuditEvent.action == "datacheck.result") == 3  # wages, car, flats


async def test_a_malformed_result_file_changes_nothing(world: Any, now: datetime) -> None:
    result = await household_with_items(world)
    await _authorised(world, result)
    await do_request_checks(world.actor("station"), result.application_id, [Agency.SOCIAL_INSURANCE], now=now)
    center = world.actor("center")
    batch = await do_export_batch(center, Agency.SOCIAL_INSURANCE, now=now)
    exported = _exported_rows(batch.content)
    good = _answers(exported, {"张三": ("1", "1", "2000")})
    bad_rows = [
        good[0],
        [batch.batch_id, 888_888, good[0][2], "张三", "", "1", "1", "12,34", ""],  # malformed amount
        good[0],  # duplicate row
        [batch.batch_id, 999_999, good[0][2], "王五", "", "1", "0", "", ""],  # unknown person
        [batch.batch_id, good[1][1], "110101199001011237", "李四", "", "1", "0", "", ""],  # not the ID asked
    ]
    before = (await MoneyItem.count(), await Verification.count(), await AuditEvent.count())
    with pytest.raises(DataCheckRejected) as refused:
        await do_import_results(center, _result_csv(bad_rows), "bad.csv", now=now)
    # Every problem at once, each with its row (the header is row 1).
    assert sorted({p.row for p in refused.value.problems}) == [3, 4, 5, 6]
    assert (await MoneyItem.count(), await Verification.count(), await AuditEvent.count()) == before
    assert await DataCheckRequest.count().where(DataCheckRequest.answered_at.is_not_null()) == 0

    other_batch = [[batch.batch_id + 7, *row[1:]] for row in good]
    with pytest.raises(DataCheckRejected):
        await do_import_results(center, _result_csv(other_batch), "other.csv", now=now)
    with pytest.raises(DataCheckRejected):
        await do_import_results(center, b"batch,row\n1,2\n", "short.csv", now=now)
    # A centre of another district cannot answer this batch.
    with pytest.raises(DataCheckRejected):
        await do_import_results(world.actor("center_b"), _result_csv(good), "good.csv", now=now)

    await do_import_results(center, _result_csv(good), "good.csv", now=now)
    after_first = (await MoneyItem.count(), await Verification.count())
    with pytest.raises(DataCheckRejected):  # the same file twice: refused, nothing doubled
        await do_import_results(center, _result_csv(good), "good.csv", now=now)
    assert (await MoneyItem.count(), await Verification.count()) == after_first


async def test_the_opinion_needs_the_check_report_or_a_recorded_reason(world: Any, now: datetime) -> None:
    await seed_standards(world)
    result = await household_with_items(world)
    station = world.actor("station")
    await do_start_investigation(station, result.application_id, now=now)
    await _authorised(world, result)
    await do_request_checks(station, result.application_id, [Agency.HOUSEHOLD_REGISTRATION], now=now)
    opinion = {"decision": "eligible", "reasons": "人均收入低于标准", "legal_supporter_able": False}
    with pytest.raises(DomainError) as refused:
        await do_record_opinion(station, result.application_id, **opinion, now=now)  # type: ignore[arg-type]
    assert refused.value.field == "check_waiver"
    with pytest.raises(DomainError):  # a reason too short to say anything
        await do_record_opinion(station, result.application_id, **opinion, now=now, check_waiver="急")  # type: ignore[arg-type]
    assert await DataCheckWaiver.count() == 0
    state = await Application.select(Application.state).where(Application.id == result.application_id).first()
    assert state == {"state": "investigating"}

    await do_record_opinion(
        station,
        result.application_id,
        **opinion,  # type: ignore[arg-type]
        now=now,
        check_waiver="户籍核对超期未返回，走访已核实户籍",
    )
    waiver = await DataCheckWaiver.select().first()
    assert waiver is not None and waiver["reason"] == "户籍核对超期未返回，走访已核实户籍"
    actions = [r["action"] for r in await AuditEvent.select(AuditEvent.action).order_by(AuditEvent.seq)]
    assert actions[-3:] == ["datacheck.waive", "application.find_eligible", "eligibility.opinion"]


async def test_a_complete_report_needs_no_reason(world: Any, now: datetime) -> None:
    await seed_standards(world)
    result = await household_with_items(world)
    station = world.actor("station")
    await do_start_investigation(station, result.application_id, now=now)
    await _authorised(world, result)
    await do_request_checks(station, result.application_id, [Agency.HOUSEHOLD_REGISTRATION], now=now)
    await _round_trip(world, Agency.HOUSEHOLD_REGISTRATION, {"张三": ("1", "2", ""), "李四": ("1", "2", "")})
    await do_record_opinion(
        station,
        result.application_id,
        decision="eligible",
        reasons="人均收入低于标准",
        legal_supporter_able=False,
        now=now,
    )
    assert await DataCheckWaiver.count() == 0


async def test_the_recipient_recheck_flags_a_change_for_review(world: Any, now: datetime) -> None:
    await seed_standards(world)
    result = await household_with_items(world)
    unconsented = await household_with_items(world)
    await Application.update({Application.state: "active"}).where(
        Application.id.is_in([result.application_id, unconsented.application_id])
    )
    await do_record_authorisation(
        world.actor("station"), result.household_id, authorised_on=now.date(), now=now
    )
    queued = await queue_recipient_rechecks(now)
    assert queued == 2 * len(Agency)  # two members, every agency; the household without consent is left out
    assert await queue_recipient_rechecks(now) == 0  # still waiting for answers: nothing doubled

    wages = await _round_trip(world, Agency.SOCIAL_INSURANCE, {"张三": ("1", "1", "1800")})
    assert wages.changed == 2 and wages.new_versions == 1
    station = world.actor("station")
    changes = await changes_to_review(station)
    assert {(c["household"], c["agency"]) for c in changes} == {(result.household_id, "social_insurance")}
    assert len((await household_checks(station, result.household_id)).to_review) == 2
    assert await changes_to_review(world.actor("station_b")) == []
    await do_mark_reviewed(station, changes[0]["id"], note="已安排复核走访", now=now)
    assert len(await changes_to_review(station)) == 1

    # An unchanged answer flags nothing.
    tax = await _round_trip(world, Agency.TAX, {})
    assert tax.changed == 0
    for agency in Agency:
        if agency not in (Agency.SOCIAL_INSURANCE, Agency.TAX):
            await _round_trip(world, agency, {})
    assert await queue_recipient_rechecks(now + timedelta(days=200)) == 0  # within the interval
    assert await queue_recipient_rechecks(now + timedelta(days=370)) == 2 * len(Agency)


async def test_warnings_are_kept_per_rule_and_numbers(world: Any, now: datetime) -> None:
    """Deposits above 24 months of the standard per member raise a warning with the numbers."""
    await seed_standards(world)
    result = await household_with_items(world)
    await _authorised(world, result)
    await do_request_checks(world.actor("station"), result.application_id, [Agency.BANK_DEPOSITS], now=now)
    imported = await _round_trip(world, Agency.BANK_DEPOSITS, {"张三": ("1", "1", "50000")})
    assert imported.warnings == 1
    warning = await DataCheckWarning.select().first()
    assert warning is not None and warning["code"] == "deposits"
    assert '"limit_fen": 3940800' in warning["numbers"]  # 24 months × 821 yuan × 2 members


async def test_the_bulk_rescore_of_an_import_matches_the_single_recompute(world: Any, now: datetime) -> None:
    """The import re-scores the households whose ledger changed together; each household's
    index, record and stored ranks are what the per-household recompute gives."""
    from relief_pwa.db import write_transaction
    from relief_pwa.services.audit import verify_chain
    from relief_pwa.services.rank_store import rebuild_all
    from relief_pwa.services.scoring import recompute_household
    from relief_pwa.tables import Household, HouseholdRank, IndexRecord

    await seed_standards(world)
    station = world.actor("station")
    households = []
    for community in ("370102001001", "370102001002", "370102001001"):
        result = await household_with_items(world, community=community)
        await _authorised(world, result)
        await do_request_checks(station, result.application_id, [Agency.SOCIAL_INSURANCE], now=now)
        households.append(result.household_id)
    # Two households earn more than declared (a new version each); the third confirms its file.
    later = now + timedelta(hours=2)
    center = world.actor("center")
    batch = await do_export_batch(center, Agency.SOCIAL_INSURANCE, now=later)
    rows = []
    for number, r in enumerate(_exported_rows(batch.content)):
        household = number // 2
        amount = ("2400", "3100", "600")[household] if r["name"] == "张三" else ""
        rows.append([r["batch"], r["row"], r["id_number"], r["name"], r["asked"], "1", "1", amount, ""])
    imported = await do_import_results(center, _result_csv(rows), "social.csv", now=later)
    assert (imported.new_versions, imported.confirmed) == (2, 1)

    changed = households[:2]
    stored = {
        h["id"]: h["current_index"]
        for h in await Household.select(Household.id, Household.current_index).where(
            Household.id.is_in(households)
        )
    }
    records = {
        r["household"]: r
        for r in await IndexRecord.select()
        .where(IndexRecord.household.is_in(changed) & (IndexRecord.trigger == "data_check"))
        .order_by(IndexRecord.id)
    }
    assert sorted(records) == changed  # the confirmed household was not re-scored
    ranks_after_import = sorted(
        (r["scope"], r["category"], r["neg_centi"], r["first_applied"], r["file_no"], r["household"])
        for r in await HouseholdRank.select()
    )
    async with write_transaction(Household._meta.db):
        for household_id in changed:
            single = await recompute_household(household_id, trigger="check", now=later)
            assert single is not None
            # The same snapshot, model and day: nothing new to store, and the same total.
            assert single.stored is False and single.record_id == records[household_id]["id"]
            assert single.total == stored[household_id] == records[household_id]["total"]
        await rebuild_all()
    ranks_rebuilt = sorted(
        (r["scope"], r["category"], r["neg_centi"], r["first_applied"], r["file_no"], r["household"])
        for r in await HouseholdRank.select()
    )
    assert ranks_after_import == ranks_rebuilt and ranks_rebuilt
    # One chained audit event per household whose file changed, and the chain still holds.
    events = await AuditEvent.select(AuditEvent.household_id, AuditEvent.after).where(
        AuditEvent.action == "datacheck.result"
    )
    assert sorted(e["household_id"] for e in events) == changed
    assert all("batch_id" in e["after"] for e in events)
    assert (await verify_chain()).ok


async def test_the_authorisations_scope_and_revocation_decide_what_goes_out(
    world: Any, now: datetime
) -> None:
    from relief_pwa.services.datacheck import PendingCount, do_revoke_authorisation, pending_counts
    from relief_pwa.tables import DataCheckBatch

    result = await household_with_items(world)
    await Application.update({Application.state: "active"}).where(Application.id == result.application_id)
    liaison = world.actor("liaison")
    head = (await Member.select(Member.id).where(Member.name == "张三").first() or {})["id"]
    consent = await do_record_authorisation(
        liaison,
        result.household_id,
        authorised_on=now.date(),
        signed_by=head,
        agencies=[Agency.BANK_DEPOSITS, Agency.VEHICLES],
        document_ref="档案柜 3 号",
        now=now,
    )
    # The periodic re-check asks only the agencies the applicant agreed to.
    assert await queue_recipient_rechecks(now) == 2 * 2
    asked = {r["agency"] for r in await DataCheckRequest.select(DataCheckRequest.agency)}
    assert asked == {"bank_deposits", "vehicles"}
    with pytest.raises(DomainError, match="signed"):
        await do_record_authorisation(
            liaison, result.household_id, authorised_on=now.date(), signed_by=head + 999, now=now
        )
    with pytest.raises(PermissionDenied):
        await do_record_authorisation(
            world.actor("investigator"), result.household_id, authorised_on=now.date(), now=now
        )

    # Withdrawn: the waiting requests stay at home, counted; nothing is exported.
    assert await do_revoke_authorisation(liaison, result.household_id, consent, reason="申请人撤回", now=now)
    assert not await do_revoke_authorisation(
        liaison, result.household_id, consent, reason="申请人撤回", now=now
    )
    with pytest.raises(DomainError) as refused:
        await do_export_batch(world.actor("center"), Agency.BANK_DEPOSITS, now=now)
    assert refused.value.params["count"] == 2 and await DataCheckBatch.count() == 0
    assert await DataCheckRequest.count().where(DataCheckRequest.batch.is_null()) == 4
    # The export page counts them as waiting for an authorisation, not as ready to send.
    assert await pending_counts(world.actor("center")) == {
        "bank_deposits": PendingCount(ready=0, unauthorised=2),
        "vehicles": PendingCount(ready=0, unauthorised=2),
    }
    assert await AuditEvent.count().where(AuditEvent.action == "datacheck.revoke") == 1
    # Signed again: they go out with the next batch.
    await do_record_authorisation(
        liaison, result.household_id, authorised_on=now.date(), signed_by=head, now=now
    )
    assert (await pending_counts(world.actor("center")))["bank_deposits"] == PendingCount(ready=2)
    batch = await do_export_batch(world.actor("center"), Agency.BANK_DEPOSITS, now=now)
    assert (batch.persons, batch.skipped) == (2, 0)
