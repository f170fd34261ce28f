"""公示: the public notice of a case found eligible, before the centre decides.

A 公示 runs 7 calendar days (a re-公示 after an objection 3 days;
domain_cn.md §1.3(e)). Each notice stores the masked facts exactly as
published. The clock closes notices whose window has passed without
objection (:func:`do_close_due_notices`, a daily task of services/scheduler.py); an
objection inside the window interrupts the notice and sends the case back
to investigation (services.objections).

Every state change of the application goes through
``services.applications.do_transition``. A 公示 started elsewhere with a
bare ``start_publicity`` transition (demo seeding, a generic action button)
still gets its notice row from the listeners at the bottom of this module.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.enums import AppState
from relief_pwa.core.errors import AccessRefused, DomainError, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.masking import mask_name
from relief_pwa.core.permissions import Capability
from relief_pwa.core.rules import Calendar
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services import hooks
from relief_pwa.services.access import access_application, in_scope
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor, require
from relief_pwa.services.applications import do_transition
from relief_pwa.services.audit import record_event
from relief_pwa.services.rules import load_calendar
from relief_pwa.tables import (
    Application,
    EligibilityOpinion,
    Household,
    Member,
    OrgUnit,
    PlanLine,
    PublicNotice,
)

log = logging.getLogger("relief_pwa.publicity")

RUNNING = "running"
ENDED = "ended"
INTERRUPTED = "interrupted"

# A notice's kind: the 公示 before a decision, or the 终止公示 after an exit (docs/lifecycle.md).
GRANT = "grant"
TERMINATION = "termination"
# Categories whose exit is publicly announced (dibao and extreme-poverty support).
TERMINATION_NOTICE_CATEGORIES = frozenset({"dibao", "tekun"})

MINOR_AGE = 18
# A proposed monthly amount above this is a typing error, not a relief amount.
MAX_PROPOSED_FEN = 10_000_000  # 100,000 yuan

_PUBLICIZED_STATES = {AppState.PUBLICIZED, AppState.REPUBLICIZED}


def local_date(now: datetime) -> date:
    """The calendar day in Beijing: 公示 windows are counted in local days."""
    return now.astimezone(CHINA_TZ).date()


def notice_window(start: date, notice_round: int, calendar: Calendar | None = None) -> tuple[date, date]:
    """First and last day of a 公示 (both inclusive): the 公示 length in force (7 days by
    statute), the repeated-公示 length (3) for a re-公示."""
    key = "publicity_days" if notice_round == 1 else "republicity_days"
    days = (calendar or Calendar()).rule(key, start)
    return start, start + timedelta(days=days - 1)


def is_minor(birth_date: date | None, on: date) -> bool:
    if birth_date is None:
        return False
    age = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    return age < MINOR_AGE


def public_name(head_name: str, head_birth_date: date | None, on: date) -> str:
    """The name as published: masked, and withheld entirely for a minor head of household."""
    if is_minor(head_birth_date, on):
        return "＊＊"
    return mask_name(head_name)


# --- reading ---------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """An application found eligible and waiting for its (re-)公示."""

    application_id: int
    number: str
    version: int
    household_id: int
    file_no: str
    head_name: str
    masked_name: str
    community: str
    category: str
    household_size: int
    suggested_amount_fen: int
    notice_round: int
    action: str  # start_publicity | start_republicity
    ends_on: date
    days: int  # the notice's length under the rule in force today


@dataclass(frozen=True)
class RunningNotice:
    notice_id: int
    application_id: int
    number: str
    household_id: int
    file_no: str
    head_name: str
    masked_name: str
    community: str
    category: str
    household_size: int
    proposed_amount_fen: int
    notice_round: int
    starts_on: date
    ends_on: date
    days_left: int
    objections: int
    kind: str = GRANT


async def household_sizes(household_ids: Iterable[int]) -> dict[int, int]:
    ids = list(set(household_ids))
    if not ids:
        return {}
    rows = await Member.select(Member.household).where(Member.household.is_in(ids) & Member.active.eq(True))
    sizes: dict[int, int] = dict.fromkeys(ids, 0)
    for row in rows:
        sizes[row["household"]] += 1
    return sizes


async def head_birth_dates(household_ids: Iterable[int]) -> dict[int, date | None]:
    ids = list(set(household_ids))
    if not ids:
        return {}
    rows = await Member.select(Member.household, Member.birth_date).where(
        Member.household.is_in(ids) & (Member.relation == "head") & Member.active.eq(True)
    )
    return {row["household"]: row["birth_date"] for row in rows}


async def sizes_and_head_births(
    household_ids: Iterable[int],
) -> tuple[dict[int, int], dict[int, date | None]]:
    """Household sizes and heads' birth dates in one query (boards list hundreds)."""
    ids = list(set(household_ids))
    sizes: dict[int, int] = dict.fromkeys(ids, 0)
    births: dict[int, date | None] = {}
    if not ids:
        return sizes, births
    rows = await Member.select(Member.household, Member.relation, Member.birth_date).where(
        Member.household.is_in(ids) & Member.active.eq(True)
    )
    for row in rows:
        sizes[row["household"]] += 1
        if row["relation"] == "head":
            births[row["household"]] = row["birth_date"]
    return sizes, births


