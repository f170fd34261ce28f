"""Facts over time: members, money items and household facts carry their validity.

A version is valid on day D when ``valid_from`` is None or ≤ D and ``valid_to``
is None or > D (docs/facts-over-time.md). A change never edits a version: it
closes the current one (``valid_to`` = the effective date) and inserts the
next. ``active`` stays "valid now" for the many readers of the present, so
every writer here keeps the two in step. Runs inside the caller's write
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from relief_pwa.core.i18n import N_
from relief_pwa.services import identifiers
from relief_pwa.services.prepared import Prepared, Read
from relief_pwa.tables import (
    AidRecord,
    Application,
    Handover,
    Household,
    HouseholdCard,
    HouseholdContact,
    HouseholdVersion,
    Member,
    MoneyItem,
    NearRelativeFiling,
    PaymentLine,
    Photo,
    Plan,
    PlanLine,
    PublicNotice,
    Shock,
    Verification,
    Visit,
)


class Source:
    """Who set a version (the ``source`` column)."""

    DECLARED = "declared"
    VISIT = "visit"
    DATA_CHECK = "data_check"
    IMPORT = "import"
    CHANGE_REQUEST = "change_request"


SOURCE_LABELS: dict[str, str] = {
    Source.DECLARED: N_("Declared"),
    Source.VISIT: N_("Verified at a visit"),
    Source.DATA_CHECK: N_("Data check"),
    Source.IMPORT: N_("Imported"),
    Source.CHANGE_REQUEST: N_("Life event (approved request)"),
}

END_LABELS: dict[str, str] = {
    "death": N_("died"),
    "left": N_("left the household"),
    "moved": N_("moved away"),
    "split": N_("formed a household of their own"),
    "merged": N_("joined another file"),
    "marriage": N_("Marriage"),
    "divorce": N_("Divorce"),
    "moved_out": N_("Moved out"),
    "other": N_("Other reason"),
}


def member_valid_on(day: date) -> Any:
    return (Member.valid_from.is_null() | (Member.valid_from <= day)) & (
        Member.valid_to.is_null() | (Member.valid_to > day)
    )


def item_valid_on(day: date) -> Any:
    return (MoneyItem.valid_from.is_null() | (MoneyItem.valid_from <= day)) & (
        MoneyItem.valid_to.is_null() | (MoneyItem.valid_to > day)
    )


def household_version_valid_on(day: date) -> Any:
    return (HouseholdVersion.valid_from.is_null() | (HouseholdVersion.valid_from <= day)) & (
        HouseholdVersion.valid_to.is_null() | (HouseholdVersion.valid_to > day)
    )


def lineage_of(row: dict[str, Any]) -> int:
    """The id of the person's first version (every version of one person shares it)."""
    return int(row["lineage"] or row["id"])


def _still_valid(valid_to: date | None, today: date) -> bool:
    return valid_to is None or valid_to > today


async def close_member(member_id: int, on: date, *, reason: str, today: date) -> None:
    """End a member's current version on ``on`` (exclusive), and their items with it."""
    await Member.update(
        {Member.valid_to: on, Member.end_reason: reason[:16], Member.active: _still_valid(on, today)}
    ).where(Member.id == member_id)
    await MoneyItem.update({MoneyItem.valid_to: on, MoneyItem.active: _still_valid(on, today)}).where(
        (MoneyItem.member == member_id) & MoneyItem.valid_to.is_null()
    )


