"""The applicant's side of the bot: chats, one-time binding tokens, bindings,
status and pre-applications. Pure service functions: they take ``now`` and
know nothing about Telegram.

A chat sees only the applications bound to it; every bind, unbind and
pre-application writes an audit event in its own transaction.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from relief_pwa.clock import local_date
from relief_pwa.core.applicant_status import NextStep, next_step
from relief_pwa.core.enums import AppState, OrgLevel
from relief_pwa.core.errors import Conflict, DomainError, NotFoundOrForbidden
from relief_pwa.core.i18n import N_
from relief_pwa.core.materials import Material
from relief_pwa.core.permissions import Capability
from relief_pwa.core.phone import normalise_phone
from relief_pwa.core.preapplication import (
    clean_category,
    clean_description,
    clean_name,
    materials_to_bring,
)
from relief_pwa.core.scoring import IndexBreakdown, explain_for_applicant
from relief_pwa.db import write_transaction
from relief_pwa.i18n import LANGUAGES, normalise_language
from relief_pwa.services import hooks, identifiers
from relief_pwa.services.access import access_application, in_scope
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.rules import load_calendar
from relief_pwa.tables import (
    Application,
    BindToken,
    BotBinding,
    BotChat,
    IndexRecord,
    OrgUnit,
    PreApplication,
    PublicNotice,
    Visit,
)

BIND_TOKEN_DAYS = 30
# Chats of the staff chat console live far above any Telegram id (< 2**52),
# so their messages can never reach a real person.
CONSOLE_CHAT_BASE = 8 * 10**18

MSG_TOKEN_UNKNOWN = N_("This link is not valid. Please check the QR code on your receipt.")
MSG_TOKEN_USED = N_("This link was already used. Ask your service station for a new receipt if you need one.")
MSG_TOKEN_EXPIRED = N_("This link has expired. Ask your service station to print a new receipt.")


def bot_actor(chat_id: int) -> Actor:
    """The applicant behind a chat, as it appears in the audit trail."""
    return Actor(
        staff_id=None,
        username=f"tg:{chat_id}",
        display_name="Telegram",
        role="applicant",
        org_unit_id=None,
        org_path="",
    )


def is_console_chat(chat_id: int) -> bool:
    return chat_id >= CONSOLE_CHAT_BASE


def console_chat_id(staff_id: int) -> int:
    return CONSOLE_CHAT_BASE + staff_id


# --- chats and languages ---------------------------------------------------


@dataclass(frozen=True)
class ChatInfo:
    chat_id: int
    language: str
    blocked: bool


async def ensure_chat(chat_id: int, now: datetime, default_language: str = "zh_Hans") -> ChatInfo:
    """The chat's row, created on its first message (Chinese unless told otherwise)."""
    row = await BotChat.select().where(BotChat.chat_id == chat_id).first()
    if row is None:
        async with write_transaction(BotChat._meta.db):
            await BotChat.insert(
                BotChat(
                    chat_id=chat_id,
                    language=normalise_language(default_language),
                    blocked=False,
                    created_at=now,
                )
            ).on_conflict(target=BotChat.chat_id, action="DO NOTHING")
        row = await BotChat.select().where(BotChat.chat_id == chat_id).first()
    assert row is not None
    return ChatInfo(chat_id, str(row["language"]), bool(row["blocked"]))


async def chat_languages(chat_ids: list[int]) -> dict[int, ChatInfo]:
    if not chat_ids:
        return {}
    rows = await BotChat.select().where(BotChat.chat_id.is_in(chat_ids))
    return {r["chat_id"]: ChatInfo(r["chat_id"], r["language"], r["blocked"]) for r in rows}


async def do_set_language(chat_id: int, language: str, now: datetime) -> str:
    if language not in LANGUAGES:
        raise DomainError(N_("Unknown language."), field="language")
    await ensure_chat(chat_id, now)
    async with write_transaction(BotChat._meta.db):
        await BotChat.update({BotChat.language: language}).where(BotChat.chat_id == chat_id)
        await record_event(
            bot_actor(chat_id),
            "bot.language",
            "bot_chat",
            chat_id,
            org_path="",
            now=now,
            after={"language": language},
        )
    return language