async def community_names(org_paths: Iterable[str]) -> dict[str, str]:
    """Community name by org path (a household's org_path ends with its community)."""
    paths = list(set(org_paths))
    if not paths:
        return {}
    rows = await OrgUnit.select(OrgUnit.path, OrgUnit.name).where(OrgUnit.path.is_in(paths))
    return {row["path"]: row["name"] for row in rows}


def _means_test_gap(means_test: str) -> int | None:
    """Monthly gap to the dibao standard (standard × size − income) from a stored means test."""
    try:
        data: Any = json.loads(means_test)
    except (TypeError, ValueError):
        return None
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            keys = {"standard_fen", "household_size", "income_total_fen"}
            if keys <= item.keys():
                try:
                    gap = int(item["standard_fen"]) * int(item["household_size"]) - int(
                        item["income_total_fen"]
                    )
                except (TypeError, ValueError):
                    return None
                return max(0, gap)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


async def suggested_amounts(application_ids: list[int]) -> dict[int, int]:
    """A proposed monthly amount for each application: its drafted monthly cash plan
    lines if the plans area drafted any, else the gap found by the means test, else 0."""
    amounts: dict[int, int] = {}
    if not application_ids:
        return amounts
    lines = await PlanLine.select(PlanLine.plan.application, PlanLine.amount_fen).where(
        PlanLine.plan.application.is_in(application_ids)
        & PlanLine.plan.status.is_in(["draft", "approved"])
        & PlanLine.status.not_in(["cancelled"])
        & (PlanLine.resource.kind == "cash")
        & (PlanLine.resource.periodicity == "monthly")
    )
    for line in lines:
        key = line["plan.application"]
        amounts[key] = amounts.get(key, 0) + int(line["amount_fen"])
    missing = [a for a in application_ids if a not in amounts]
    if missing:
        opinions = (
            await EligibilityOpinion.select(EligibilityOpinion.application, EligibilityOpinion.means_test)
            .where(
                EligibilityOpinion.application.is_in(missing) & (EligibilityOpinion.decision == "eligible")
            )
            .order_by(EligibilityOpinion.id)
        )
        for opinion in opinions:  # the latest opinion wins
            gap = _means_test_gap(opinion["means_test"])
            if gap is not None:
                amounts[opinion["application"]] = gap
    return {a: amounts.get(a, 0) for a in application_ids}


