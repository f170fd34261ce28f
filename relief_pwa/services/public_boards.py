"""Public notice boards: the running 公示 and the current recipients of an area.

Only what the rules require is published (domain_cn.md §1.7, §4): the masked
name of the head of household (withheld for a minor), community, category,
household size, amount and period — never ID numbers, phones, addresses or
members' details. A community board lists its own households; street and
district boards aggregate their communities.

Each list carries a digest (sha256 of its canonical content). When a list
differs from what was last published for the area, a PublishedList row and
an audit event record it, so anyone can check a printed board against the
system on the verify page.

Board data is cached in the process for a few seconds (any workflow change
drops the cache); pages add ETag and Cache-Control on top.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from relief_pwa.core.audit_chain import canonical_json
from relief_pwa.core.enums import AppState, OrgLevel
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden
from relief_pwa.core.i18n import N_
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services import publicity
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.audit import record_event
from relief_pwa.services.rules import quoted_rules
from relief_pwa.tables import Application, OrgUnit, PlanLine, PublicNotice, PublishedList

BOARD_LEVELS = (OrgLevel.COMMUNITY, OrgLevel.STREET, OrgLevel.DISTRICT)
RECIPIENT_STATES = (AppState.ACTIVE, AppState.UNDER_REVIEW)
KIND_NOTICES = "notice"
KIND_RECIPIENTS = "recipients"
SHORT_DIGEST = 16
CACHE_SECONDS = 10.0
VERIFY_MIN_CHARS = 8


@dataclass(frozen=True)
class Office:
    name: str
    address: str
    hotline: str
    supervision_hotline: str


@dataclass(frozen=True)
class NoticeEntry:
    notice_id: int
    masked_name: str
    community: str
    category: str
    household_size: int
    amount_fen: int
    starts_on: date
    ends_on: date
    notice_round: int
    kind: str = "grant"  # grant | termination (终止公示)


@dataclass(frozen=True)
class RecipientEntry:
    application_id: int
    masked_name: str
    community: str
    category: str
    household_size: int
    amount_fen: int
    period: str  # "2026-06 – 2026-11" or "2026-06 –"


@dataclass(frozen=True)
class Unit:
    id: int
    code: str
    name: str
    level: str
    path: str


@dataclass
class Board:
    unit: Unit
    trail: list[Unit]  # city → this unit
    children: list[Unit]
    office: Office
    notices: list[NoticeEntry]
    recipients: list[RecipientEntry]
    notices_digest: str
    recipients_digest: str
    built_on: date
    totals: dict[str, int] = field(default_factory=dict)
    answer_working_days: int = 0  # objections are answered within this many working days (the rule)

    @property
    def etag_seed(self) -> str:
        """Everything the page shows besides the two digested lists."""
        frame = repr(
            (
                self.office,
                [u.name for u in self.trail],
                [(u.code, u.name) for u in self.children],
                self.answer_working_days,
            )
        )
        frame_hash = hashlib.sha256(frame.encode()).hexdigest()[:16]
        return f"{self.unit.code}:{self.notices_digest}:{self.recipients_digest}:{self.built_on}:{frame_hash}"


def short_digest(digest: str) -> str:
    """The digest as printed on a board: 16 hex digits in groups of four."""
    head = digest[:SHORT_DIGEST].upper()
    return " ".join(head[i : i + 4] for i in range(0, len(head), 4))


def list_digest(kind: str, board_code: str, items: list[dict[str, Any]]) -> tuple[str, str]:
    """(sha256 hex, canonical JSON) of a published list."""
    content = canonical_json({"board": board_code, "kind": kind, "items": items}) or "{}"
    return hashlib.sha256(content.encode("utf-8")).hexdigest(), content


def _notice_item(n: NoticeEntry) -> dict[str, Any]:
    return {
        "name": n.masked_name,
        "community": n.community,
        "category": n.category,
        "size": n.household_size,
        "amount_fen": n.amount_fen,
        "from": n.starts_on.isoformat(),
        "to": n.ends_on.isoformat(),
        "round": n.notice_round,
    }


def _recipient_item(r: RecipientEntry) -> dict[str, Any]:
    return {
        "name": r.masked_name,
        "community": r.community,
        "category": r.category,
        "size": r.household_size,
        "amount_fen": r.amount_fen,
        "period": r.period,
    }


# --- the cache -----------------------------------------------------------------

_cache: dict[tuple[str, date], tuple[float, Board]] = {}


def clear_cache() -> None:
    _cache.clear()


publicity.on_lists_changed(clear_cache)


# --- reading -------------------------------------------------------------------


def _unit(row: dict[str, Any]) -> Unit:
    return Unit(row["id"], row["code"], row["name"], row["level"], row["path"])


async def get_unit(code: str) -> Unit:
    if not code.isdecimal() or len(code) > 12:
        raise NotFoundOrForbidden()
    row = (
        await OrgUnit.select(OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.level, OrgUnit.path)
        .where((OrgUnit.code == code) & OrgUnit.active.eq(True))
        .first()
    )
    if row is None:
        raise NotFoundOrForbidden()
    return _unit(row)


async def office_for(path: str) -> Office:
    """The nearest service office above or at ``path`` (the street's station for a community)."""
    codes = [c for c in path.split("/") if c]
    rows = await OrgUnit.select(
        OrgUnit.code,
        OrgUnit.level,
        OrgUnit.office_name,
        OrgUnit.office_address,
        OrgUnit.hotline,
        OrgUnit.supervision_hotline,
    ).where(OrgUnit.code.is_in(codes))
    by_code = {r["code"]: r for r in rows}
    ordered = [by_code[c] for c in reversed(codes) if c in by_code]
    # A community's own service point is not where 公示 are decided: prefer the station.
    stations = [r for r in ordered if r["level"] != OrgLevel.COMMUNITY and r["office_address"]]
    office = stations[0] if stations else next((r for r in ordered if r["office_address"]), None)
    supervision = next((r["supervision_hotline"] for r in ordered if r["supervision_hotline"]), "")
    hotline = next((r["hotline"] for r in ordered if r["hotline"]), "")
    return Office(
        name=office["office_name"] if office else "",
        address=office["office_address"] if office else "",
        hotline=(office["hotline"] if office and office["hotline"] else hotline),
        supervision_hotline=supervision,
    )


async def _recipient_amounts(household_ids: list[int]) -> dict[int, tuple[int, str]]:
    """Monthly cash amount and period per household from its approved plans."""
    if not household_ids:
        return {}
    lines = await PlanLine.select(
        PlanLine.household, PlanLine.amount_fen, PlanLine.start_month, PlanLine.months
    ).where(
        PlanLine.household.is_in(household_ids)
        & (PlanLine.plan.status == "approved")
        & PlanLine.status.is_in(["approved", "implemented"])
        & (PlanLine.resource.kind == "cash")
        & (PlanLine.resource.periodicity == "monthly")
    )
    totals: dict[int, int] = {}
    starts: dict[int, list[str]] = {}
    ends: dict[int, list[str]] = {}
    for line in lines:
        household = line["household"]
        totals[household] = totals.get(household, 0) + int(line["amount_fen"])
        start = line["start_month"] or ""
        if start:
            starts.setdefault(household, []).append(start)
            ends.setdefault(household, []).append(_add_months(start, max(1, int(line["months"] or 1)) - 1))
    return {
        h: (amount, f"{min(starts[h])} – {max(ends[h])}" if h in starts else "")
        for h, amount in totals.items()
    }


async def decided_amount(application_id: int, household_id: int, decided_on: date | None) -> tuple[int, str]:
    """The monthly amount and period an approval letter states: from the approved
    plans, else the amount proposed in the last 公示 from the month of the decision
    (the same figures the public list shows)."""
    amount, period = (await _recipient_amounts([household_id])).get(household_id, (0, ""))
    if not amount:
        amount = (await _last_notice_amounts([application_id])).get(application_id, 0)
    if not period and decided_on is not None:
        period = f"{decided_on.strftime('%Y-%m')} –"
    return amount, period


def _add_months(month: str, count: int) -> str:
    try:
        year, mon = int(month[:4]), int(month[5:7])
    except ValueError:
        return ""
    total = year * 12 + (mon - 1) + count
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


async def trail_for(unit: Unit) -> list[Unit]:
    """The units from the city down to ``unit`` (breadcrumbs)."""
    codes = [c for c in unit.path.split("/") if c]
    rows = await OrgUnit.select(OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.level, OrgUnit.path).where(
        OrgUnit.code.is_in(codes)
    )
    by_code = {r["code"]: _unit(r) for r in rows}
    return [by_code[c] for c in codes if c in by_code]


async def _build(unit: Unit, now: datetime) -> Board:
    today = publicity.local_date(now)
    prefix = unit.path
    trail = await trail_for(unit)
    children = [
        _unit(r)
        for r in await OrgUnit.select(OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.level, OrgUnit.path)
        .where((OrgUnit.parent == unit.id) & OrgUnit.active.eq(True) & (OrgUnit.department_kind == ""))
        .order_by(OrgUnit.code)
    ]
    office = await office_for(unit.path)

    notice_rows = await (
        PublicNotice.select(
            PublicNotice.id,
            PublicNotice.org_path,
            PublicNotice.masked_name,
            PublicNotice.category,
            PublicNotice.household_size,
            PublicNotice.proposed_amount_fen,
            PublicNotice.starts_on,
            PublicNotice.ends_on,
            PublicNotice.notice_round,
            PublicNotice.kind,
        )
        .where(PublicNotice.org_path.like(f"{prefix}%") & (PublicNotice.status == publicity.RUNNING))
        .order_by(PublicNotice.org_path)
        .order_by(PublicNotice.starts_on)
        .order_by(PublicNotice.id)
    )
    recipient_rows = await (
        Application.select(
            Application.id,
            Application.org_path,
            Application.category,
            Application.decided_on,
            Application.household.id,
            Application.household.head_name,
        )
        .where(Application.org_path.like(f"{prefix}%") & Application.state.is_in(list(RECIPIENT_STATES)))
        .order_by(Application.org_path)
        .order_by(Application.decided_on)
        .order_by(Application.id)
    )
    paths = {r["org_path"] for r in notice_rows} | {r["org_path"] for r in recipient_rows}
    names = await publicity.community_names(paths)
    household_ids = [r["household.id"] for r in recipient_rows]
    sizes, births = await publicity.sizes_and_head_births(household_ids)
    amounts = await _recipient_amounts(household_ids)
    missing_amounts = [r["id"] for r in recipient_rows if r["household.id"] not in amounts]
    notice_amounts = await _last_notice_amounts(missing_amounts)

    notices = [
        NoticeEntry(
            notice_id=r["id"],
            masked_name=r["masked_name"],
            community=names.get(r["org_path"], ""),
            category=r["category"],
            household_size=r["household_size"],
            amount_fen=r["proposed_amount_fen"],
            starts_on=r["starts_on"],
            ends_on=r["ends_on"],
            notice_round=r["notice_round"],
            kind=r["kind"] or publicity.GRANT,
        )
        for r in notice_rows
    ]
    recipients = []
    for r in recipient_rows:
        household = r["household.id"]
        amount, period = amounts.get(household, (notice_amounts.get(r["id"], 0), ""))
        if not period and r["decided_on"] is not None:
            period = f"{r['decided_on'].strftime('%Y-%m')} –"
        recipients.append(
            RecipientEntry(
                application_id=r["id"],
                masked_name=publicity.public_name(r["household.head_name"], births.get(household), today),
                community=names.get(r["org_path"], ""),
                category=r["category"],
                household_size=sizes.get(household, 0),
                amount_fen=amount,
                period=period,
            )
        )
    notices_digest, notices_content = list_digest(KIND_NOTICES, unit.code, [_notice_item(n) for n in notices])
    recipients_digest, recipients_content = list_digest(
        KIND_RECIPIENTS, unit.code, [_recipient_item(r) for r in recipients]
    )
    await _record_if_changed(unit, KIND_NOTICES, notices_digest, notices_content, len(notices), now)
    await _record_if_changed(
        unit, KIND_RECIPIENTS, recipients_digest, recipients_content, len(recipients), now
    )
    return Board(
        unit=unit,
        trail=trail,
        children=children,
        office=office,
        notices=notices,
        recipients=recipients,
        notices_digest=notices_digest,
        recipients_digest=recipients_digest,
        built_on=today,
        answer_working_days=(await quoted_rules(today)).objection_answer_working_days,
        totals={
            "notices": len(notices),
            "recipients": len(recipients),
            "persons": sum(r.household_size for r in recipients),
            "amount_fen": sum(r.amount_fen for r in recipients),
        },
    )


async def _last_notice_amounts(application_ids: list[int]) -> dict[int, int]:
    if not application_ids:
        return {}
    rows = (
        await PublicNotice.select(PublicNotice.application, PublicNotice.proposed_amount_fen)
        .where(PublicNotice.application.is_in(application_ids) & (PublicNotice.status == publicity.ENDED))
        .order_by(PublicNotice.id)
    )
    return {r["application"]: int(r["proposed_amount_fen"]) for r in rows}  # the latest wins


async def _latest_digest(path: str, kind: str) -> str | None:
    row = (
        await PublishedList.select(PublishedList.digest)
        .where((PublishedList.org_path == path) & (PublishedList.kind == kind))
        .order_by(PublishedList.id, ascending=False)
        .first()
    )
    return row["digest"] if row else None


async def _record_if_changed(
    unit: Unit, kind: str, digest: str, content: str, count: int, now: datetime
) -> None:
    """Record a list as published when it differs from the last one for this board."""
    if await _latest_digest(unit.path, kind) == digest:
        return
    engine = PublishedList._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, f"published:{unit.path}:{kind}")
        if await _latest_digest(unit.path, kind) == digest:
            return  # a concurrent request recorded it first
        row = PublishedList(
            org_path=unit.path, kind=kind, digest=digest, item_count=count, content=content, published_at=now
        )
        await row.save()
        await record_event(
            SYSTEM_ACTOR,
            "list.publish",
            "published_list",
            row.id,
            org_path=unit.path,
            now=now,
            after={"board": unit.code, "kind": kind, "digest": digest, "items": count},
        )