async def do_mark_chat_reachable(chat_id: int, now: datetime) -> None:
    """A chat that writes to us again has unblocked the bot."""
    async with write_transaction(BotChat._meta.db):
        changed = (
            await BotChat.update({BotChat.blocked: False})
            .where((BotChat.chat_id == chat_id) & (BotChat.blocked.eq(True)))
            .returning(BotChat.id)
        )
        if changed:
            await record_event(
                bot_actor(chat_id),
                "bot.chat_unblocked",
                "bot_chat",
                chat_id,
                org_path="",
                now=now,
                before={"blocked": True},
                after={"blocked": False},
            )


# --- binding tokens ----------------------------------------------------------


@dataclass(frozen=True)
class BindLink:
    token: str
    expires_at: datetime


async def do_issue_bind_token(actor: Actor, application_id: int, now: datetime) -> BindLink:
    """A new one-time token for the receipt's QR code (older unused ones stay valid until they expire)."""
    require(actor, Capability.BOT_LINK_ISSUE)
    async with write_transaction(BindToken._meta.db):
        application = (
            await access_application(actor, application_id)
            if not actor.is_system
            else await Application.objects().where(Application.id == application_id).first()
        )
        if application is None:
            raise NotFoundOrForbidden()
        link = await _insert_token(application, now)
        await record_event(
            actor,
            "bot.token_issue",
            "application",
            application.id,
            org_path=application.org_path,
            now=now,
            household_id=application.household,
            after={"expires_at": link.expires_at.isoformat()},
        )
    return link


async def _insert_token(application: Application, now: datetime) -> BindLink:
    token = secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-], as /start allows
    expires_at = now + timedelta(days=BIND_TOKEN_DAYS)
    await BindToken.insert(BindToken(token=token, application=application.id, expires_at=expires_at))
    return BindLink(token, expires_at)


async def current_bind_link(application_id: int, now: datetime) -> BindLink | None:
    """The newest unused, unexpired token of an application (for printing the receipt)."""
    row = await (
        BindToken.select(BindToken.token, BindToken.expires_at)
        .where(
            (BindToken.application == application_id)
            & BindToken.used_at.is_null()
            & (BindToken.expires_at > now)
        )
        .order_by(BindToken.id, ascending=False)
        .first()
    )
    return BindLink(row["token"], row["expires_at"]) if row else None


def deep_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={token}"


async def receipt_bot_link(application_id: int, now: datetime) -> dict[str, Any]:
    """What the receipt prints: the link, its QR code and expiry; or that a new one is needed."""
    import base64

    from relief_pwa.adapters.qr import qr_png
    from relief_pwa.settings import get_settings

    def data_uri(url: str) -> str:
        return "data:image/png;base64," + base64.b64encode(qr_png(url, box_size=4)).decode()

    link = await current_bind_link(application_id, now)
    if link is None:
        # A reprinted receipt keeps a code: the bot itself (a chat already linked
        # goes on working; a new link can be issued below).
        plain = f"https://t.me/{get_settings().bot_username}"
        return {"bot_reissue": True, "bot_open": {"url": plain, "qr_data_uri": data_uri(plain)}}
    url = deep_link(get_settings().bot_username, link.token)
    return {
        "bot": {
            "token": link.token,
            "url": url,
            "qr_data_uri": data_uri(url),
            "expires_on": local_date(link.expires_at).isoformat(),
        }
    }


@hooks.on_household_changed
async def _issue_token_at_intake(household_id: int, trigger: str, now: datetime) -> None:
    """Every new application gets a token in the intake transaction, so the receipt can print it."""
    if trigger != "intake":
        return
    applications = await Application.objects().where(Application.household == household_id)
    for application in applications:
        has_token = await BindToken.exists().where(BindToken.application == application.id)
        if not has_token:
            link = await _insert_token(application, now)
            await record_event(
                SYSTEM_ACTOR,
                "bot.token_issue",
                "application",
                application.id,
                org_path=application.org_path,
                now=now,
                household_id=household_id,
                after={"expires_at": link.expires_at.isoformat()},
            )