async def _interrupted_counts(application_ids: list[int]) -> dict[int, int]:
    if not application_ids:
        return {}
    rows = await PublicNotice.select(PublicNotice.application, PublicNotice.status).where(
        PublicNotice.application.is_in(application_ids)
    )
    counts: dict[int, int] = {}
    for row in rows:
        counts.setdefault(row["application"], 0)
        if row["status"] == INTERRUPTED:
            counts[row["application"]] += 1
    return counts


async def list_candidates(actor: Actor, now: datetime) -> list[Candidate]:
    """Applications in scope found eligible, oldest first, with the 公示 each would start."""
    rows = await (
        Application.select(
            Application.id,
            Application.number,
            Application.version,
            Application.category,
            Application.household.id,
            Application.household.file_no,
            Application.household.head_name,
            Application.household.org_path,
        )
        .where(in_scope(actor, Application.org_path) & (Application.state == AppState.VERIFIED_ELIGIBLE))
        .order_by(Application.state_changed_at)
        .limit(500)
    )
    app_ids = [r["id"] for r in rows]
    household_ids = [r["household.id"] for r in rows]
    sizes = await household_sizes(household_ids)
    births = await head_birth_dates(household_ids)
    names = await community_names(r["household.org_path"] for r in rows)
    amounts = await suggested_amounts(app_ids)
    interrupted = await _interrupted_counts(app_ids)
    today = local_date(now)
    calendar = await load_calendar()
    result = []
    for r in rows:
        republicity = interrupted.get(r["id"], 0) > 0
        notice_round = 2 if republicity else 1
        result.append(
            Candidate(
                application_id=r["id"],
                number=r["number"],
                version=r["version"],
                household_id=r["household.id"],
                file_no=r["household.file_no"],
                head_name=r["household.head_name"],
                masked_name=public_name(r["household.head_name"], births.get(r["household.id"]), today),
                community=names.get(r["household.org_path"], ""),
                category=r["category"],
                household_size=sizes.get(r["household.id"], 0),
                suggested_amount_fen=amounts[r["id"]],
                notice_round=notice_round,
                action="start_republicity" if republicity else "start_publicity",
                ends_on=(window := notice_window(today, notice_round, calendar))[1],
                days=(window[1] - window[0]).days + 1,
            )
        )
    return result


async def list_running(actor: Actor, now: datetime) -> list[RunningNotice]:
    """Notices running in the actor's scope, ending soonest first."""
    from relief_pwa.tables import Objection

    rows = await (
        PublicNotice.select(
            PublicNotice.id,
            PublicNotice.application.id,
            PublicNotice.application.number,
            PublicNotice.household.id,
            PublicNotice.household.file_no,
            PublicNotice.household.head_name,
            PublicNotice.org_path,
            PublicNotice.masked_name,
            PublicNotice.category,
            PublicNotice.household_size,
            PublicNotice.proposed_amount_fen,
            PublicNotice.notice_round,
            PublicNotice.starts_on,
            PublicNotice.ends_on,
            PublicNotice.kind,
        )
        .where(in_scope(actor, PublicNotice.org_path) & (PublicNotice.status == RUNNING))
        .order_by(PublicNotice.ends_on)
        .order_by(PublicNotice.id)
    )
    names = await community_names(r["org_path"] for r in rows)
    notice_ids = [r["id"] for r in rows]
    objection_rows = (
        await Objection.select(Objection.notice).where(Objection.notice.is_in(notice_ids))
        if notice_ids
        else []
    )
    objections: dict[int, int] = {}
    for o in objection_rows:
        objections[o["notice"]] = objections.get(o["notice"], 0) + 1
    today = local_date(now)
    return [
        RunningNotice(
            notice_id=r["id"],
            application_id=r["application.id"],
            number=r["application.number"],
            household_id=r["household.id"],
            file_no=r["household.file_no"],
            head_name=r["household.head_name"],
            masked_name=r["masked_name"],
            community=names.get(r["org_path"], ""),
            category=r["category"],
            household_size=r["household_size"],
            proposed_amount_fen=r["proposed_amount_fen"],
            notice_round=r["notice_round"],
            starts_on=r["starts_on"],
            ends_on=r["ends_on"],
            days_left=max(0, (r["ends_on"] - today).days + 1),
            objections=objections.get(r["id"], 0),
            kind=r["kind"] or GRANT,
        )
        for r in rows
    ]


