"""Integrity flags for supervisors, computed by queries on demand (nothing stored).

Each flag is a lead for a supervisor to check, not a finding:

- ``shared_account``: one one-card (一卡通) account on several open households;
- ``shared_phone``: one phone number on several open households (household or
  member phones), or a household phone that is a staff member's phone;
- ``near_relative``: households with a near-relative filing (近亲属备案) that
  have an open application or receive assistance;
- ``ledger_gap``: a verified value far from the declared one (over the
  configured percentage and at least 100 yuan);
- ``payment_without_plan``: a payment line whose plan is not approved;
- ``visit_without_evidence``: a home visit marked done with no photo;
- ``self_approval``: a staff member who approved an application they took in.

Duplicates are found city-wide (a shared account across districts is exactly
the case to catch) but each reader sees only the households in scope.

Also here: recording a near-relative filing (at intake or on the household page).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.enums import OPEN_STATES, AppState
from relief_pwa.core.errors import DomainError, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import format_yuan
from relief_pwa.core.permissions import Capability
from relief_pwa.db import write_transaction
from relief_pwa.services import identifiers
from relief_pwa.services.access import access_household, in_scope
from relief_pwa.services.access_log import find_read_bursts
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.settings import get_settings
from relief_pwa.tables import (
    Application,
    AuditEvent,
    Household,
    Member,
    MoneyItem,
    NearRelativeFiling,
    PaymentLine,
    Photo,
    Staff,
    SystemSetting,
    Visit,
)

FLAG_KINDS: dict[str, str] = {
    "shared_account": N_("Same one-card account on several households"),
    "shared_phone": N_("Same phone number on several households or a staff member"),
    "near_relative": N_("Recipients related to staff (near-relative filings)"),
    "ledger_gap": N_("Large gap between declared and verified values"),
    "payment_without_plan": N_("Payments without an approved plan"),
    "visit_without_evidence": N_("Home visits recorded without photo evidence"),
    "self_approval": N_("Staff approving their own intake"),
    "read_burst": N_("Accounts opening many household files in one hour"),
}

GAP_THRESHOLD_KEY = "discrepancy_threshold_pct"
DEFAULT_GAP_PCT = 20
GAP_MIN_FEN = 10_000  # 100 yuan: smaller gaps are noise, whatever the percentage
LIMIT_PER_FLAG = 500


@dataclass(frozen=True)
class FlagItem:
    kind: str
    household_id: int | None
    file_no: str
    head_name: str
    detail: str  # English message id with {placeholders}
    params: dict[str, Any] = field(default_factory=dict)
    link: str = ""


@dataclass(frozen=True)
class FlagReport:
    items: dict[str, list[FlagItem]]
    computed_at: datetime

    @property
    def counts(self) -> dict[str, int]:
        return {kind: len(self.items.get(kind, [])) for kind in FLAG_KINDS}


def _require_reader(actor: Actor) -> None:
    require(actor, Capability.AUDIT_READ)


async def _households(ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rows = await Household.select(
        Household.id, Household.file_no, Household.head_name, Household.org_path
    ).where(Household.id.is_in(list(ids)))
    return {r["id"]: r for r in rows}


def _item(flag: str, household: dict[str, Any] | None, detail: str, **params: Any) -> FlagItem:
    return FlagItem(
        kind=flag,
        household_id=household["id"] if household else None,
        file_no=household["file_no"] if household else "",
        head_name=household["head_name"] if household else "",
        detail=detail,
        params=params,
        link=f"/households/{household['id']}" if household else "",
    )


async def _shared_accounts(actor: Actor, now: datetime) -> list[FlagItem]:
    # Grouped by blind index: equal accounts have equal indexes; only a flagged one is unsealed.
    rows = await Household.select(
        Household.id, Household.account_index, Household.account_sealed, Household.org_path
    ).where(Household.is_open.eq(True) & (Household.account_index != ""))
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["account_index"]].append(row)
    items: list[FlagItem] = []
    for _key, members in sorted(groups.items()):
        if len(members) < 2 or not any(actor.can_see(m["org_path"]) for m in members):
            continue
        tail = identifiers.opened(identifiers.ACCOUNT, members[0]["account_sealed"])[-4:]
        households = await _households({m["id"] for m in members if actor.can_see(m["org_path"])})
        for household in households.values():
            items.append(
                _item(
                    "shared_account",
                    household,
                    N_("Account ending {tail} is used by {count} open households."),
                    tail=tail,
                    count=len(members),
                )
            )
    return items


async def _shared_phones(actor: Actor, now: datetime) -> list[FlagItem]:
    # Phones are compared by blind index; only a flagged phone is unsealed (for its last digits).
    household_rows = await Household.select(
        Household.id, Household.phone_index, Household.phone_sealed, Household.org_path
    ).where(Household.is_open.eq(True) & (Household.phone_index != ""))
    member_rows = await Member.select(
        Member.household.id, Member.phone_index, Member.phone_sealed, Member.household.org_path
    ).where(
        (Member.household.is_open == True) & Member.active.eq(True) & (Member.phone_index != "")  # noqa: E712
    )
    owners: dict[str, dict[int, str]] = defaultdict(dict)  # phone index → household id → org_path
    sealed_phone: dict[str, str] = {}
    for row in household_rows:
        owners[row["phone_index"]][row["id"]] = row["org_path"]
        sealed_phone.setdefault(row["phone_index"], row["phone_sealed"])
    for row in member_rows:
        owners[row["phone_index"]][row["household.id"]] = row["household.org_path"]
        sealed_phone.setdefault(row["phone_index"], row["phone_sealed"])
    staff_phones = {
        r["phone_index"]: r["display_name"]
        for r in await Staff.select(Staff.phone_index, Staff.display_name).where(Staff.phone_index != "")
    }
    # Decide which phones are suspicious first, then load all their households in one query:
    # a query per phone made this flag take seconds on a city-sized caseload.
    flagged: list[tuple[str, dict[int, str], set[int]]] = []
    for phone, households in sorted(owners.items()):
        if len(households) < 2 and phone not in staff_phones:
            continue
        visible = {h for h, path in households.items() if actor.can_see(path)}
        if visible:
            flagged.append((phone, households, visible))
    loaded = await _households(set().union(*(visible for _, _, visible in flagged))) if flagged else {}
    items: list[FlagItem] = []
    for phone, households, visible in flagged:
        tail = identifiers.opened(identifiers.PHONE, sealed_phone[phone])[-4:]
        rows = [loaded[h] for h in sorted(visible) if h in loaded]
        if len(households) >= 2:
            for household in rows:
                items.append(
                    _item(
                        "shared_phone",
                        household,
                        N_("Phone ending {tail} is given by {count} open households."),
                        tail=tail,
                        count=len(households),
                    )
                )
        if phone in staff_phones:
            for household in rows:
                items.append(
                    _item(
                        "shared_phone",
                        household,
                        N_("Phone ending {tail} is also the phone of staff member {staff}."),
                        tail=tail,
                        staff=staff_phones[phone],
                    )
                )
    return items


async def _near_relatives(actor: Actor, now: datetime) -> list[FlagItem]:
    filings = await NearRelativeFiling.select(
        NearRelativeFiling.household,
        NearRelativeFiling.relative_name,
        NearRelativeFiling.relation,
        NearRelativeFiling.staff.display_name,
    ).where(in_scope(actor, NearRelativeFiling.org_path))
    if not filings:
        return []
    household_ids = {f["household"] for f in filings}
    open_apps = await Application.select(Application.household, Application.state).where(
        Application.household.is_in(list(household_ids)) & Application.state.is_in(list(OPEN_STATES))
    )
    states: dict[int, list[str]] = defaultdict(list)
    for app in open_apps:
        states[app["household"]].append(app["state"])
    households = await _households(household_ids)
    items = []
    for filing in filings:
        household_id = filing["household"]
        if household_id not in states:
            continue
        receiving = any(
            s in {AppState.ACTIVE, AppState.UNDER_REVIEW, AppState.APPROVED} for s in states[household_id]
        )
        items.append(
            _item(
                "near_relative",
                households.get(household_id),
                N_("Filed as {relation} of {relative}; {status}."),
                relation=filing["relation"],
                relative=filing["staff.display_name"] or filing["relative_name"],
                status=N_("receives assistance") if receiving else N_("application open"),
            )
        )
    return items


async def gap_threshold_pct() -> int:
    row = (
        await SystemSetting.select(SystemSetting.value).where(SystemSetting.key == GAP_THRESHOLD_KEY).first()
    )
    try:
        value = int(str(row["value"]).strip()) if row else DEFAULT_GAP_PCT
    except ValueError:
        value = DEFAULT_GAP_PCT
    return value if value > 0 else DEFAULT_GAP_PCT


async def _ledger_gaps(actor: Actor, now: datetime) -> list[FlagItem]:
    pct = await gap_threshold_pct()
    rows = await MoneyItem.select(
        MoneyItem.household, MoneyItem.section, MoneyItem.kind, MoneyItem.declared_fen, MoneyItem.verified_fen
    ).where(
        in_scope(actor, MoneyItem.org_path) & MoneyItem.active.eq(True) & MoneyItem.verified_fen.is_not_null()
    )
    flagged = []
    for row in rows:
        declared, verified = int(row["declared_fen"]), int(row["verified_fen"])
        gap = abs(verified - declared)
        if gap >= GAP_MIN_FEN and gap * 100 > pct * max(declared, 1):
            flagged.append((row, gap))
    households = await _households({row["household"] for row, _ in flagged})
    return [
        _item(
            "ledger_gap",
            households.get(row["household"]),
            N_(
                "{section} item '{kind}': declared {declared} yuan,"
                " verified {verified} yuan (threshold {pct}%)."
            ),
            section=row["section"],
            kind=row["kind"],
            declared=format_yuan(int(row["declared_fen"])),
            verified=format_yuan(int(row["verified_fen"])),
            pct=pct,
        )
        for row, _ in sorted(flagged, key=lambda pair: -pair[1])[:LIMIT_PER_FLAG]
    ]


async def _payments_without_plan(actor: Actor, now: datetime) -> list[FlagItem]:
    plan_status: Any = PaymentLine.plan_line.plan.status  # type: ignore[union-attr]
    line_status: Any = PaymentLine.plan_line.status
    rows = (
        await PaymentLine.select(
            PaymentLine.line_id,
            PaymentLine.household,
            PaymentLine.amount_fen,
            PaymentLine.status,
            PaymentLine.month,
            plan_status,
            line_status,
        )
        .where(
            in_scope(actor, PaymentLine.org_path)
            & ((plan_status != "approved") | line_status.is_in(["draft", "cancelled"]))
        )
        .limit(LIMIT_PER_FLAG)
    )
    households = await _households({r["household"] for r in rows})
    return [
        _item(
            "payment_without_plan",
            households.get(r["household"]),
            N_("Payment line {line} ({month}, {amount} yuan, {status}): plan is '{plan_status}'."),
            line=r["line_id"],
            month=r["month"],
            amount=format_yuan(int(r["amount_fen"])),
            status=r["status"],
            plan_status=r["plan_line.plan.status"]
            if r["plan_line.plan.status"] != "approved"
            else r["plan_line.status"],
        )
        for r in rows
    ]


async def _visits_without_evidence(actor: Actor, now: datetime) -> list[FlagItem]:
    visits = await Visit.select(
        Visit.id, Visit.household, Visit.scheduled_for, Visit.assigned_to.display_name
    ).where(in_scope(actor, Visit.org_path) & (Visit.status == "done") & (Visit.kind == "home"))
    if not visits:
        return []
    with_photos = {
        r["visit"]
        for r in await Photo.select(Photo.visit).where(Photo.visit.is_in([v["id"] for v in visits]))
    }
    bare = [v for v in visits if v["id"] not in with_photos][:LIMIT_PER_FLAG]
    households = await _households({v["household"] for v in bare})
    return [
        _item(
            "visit_without_evidence",
            households.get(v["household"]),
            N_("Home visit of {date} by {staff} is marked done without any photo."),
            date=v["scheduled_for"].isoformat() if v["scheduled_for"] else "",
            staff=v["assigned_to.display_name"] or "",
        )
        for v in bare
    ]


async def _self_approvals(actor: Actor, now: datetime) -> list[FlagItem]:
    events = await AuditEvent.select(
        AuditEvent.entity_id, AuditEvent.actor, AuditEvent.actor_label, AuditEvent.at
    ).where(
        in_scope(actor, AuditEvent.org_path)
        & (AuditEvent.action == "application.approve")
        & AuditEvent.actor.is_not_null()
    )
    if not events:
        return []
    apps = await Application.select(
        Application.id, Application.number, Application.household, Application.submitted_by
    ).where(Application.id.is_in(list({e["entity_id"] for e in events})))
    by_id = {a["id"]: a for a in apps}
    hits = [
        (e, by_id[e["entity_id"]])
        for e in events
        if e["entity_id"] in by_id and by_id[e["entity_id"]]["submitted_by"] == e["actor"]
    ]
    households = await _households({a["household"] for _, a in hits})
    return [
        _item(
            "self_approval",
            households.get(a["household"]),
            N_("Application {number} was taken in and approved by the same person ({staff})."),
            number=a["number"],
            staff=e["actor_label"],
        )
        for e, a in hits[:LIMIT_PER_FLAG]
    ]


async def _read_bursts(actor: Actor, now: datetime) -> list[FlagItem]:
    per_hour = get_settings().read_burst_per_hour
    return [
        FlagItem(
            kind="read_burst",
            household_id=None,
            file_no="",
            head_name=burst.actor_label,
            detail=N_("{staff} opened {reads} household files within one hour from {start}."),
            params={
                "staff": burst.actor_label,
                "reads": burst.reads,
                "start": burst.started_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M"),
            },
            link=f"/supervision/access?staff_id={burst.staff_id}",
        )
        for burst in (await find_read_bursts(actor, now=now, per_hour=per_hour))[:LIMIT_PER_FLAG]
    ]


_COMPUTERS = {
    "shared_account": _shared_accounts,
    "shared_phone": _shared_phones,
    "near_relative": _near_relatives,
    "ledger_gap": _ledger_gaps,
    "payment_without_plan": _payments_without_plan,
    "visit_without_evidence": _visits_without_evidence,
    "self_approval": _self_approvals,
    "read_burst": _read_bursts,
}


async def compute_flags(actor: Actor, *, now: datetime, kinds: list[str] | None = None) -> FlagReport:
    """Compute the integrity flags in the actor's scope (supervisors and city staff)."""
    _require_reader(actor)
    chosen = [k for k in (kinds or list(FLAG_KINDS)) if k in FLAG_KINDS]
    items = {kind: await _COMPUTERS[kind](actor, now) for kind in chosen}
    return FlagReport(items, now)