async def supersede_member(
    member: dict[str, Any], values: dict[str, Any], on: date, *, source: str, today: date
) -> int:
    """Close ``member``'s version on ``on`` and insert the next with ``values`` changed.

    Items that name the member follow the new version (the pointer says who
    earns it; it is not a scored fact, so it is moved rather than versioned).
    """
    lineage = lineage_of(member)
    await Member.update({Member.valid_to: on, Member.end_reason: "superseded", Member.active: False}).where(
        Member.id == member["id"]
    )
    carried = {
        key: member[key]
        for key in (
            "household",
            "org_path",
            "name",
            "id_sealed",
            "id_index",
            "sex",
            "birth_date",
            "relation",
            "disability_grade",
            "illness",
            "work_capacity",
            "schooling",
            "phone_sealed",
            "phone_index",
        )
    }
    carried.update(values)
    row = Member(
        **carried,
        active=on <= today,
        valid_from=on,
        valid_to=None,
        source=source,
        lineage=lineage,
        end_reason="",
    )
    await row.save()
    await MoneyItem.update({MoneyItem.member: row.id}).where(
        (MoneyItem.member == member["id"]) & MoneyItem.valid_to.is_null()
    )
    return int(row.id)


async def close_item(item_id: int, on: date, *, today: date) -> None:
    await MoneyItem.update({MoneyItem.valid_to: on, MoneyItem.active: _still_valid(on, today)}).where(
        MoneyItem.id == item_id
    )


async def set_household_facts(
    household: dict[str, Any], values: dict[str, Any], on: date, *, source: str, now: datetime
) -> None:
    """Record new household-level facts (address, area, housing, org unit) valid from ``on``.

    The first change also writes the version that was in force until then, so a
    household's history starts from its file, not from its first edit.
    """
    hid = household["id"]
    current = (
        await HouseholdVersion.select()
        .where((HouseholdVersion.household == hid) & HouseholdVersion.valid_to.is_null())
        .order_by(HouseholdVersion.id, ascending=False)
        .first()
    )
    fields = ("org_path", "org_unit", "address", "area_type", "housing")
    if current is None:
        await HouseholdVersion(
            household=hid,
            **{key: household[key] for key in fields},
            valid_from=None,
            valid_to=on,
            source=Source.IMPORT,
            recorded_at=now,
        ).save()
    else:
        await HouseholdVersion.update({HouseholdVersion.valid_to: on}).where(
            HouseholdVersion.id == current["id"]
        )
    base = {key: household[key] for key in fields}
    base.update({key: value for key, value in values.items() if key in fields})
    await HouseholdVersion(
        household=hid, **base, valid_from=on, valid_to=None, source=source, recorded_at=now
    ).save()


async def set_household_contact(
    household: dict[str, Any], values: dict[str, str], on: date, *, source: str, now: datetime
) -> None:
    """Record a new phone and/or one-card account (sealed values) valid from ``on``.

    As with the household facts, the first change also writes the version in force until
    then (from the household row), so the history starts from the file. The caller updates
    the household row, which stays the value valid now.
    """
    hid = household["id"]
    current = (
        await HouseholdContact.select()
        .where((HouseholdContact.household == hid) & HouseholdContact.valid_to.is_null())
        .order_by(HouseholdContact.id, ascending=False)
        .first()
    )
    before: dict[str, Any] = household if current is None else current
    phone, account = before["phone_sealed"], before["account_sealed"]
    if current is None:
        await HouseholdContact(
            household=hid,
            phone_sealed=phone,
            account_sealed=account,
            valid_from=None,
            valid_to=on,
            source=Source.IMPORT,
            recorded_at=now,
        ).save()
    else:
        await HouseholdContact.update({HouseholdContact.valid_to: on}).where(
            HouseholdContact.id == current["id"]
        )
    await HouseholdContact(
        household=hid,
        phone_sealed=values.get("phone_sealed", phone),
        account_sealed=values.get("account_sealed", account),
        valid_from=on,
        valid_to=None,
        source=source,
        recorded_at=now,
    ).save()


