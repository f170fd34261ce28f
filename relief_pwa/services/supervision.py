"""Supervision (纪检监察, 财政, 审计): the audit log in scope, and the chain check.

Reading only: nothing here writes. Supervisors and city staff read the
audit trail of their jurisdiction, filtered by actor, household, action and
time; the hash chain is re-verified on demand and the first broken event is
named by its sequence number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.bounds import parse_day_or_none
from relief_pwa.core.errors import DomainError, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.services.access import in_scope
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import ChainReport, verify_chain
from relief_pwa.tables import AuditEvent, Household, Staff

PAGE_SIZE = 50


def require_reader(actor: Actor) -> None:
    require(actor, Capability.AUDIT_READ)


@dataclass(frozen=True)
class AuditQuery:
    actor: str = ""  # username
    household: str = ""  # household id or file number
    action: str = ""  # exact or prefix ("application.")
    date_from: str = ""  # YYYY-MM-DD, Beijing time
    date_to: str = ""
    before_seq: int | None = None  # keyset paging: events older than this


@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: datetime
    actor_label: str
    action: str
    entity_type: str
    entity_id: int
    household_id: int | None
    org_path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    next_before_seq: int | None
    query: AuditQuery
    actions: list[str]


def _parse_day(text: str, field: str) -> date | None:
    return parse_day_or_none(text, field)


def _loads(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


async def list_audit_events(actor: Actor, query: AuditQuery) -> AuditPage:
    """Audit events in the actor's scope, newest first, 50 a page (keyset paging by seq)."""
    require_reader(actor)
    errors: dict[str, DomainError] = {}
    where = in_scope(actor, AuditEvent.org_path)
    if query.actor.strip():
        staff = await Staff.select(Staff.id).where(Staff.username == query.actor.strip()[:40]).first()
        if staff is None and query.actor.strip().lower() != "system":
            errors["actor"] = DomainError(N_("No staff account has this user name."), field="actor")
        else:
            where = where & (AuditEvent.actor.is_null() if staff is None else AuditEvent.actor == staff["id"])
    if query.household.strip():
        text = query.household.strip()[:24]
        household_id: int | None = int(text) if text.isdecimal() and len(text) < 12 else None
        if household_id is None:
            row = await Household.select(Household.id).where(Household.file_no == text.upper()).first()
            household_id = row["id"] if row else None
        if household_id is None:
            errors["household"] = DomainError(N_("No household has this number."), field="household")
        else:
            where = where & (AuditEvent.household_id == household_id)
    action = query.action.strip()[:60]
    if action:
        where = where & (
            AuditEvent.action.like(f"{action}%") if action.endswith(".") else AuditEvent.action == action
        )
    try:
        day_from = _parse_day(query.date_from, "date_from")
        if day_from:
            where = where & (
                AuditEvent.at >= datetime.combine(day_from, datetime.min.time(), tzinfo=CHINA_TZ)
            )
    except DomainError as exc:
        errors["date_from"] = exc
    try:
        day_to = _parse_day(query.date_to, "date_to")
        if day_to:
            end = datetime.combine(day_to + timedelta(days=1), datetime.min.time(), tzinfo=CHINA_TZ)
            where = where & (AuditEvent.at < end)
    except DomainError as exc:
        errors["date_to"] = exc
    if errors:
        raise ValidationFailed(errors)
    if query.before_seq is not None:
        where = where & (AuditEvent.seq < query.before_seq)
    rows = (
        await AuditEvent.select().where(where).order_by(AuditEvent.seq, ascending=False).limit(PAGE_SIZE + 1)
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    actions = [
        r["action"] for r in await AuditEvent.select(AuditEvent.action).distinct().order_by(AuditEvent.action)
    ]
    return AuditPage(
        rows=[
            AuditRow(
                seq=r["seq"],
                at=r["at"].astimezone(CHINA_TZ),
                actor_label=r["actor_label"],
                action=r["action"],
                entity_type=r["entity_type"],
                entity_id=r["entity_id"],
                household_id=r["household_id"],
                org_path=r["org_path"],
                before=_loads(r["before"]),
                after=_loads(r["after"]),
            )
            for r in rows
        ],
        next_before_seq=rows[-1]["seq"] if more and rows else None,
        query=query,
        actions=actions,
    )


@dataclass(frozen=True)
class ChainCheck:
    report: ChainReport
    total_events: int
    broken_event: AuditRow | None  # the first event that fails, when the actor may see it
    checked_at: datetime


async def check_chain(actor: Actor, *, now: datetime) -> ChainCheck:
    """Re-hash the whole chain now. The break is named by seq to every reader;
    its content is shown only inside the reader's scope."""
    require_reader(actor)
    report = await verify_chain()
    total = await AuditEvent.count()
    broken: AuditRow | None = None
    if report.first_break is not None:
        row = await AuditEvent.select().where(AuditEvent.seq == report.first_break.seq).first()
        if row is not None and actor.can_see(row["org_path"]):
            broken = AuditRow(
                seq=row["seq"],
                at=row["at"].astimezone(CHINA_TZ),
                actor_label=row["actor_label"],
                action=row["action"],
                entity_type=row["entity_type"],
                entity_id=row["entity_id"],
                household_id=row["household_id"],
                org_path=row["org_path"],
                before=_loads(row["before"]),
                after=_loads(row["after"]),
            )
    return ChainCheck(report, total, broken, now)


def is_supervisor_session(actor: Actor | None) -> bool:
    """Whether a request comes from a read-only (supervision) account: the actor its session loaded."""
    return actor is not None and actor.read_only