async def list_notices_for_application(application_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await PublicNotice.select()
        .where(PublicNotice.application == application_id)
        .order_by(PublicNotice.id)
    )
    return rows


# --- starting a 公示 -------------------------------------------------------


def _check_amount(amount_fen: int | None, field: str) -> None:
    if amount_fen is not None and not 0 <= amount_fen <= MAX_PROPOSED_FEN:
        raise DomainError(N_("Enter a monthly amount between 0 and 100,000 yuan."), field=field)


async def _create_notice(
    actor: Actor,
    application_id: int,
    *,
    proposed_amount_fen: int | None,
    now: datetime,
    started_by: int | None,
) -> PublicNotice:
    """Insert the notice of a 公示 starting today (inside the caller's transaction)."""
    application = (
        await Application.select(
            Application.id, Application.household, Application.org_path, Application.category
        )
        .where(Application.id == application_id)
        .first()
    )
    assert application is not None
    household_id = application["household"]
    household = (
        await Household.select(Household.head_name, Household.org_path)
        .where(Household.id == household_id)
        .first()
    )
    assert household is not None
    previous = await PublicNotice.select(PublicNotice.status).where(
        PublicNotice.application == application_id
    )
    interrupted = sum(1 for p in previous if p["status"] == INTERRUPTED)
    notice_round = 1 + interrupted
    today = local_date(now)
    starts_on, ends_on = notice_window(today, notice_round, await load_calendar())
    if proposed_amount_fen is None:
        proposed_amount_fen = (await suggested_amounts([application_id]))[application_id]
    size = (await household_sizes([household_id])).get(household_id, 0)
    births = await head_birth_dates([household_id])
    notice = PublicNotice(
        application=application_id,
        household=household_id,
        org_path=application["org_path"],
        notice_round=notice_round,
        starts_on=starts_on,
        ends_on=ends_on,
        status=RUNNING,
        masked_name=public_name(household["head_name"], births.get(household_id), today),
        category=application["category"],
        household_size=size,
        proposed_amount_fen=proposed_amount_fen,
        started_by=started_by,
        created_at=now,
    )
    await notice.save()
    await record_event(
        actor,
        "notice.start",
        "public_notice",
        notice.id,
        org_path=application["org_path"],
        now=now,
        household_id=household_id,
        after={
            "application_id": application_id,
            "round": notice_round,
            "starts_on": starts_on.isoformat(),
            "ends_on": ends_on.isoformat(),
            "masked_name": notice.masked_name,
            "category": notice.category,
            "household_size": size,
            "proposed_amount_fen": proposed_amount_fen,
        },
    )
    await hooks.emit(
        "notice.started",
        notice_id=notice.id,
        application_id=application_id,
        household_id=household_id,
        notice_round=notice_round,
        starts_on=starts_on,
        ends_on=ends_on,
        now=now,
    )
    _invalidate()
    return notice


async def do_start_publicity(
    actor: Actor,
    application_id: int,
    *,
    now: datetime,
    proposed_amount_fen: int | None = None,
    expected_version: int | None = None,
) -> int:
    """Start the 公示 of an application found eligible (a re-公示 of 3 days if an
    earlier one was interrupted by an objection). Returns the notice id."""
    require(actor, Capability.APP_START_PUBLICITY)
    _check_amount(proposed_amount_fen, "amount")
    engine = PublicNotice._meta.db
    async with write_transaction(engine):
        application = await access_application(actor, application_id)
        await advisory_xact_lock(engine, f"notice:{application_id}")
        if application.state != AppState.VERIFIED_ELIGIBLE:
            raise DomainError(
                N_("Only an application found eligible can be put on public notice (it is '{state}')."),
                state=application.state,
            )
        notice = await _create_notice(
            actor, application_id, proposed_amount_fen=proposed_amount_fen, now=now, started_by=actor.staff_id
        )
        action = "start_publicity" if notice.notice_round == 1 else "start_republicity"
        await do_transition(actor, application_id, action, now=now, expected_version=expected_version)
    return int(notice.id)