def month_end(month: str) -> date:
    """The last day of ``YYYY-MM``."""
    year, number = int(month[:4]), int(month[5:7])
    return (date(year + number // 12, number % 12 + 1, 1)) - timedelta(days=1)


async def accounts_for_months(
    lines: Iterable[tuple[int, str]], current: dict[int, str]
) -> dict[tuple[int, str], str]:
    """(household, month) → the sealed one-card account valid on the month's last day.

    A change during a month takes that month's payment to the new account; a month paid
    late goes to the account the household had then. ``current``: household → the account
    on its row, for households never changed (no versions)."""
    wanted = set(lines)
    households = sorted({h for h, _m in wanted})
    versions: dict[int, list[dict[str, Any]]] = {}
    for start in range(0, len(households), 500):  # a batch may hold a city's households
        for row in await HouseholdContact.select(
            HouseholdContact.id,
            HouseholdContact.household,
            HouseholdContact.account_sealed,
            HouseholdContact.valid_from,
            HouseholdContact.valid_to,
        ).where(HouseholdContact.household.is_in(households[start : start + 500])):
            versions.setdefault(int(row["household"]), []).append(row)
    found: dict[tuple[int, str], str] = {}
    for household, month in wanted:
        rows = versions.get(household)
        if not rows:
            found[household, month] = current.get(household, "")
            continue
        day = month_end(month)
        valid = [
            r
            for r in rows
            if (r["valid_from"] is None or r["valid_from"] <= day)
            and (r["valid_to"] is None or r["valid_to"] > day)
        ]
        found[household, month] = max(valid, key=lambda r: r["id"])["account_sealed"] if valid else ""
    return found


async def household_facts_on(household_id: int, day: date) -> dict[str, Any] | None:
    """The household-level facts valid on ``day`` (None: never versioned, read the household row)."""
    row: dict[str, Any] | None = (
        await HouseholdVersion.select(
            HouseholdVersion.org_path,
            HouseholdVersion.org_unit,
            HouseholdVersion.address,
            HouseholdVersion.area_type,
            HouseholdVersion.housing,
            HouseholdVersion.valid_from,
            HouseholdVersion.source,
        )
        .where((HouseholdVersion.household == household_id) & household_version_valid_on(day))
        .order_by(HouseholdVersion.id, ascending=False)
        .first()
    )
    return row


async def household_versions_on(low: int, high: int, day: date) -> dict[int, tuple[str, str, str]]:
    """household id → (org_path, area_type, housing) valid on ``day``, for ids low…high."""
    found: dict[int, tuple[str, str, str]] = {}
    for row in (
        await HouseholdVersion.select(
            HouseholdVersion.household,
            HouseholdVersion.org_path,
            HouseholdVersion.area_type,
            HouseholdVersion.housing,
        )
        .where(
            (HouseholdVersion.household >= low)
            & (HouseholdVersion.household <= high)
            & household_version_valid_on(day)
        )
        .order_by(HouseholdVersion.id)
    ):
        found[row["household"]] = (row["org_path"], row["area_type"], row["housing"])
    return found


async def members_on(household_id: int, day: date) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await Member.select()
        .where((Member.household == household_id) & member_valid_on(day))
        .order_by(Member.lineage, Member.id)
    )
    rows.sort(key=lineage_of)
    return rows


async def items_on(household_id: int, day: date) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await MoneyItem.select()
        .where((MoneyItem.household == household_id) & item_valid_on(day))
        .order_by(MoneyItem.id)
    )
    return rows


# The household's own rows that follow it to a new jurisdiction. Not moved: index
# records and household versions (what was shown and true then), audit events
# (append-only), payment lines already in a batch (the batch belongs to its station).
_FOLLOWING_TABLES: tuple[Any, ...] = (
    Member,
    MoneyItem,
    Application,
    Shock,
    AidRecord,
    Visit,
    Photo,
    Verification,
    HouseholdCard,
    Plan,
    PlanLine,
    Handover,
    PublicNotice,
    NearRelativeFiling,
)


async def move_household_rows(household_id: int, new_path: str, new_unit: int) -> None:
    """Rewrite ``org_path`` on the household's rows: the file moves, its history with it."""
    for table in _FOLLOWING_TABLES:
        await table.update({table.org_path: new_path}).where(table.household == household_id)
    await PaymentLine.update({PaymentLine.org_path: new_path}).where(
        (PaymentLine.household == household_id) & PaymentLine.batch.is_null()
    )
    await Household.update({Household.org_path: new_path, Household.org_unit: new_unit}).where(
        Household.id == household_id
    )


