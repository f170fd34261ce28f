"""Procedural rules as data: deadlines, 公示 length, review intervals, the 渐退 window.

Each rule has a value per effective date (city staff change them in the UI);
the value in force on a day is the newest one whose ``effective_from`` is not
after that day. The statutory values below are the first row of each rule:
the database stores only changes from them, so a rule is never missing.
The calendar of public holidays and adjusted working days is passed in as
data, like everything else here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from relief_pwa.core.calendar import (
    APPROVAL_WORKING_DAYS,
    INVESTIGATION_WORKING_DAYS,
    PUBLICITY_DAYS,
    REPUBLICITY_DAYS,
)
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_


@dataclass(frozen=True)
class RuleSpec:
    key: str
    label: str  # an English message id, translated at the edge
    unit: str  # "working_days" | "days" | "months"
    statutory: int
    minimum: int
    maximum: int


RULE_SPECS: tuple[RuleSpec, ...] = (
    RuleSpec(
        "investigation_working_days",
        N_("Investigation and verification after an application is received"),
        "working_days",
        INVESTIGATION_WORKING_DAYS,
        1,
        60,
    ),
    RuleSpec(
        "approval_working_days",
        N_("Approval decision after the 公示 ends"),
        "working_days",
        APPROVAL_WORKING_DAYS,
        1,
        30,
    ),
    RuleSpec("publicity_days", N_("Length of the 公示"), "days", PUBLICITY_DAYS, 1, 30),
    RuleSpec("republicity_days", N_("Length of a repeated 公示"), "days", REPUBLICITY_DAYS, 1, 30),
    RuleSpec(
        "intake_working_days",
        N_("Start of the investigation after an application is received"),
        "working_days",
        3,
        1,
        30,
    ),
    RuleSpec(
        "objection_answer_working_days",
        N_("Answer to an objection"),
        "working_days",
        15,
        1,
        60,
    ),
    RuleSpec(
        "referral_working_days",
        N_("A department's decision on a referred request"),
        "working_days",
        10,
        1,
        60,
    ),
    RuleSpec(
        "reverify_working_days", N_("Re-verification of a sampled household"), "working_days", 10, 1, 60
    ),
    RuleSpec(
        "review_months_able_unemployed_urban",
        N_("Review interval: a working-age member able to work has no work income (urban)"),
        "months",
        1,
        1,
        36,
    ),
    RuleSpec(
        "review_months_able_unemployed_rural",
        N_("Review interval: a working-age member able to work has no work income (rural)"),
        "months",
        3,
        1,
        36,
    ),
    RuleSpec(
        "review_months_ill_or_disabled",
        N_("Review interval: a member is seriously ill or severely disabled"),
        "months",
        12,
        1,
        36,
    ),
    RuleSpec(
        "review_months_stable", N_("Review interval: members and income are stable"), "months", 6, 1, 36
    ),
    RuleSpec(
        "review_months_tekun",
        N_("Review interval: 特困 (extreme poverty) support"),
        "months",
        12,
        1,
        36,
    ),
    RuleSpec(
        "review_months_edge",
        N_("Review interval: 低保边缘 (edge) support"),
        "months",
        12,
        1,
        36,
    ),
    RuleSpec(
        "emergency_grant_limit_yuan",
        N_("先行救助: most a station or centre may grant at once as emergency temporary relief"),
        "yuan",
        3000,
        0,
        100000,
    ),
    RuleSpec(
        "taper_months",
        N_("渐退 window: months of continued assistance after income rises above the standard"),
        "months",
        6,
        0,
        24,
    ),
    # Data checks with other agencies (docs/datacheck.md): exclusion warnings and the re-check interval.
    RuleSpec(
        "datacheck_vehicle_value_yuan",
        N_("Data check: warn when the household's vehicles are worth more than"),
        "yuan",
        100000,
        0,
        10000000,
    ),
    RuleSpec(
        "datacheck_max_properties",
        N_("Data check: warn when the household owns more flats or houses than"),
        "count",
        1,
        0,
        20,
    ),
    RuleSpec(
        "datacheck_deposit_months",
        N_("Data check: warn when deposits exceed this many months of the standard per member"),
        "months",
        24,
        1,
        240,
    ),
    RuleSpec(
        "datacheck_max_businesses",
        N_("Data check: warn when members have more registered businesses than"),
        "count",
        0,
        0,
        20,
    ),
    RuleSpec(
        "datacheck_recheck_months",
        N_("Data check: re-check recipients every"),
        "months",
        12,
        1,
        60,
    ),
)
RULES_BY_KEY = {spec.key: spec for spec in RULE_SPECS}


@dataclass(frozen=True)
class RuleChange:
    key: str
    value: int
    effective_from: date


def check_rule_value(key: str, value: int) -> None:
    spec = RULES_BY_KEY.get(key)
    if spec is None:
        raise DomainError(N_("Unknown rule."), field="key")
    if not spec.minimum <= value <= spec.maximum:
        raise DomainError(
            N_("The value must lie between {minimum} and {maximum}."),
            field="value",
            minimum=spec.minimum,
            maximum=spec.maximum,
        )


def rule_in_force(changes: Iterable[RuleChange], key: str, as_of: date) -> int:
    """The value of ``key`` on ``as_of``: the newest change not after it, else the statutory value."""
    best: RuleChange | None = None
    for change in changes:
        if (
            change.key == key
            and change.effective_from <= as_of
            and (best is None or change.effective_from > best.effective_from)
        ):
            best = change
    return best.value if best is not None else RULES_BY_KEY[key].statutory


@dataclass(frozen=True)
class Calendar:
    """The official calendar (holidays off, adjusted weekend days on) and the rule changes."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    changes: tuple[RuleChange, ...] = field(default=())

    def rule(self, key: str, as_of: date) -> int:
        return rule_in_force(self.changes, key, as_of)


