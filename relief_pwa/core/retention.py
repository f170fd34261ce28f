"""Retention rules: how long each class of personal data is kept, and what happens then.

The rules are data (docs/retention.md is the same table in words): a class of
data, when its clock starts, how many days it is kept, and the action when
they have passed — delete the rows, anonymise them (identifiers destroyed,
names masked, free text blanked; the row stays so that payments, statistics
and the audit trail still add up), or keep (the law requires it kept longer
than this system's lifetime, or it must never be erased).

A city may lengthen or shorten a period with ``RELIEF_RETENTION_DAYS``
(``photos=1095,access_log=730``); a period below a legal minimum, a rule that
is not one of these, or a change to a kept class is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum


class RetentionAction(StrEnum):
    DELETE = "delete"
    ANONYMISE = "anonymise"
    KEEP = "keep"


@dataclass(frozen=True)
class RetentionRule:
    key: str
    data: str  # which rows
    starts: str  # when the period starts
    keep_days: int | None  # None: never removed
    action: RetentionAction
    basis: str  # why this long
    min_days: int = 0  # a configured period may not be shorter (a legal minimum)


YEAR = 365

RULES: tuple[RetentionRule, ...] = (
    RetentionRule(
        "assisted_files",
        "closed household files that received assistance (an application reached approval, or a payment)",
        "the file was closed (its last application left the open states)",
        5 * YEAR + 1,
        RetentionAction.ANONYMISE,
        "social assistance files are kept at least five years after assistance ends; the paper file "
        "goes to the archive office, the database keeps the anonymised file for the payment records",
        min_days=5 * YEAR + 1,
    ),
    RetentionRule(
        "refused_files",
        "closed household files whose applications were all rejected or withdrawn",
        "the file was closed",
        3 * YEAR + 1,
        RetentionAction.ANONYMISE,
        "long enough for administrative review and litigation of the refusal, objections, a new "
        "application and supervision sampling",
        min_days=YEAR,
    ),
    RetentionRule(
        "photos",
        "evidence photos of closed households (signatures and hand-over photos stay with the payments)",
        "the file was closed",
        2 * YEAR + 1,
        RetentionAction.DELETE,
        "home photos are the most intrusive record; after the objection and review periods the "
        "written findings suffice",
        min_days=YEAR,
    ),
    RetentionRule(
        "pre_applications",
        "bot pre-applications that were taken up or closed (name, callback phone, description)",
        "the pre-application was sent",
        YEAR,
        RetentionAction.ANONYMISE,
        "only needed until a worker has called back; a taken-up one lives on as the application",
    ),
    RetentionRule(
        "objections",
        "answered or closed objections and complaints (the filer's name and phone)",
        "the answer (or receipt, when never answered)",
        5 * YEAR + 1,
        RetentionAction.ANONYMISE,
        "kept with the decisions they questioned; the text of the objection and its answer stay",
        min_days=YEAR,
    ),
    RetentionRule(
        "outbox_messages",
        "bot and SMS messages sent, failed, blocked, opted out or unreachable",
        "the message was queued",
        90,
        RetentionAction.DELETE,
        "delivery problems are investigated within weeks; the decision itself is in the file",
    ),
    RetentionRule(
        "sessions",
        "staff login sessions",
        "the session expired",
        0,
        RetentionAction.DELETE,
        "an expired session is useless and holds who worked when",
    ),
    RetentionRule(
        "login_attempts",
        "failed login attempts (account name, client address)",
        "the attempt",
        30,
        RetentionAction.DELETE,
        "only the login delay window needs them",
    ),
    RetentionRule(
        "bind_tokens",
        "bot binding codes",
        "the code expired",
        30,
        RetentionAction.DELETE,
        "a used or expired code has no purpose",
    ),
    RetentionRule(
        "access_log",
        "the read access log (who opened which file)",
        "the read",
        3 * YEAR + 1,
        RetentionAction.DELETE,
        "supervision looks back three years; network logs must be kept at least six months "
        "(Cybersecurity Law, art. 21)",
        min_days=183,
    ),
    RetentionRule(
        "payment_records",
        "payments, payment lines, aid records, fund entries and batches",
        "the payment",
        30 * YEAR,
        RetentionAction.KEEP,
        "accounting records are kept 30 years (Accounting Archives Measures, 2015); they hold "
        "amounts, dates and file numbers, no identifiers",
    ),
    RetentionRule(
        "audit_trail",
        "the audit trail and its checkpoints",
        "—",
        None,
        RetentionAction.KEEP,
        "the keyed chain proves what was decided; deleting an event would break it. Events carry "
        "references and masked values, never a full identifier",
    ),
)

RULES_BY_KEY: dict[str, RetentionRule] = {rule.key: rule for rule in RULES}


class RetentionConfigError(ValueError):
    """A retention override that cannot be applied."""


def parse_overrides(text: str) -> dict[str, int]:
    """``"photos=1095, access_log=730"`` → {"photos": 1095, "access_log": 730}, checked against the rules."""
    overrides: dict[str, int] = {}
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        key, _, days = part.partition("=")
        key, days = key.strip(), days.strip()
        rule = RULES_BY_KEY.get(key)
        if rule is None:
            raise RetentionConfigError(f"no retention rule {key!r} (rules: {', '.join(RULES_BY_KEY)})")
        if rule.action == RetentionAction.KEEP:
            raise RetentionConfigError(f"{key} is kept as the law requires; its period cannot be changed")
        if not days.isdecimal() or len(days) > 6:
            raise RetentionConfigError(f"{key}: the period must be a number of days, got {days!r}")
        if int(days) < rule.min_days:
            raise RetentionConfigError(f"{key}: at least {rule.min_days} days ({rule.basis})")
        overrides[key] = int(days)
    return overrides


def rules_with(overrides: Mapping[str, int]) -> tuple[RetentionRule, ...]:
    """The rules with a city's periods applied (``overrides`` from :func:`parse_overrides`)."""
    return tuple(
        replace(rule, keep_days=overrides[rule.key]) if rule.key in overrides else rule for rule in RULES
    )
