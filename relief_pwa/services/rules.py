"""Rules and the holiday calendar as data, changed by city staff with an effective date, audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources

from relief_pwa.clock import local_date
from relief_pwa.core.enums import OrgLevel
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.core.rules import (
    CALENDAR_KINDS,
    RULE_SPECS,
    Calendar,
    CalendarEntry,
    RuleChange,
    RuleSpec,
    check_rule_value,
    parse_calendar_text,
    rule_in_force,
)
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.tables import CalendarDay, OrgUnit, RuleValue

SHIPPED_CALENDAR = "holidays_cn.csv"


def local_today(now: datetime) -> date:
    """The calendar day in Beijing (time is stored in UTC, days are counted locally)."""
    return local_date(now)


async def load_calendar() -> Calendar:
    """The holiday calendar and every rule change (a few hundred rows at most)."""
    days = await CalendarDay.select(CalendarDay.day, CalendarDay.kind)
    changes = await RuleValue.select(RuleValue.key, RuleValue.value, RuleValue.effective_from)
    return Calendar(
        holidays=frozenset(_day(r["day"]) for r in days if r["kind"] == "holiday"),
        workdays=frozenset(_day(r["day"]) for r in days if r["kind"] == "workday"),
        changes=tuple(RuleChange(r["key"], int(r["value"]), _day(r["effective_from"])) for r in changes),
    )


def _day(value: object) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value  # type: ignore[return-value]


async def _city_path() -> str:
    row = await OrgUnit.select(OrgUnit.path).where(OrgUnit.level == OrgLevel.CITY).first()
    return str(row["path"]) if row else ""


# --- rules -------------------------------------------------------------------


@dataclass(frozen=True)
class QuotedRules:
    """The rule values that page and message texts quote, as in force on one day."""

    investigation_working_days: int
    approval_working_days: int
    publicity_days: int
    republicity_days: int
    objection_answer_working_days: int


async def quoted_rules(today: date) -> QuotedRules:
    """What "we answer within N working days" and "a N-day 公示" say today (one small query)."""
    changes = [
        RuleChange(r["key"], int(r["value"]), _day(r["effective_from"]))
        for r in await RuleValue.select(RuleValue.key, RuleValue.value, RuleValue.effective_from).where(
            RuleValue.effective_from <= today
        )
    ]
    return QuotedRules(
        **{
            name: rule_in_force(changes, name, today)
            for name in QuotedRules.__dataclass_fields__  # the field names are the rule keys
        }
    )


@dataclass(frozen=True)
class RuleRow:
    spec: RuleSpec
    in_force: int
    changes: list[dict[str, object]]  # newest first: value, effective_from, note, created_at


async def list_rules(*, today: date) -> list[RuleRow]:
    calendar = await load_calendar()
    rows = await RuleValue.select().order_by(RuleValue.effective_from, ascending=False)
    return [
        RuleRow(spec, calendar.rule(spec.key, today), [r for r in rows if r["key"] == spec.key])
        for spec in RULE_SPECS
    ]


async def do_set_rule(
    actor: Actor, key: str, value: int, *, effective_from: date, note: str = "", now: datetime
) -> int:
    """Set a rule's value from a date on (replacing a value set for that same date), audited."""
    if actor is not SYSTEM_ACTOR:
        require(actor, Capability.STANDARDS_MANAGE)
    check_rule_value(key, value)
    engine = RuleValue._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, "relief-rules")
        existing = (
            await RuleValue.select()
            .where((RuleValue.key == key) & (RuleValue.effective_from == effective_from))
            .first()
        )
        before = None
        if existing is not None:
            before = {"value": existing["value"], "effective_from": effective_from.isoformat()}
            await RuleValue.update({RuleValue.value: value, RuleValue.note: note[:500]}).where(
                RuleValue.id == existing["id"]
            )
            row_id = int(existing["id"])
        else:
            row = RuleValue(
                key=key,
                value=value,
                effective_from=effective_from,
                note=note[:500],
                created_by=actor.staff_id,
                created_at=now,
            )
            await row.save()
            row_id = int(row.id)
        await record_event(
            actor,
            "rule.set",
            "rule_value",
            row_id,
            org_path=await _city_path(),
            now=now,
            before=before,
            after={"key": key, "value": value, "effective_from": effective_from.isoformat(), "note": note},
        )
    return row_id