async def bind_new_application(application_id: int, now: datetime) -> int:
    """Another form of aid for a household already in the bot (docs/reviews-and-aid.md):
    the new application gets its own token (for its receipt), and every chat bound
    to an application of the same household is bound to it too, so /status shows
    each application. Inside the caller's transaction; returns how many chats."""
    application = await Application.objects().where(Application.id == application_id).first()
    if application is None:
        return 0
    if not await BindToken.exists().where(BindToken.application == application.id):
        link = await _insert_token(application, now)
        await record_event(
            SYSTEM_ACTOR,
            "bot.token_issue",
            "application",
            application.id,
            org_path=application.org_path,
            now=now,
            household_id=application.household,
            after={"expires_at": link.expires_at.isoformat()},
        )
    chats = {
        int(r["chat_id"])
        for r in await BotBinding.select(BotBinding.chat_id).where(
            (BotBinding.application.household == application.household)
            & BotBinding.active.eq(True)
            & (BotBinding.application != application.id)
        )
    }
    for chat_id in sorted(chats):
        if await BotBinding.exists().where(
            (BotBinding.chat_id == chat_id)
            & (BotBinding.application == application.id)
            & BotBinding.active.eq(True)
        ):
            continue
        await BotBinding.insert(
            BotBinding(chat_id=chat_id, application=application.id, active=True, bound_at=now)
        )
        await record_event(
            SYSTEM_ACTOR,
            "bot.bind",
            "application",
            application.id,
            org_path=application.org_path,
            now=now,
            household_id=application.household,
            after={"chat_id": chat_id, "via": "household"},
        )
    return len(chats)


# --- bindings ------------------------------------------------------------------


@dataclass(frozen=True)
class BoundApplication:
    application_id: int
    number: str
    category: str
    state: str
    org_path: str = ""


async def do_bind(chat_id: int, token: str, now: datetime) -> BoundApplication:
    """Bind a chat to the application of a one-time token (single use, expires)."""
    token = token.strip()
    engine = BindToken._meta.db
    async with write_transaction(engine):
        row = await BindToken.select().where(BindToken.token == token).first() if token else None
        if row is None:
            raise DomainError(MSG_TOKEN_UNKNOWN)
        if row["used_at"] is not None:
            raise DomainError(MSG_TOKEN_USED)
        if row["expires_at"] <= now:
            raise DomainError(MSG_TOKEN_EXPIRED)
        # The conditional update is the single-use guarantee, also under concurrent /start.
        claimed = (
            await BindToken.update({BindToken.used_at: now, BindToken.used_by_chat: chat_id})
            .where((BindToken.id == row["id"]) & BindToken.used_at.is_null())
            .returning(BindToken.id)
        )
        if not claimed:
            raise DomainError(MSG_TOKEN_USED)
        application = await Application.objects().where(Application.id == row["application"]).first()
        assert application is not None
        already = await BotBinding.exists().where(
            (BotBinding.chat_id == chat_id)
            & (BotBinding.application == application.id)
            & BotBinding.active.eq(True)
        )
        if not already:
            await BotBinding.insert(
                BotBinding(chat_id=chat_id, application=application.id, active=True, bound_at=now)
            )
        await record_event(
            bot_actor(chat_id),
            "bot.bind",
            "application",
            application.id,
            org_path=application.org_path,
            now=now,
            household_id=application.household,
            after={"chat_id": chat_id},
        )
    await ensure_chat(chat_id, now)
    await do_mark_chat_reachable(chat_id, now)
    return BoundApplication(
        application.id, application.number, application.category, application.state, application.org_path
    )


async def list_bound(chat_id: int) -> list[BoundApplication]:
    rows = await (
        BotBinding.select(
            BotBinding.application.id,
            BotBinding.application.number,
            BotBinding.application.category,
            BotBinding.application.state,
            BotBinding.application.org_path,
        )
        .where((BotBinding.chat_id == chat_id) & BotBinding.active.eq(True))
        .order_by(BotBinding.id)
    )
    return [
        BoundApplication(
            r["application.id"],
            r["application.number"],
            r["application.category"],
            r["application.state"],
            r["application.org_path"],
        )
        for r in rows
    ]


async def require_bound(chat_id: int, application_id: int) -> BoundApplication:
    """The application if this chat is bound to it; the same error otherwise."""
    for bound in await list_bound(chat_id):
        if bound.application_id == application_id:
            return bound
    raise NotFoundOrForbidden()