async def do_start_publicity_batch(
    actor: Actor, items: list[tuple[int, int | None]], *, now: datetime
) -> list[int]:
    """Start several 公示 at once: all or none. ``items`` are (application id, amount or None).

    Every item is checked first; one bad item refuses the batch with an
    error per item (field ``app-<id>``) and nothing is started.
    """
    require(actor, Capability.APP_START_PUBLICITY)
    if not items:
        raise DomainError(N_("Select at least one application."), field="")
    errors: dict[str, DomainError] = {}
    for application_id, amount in items:
        try:
            _check_amount(amount, f"app-{application_id}")
            application = await access_application(actor, application_id)
            if application.state != AppState.VERIFIED_ELIGIBLE:
                raise DomainError(
                    N_("Only an application found eligible can be put on public notice (it is '{state}')."),
                    state=application.state,
                )
        except DomainError as exc:
            errors[f"app-{application_id}"] = exc
    if errors:
        raise ValidationFailed(errors)
    notice_ids: list[int] = []
    async with write_transaction(PublicNotice._meta.db):
        for application_id, amount in items:
            notice_ids.append(
                await do_start_publicity(actor, application_id, now=now, proposed_amount_fen=amount)
            )
    return notice_ids


# --- the clock ---------------------------------------------------------------


async def do_close_due_notices(now: datetime) -> list[int]:
    """End every running notice whose window passed without objection (SYSTEM actor).

    Each notice closes in its own transaction, so one failure does not hold up
    the rest; running twice (or in two workers at once) closes each notice once.
    """
    today = local_date(now)
    due = (
        await PublicNotice.select(PublicNotice.id, PublicNotice.application)
        .where((PublicNotice.status == RUNNING) & (PublicNotice.ends_on < today))
        .order_by(PublicNotice.ends_on)
    )
    closed: list[int] = []
    engine = PublicNotice._meta.db
    for row in due:
        try:
            async with write_transaction(engine):
                await advisory_xact_lock(engine, f"notice:{row['application']}")
                current = (
                    await PublicNotice.select(PublicNotice.status).where(PublicNotice.id == row["id"]).first()
                )
                if current is None or current["status"] != RUNNING:
                    continue
                application = (
                    await Application.select(Application.state)
                    .where(Application.id == row["application"])
                    .first()
                )
                kind = (
                    await PublicNotice.select(PublicNotice.kind).where(PublicNotice.id == row["id"]).first()
                )
                if kind is not None and kind["kind"] == TERMINATION:
                    await _set_status(SYSTEM_ACTOR, row["id"], ENDED, now=now, why="window_passed")
                elif application is not None and AppState(application["state"]) in _PUBLICIZED_STATES:
                    await do_transition(SYSTEM_ACTOR, row["application"], "end_publicity", now=now)
                else:
                    # The case moved on some other way: the notice is over all the same.
                    await _set_status(SYSTEM_ACTOR, row["id"], INTERRUPTED, now=now, why="case_moved")
            closed.append(row["id"])
        except (DomainError, AccessRefused):
            log.exception("could not close public notice %s", row["id"])
    return closed


# --- notice status changes (in the caller's transaction) ---------------------


