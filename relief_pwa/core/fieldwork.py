"""Field-work rules: visit kinds, what a visit record needs, and the
declared-vs-verified discrepancy test (DESIGN §3 step 2).

Pure: no clock, no I/O. Services pass ``today`` and the stored values in.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date

from relief_pwa.core.enums import LabelledEnum
from relief_pwa.core.errors import DomainError, ValidationFailed
from relief_pwa.core.i18n import N_

DEFAULT_DISCREPANCY_THRESHOLD_PCT = 20
MAX_THRESHOLD_PCT = 100
FINDINGS_MAX_LENGTH = 4000
NOTE_MAX_LENGTH = 300
# How far ahead a visit may be scheduled (a year covers yearly reviews).
MAX_SCHEDULE_DAYS_AHEAD = 400


class VisitKind(LabelledEnum):
    HOME = "home"  # 入户调查: two investigators, the applicant signs
    NEIGHBOUR = "neighbour"  # 邻里访问
    LETTER = "letter"  # 信函索证
    DATA_CHECK = "data_check"  # 信息核对
    FOLLOW_UP = "follow_up"  # 实施回访
    REVIEW = "review"  # periodic review
    REVERIFY = "reverify"  # targeting monitor: re-verification of a sampled household (analytics)

    @property
    def label(self) -> str:
        return _LABELS[self]


class VisitStatus(LabelledEnum):
    SCHEDULED = "scheduled"
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return _LABELS[self]


class VerificationSource(LabelledEnum):
    HOME_VISIT = "home_visit"
    NEIGHBOUR = "neighbour_interview"
    LETTER = "letter_evidence"
    DATA_CHECK = "data_check_record"

    @property
    def label(self) -> str:
        return _LABELS[self]


class FollowUpOutcome(LabelledEnum):
    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"
    PROBLEM = "problem"

    @property
    def label(self) -> str:
        return _LABELS[self]


class PhotoPurpose(LabelledEnum):
    EVIDENCE = "evidence"
    SIGNATURE = "signature"
    HANDOVER = "handover"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS: dict[LabelledEnum, str] = {
    VisitKind.HOME: N_("Home visit"),
    VisitKind.NEIGHBOUR: N_("Neighbour interview"),
    VisitKind.LETTER: N_("Letter for evidence"),
    VisitKind.DATA_CHECK: N_("Data check"),
    VisitKind.FOLLOW_UP: N_("Follow-up visit"),
    VisitKind.REVIEW: N_("Periodic review visit"),
    VisitKind.REVERIFY: N_("Re-verification visit"),
    VisitStatus.SCHEDULED: N_("Scheduled"),
    VisitStatus.DONE: N_("Done"),
    VisitStatus.CANCELLED: N_("Cancelled"),
    VerificationSource.HOME_VISIT: N_("Home visit"),
    VerificationSource.NEIGHBOUR: N_("Neighbour interview"),
    VerificationSource.LETTER: N_("Letter for evidence"),
    VerificationSource.DATA_CHECK: N_("Data check"),
    FollowUpOutcome.FULL: N_("Received in full"),
    FollowUpOutcome.PARTIAL: N_("Received in part"),
    FollowUpOutcome.NONE: N_("Not received"),
    FollowUpOutcome.PROBLEM: N_("Problem reported"),
    PhotoPurpose.EVIDENCE: N_("Evidence"),
    PhotoPurpose.SIGNATURE: N_("Applicant's signature"),
    PhotoPurpose.HANDOVER: N_("Hand-over"),
}

# The source a verified value gets from the kind of visit that recorded it.
_SOURCE_FOR_KIND: dict[VisitKind, VerificationSource] = {
    VisitKind.HOME: VerificationSource.HOME_VISIT,
    VisitKind.NEIGHBOUR: VerificationSource.NEIGHBOUR,
    VisitKind.LETTER: VerificationSource.LETTER,
    VisitKind.DATA_CHECK: VerificationSource.DATA_CHECK,
    VisitKind.FOLLOW_UP: VerificationSource.HOME_VISIT,
    VisitKind.REVIEW: VerificationSource.HOME_VISIT,
    VisitKind.REVERIFY: VerificationSource.HOME_VISIT,
}


def source_for_kind(kind: VisitKind) -> VerificationSource:
    return _SOURCE_FOR_KIND[kind]


def parse_visit_kind(raw: str, *, field: str = "kind") -> VisitKind:
    try:
        return VisitKind(raw)
    except ValueError:
        raise DomainError(N_("Please choose the kind of visit."), field=field) from None


def check_schedule_date(scheduled_for: date, today: date) -> None:
    """A visit is scheduled for today or a later day, within about a year."""
    if scheduled_for < today:
        raise DomainError(N_("A visit cannot be scheduled in the past."), field="scheduled_for")
    if (scheduled_for - today).days > MAX_SCHEDULE_DAYS_AHEAD:
        raise DomainError(N_("A visit can be scheduled at most a year ahead."), field="scheduled_for")


def check_client_uuid(raw: str) -> str:
    """The phone's id of a visit record: a UUID, normalised to lowercase."""
    try:
        return str(uuid.UUID(raw.strip()))
    except (ValueError, AttributeError):
        raise DomainError(
            N_("The record has no valid id; please fill the form again."), field="client_uuid"
        ) from None


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """What the record rule needs to know about a submitted visit record."""

    kind: VisitKind
    findings: str
    outcome: str
    recorder_id: int | None
    assigned_id: int | None  # the first investigator; the recorder when nobody was assigned
    second_investigator_id: int | None
    second_investigator_ok: bool  # exists, active, field staff who may see the household
    has_signature: bool