async def get_board(code: str, now: datetime) -> Board:
    """The board of a community, street or district (cached for a few seconds)."""
    today = publicity.local_date(now)
    key = (code, today)
    cached = _cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    unit = await get_unit(code)
    if unit.level not in BOARD_LEVELS:
        raise NotFoundOrForbidden()
    board = await _build(unit, now)
    if len(_cache) > 2000:
        _cache.clear()
    _cache[key] = (time.monotonic() + CACHE_SECONDS, board)
    return board


@dataclass(frozen=True)
class Directory:
    districts: list[Unit]
    streets: dict[str, list[Unit]]  # district code → streets


async def get_directory() -> Directory:
    """Districts and their streets, for the public start page."""
    rows = (
        await OrgUnit.select(OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.level, OrgUnit.path)
        .where(OrgUnit.level.is_in([OrgLevel.DISTRICT, OrgLevel.STREET]) & OrgUnit.active.eq(True))
        .order_by(OrgUnit.code)
    )
    districts = [_unit(r) for r in rows if r["level"] == OrgLevel.DISTRICT]
    streets: dict[str, list[Unit]] = {d.code: [] for d in districts}
    for r in rows:
        if r["level"] == OrgLevel.STREET:
            # The district is the path's second code (a street moved to another district keeps its code).
            streets.setdefault(str(r["path"]).split("/")[1], []).append(_unit(r))
    return Directory(districts, streets)


