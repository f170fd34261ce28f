"""Objections (异议) and complaints (举报) from anyone, and their handling by staff.

Anyone may file, anonymously or with contact details, from a notice board,
the public site or the Telegram bot: about a household on a board (a running
公示 or a current recipient) or about staff conduct. The filer gets a short
unguessable tracking code to check the status. An objection to a running
公示 inside its window interrupts it and sends the case back to
investigation (the ``object`` transition, taken by the SYSTEM actor).

Staff (station and centre) work through an inbox with a deadline of 15
working days, record the investigation and answer. Every step is audited;
public submissions are audited under the SYSTEM actor with their channel.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from relief_pwa.clock import local_time
from relief_pwa.core.bounds import parse_id
from relief_pwa.core.enums import AppState
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.core.phone import normalise_phone
from relief_pwa.core.rules import Calendar, working_days_between, working_deadline
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services import hooks, identifiers
from relief_pwa.services.access import in_scope
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor, require
from relief_pwa.services.applications import do_transition
from relief_pwa.services.audit import record_event
from relief_pwa.services.publicity import RUNNING, local_date
from relief_pwa.services.rules import load_calendar
from relief_pwa.tables import Application, Objection, OrgUnit, PublicNotice

KIND_OBJECTION = "objection"  # about a listed household
KIND_COMPLAINT = "complaint"  # about staff conduct
KINDS = (KIND_OBJECTION, KIND_COMPLAINT)
CHANNELS = ("web", "board", "bot", "window")

RECEIVED = "received"
INVESTIGATING = "investigating"
ANSWERED = "answered"
CLOSED = "closed"
STATUSES = (RECEIVED, INVESTIGATING, ANSWERED, CLOSED)

BODY_MIN, BODY_MAX = 10, 2000
TEXT_MAX = 4000
PAGE_SIZE = 30

# Crockford-style base32 without I, L, O, U: easy to read aloud and to type.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10  # 50 bits: guessing one of a few thousand codes is hopeless under rate limits

_STATUS_LABELS = {
    RECEIVED: N_("Received"),
    INVESTIGATING: N_("Being investigated"),
    ANSWERED: N_("Answered"),
    CLOSED: N_("Closed"),
}
_KIND_LABELS = {
    KIND_OBJECTION: N_("Objection about a listed household"),
    KIND_COMPLAINT: N_("Complaint about staff"),
}
_CHANNEL_LABELS = {
    "web": N_("Public website"),
    "board": N_("Notice board QR code"),
    "bot": N_("Telegram bot"),
    "window": N_("In person or by phone"),
}


def status_label(status: str) -> str:
    return _STATUS_LABELS.get(status, status)


def kind_label(kind: str) -> str:
    return _KIND_LABELS.get(kind, kind)


def channel_label(channel: str) -> str:
    return _CHANNEL_LABELS.get(channel, channel)


def new_tracking_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_tracking_code(raw: str) -> str:
    """Accept lower case, spaces, dashes and the look-alikes O→0, I/L→1."""
    folded = "".join(raw.split()).replace("-", "").upper()
    return folded.translate(str.maketrans("OIL", "011"))[:20]


def answer_deadline(received: date, calendar: Calendar | None = None) -> date:
    """The answer is due this many working days after receipt (the rule in force; holidays skipped)."""
    return working_deadline(calendar or Calendar(), received, "objection_answer_working_days")


@dataclass(frozen=True)
class FiledObjection:
    objection_id: int
    tracking_code: str
    deadline: date
    interrupted_notice: bool  # the 公示 was stopped and the case sent back to investigation


async def _target_of(
    notice_id: int | None, recipient_application_id: int | None, board_code: str
) -> dict[str, Any]:
    """What the objection is about: a running notice, a current recipient, or an area."""
    if notice_id is not None:
        notice = await PublicNotice.select().where(PublicNotice.id == notice_id).first()
        if notice is None:
            raise DomainError(N_("This public notice does not exist."), field="notice")
        return {
            "notice": notice,
            "application_id": notice["application"],
            "org_path": notice["org_path"],
            "about": f"{notice['masked_name']} · {notice['category']}",
        }
    if recipient_application_id is not None:
        app = (
            await Application.select(
                Application.id, Application.state, Application.org_path, Application.category
            )
            .where(Application.id == recipient_application_id)
            .first()
        )
        if app is None or AppState(app["state"]) not in {AppState.ACTIVE, AppState.UNDER_REVIEW}:
            raise DomainError(N_("This household is not on a current recipient list."), field="recipient")
        return {
            "notice": None,
            "application_id": app["id"],
            "org_path": app["org_path"],
            "about": app["category"],
        }
    unit = (
        await OrgUnit.select(OrgUnit.path, OrgUnit.name).where(OrgUnit.code == board_code).first()
        if board_code
        else None
    )
    if unit is None:
        raise DomainError(N_("Choose the community or street your report is about."), field="board")
    return {"notice": None, "application_id": None, "org_path": unit["path"], "about": unit["name"]}


async def file_objection(
    *,
    kind: str,
    body: str,
    now: datetime,
    channel: str = "web",
    notice_id: int | None = None,
    recipient_application_id: int | None = None,
    board_code: str = "",
    about: str = "",
    contact_name: str = "",
    contact_phone: str = "",
) -> FiledObjection:
    """File an objection or complaint from the public (web, notice-board QR, bot, window).

    Args:
        kind: ``objection`` (about a listed household) or ``complaint`` (staff conduct).
        body: what the filer says, 10–2000 characters.
        now: the time of filing.
        channel: ``web``, ``board``, ``bot`` or ``window``.
        notice_id: the 公示 objected to (from a board), if any.
        recipient_application_id: a current recipient objected to (from a board), if any.
        board_code: the org unit the report concerns when no household is named.
        about: a short free-text subject (e.g. the staff member's name or the place).
        contact_name, contact_phone: optional; empty means anonymous. The phone
            is validated (mainland mobile or landline with area code).

    Returns:
        The tracking code, the answer deadline and whether a running 公示 was interrupted.

    Raises:
        ValidationFailed: with an error per field; nothing is stored.
    """
    errors: dict[str, DomainError] = {}
    if kind not in KINDS:
        errors["kind"] = DomainError(N_("Choose what your report is about."), field="kind")
    if channel not in CHANNELS:
        errors["channel"] = DomainError(N_("Unknown channel."), field="channel")
    text = body.strip()
    if not BODY_MIN <= len(text) <= BODY_MAX:
        errors["body"] = DomainError(
            N_("Please describe the matter in {min} to {max} characters."),
            field="body",
            min=BODY_MIN,
            max=BODY_MAX,
        )
    phone = ""
    if contact_phone.strip():
        try:
            phone = normalise_phone(contact_phone)
        except DomainError as exc:
            errors["contact_phone"] = DomainError(exc.message, field="contact_phone", **exc.params)
    name = " ".join(contact_name.split())[:60]
    subject = " ".join(about.split())[:120]
    target: dict[str, Any] = {}
    try:
        target = await _target_of(notice_id, recipient_application_id, board_code)
    except DomainError as exc:
        errors[exc.field or "board"] = exc
    if errors:
        raise ValidationFailed(errors)

    today = local_date(now)
    deadline = answer_deadline(today, await load_calendar())
    engine = Objection._meta.db
    interrupted = False
    async with write_transaction(engine):
        notice = target["notice"]
        application_id = target["application_id"]
        if application_id is not None:
            await advisory_xact_lock(engine, f"notice:{application_id}")
        code = new_tracking_code()
        while await Objection.exists().where(Objection.tracking_code == code):
            code = new_tracking_code()
        objection = Objection(
            tracking_code=code,
            kind=kind,
            notice=notice["id"] if notice else None,
            application=application_id,
            org_path=target["org_path"],
            about=(subject or target["about"])[:200],
            body=text,
            contact_name=name,
            contact_phone_sealed=identifiers.sealed(identifiers.PHONE, phone)[0],
            channel=channel,
            status=RECEIVED,
            deadline=deadline,
            received_at=now,
        )
        await objection.save()
        await record_event(
            SYSTEM_ACTOR,
            "objection.file",
            "objection",
            objection.id,
            org_path=target["org_path"],
            now=now,
            after={
                "kind": kind,
                "channel": channel,
                "tracking_code": code,
                "notice_id": notice["id"] if notice else None,
                "application_id": application_id,
                "anonymous": not (name or phone),
                "deadline": deadline.isoformat(),
            },
        )
        # An objection to a termination notice (终止公示) is investigated; it reopens nothing.
        if notice is not None and kind == KIND_OBJECTION and notice.get("kind", "grant") == "grant":
            current = (
                await PublicNotice.select(PublicNotice.status, PublicNotice.ends_on)
                .where(PublicNotice.id == notice["id"])
                .first()
            )
            # Inside the window only: a late objection is still investigated, but does not reopen the case.
            if current and current["status"] == RUNNING and today <= current["ends_on"]:
                await do_transition(
                    SYSTEM_ACTOR,
                    notice["application"],
                    "object",
                    reason=f"公示期内收到异议（跟踪码 {code}）",
                    now=now,
                )
                interrupted = True
        await hooks.emit(
            "objection.filed",
            objection_id=objection.id,
            application_id=application_id,
            household_id=notice["household"] if notice else None,
            interrupted=interrupted,
            now=now,
        )
    return FiledObjection(int(objection.id), code, deadline, interrupted)


@dataclass(frozen=True)
class PublicStatus:
    """What anyone holding the tracking code may see: no names, no contact details."""

    tracking_code: str
    kind: str
    status: str
    received_on: date
    deadline: date
    answer: str
    answered_at: datetime | None
    interrupted_notice: bool


async def get_public_status(tracking_code: str) -> PublicStatus:
    code = normalise_tracking_code(tracking_code)
    if len(code) != CODE_LENGTH:
        raise DomainError(N_("A tracking code has 10 letters and digits."), field="code")
    row = await Objection.select().where(Objection.tracking_code == code).first()
    if row is None:
        raise DomainError(N_("No report has this tracking code. Check it and try again."), field="code")
    interrupted = False
    if row["notice"] is not None:
        notice = (
            await PublicNotice.select(PublicNotice.status).where(PublicNotice.id == row["notice"]).first()
        )
        interrupted = bool(notice and notice["status"] == "interrupted")
    show_answer = row["status"] in {ANSWERED, CLOSED}
    return PublicStatus(
        tracking_code=code,
        kind=row["kind"],
        status=row["status"],
        received_on=local_date(row["received_at"]),
        deadline=row["deadline"],
        answer=row["answer"] if show_answer else "",
        answered_at=row["answered_at"] if show_answer else None,
        interrupted_notice=interrupted,
    )


# --- the staff inbox ---------------------------------------------------------


@dataclass(frozen=True)
class InboxRow:
    id: int
    tracking_code: str
    kind: str
    status: str
    about: str
    community: str
    channel: str
    received_at: datetime
    deadline: date
    overdue: bool
    days_left: int
    application_id: int | None


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    total: int
    page: int
    pages: int
    status: str
    open_count: int
    overdue_count: int
    answer_working_days: int  # the rule in force today


def working_days_left(today: date, deadline: date, calendar: Calendar | None = None) -> int:
    """Working days from today until the deadline (negative when overdue)."""
    return working_days_between(calendar or Calendar(), today, deadline)


async def list_inbox(actor: Actor, *, now: datetime, status: str = "open", page: int = 1) -> InboxPage:
    """Objections in scope: open ones (received or investigating) by deadline, or one status."""
    where = in_scope(actor, Objection.org_path)
    if status == "open":
        where = where & Objection.status.is_in([RECEIVED, INVESTIGATING])
    elif status in STATUSES:
        where = where & (Objection.status == status)
    else:
        status = ""
    total = await Objection.count().where(where)
    pages = max(1, -(-total // PAGE_SIZE))
    page = max(1, min(page, pages))
    rows = await (
        Objection.select(
            Objection.id,
            Objection.tracking_code,
            Objection.kind,
            Objection.status,
            Objection.about,
            Objection.org_path,
            Objection.channel,
            Objection.received_at,
            Objection.deadline,
            Objection.application,
        )
        .where(where)
        .order_by(Objection.deadline)
        .order_by(Objection.id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    open_where = in_scope(actor, Objection.org_path) & Objection.status.is_in([RECEIVED, INVESTIGATING])
    today = local_date(now)
    calendar = await load_calendar()
    open_count = await Objection.count().where(open_where)
    overdue_count = await Objection.count().where(open_where & (Objection.deadline < today))
    units = await _unit_names([r["org_path"] for r in rows])
    return InboxPage(
        rows=[
            InboxRow(
                id=r["id"],
                tracking_code=r["tracking_code"],
                kind=r["kind"],
                status=r["status"],
                about=r["about"],
                community=units.get(r["org_path"], ""),
                channel=r["channel"],
                received_at=r["received_at"],
                deadline=r["deadline"],
                overdue=r["status"] in {RECEIVED, INVESTIGATING} and r["deadline"] < today,
                days_left=working_days_left(today, r["deadline"], calendar),
                application_id=r["application"],
            )
            for r in rows
        ],
        total=total,
        page=page,
        pages=pages,
        status=status,
        open_count=open_count,
        overdue_count=overdue_count,
        answer_working_days=calendar.rule("objection_answer_working_days", today),
    )


async def _unit_names(org_paths: list[str]) -> dict[str, str]:
    """The name of the deepest unit of each path ("解放路社区")."""
    codes = {p.rstrip("/").rsplit("/", 1)[-1] for p in org_paths if p}
    rows = (
        await OrgUnit.select(OrgUnit.path, OrgUnit.name).where(OrgUnit.code.is_in(list(codes)))
        if codes
        else []
    )
    return {r["path"]: r["name"] for r in rows}


async def access_objection(actor: Actor, objection_id: int) -> dict[str, Any]:
    row: dict[str, Any] | None = await Objection.select().where(Objection.id == objection_id).first()
    if row is None or not actor.org_path or not row["org_path"].startswith(actor.org_path):
        raise NotFoundOrForbidden()
    return row


@dataclass(frozen=True)
class ObjectionDetail:
    row: dict[str, Any]
    community: str
    notice: dict[str, Any] | None
    application: dict[str, Any] | None
    overdue: bool
    days_left: int


async def get_objection(actor: Actor, objection_id: int, *, now: datetime) -> ObjectionDetail:
    row = await access_objection(actor, objection_id)
    # Whoever handles the objection may call the filer back.
    row["contact_phone"] = identifiers.opened(identifiers.PHONE, row.pop("contact_phone_sealed", ""))
    notice = (
        await PublicNotice.select().where(PublicNotice.id == row["notice"]).first() if row["notice"] else None
    )
    application = (
        await Application.select(
            Application.id, Application.number, Application.state, Application.household, Application.category
        )
        .where(Application.id == row["application"])
        .first()
        if row["application"]
        else None
    )
    today = local_date(now)
    calendar = await load_calendar()
    units = await _unit_names([row["org_path"]])
    return ObjectionDetail(
        row=row,
        community=units.get(row["org_path"], ""),
        notice=notice,
        application=application,
        overdue=row["status"] in {RECEIVED, INVESTIGATING} and row["deadline"] < today,
        days_left=working_days_left(today, row["deadline"], calendar),
    )


def _clean_text(text: str, field: str, minimum: int = 4) -> str:
    cleaned = text.strip()
    if len(cleaned) < minimum:
        raise DomainError(N_("Please write at least {min} characters."), field=field, min=minimum)
    if len(cleaned) > TEXT_MAX:
        raise DomainError(N_("Please keep it under {max} characters."), field=field, max=TEXT_MAX)
    return cleaned


async def do_record_investigation(
    actor: Actor, objection_id: int, investigation: str, *, now: datetime
) -> None:
    """Record (or extend) the investigation of an open objection; it becomes 'investigating'."""
    require(actor, Capability.OBJECTION_HANDLE)
    text = _clean_text(investigation, "investigation")
    async with write_transaction(Objection._meta.db):
        row = await access_objection(actor, objection_id)
        if row["status"] not in {RECEIVED, INVESTIGATING}:
            raise DomainError(N_("This report is already answered."), field="investigation")
        stamp = local_time(now).strftime("%Y-%m-%d %H:%M")
        entry = f"[{stamp} {actor.display_name}] {text}"
        combined = f"{row['investigation']}\n\n{entry}".strip() if row["investigation"] else entry
        await Objection.update(
            {
                Objection.investigation: combined,
                Objection.status: INVESTIGATING,
                Objection.handled_by: actor.staff_id,
            }
        ).where(Objection.id == objection_id)
        await record_event(
            actor,
            "objection.investigate",
            "objection",
            objection_id,
            org_path=row["org_path"],
            now=now,
            before={"status": row["status"]},
            after={"status": INVESTIGATING, "note": text},
        )


async def do_answer(
    actor: Actor, objection_id: int, answer: str, *, now: datetime, close: bool = False
) -> None:
    """Answer the filer (visible with the tracking code); ``close`` also closes the report."""
    require(actor, Capability.OBJECTION_HANDLE)
    text = _clean_text(answer, "answer", minimum=10)
    async with write_transaction(Objection._meta.db):
        row = await access_objection(actor, objection_id)
        if row["status"] == CLOSED:
            raise DomainError(N_("This report is closed."), field="answer")
        if row["status"] == RECEIVED and not row["investigation"]:
            raise DomainError(N_("Record the investigation before answering."), field="answer")
        new_status = CLOSED if close else ANSWERED
        await Objection.update(
            {
                Objection.answer: text,
                Objection.status: new_status,
                Objection.answered_at: now,
                Objection.handled_by: actor.staff_id,
            }
        ).where(Objection.id == objection_id)
        await record_event(
            actor,
            "objection.answer",
            "objection",
            objection_id,
            org_path=row["org_path"],
            now=now,
            before={"status": row["status"]},
            after={"status": new_status, "answer": text},
        )
        await hooks.emit(
            "objection.answered",
            objection_id=objection_id,
            application_id=row["application"],
            household_id=None,
            channel=row["channel"],
            now=now,
        )


async def do_close(actor: Actor, objection_id: int, *, now: datetime) -> None:
    require(actor, Capability.OBJECTION_HANDLE)
    async with write_transaction(Objection._meta.db):
        row = await access_objection(actor, objection_id)
        if row["status"] != ANSWERED:
            raise DomainError(N_("Only an answered report can be closed."), field="")
        await Objection.update({Objection.status: CLOSED}).where(Objection.id == objection_id)
        await record_event(
            actor,
            "objection.close",
            "objection",
            objection_id,
            org_path=row["org_path"],
            now=now,
            before={"status": ANSWERED},
            after={"status": CLOSED},
        )


async def objections_for_application(actor: Actor, application_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await Objection.select(
            Objection.id,
            Objection.tracking_code,
            Objection.kind,
            Objection.status,
            Objection.received_at,
            Objection.body,
            Objection.answer,
        )
        .where(in_scope(actor, Objection.org_path) & (Objection.application == application_id))
        .order_by(Objection.id)
    )
    return rows


def check_form_ids(raw: str, field: str) -> int | None:
    """A form's optional numeric id field, or None; garbage is an error on that field."""
    text = raw.strip()
    if not text:
        return None
    if not text.isdecimal() or len(text) > 12:
        raise ValidationFailed({field: DomainError(N_("Invalid reference."), field=field)})
    return int(text)


async def describe_target(notice: str, recipient: str, board: str, *, now: datetime) -> dict[str, Any]:
    """What a public objection form is about, in published (masked) terms only.

    Arguments are raw query values; anything unknown or malformed is ignored
    (the form then asks for an area instead).
    """
    from relief_pwa.services.publicity import community_names, head_birth_dates, public_name

    target: dict[str, Any] = {}
    notice_id, recipient_id = parse_id(notice), parse_id(recipient)
    if notice_id is not None:
        row = (
            await PublicNotice.select(
                PublicNotice.id,
                PublicNotice.masked_name,
                PublicNotice.category,
                PublicNotice.org_path,
                PublicNotice.starts_on,
                PublicNotice.ends_on,
                PublicNotice.status,
            )
            .where(PublicNotice.id == notice_id)
            .first()
        )
        if row:
            names = await community_names([row["org_path"]])
            target = {
                "kind": "notice",
                "id": row["id"],
                "masked_name": row["masked_name"],
                "category": row["category"],
                "community": names.get(row["org_path"], ""),
                "starts_on": row["starts_on"],
                "ends_on": row["ends_on"],
                "status": row["status"],
            }
    elif recipient_id is not None:
        app = (
            await Application.select(
                Application.id,
                Application.category,
                Application.org_path,
                Application.state,
                Application.household.id,
                Application.household.head_name,
            )
            .where(Application.id == recipient_id)
            .first()
        )
        if app and AppState(app["state"]) in {AppState.ACTIVE, AppState.UNDER_REVIEW}:
            names = await community_names([app["org_path"]])
            births = await head_birth_dates([app["household.id"]])
            target = {
                "kind": "recipient",
                "id": app["id"],
                "category": app["category"],
                "community": names.get(app["org_path"], ""),
                "masked_name": public_name(
                    app["household.head_name"], births.get(app["household.id"]), local_date(now)
                ),
            }
    unit = None
    if board.isdecimal() and len(board) <= 12:
        unit = await OrgUnit.select(OrgUnit.code, OrgUnit.name).where(OrgUnit.code == board).first()
    return {"target": target, "board": board if unit else "", "unit": unit}