async def _set_status(actor: Actor, notice_id: int, status: str, *, now: datetime, why: str) -> None:
    row = (
        await PublicNotice.select(PublicNotice.status, PublicNotice.org_path, PublicNotice.household)
        .where(PublicNotice.id == notice_id)
        .first()
    )
    if row is None or row["status"] != RUNNING:
        return
    await PublicNotice.update({PublicNotice.status: status}).where(PublicNotice.id == notice_id)
    await record_event(
        actor,
        f"notice.{'end' if status == ENDED else 'interrupt'}",
        "public_notice",
        notice_id,
        org_path=row["org_path"],
        now=now,
        household_id=row["household"],
        before={"status": RUNNING},
        after={"status": status, "why": why},
    )
    _invalidate()


async def running_notice_of(application_id: int) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await PublicNotice.select()
        .where(
            (PublicNotice.application == application_id)
            & (PublicNotice.status == RUNNING)
            & (PublicNotice.kind == GRANT)
        )
        .first()
    )
    return row


@hooks.on("application.start_publicity")
@hooks.on("application.start_republicity")
async def _notice_for_bare_transition(*, application_id: int, now: datetime, **_: object) -> None:
    if await running_notice_of(application_id) is None:
        await _create_notice(SYSTEM_ACTOR, application_id, proposed_amount_fen=None, now=now, started_by=None)


@hooks.on("application.object")
async def _interrupt_on_objection(*, application_id: int, now: datetime, **_: object) -> None:
    notice = await running_notice_of(application_id)
    if notice is not None:
        await _set_status(SYSTEM_ACTOR, notice["id"], INTERRUPTED, now=now, why="objection")


@hooks.on("application.end_publicity")
async def _end_notice(*, application_id: int, now: datetime, **_: object) -> None:
    notice = await running_notice_of(application_id)
    if notice is not None:
        await _set_status(SYSTEM_ACTOR, notice["id"], ENDED, now=now, why="window_passed")


@hooks.on("application.withdraw")
async def _withdrawn(*, application_id: int, now: datetime, **_: object) -> None:
    notice = await running_notice_of(application_id)
    if notice is not None:
        await _set_status(SYSTEM_ACTOR, notice["id"], INTERRUPTED, now=now, why="withdrawn")


@hooks.on("application.exit")
async def _termination_notice(
    *, application_id: int, now: datetime, category: str = "", reason: str = "", **_: object
) -> None:
    """The 终止公示 of an exit where the category requires one: the masked facts and the
    reason on the board for the 公示 length in force (no decision follows; the clock ends it)."""
    if category not in TERMINATION_NOTICE_CATEGORIES:
        return
    application = (
        await Application.select(Application.household, Application.org_path, Application.category)
        .where(Application.id == application_id)
        .first()
    )
    if application is None:
        return
    if await PublicNotice.exists().where(
        (PublicNotice.application == application_id)
        & (PublicNotice.kind == TERMINATION)
        & (PublicNotice.status == RUNNING)
    ):
        return
    household_id = application["household"]
    household = await Household.select(Household.head_name).where(Household.id == household_id).first()
    assert household is not None
    today = local_date(now)
    starts_on, ends_on = notice_window(today, 1, await load_calendar())
    births = await head_birth_dates([household_id])
    notice = PublicNotice(
        application=application_id,
        household=household_id,
        org_path=application["org_path"],
        kind=TERMINATION,
        notice_round=1,
        starts_on=starts_on,
        ends_on=ends_on,
        status=RUNNING,
        masked_name=public_name(household["head_name"], births.get(household_id), today),
        category=application["category"],
        household_size=(await household_sizes([household_id])).get(household_id, 0),
        proposed_amount_fen=0,
        started_by=None,
        created_at=now,
    )
    await notice.save()
    await record_event(
        SYSTEM_ACTOR,
        "notice.start",
        "public_notice",
        notice.id,
        org_path=application["org_path"],
        now=now,
        household_id=household_id,
        after={
            "application_id": application_id,
            "kind": TERMINATION,
            "starts_on": starts_on.isoformat(),
            "ends_on": ends_on.isoformat(),
            "masked_name": notice.masked_name,
            "category": notice.category,
        },
    )
    _invalidate()