def working_deadline(calendar: Calendar, start: date, key: str) -> date:
    """``start`` plus the rule's working days, skipping holidays and honouring 调休 workdays."""
    from relief_pwa.core.calendar import add_working_days

    return add_working_days(start, calendar.rule(key, start), calendar.holidays, calendar.workdays)


def working_days_between(calendar: Calendar, today: date, deadline: date) -> int:
    """Working days from ``today`` until ``deadline`` (negative when overdue)."""
    from datetime import timedelta

    from relief_pwa.core.calendar import is_working_day

    step = 1 if deadline >= today else -1
    days, current = 0, today
    while current != deadline:
        current += timedelta(days=step)
        if is_working_day(
            current if step > 0 else current + timedelta(days=1), calendar.holidays, calendar.workdays
        ):
            days += step
    return days


CALENDAR_KINDS = ("holiday", "workday")


@dataclass(frozen=True)
class CalendarEntry:
    day: date
    kind: str  # holiday | workday
    name: str = ""


def parse_calendar_text(text: str) -> list[CalendarEntry]:
    """Lines ``YYYY-MM-DD,holiday|workday[,name]``; ``#`` comments and a ``date,kind,name`` header skipped.

    Raises:
        DomainError: on the first malformed line (its number in ``line``).
    """
    entries: dict[date, CalendarEntry] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#") or line.lower().startswith("date,"):
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            day = date.fromisoformat(parts[0])
        except ValueError:
            message = N_("Line {line}: not a date (YYYY-MM-DD).")
            raise DomainError(message, field="file", line=number) from None
        kind = parts[1].lower() if len(parts) > 1 else ""
        if kind not in CALENDAR_KINDS:
            raise DomainError(
                N_("Line {line}: the kind must be 'holiday' or 'workday'."), field="file", line=number
            )
        entries[day] = CalendarEntry(day, kind, (parts[2] if len(parts) > 2 else "")[:60])
    return sorted(entries.values(), key=lambda e: e.day)