async def do_unbind(chat_id: int, now: datetime, application_id: int | None = None) -> int:
    """Unbind one application (or all) from a chat; returns how many bindings ended."""
    async with write_transaction(BotBinding._meta.db):
        condition = (BotBinding.chat_id == chat_id) & BotBinding.active.eq(True)
        if application_id is not None:
            condition &= BotBinding.application == application_id
        rows = await BotBinding.select(
            BotBinding.id,
            BotBinding.application.id,
            BotBinding.application.org_path,
            BotBinding.application.household,
        ).where(condition)
        for row in rows:
            await BotBinding.update({BotBinding.active: False, BotBinding.unbound_at: now}).where(
                BotBinding.id == row["id"]
            )
            await record_event(
                bot_actor(chat_id),
                "bot.unbind",
                "application",
                row["application.id"],
                org_path=row["application.org_path"],
                now=now,
                household_id=row["application.household"],
                before={"chat_id": chat_id, "active": True},
                after={"active": False},
            )
    return len(rows)


async def bound_chats(application_ids: list[int]) -> dict[int, list[int]]:
    """application id → chats bound to it (for notices)."""
    if not application_ids:
        return {}
    rows = await BotBinding.select(BotBinding.chat_id, BotBinding.application).where(
        BotBinding.application.is_in(application_ids) & BotBinding.active.eq(True)
    )
    result: dict[int, list[int]] = {}
    for row in rows:
        chats = result.setdefault(row["application"], [])
        if row["chat_id"] not in chats:
            chats.append(row["chat_id"])
    return result


# --- status ----------------------------------------------------------------------


@dataclass(frozen=True)
class VisitInfo:
    visit_id: int
    on: date
    window: str
    kind: str
    staff_name: str
    station_phone: str


@dataclass(frozen=True)
class ApplicationStatus:
    application_id: int
    number: str
    category: str
    state: AppState
    reason: str
    step: NextStep
    visits: list[VisitInfo]
    index_total: Decimal | None
    index_provisional: bool
    factors: list[str]


async def station_phone(org_path: str) -> str:
    """The hotline nearest to the applicant: service station first, then community, then centre."""
    codes = [c for c in org_path.split("/") if c]
    rows = (
        await OrgUnit.select(OrgUnit.level, OrgUnit.hotline).where(OrgUnit.code.is_in(codes)) if codes else []
    )
    by_level = {r["level"]: r["hotline"] for r in rows if r["hotline"]}
    for level in (OrgLevel.STREET, OrgLevel.COMMUNITY, OrgLevel.DISTRICT, OrgLevel.CITY):
        if by_level.get(level):
            return str(by_level[level])
    return ""


async def upcoming_visits(household_id: int, today: date, phone: str) -> list[VisitInfo]:
    rows = await (
        Visit.select(
            Visit.id,
            Visit.scheduled_for,
            Visit.time_window,
            Visit.kind,
            Visit.assigned_to.display_name,
        )
        .where(
            (Visit.household == household_id) & (Visit.status == "scheduled") & (Visit.scheduled_for >= today)
        )
        .order_by(Visit.scheduled_for)
        .limit(5)
    )
    return [
        VisitInfo(
            r["id"],
            r["scheduled_for"],
            r["time_window"],
            r["kind"],
            r["assigned_to.display_name"] or "",
            phone,
        )
        for r in rows
    ]


async def applicant_factors(household_id: int, language: str) -> tuple[Decimal | None, bool, list[str]]:
    """The latest index and its top factors in plain words, if the household was scored."""
    try:  # the scoring feature's explanation (re-checked against its inputs), when present
        from relief_pwa.services.scoring import get_applicant_explanation
    except ImportError:
        get_applicant_explanation = None  # type: ignore[assignment]
    if get_applicant_explanation is not None:
        explanation = await get_applicant_explanation(household_id=household_id, lang=language)
        if explanation is None:
            return None, False, []
        return Decimal(explanation.total), bool(explanation.provisional), list(explanation.lines)
    record = await (
        IndexRecord.select(IndexRecord.total, IndexRecord.provisional, IndexRecord.breakdown)
        .where(IndexRecord.household == household_id)
        .order_by(IndexRecord.computed_at, ascending=False)
        .order_by(IndexRecord.id, ascending=False)
        .first()
    )
    if record is None:
        return None, False, []
    breakdown = IndexBreakdown.from_dict(json.loads(record["breakdown"]))
    return (
        Decimal(record["total"]),
        bool(record["provisional"]),
        explain_for_applicant(breakdown, language, top=3),
    )


async def get_status(chat_id: int, now: datetime, language: str) -> list[ApplicationStatus]:
    """Everything a chat may know about its bound applications."""
    statuses: list[ApplicationStatus] = []
    for bound in await list_bound(chat_id):
        application = await Application.objects().where(Application.id == bound.application_id).first()
        if application is not None:
            statuses.append(await application_status(application, now, language))
    return statuses