# Boards cache their lists for a few seconds; any change here drops the cache.
_invalidators: list[Callable[[], None]] = []


def on_lists_changed(callback: Callable[[], None]) -> None:
    if callback not in _invalidators:
        _invalidators.append(callback)


def _invalidate() -> None:
    for callback in _invalidators:
        callback()


@hooks.on_application_changed
async def _application_changed(application_id: int, action: str, now: datetime) -> None:
    _invalidate()


# --- the centre's decision after the 公示 -------------------------------------------


@dataclass(frozen=True)
class DecisionCase:
    application_id: int
    number: str
    version: int
    state: str
    category: str
    household_id: int
    file_no: str
    head_name: str
    community: str
    household_size: int
    state_changed_at: datetime
    reason: str
    notices: list[dict[str, Any]]
    org_path: str = ""
    decided_on: date | None = None


async def list_decision_cases(actor: Actor, states: tuple[AppState, ...]) -> list[DecisionCase]:
    """Applications in scope in one of ``states`` (oldest first) with their 公示 history."""
    rows = await (
        Application.select(
            Application.id,
            Application.number,
            Application.version,
            Application.state,
            Application.category,
            Application.state_changed_at,
            Application.reason,
            Application.household.id,
            Application.household.file_no,
            Application.household.head_name,
            Application.household.org_path,
        )
        .where(in_scope(actor, Application.org_path) & Application.state.is_in(list(states)))
        .order_by(Application.state_changed_at)
        .limit(500)
    )
    ids = [r["id"] for r in rows]
    notices = (
        await PublicNotice.select().where(PublicNotice.application.is_in(ids)).order_by(PublicNotice.id)
        if ids
        else []
    )
    by_app: dict[int, list[dict[str, Any]]] = {}
    for notice in notices:
        by_app.setdefault(notice["application"], []).append(notice)
    sizes = await household_sizes(r["household.id"] for r in rows)
    names = await community_names(r["household.org_path"] for r in rows)
    return [
        DecisionCase(
            application_id=r["id"],
            number=r["number"],
            version=r["version"],
            state=r["state"],
            category=r["category"],
            household_id=r["household.id"],
            file_no=r["household.file_no"],
            head_name=r["household.head_name"],
            community=names.get(r["household.org_path"], ""),
            household_size=sizes.get(r["household.id"], 0),
            state_changed_at=r["state_changed_at"],
            reason=r["reason"],
            notices=by_app.get(r["id"], []),
        )
        for r in rows
    ]


async def get_decision_case(actor: Actor, application_id: int) -> DecisionCase:
    application = await access_application(actor, application_id)
    household = (
        await Household.select(Household.file_no, Household.head_name, Household.org_path)
        .where(Household.id == application.household)
        .first()
    )
    assert household is not None
    names = await community_names([household["org_path"]])
    return DecisionCase(
        application_id=application.id,
        number=application.number,
        version=application.version,
        state=application.state,
        category=application.category,
        household_id=application.household,
        file_no=household["file_no"],
        head_name=household["head_name"],
        community=names.get(household["org_path"], ""),
        household_size=(await household_sizes([application.household])).get(application.household, 0),
        state_changed_at=application.state_changed_at,
        reason=application.reason,
        notices=await list_notices_for_application(application.id),
        org_path=application.org_path,
        decided_on=application.decided_on,
    )


DECISIONS = {"approve": "approve", "reject": "reject", "activate": "activate"}


async def do_decide(
    actor: Actor,
    application_id: int,
    decision: str,
    *,
    reason: str,
    now: datetime,
    expected_version: int | None,
) -> None:
    """The centre approves or rejects after the 公示 (written reasons), or starts assistance."""
    require(actor, Capability.APP_APPROVE)
    action = DECISIONS.get(decision)
    if action is None:
        raise DomainError(N_("Choose approve or reject."), field="decision")
    await do_transition(
        actor, application_id, action, reason=reason, now=now, expected_version=expected_version
    )
