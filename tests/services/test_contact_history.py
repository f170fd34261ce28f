"""The household's phone and one-card account over time (docs/facts-over-time.md): a change
closes the version in force and opens the next, payments go to the account valid for their
month, and every version stays sealed (never in plain text, gone with an anonymised file)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

from relief_pwa.db import write_transaction
from relief_pwa.services import disbursement, facts_history, identifiers
from relief_pwa.services.household_edit import HouseholdFields, do_update_household
from relief_pwa.services.households import get_household_file
from relief_pwa.services.retention import anonymise_households
from relief_pwa.tables import AuditEvent, Household, HouseholdContact
from tests.helpers import found
from tests.services.test_disbursement_service import approved, batch_of, return_file

OLD_ACCOUNT = "6217000011112222333"  # tests/services/plans_support.recipient
NEW_ACCOUNT = "6228480012345678901"


async def _change_contact(world, household_id: int, *, account: str = "", phone: str = "", now) -> None:
    row = found(await Household.objects().where(Household.id == household_id).first())
    fields = HouseholdFields(row.address, row.area_type, row.housing, phone=phone, onecard_account=account)
    await do_update_household(
        world.actor("center"), household_id, fields, expected_version=row.version, now=now
    )


def test_a_month_ends_on_its_last_day() -> None:
    assert [facts_history.month_end(m) for m in ("2026-11", "2026-12", "2028-02")] == [
        date(2026, 11, 30),
        date(2026, 12, 31),
        date(2028, 2, 29),
    ]


async def test_each_months_payment_goes_to_the_account_valid_for_that_month(world) -> None:
    (household,), fund = await approved(
        world, households=1, periodicity="monthly", months="3", unit_amount="300"
    )
    center = world.actor("center")
    await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)
    # On 3 December the household brings a new card: November still went to the old one.
    december = world.now + timedelta(days=17)
    await _change_contact(world, household, account=NEW_ACCOUNT, now=december)
    await disbursement.do_generate_monthly_lines(center, "2026-12", now=december)
    batch = await disbursement.do_create_batch(center, fund, "2026-12", now=december)
    assert (batch.lines, batch.held_without_account) == (2, 0)
    data, _name = await disbursement.do_export_batch(
        world.actor("center_2"), batch.batch_id, "csv", now=december
    )
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
    paid_to = {row[7][-7:]: row[4] for row in rows}  # the memo ends with the month
    assert paid_to == {"2026-11": OLD_ACCOUNT, "2026-12": NEW_ACCOUNT}

    # Two versions: the old account until 3 December, the new one from then; the row holds the new.
    versions = (
        await HouseholdContact.select()
        .where(HouseholdContact.household == household)
        .order_by(HouseholdContact.id)
    )
    assert [(v["valid_from"], v["valid_to"]) for v in versions] == [
        (None, date(2026, 12, 3)),
        (date(2026, 12, 3), None),
    ]
    opened = [identifiers.opened(identifiers.ACCOUNT, v["account_sealed"]) for v in versions]
    assert opened == [OLD_ACCOUNT, NEW_ACCOUNT]
    assert identifiers.opened(identifiers.PHONE, versions[0]["phone_sealed"]) == identifiers.opened(
        identifiers.PHONE, versions[1]["phone_sealed"]
    )  # only the account changed
    row = found(await Household.objects().where(Household.id == household).first())
    assert identifiers.opened(identifiers.ACCOUNT, row.account_sealed) == NEW_ACCOUNT
    # Sealed everywhere: no version and no audit event holds a number in the clear.
    stored = json.dumps(versions, default=str) + json.dumps(
        await AuditEvent.select(AuditEvent.before, AuditEvent.after), default=str
    )
    assert OLD_ACCOUNT not in stored and NEW_ACCOUNT not in stored


async def test_a_second_change_closes_the_version_in_force_and_anonymising_wipes_them_all(world) -> None:
    (household,), _fund = await approved(world, households=1)
    await _change_contact(world, household, phone="13700001111", now=world.now)
    later = world.now + timedelta(days=40)
    await _change_contact(world, household, account=NEW_ACCOUNT, now=later)
    versions = (
        await HouseholdContact.select()
        .where(HouseholdContact.household == household)
        .order_by(HouseholdContact.id)
    )
    assert [(v["valid_from"], v["valid_to"]) for v in versions] == [
        (None, date(2026, 11, 16)),
        (date(2026, 11, 16), date(2026, 12, 26)),
        (date(2026, 12, 26), None),
    ]
    phones = [identifiers.opened(identifiers.PHONE, v["phone_sealed"]) for v in versions]
    assert phones[1:] == ["13700001111", "13700001111"] and phones[0] != "13700001111"
    # The account valid at each month's end, read back as payments read it.
    accounts = await facts_history.accounts_for_months(
        [(household, "2026-11"), (household, "2026-12"), (household, "2027-01")], {}
    )
    assert [
        identifiers.opened(identifiers.ACCOUNT, accounts[household, m])
        for m in ("2026-11", "2026-12", "2027-01")
    ] == [
        OLD_ACCOUNT,
        NEW_ACCOUNT,
        NEW_ACCOUNT,
    ]
    # Retention: an anonymised file keeps its versions' dates, never their numbers.
    async with write_transaction(Household._meta.db):
        await anonymise_households([household], now=later)
    assert {(v["phone_sealed"], v["account_sealed"]) for v in await HouseholdContact.select()} == {("", "")}


async def test_a_payment_the_bank_refused_is_paid_again_to_the_new_card(world) -> None:
    """A retry goes to the account valid now: the month's own account is the one that failed."""
    (household,), fund = await approved(world, households=1)
    center = world.actor("center")
    first, data = await batch_of(world, fund)
    [line] = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
    assert line[4] == OLD_ACCOUNT
    refused = return_file([[first.batch_no, line[1], "500.00", "失败", "账户已销户"]])
    await disbursement.do_reconcile_batch(center, first.batch_id, refused, "return.csv", now=world.now)
    december = world.now + timedelta(days=20)
    await _change_contact(world, household, account=NEW_ACCOUNT, now=december)
    retry = await disbursement.do_create_batch(center, fund, "2026-11", now=december)
    data, _name = await disbursement.do_export_batch(
        world.actor("center_2"), retry.batch_id, "csv", now=december
    )
    [again] = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
    assert again[1].endswith("-2") and again[4] == NEW_ACCOUNT


async def test_the_files_history_shows_each_contact_version_masked(world) -> None:
    (household,), _fund = await approved(
        world, households=1, periodicity="monthly", months="3", unit_amount="300"
    )
    december = world.now + timedelta(days=17)
    await _change_contact(world, household, account=NEW_ACCOUNT, now=december)
    file = await get_household_file(world.actor("center"), household, now=december)
    contacts = [c for c in file.changes if c["what"] == "contact"]
    assert [(c["valid_from"], c["valid_to"]) for c in contacts] == [
        (date(2026, 12, 3), None),  # newest first
        (None, date(2026, 12, 3)),
    ]
    # Masked: the last digits tell the two accounts apart, the numbers are not on the page.
    assert contacts[0]["label"].endswith(NEW_ACCOUNT[-4:]) and contacts[1]["label"].endswith(OLD_ACCOUNT[-4:])
    shown = json.dumps(file.changes, default=str)
    assert NEW_ACCOUNT not in shown and OLD_ACCOUNT not in shown