async def household_status(household_id: int, now: datetime, language: str) -> list[ApplicationStatus]:
    """The same for every application of a household, newest first (the SMS status query)."""
    applications = await (
        Application.objects()
        .where(Application.household == household_id)
        .order_by(Application.id, ascending=False)
    )
    return [
        await application_status(application, now, language, with_index=False) for application in applications
    ]


async def application_status(
    application: Application, now: datetime, language: str, *, with_index: bool = True
) -> ApplicationStatus:
    state = AppState(application.state)
    notice = await (
        PublicNotice.select(PublicNotice.ends_on)
        .where((PublicNotice.application == application.id) & (PublicNotice.status == "running"))
        .order_by(PublicNotice.id, ascending=False)
        .first()
    )
    step = next_step(
        state,
        received_on=application.received_on,
        state_changed_on=local_date(application.state_changed_at),
        notice_ends_on=notice["ends_on"] if notice else None,
        calendar=await load_calendar(),
    )
    phone = await station_phone(application.org_path)
    visits = await upcoming_visits(application.household, local_date(now), phone)
    total, provisional, factors = (
        await applicant_factors(application.household, language) if with_index else (None, False, [])
    )
    return ApplicationStatus(
        application.id,
        application.number,
        application.category,
        state,
        application.reason or "",
        step,
        visits,
        total,
        provisional,
        factors,
    )


# --- the org network, step by step ----------------------------------------------


@dataclass(frozen=True)
class Place:
    id: int
    name: str
    level: str
    path: str


async def list_places(parent_id: int | None) -> list[Place]:
    """Districts (``parent_id`` None: the children of the city), then streets, then communities."""
    # Districts are the children of the city; below them, the children of the chosen unit.
    condition = (OrgUnit.level == OrgLevel.DISTRICT if parent_id is None else OrgUnit.parent == parent_id) & (
        OrgUnit.department_kind == ""
    )  # relief departments are not places
    rows = await (
        OrgUnit.select(OrgUnit.id, OrgUnit.name, OrgUnit.level, OrgUnit.path)
        .where(condition & OrgUnit.active.eq(True))
        .order_by(OrgUnit.code)
    )
    return [Place(r["id"], r["name"], r["level"], r["path"]) for r in rows]


async def get_place(place_id: int, level: str, parent_id: int | None = None) -> Place:
    """A unit of the expected level (and parent): callback data is never trusted."""
    row = (
        await OrgUnit.select(OrgUnit.id, OrgUnit.name, OrgUnit.level, OrgUnit.path, OrgUnit.parent)
        .where((OrgUnit.id == place_id) & OrgUnit.active.eq(True))
        .first()
    )
    if row is None or row["level"] != level or (parent_id is not None and row["parent"] != parent_id):
        raise DomainError(N_("Please choose one of the buttons."), field="community")
    return Place(row["id"], row["name"], row["level"], row["path"])


# --- pre-applications ----------------------------------------------------------------


@dataclass(frozen=True)
class PreApplicationDraft:
    name: str
    phone: str
    community_id: int
    category: str
    description: str


@dataclass(frozen=True)
class PreApplicationResult:
    preapplication_id: int
    community_name: str
    materials: list[Material]
    phone: str


async def do_create_preapplication(
    chat_id: int, draft: PreApplicationDraft, now: datetime
) -> PreApplicationResult:
    """Record a pre-application: an intake task for the community's liaison."""
    name = clean_name(draft.name)
    phone = normalise_phone(draft.phone)
    category = clean_category(draft.category)
    description = clean_description(draft.description)
    community = await get_place(draft.community_id, OrgLevel.COMMUNITY)
    async with write_transaction(PreApplication._meta.db):
        duplicate = await PreApplication.exists().where(
            (PreApplication.chat_id == chat_id)
            & (PreApplication.category == category)
            & (PreApplication.status == "new")
        )
        if duplicate:
            raise Conflict(
                N_("You already sent a pre-application for this kind of help. Staff will contact you soon.")
            )
        phone_sealed, phone_key = identifiers.sealed(identifiers.PHONE, phone)
        row = PreApplication(
            chat_id=chat_id,
            community=community.id,
            org_path=community.path,
            name=name,
            phone_sealed=phone_sealed,
            phone_index=phone_key,
            category=category,
            description=description,
            status="new",
            created_at=now,
        )
        await row.save()
        await record_event(
            bot_actor(chat_id),
            "preapplication.create",
            "pre_application",
            row.id,
            org_path=community.path,
            now=now,
            after={"name": name, "category": category, "community": community.name},
        )
    return PreApplicationResult(row.id, community.name, materials_to_bring(category), phone)