# --- near-relative filings (近亲属备案) -----------------------------------------


@dataclass(frozen=True)
class NearRelative:
    id: int
    relative_name: str
    relation: str
    staff_name: str
    note: str
    recorded_by: str
    recorded_at: datetime


async def list_near_relatives(actor: Actor, household_id: int) -> list[NearRelative]:
    await access_household(actor, household_id)
    rows = (
        await NearRelativeFiling.select(
            NearRelativeFiling.id,
            NearRelativeFiling.relative_name,
            NearRelativeFiling.relation,
            NearRelativeFiling.staff.display_name,
            NearRelativeFiling.note,
            NearRelativeFiling.recorded_by.display_name,
            NearRelativeFiling.recorded_at,
        )
        .where(NearRelativeFiling.household == household_id)
        .order_by(NearRelativeFiling.id)
    )
    return [
        NearRelative(
            id=r["id"],
            relative_name=r["relative_name"],
            relation=r["relation"],
            staff_name=r["staff.display_name"] or "",
            note=r["note"],
            recorded_by=r["recorded_by.display_name"] or "",
            recorded_at=r["recorded_at"],
        )
        for r in rows
    ]


async def do_record_near_relative(
    actor: Actor,
    household_id: int,
    *,
    relative_name: str,
    relation: str,
    staff_username: str = "",
    note: str = "",
    now: datetime,
) -> int:
    """File that a household is related to relief staff or a community cadre (近亲属备案)."""
    require(actor, Capability.NEAR_RELATIVE_FILE)
    errors: dict[str, DomainError] = {}
    name = " ".join(relative_name.split())
    if not 2 <= len(name) <= 60:
        errors["relative_name"] = DomainError(
            N_("Enter the name of the staff member or cadre (2–60 characters)."), field="relative_name"
        )
    relation_text = " ".join(relation.split())
    if not 1 <= len(relation_text) <= 40:
        errors["relation"] = DomainError(
            N_("Enter the relation (e.g. spouse, child, sibling)."), field="relation"
        )
    staff_id: int | None = None
    if staff_username.strip():
        staff = await Staff.select(Staff.id).where(Staff.username == staff_username.strip()[:40]).first()
        if staff is None:
            errors["staff_username"] = DomainError(
                N_("No staff account has this user name."), field="staff_username"
            )
        else:
            staff_id = staff["id"]
    if len(note) > 300:
        errors["note"] = DomainError(N_("Please keep it under {max} characters."), field="note", max=300)
    if errors:
        raise ValidationFailed(errors)
    async with write_transaction(NearRelativeFiling._meta.db):
        household = await access_household(actor, household_id)
        filing = NearRelativeFiling(
            household=household_id,
            org_path=household.org_path,
            staff=staff_id,
            relative_name=name,
            relation=relation_text,
            note=note.strip(),
            recorded_by=actor.staff_id,
            recorded_at=now,
        )
        await filing.save()
        await record_event(
            actor,
            "household.near_relative",
            "near_relative_filing",
            filing.id,
            org_path=household.org_path,
            now=now,
            household_id=household_id,
            after={"relative_name": name, "relation": relation_text, "staff_id": staff_id},
        )
    return int(filing.id)