# --- the holiday calendar -------------------------------------------------------


async def list_calendar(year: int | None = None) -> list[dict[str, object]]:
    query = CalendarDay.select().order_by(CalendarDay.day)
    if year is not None:
        query = query.where((CalendarDay.day >= date(year, 1, 1)) & (CalendarDay.day <= date(year, 12, 31)))
    return list(await query)


async def do_set_calendar_days(
    actor: Actor, entries: list[CalendarEntry], *, now: datetime, keep_existing: bool = False
) -> int:
    """Add or change calendar days (one audit event for the batch). Returns how many changed.

    ``keep_existing`` only adds days that are not in the calendar yet (never undoes an edit).
    """
    if actor is not SYSTEM_ACTOR:
        require(actor, Capability.STANDARDS_MANAGE)
    for entry in entries:
        if entry.kind not in CALENDAR_KINDS:
            raise DomainError(N_("The kind must be 'holiday' or 'workday'."), field="kind")
    engine = CalendarDay._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, "relief-calendar")
        existing = {_day(r["day"]): r for r in await CalendarDay.select()}
        changed: list[dict[str, str]] = []
        for entry in entries:
            old = existing.get(entry.day)
            if old is not None and (keep_existing or (old["kind"], old["name"]) == (entry.kind, entry.name)):
                continue
            if old is not None:
                await CalendarDay.update(
                    {CalendarDay.kind: entry.kind, CalendarDay.name: entry.name, CalendarDay.updated_at: now}
                ).where(CalendarDay.id == old["id"])
            else:
                await CalendarDay(day=entry.day, kind=entry.kind, name=entry.name, updated_at=now).save()
            changed.append({"day": entry.day.isoformat(), "kind": entry.kind, "name": entry.name})
        if changed:
            await record_event(
                actor, "calendar.set", "calendar_day", 0, org_path=await _city_path(), now=now, after=changed
            )
    return len(changed)


async def do_remove_calendar_day(actor: Actor, day: date, *, now: datetime) -> None:
    require(actor, Capability.STANDARDS_MANAGE)
    async with write_transaction(CalendarDay._meta.db):
        row = await CalendarDay.select().where(CalendarDay.day == day).first()
        if row is None:
            raise DomainError(N_("That day is not in the calendar."), field="day")
        await CalendarDay.delete().where(CalendarDay.id == row["id"])
        await record_event(
            actor,
            "calendar.remove",
            "calendar_day",
            int(row["id"]),
            org_path=await _city_path(),
            now=now,
            before={"day": day.isoformat(), "kind": row["kind"], "name": row["name"]},
        )


# The State Council announces next year's arrangement in the autumn; from this month on,
# next year's missing arrangement is warned about too (deadlines soon reach into it).
WARN_NEXT_YEAR_FROM_MONTH = 11


async def years_without_arrangement(today: date, *, also: int | None = None) -> list[int]:
    """This year (next year too from November, and ``also``) when its calendar holds no
    adjusted working day (调休上班).

    Every State Council arrangement of recent decades moves some weekend days to
    working days, so a year without one has at most the statutory holidays
    entered: its working-day deadlines skip no bridge days and count no 调休
    Saturday, and city staff must load the year's notice.
    """
    years = {today.year}
    if today.month >= WARN_NEXT_YEAR_FROM_MONTH:
        years.add(today.year + 1)
    if also is not None:
        years.add(also)
    arranged = {
        _day(r["day"]).year
        for r in await CalendarDay.select(CalendarDay.day).where(
            (CalendarDay.kind == "workday")
            & (CalendarDay.day >= date(min(years), 1, 1))
            & (CalendarDay.day <= date(max(years), 12, 31))
        )
    }
    return sorted(years - arranged)


def shipped_calendar() -> list[CalendarEntry]:
    """The official calendar that ships with the project (see the file's header for what it covers)."""
    text = resources.files("relief_pwa.data").joinpath(SHIPPED_CALENDAR).read_text(encoding="utf-8")
    return parse_calendar_text(text)


async def do_load_calendar_text(actor: Actor, text: str, *, now: datetime) -> int:
    return await do_set_calendar_days(actor, parse_calendar_text(text), now=now)