# --- verifying a printed board ---------------------------------------------------


@dataclass(frozen=True)
class Publication:
    digest: str
    kind: str
    board_code: str
    board_name: str
    published_at: datetime
    item_count: int
    items: list[dict[str, Any]]
    superseded_at: datetime | None  # when the board next showed a different list


async def verify_digest(text: str) -> list[Publication]:
    """Every publication whose digest starts with ``text`` (spaces ignored, ≥ 8 hex digits)."""
    cleaned = "".join(text.split()).lower()
    if (
        len(cleaned) < VERIFY_MIN_CHARS
        or len(cleaned) > 64
        or any(c not in "0123456789abcdef" for c in cleaned)
    ):
        raise DomainError(
            N_("Enter at least the first 8 characters of the digest (0–9, A–F)."), field="digest"
        )
    rows = (
        await PublishedList.select()
        .where(PublishedList.digest.like(f"{cleaned}%"))
        .order_by(PublishedList.published_at)
        .limit(20)
    )
    if not rows:
        return []
    paths = list({r["org_path"] for r in rows})
    units = await OrgUnit.select(OrgUnit.path, OrgUnit.code, OrgUnit.name).where(OrgUnit.path.is_in(paths))
    by_path = {u["path"]: u for u in units}
    result = []
    for r in rows:
        following = (
            await PublishedList.select(PublishedList.published_at)
            .where(
                (PublishedList.org_path == r["org_path"])
                & (PublishedList.kind == r["kind"])
                & (PublishedList.id > r["id"])
            )
            .order_by(PublishedList.id)
            .first()
        )
        content = json.loads(r["content"] or "{}")
        unit = by_path.get(r["org_path"], {"code": "", "name": ""})
        result.append(
            Publication(
                digest=r["digest"],
                kind=r["kind"],
                board_code=unit["code"],
                board_name=unit["name"],
                published_at=r["published_at"],
                item_count=r["item_count"],
                items=content.get("items", []),
                superseded_at=following["published_at"] if following else None,
            )
        )
    return result