def check_visit_record(facts: RecordFacts) -> None:
    """Refuse an incomplete record: every problem at once, keyed by form field.

    A home visit (入户调查) is done by two investigators and signed by the
    applicant; a follow-up records what the household actually received.
    """
    errors: dict[str, DomainError] = {}
    if len(facts.findings.strip()) < 2:
        errors["findings"] = DomainError(N_("Please write down what you found."), field="findings")
    elif len(facts.findings) > FINDINGS_MAX_LENGTH:
        errors["findings"] = DomainError(
            N_("The findings are too long (at most {limit} characters)."),
            field="findings",
            limit=FINDINGS_MAX_LENGTH,
        )
    if facts.kind == VisitKind.HOME:
        if facts.second_investigator_id is None:
            errors["second_investigator"] = DomainError(
                N_("A home visit is made by two investigators: choose the second one."),
                field="second_investigator",
            )
        elif facts.second_investigator_id == (facts.assigned_id or facts.recorder_id):
            errors["second_investigator"] = DomainError(
                N_("The second investigator must be another person."), field="second_investigator"
            )
        elif not facts.second_investigator_ok:
            errors["second_investigator"] = DomainError(
                N_("The second investigator must be active field staff of this area."),
                field="second_investigator",
            )
        if not facts.has_signature:
            errors["signature"] = DomainError(N_("The applicant's signature is missing."), field="signature")
    if facts.kind == VisitKind.FOLLOW_UP:
        if facts.outcome not in {o.value for o in FollowUpOutcome}:
            errors["outcome"] = DomainError(N_("Please record what the household received."), field="outcome")
    elif facts.outcome:
        errors["outcome"] = DomainError(N_("Only follow-up visits record an outcome."), field="outcome")
    if errors:
        raise ValidationFailed(errors)


def parse_gps(lat_text: str, lon_text: str) -> tuple[float, float] | None:
    """The phone's position, or None when it gave none. Out-of-range values are refused."""
    lat_text, lon_text = lat_text.strip(), lon_text.strip()
    if not lat_text and not lon_text:
        return None
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise DomainError(N_("The GPS position is not valid."), field="gps") from None
    if not (math.isfinite(lat) and math.isfinite(lon)) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise DomainError(N_("The GPS position is not valid."), field="gps")
    return round(lat, 6), round(lon, 6)


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """How far a verified value lies from the declared one."""

    difference_fen: int  # verified − declared
    percent: float | None  # of the declared value; None when nothing was declared
    flagged: bool


def discrepancy(declared_fen: int, verified_fen: int | None, threshold_pct: int) -> Discrepancy | None:
    """Compare declared and verified; None while nothing is verified.

    Flagged when the difference exceeds ``threshold_pct`` percent of the
    declared value (integer arithmetic, no rounding). Anything found where
    zero was declared is always flagged.
    """
    if verified_fen is None:
        return None
    difference = verified_fen - declared_fen
    if declared_fen == 0:
        return Discrepancy(difference, None, difference != 0)
    flagged = abs(difference) * 100 > threshold_pct * declared_fen
    return Discrepancy(difference, round(difference * 100 / declared_fen, 1), flagged)


def check_threshold(raw: str) -> int:
    """A discrepancy threshold in whole percent, 1–100."""
    text = raw.strip().rstrip("%").strip()
    if not text.isdecimal() or not 1 <= int(text) <= MAX_THRESHOLD_PCT:
        raise DomainError(
            N_("Enter a whole percentage between 1 and {limit}."), field="threshold", limit=MAX_THRESHOLD_PCT
        )
    return int(text)


def bucket_of(scheduled_for: date, today: date) -> str:
    """'overdue', 'today' or 'upcoming' for an open (scheduled) visit."""
    if scheduled_for < today:
        return "overdue"
    if scheduled_for == today:
        return "today"
    return "upcoming"