# --------------------------------------------------------------------------- the file's history view


@dataclass
class FactsOnDate:
    """What the household file shows for "facts on D": the versions valid then and the
    index recomputed for that day (``index`` None: no standard in force then)."""

    day: date
    household: dict[str, Any]  # address, area_type, housing, org_path of that day
    members: list[dict[str, Any]]
    items: list[dict[str, Any]]
    index: Any  # core.scoring.IndexBreakdown | None
    changes: list[dict[str, Any]] = field(default_factory=list)


def parse_facts_day(text: str, today: date) -> date | None:
    """The "facts on" date of the file page: None for today, blank or unreadable."""
    try:
        day = date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None
    return None if day >= today else day


_MEMBER_HISTORY = ("id", "name", "relation", "valid_from", "valid_to", "source", "end_reason")
_ITEM_HISTORY = ("id", "section", "kind", "declared_fen", "valid_from", "valid_to", "source")


_CONTACT_VERSIONS: Prepared[dict[str, Any]] = Prepared(
    lambda household: HouseholdContact.select(
        HouseholdContact.id,
        HouseholdContact.phone_sealed,
        HouseholdContact.account_sealed,
        HouseholdContact.valid_from,
        HouseholdContact.valid_to,
        HouseholdContact.source,
    ).where(HouseholdContact.household == household)
)
_HOUSEHOLD_VERSIONS: Prepared[dict[str, Any]] = Prepared(
    lambda household: HouseholdVersion.select(
        HouseholdVersion.id,
        HouseholdVersion.address,
        HouseholdVersion.housing,
        HouseholdVersion.valid_from,
        HouseholdVersion.valid_to,
        HouseholdVersion.source,
    ).where(HouseholdVersion.household == household)
)


def change_history_reads(household_id: int) -> list[Read]:
    """The reads ``change_history`` sends beyond the members' and items' versions."""
    return [(_CONTACT_VERSIONS, (household_id,)), (_HOUSEHOLD_VERSIONS, (household_id,))]


async def change_history(
    household_id: int,
    limit: int = 200,
    *,
    member_versions: list[dict[str, Any]] | None = None,
    item_versions: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Every version of the household's members, items, address and contact, newest change first.

    ``member_versions`` / ``item_versions``: every member / item row of the household, when the
    caller has them already."""
    changes: list[dict[str, Any]] = []
    if member_versions is None:
        member_versions = await Member.select(*(getattr(Member, column) for column in _MEMBER_HISTORY)).where(
            Member.household == household_id
        )
    for row in member_versions:
        m = {column: row[column] for column in _MEMBER_HISTORY}
        changes.append({"what": "member", "label": m["name"], **m})
    if item_versions is None:
        item_versions = await MoneyItem.select(
            *(getattr(MoneyItem, column) for column in _ITEM_HISTORY)
        ).where(MoneyItem.household == household_id)
    for row in item_versions:
        i = {column: row[column] for column in _ITEM_HISTORY}
        changes.append({"what": i["section"], "label": i["kind"], "end_reason": "", **i})
    # The phone and one-card account, masked: a changed account just before a payment is
    # what an auditor looks for.
    for c in await _CONTACT_VERSIONS.rows(household_id):
        phone = identifiers.masked(identifiers.PHONE, c.pop("phone_sealed"))
        account = identifiers.masked(identifiers.ACCOUNT, c.pop("account_sealed"))
        label = " · ".join(part for part in (phone, account) if part)
        changes.append({"what": "contact", "label": label, "end_reason": "", **c})
    for v in await _HOUSEHOLD_VERSIONS.rows(household_id):
        changes.append({"what": "household", "label": v["address"], "end_reason": "", **v})
    for change in changes:
        change["source_label"] = SOURCE_LABELS.get(change["source"], N_("Declared"))
        change["end_label"] = END_LABELS.get(change["end_reason"], "")
    changes.sort(key=lambda c: (c["valid_from"] or date.min, c["id"]), reverse=True)
    return changes[:limit]