PREAPPLICATION_STATUSES = ("new", "taken", "closed")


async def list_preapplications(actor: Actor, status: str = "new", limit: int = 200) -> list[dict[str, Any]]:
    if status not in PREAPPLICATION_STATUSES:
        raise DomainError(N_("Please choose a value from the list."), field="status")
    rows: list[dict[str, Any]] = await (
        PreApplication.select(
            PreApplication.id,
            PreApplication.name,
            PreApplication.phone_sealed,
            PreApplication.category,
            PreApplication.description,
            PreApplication.status,
            PreApplication.created_at,
            PreApplication.community.name,
            PreApplication.community.code,
        )
        .where(in_scope(actor, PreApplication.org_path) & (PreApplication.status == status))
        .order_by(PreApplication.created_at)
        .limit(limit)
    )
    # The liaison calls the applicant back: the task list shows the phone in full.
    for row in rows:
        row["phone"] = identifiers.opened(identifiers.PHONE, row.pop("phone_sealed"))
    return rows


async def do_set_preapplication_status(
    actor: Actor, preapplication_id: int, status: str, now: datetime
) -> None:
    """Liaison or station takes a pre-application up (taken) or closes it (closed)."""
    require(actor, Capability.PREAPPLICATION_HANDLE)
    if status not in {"taken", "closed"}:
        raise DomainError(N_("Please choose a value from the list."), field="status")
    async with write_transaction(PreApplication._meta.db):
        row = await PreApplication.select().where(PreApplication.id == preapplication_id).first()
        if row is None or not actor.org_path or not row["org_path"].startswith(actor.org_path):
            raise NotFoundOrForbidden()
        allowed = {"new": {"taken", "closed"}, "taken": {"closed"}}.get(row["status"], set())
        if status not in allowed:
            raise Conflict(N_("This pre-application was already handled."))
        await PreApplication.update({PreApplication.status: status}).where(
            (PreApplication.id == preapplication_id) & (PreApplication.status == row["status"])
        )
        await record_event(
            actor,
            f"preapplication.{status}",
            "pre_application",
            preapplication_id,
            org_path=row["org_path"],
            now=now,
            before={"status": row["status"]},
            after={"status": status},
        )


# --- objections -----------------------------------------------------------------------


@dataclass(frozen=True)
class FiledFromChat:
    tracking_code: str
    deadline: date


def objections_available() -> bool:
    try:
        from relief_pwa.services.objections import file_objection  # noqa: F401
    except ImportError:
        return False
    return True


async def do_file_objection(
    chat_id: int, application_id: int, kind: str, body: str, now: datetime
) -> FiledFromChat:
    """File an objection (about the decision) or a complaint (about staff) on a bound application,
    through the same service as the web form, addressed to the application's community."""
    from relief_pwa.services.objections import file_objection

    bound = await require_bound(chat_id, application_id)
    row = await Application.select(Application.org_path).where(Application.id == application_id).first()
    assert row is not None
    community_code = [c for c in str(row["org_path"]).split("/") if c][-1]
    filed = await file_objection(
        kind=kind,
        body=body,
        now=now,
        channel="bot",
        board_code=community_code,
        about=bound.number,
    )
    return FiledFromChat(filed.tracking_code, filed.deadline)


# --- withdrawing an application from the chat ------------------------------------------------


async def list_withdrawable(chat_id: int) -> list[BoundApplication]:
    """The chat's bound applications that may still be withdrawn (not yet decided)."""
    from relief_pwa.core.workflow import TRANSITIONS

    sources = TRANSITIONS["withdraw"].sources
    return [b for b in await list_bound(chat_id) if AppState(b.state) in sources]


async def do_withdraw_from_chat(
    chat_id: int, application_id: int, reason: str, now: datetime
) -> BoundApplication:
    """The applicant withdraws a bound application (audited as the chat; the same transition
    as the liaison's form, so the notice and the closing of the file follow)."""
    from relief_pwa.services.applications import do_transition

    bound = await require_bound(chat_id, application_id)
    await do_transition(bot_actor(chat_id), application_id, "withdraw", reason=reason, now=now)
    return bound
