"""Life events as change requests: the kinds, what each needs, and who approves which.

Pure rules (no I/O): the edge hands in what was typed, this module says what
is missing or wrong, and which approval a request needs. Applying an approved
request is ``services/change_requests.py`` (docs/facts-over-time.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import TypeVar

from relief_pwa.core.errors import DomainError, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability

E = TypeVar("E", bound=StrEnum)


class ChangeKind(StrEnum):
    MOVE = "move"  # to another community, or out of the city
    HEAD_CHANGE = "head_change"  # the head died or left; another member becomes head
    DEATH = "death"  # a member died (with the date)
    BIRTH = "birth"
    JOIN = "join"  # marriage, a relative moving in
    LEAVE = "leave"  # marriage, divorce, moving out
    SPLIT = "split"  # some members form a household of their own
    MERGE = "merge"  # another file turns out to be the same household


class ChangeStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class LeaveReason(StrEnum):
    MARRIAGE = "marriage"
    DIVORCE = "divorce"
    MOVED_OUT = "moved_out"
    OTHER = "other"


class OldHeadOutcome(StrEnum):
    DEATH = "death"
    LEFT = "left"
    STAYS = "stays"  # stays in the household under another relation


LABELS: dict[str, str] = {
    ChangeKind.MOVE: N_("Move to another community"),
    ChangeKind.HEAD_CHANGE: N_("Change of head of household"),
    ChangeKind.DEATH: N_("Death of a member"),
    ChangeKind.BIRTH: N_("Birth"),
    ChangeKind.JOIN: N_("A member joins (marriage, relative)"),
    ChangeKind.LEAVE: N_("A member leaves (marriage, divorce, moving out)"),
    ChangeKind.SPLIT: N_("Split into two households"),
    ChangeKind.MERGE: N_("Merge with another file (one household)"),
    ChangeStatus.PENDING: N_("Awaiting approval"),
    ChangeStatus.APPROVED: N_("Approved and applied"),
    ChangeStatus.REFUSED: N_("Refused"),
    LeaveReason.MARRIAGE: N_("Marriage"),
    LeaveReason.DIVORCE: N_("Divorce"),
    LeaveReason.MOVED_OUT: N_("Moved out"),
    LeaveReason.OTHER: N_("Other reason"),
    OldHeadOutcome.DEATH: N_("The former head died"),
    OldHeadOutcome.LEFT: N_("The former head left the household"),
    OldHeadOutcome.STAYS: N_("The former head stays as a member"),
}

# Kinds that change the jurisdiction or the shape of the file: the district centre approves.
STRUCTURAL_KINDS: frozenset[ChangeKind] = frozenset({ChangeKind.MOVE, ChangeKind.SPLIT, ChangeKind.MERGE})

# How far back a life event may be dated (a late registration of a death or birth).
MAX_BACKDATE = timedelta(days=5 * 366)


def approval_capability(kind: ChangeKind, ends_household: bool) -> Capability:
    """The capability approving a request needs: structural ones, and any that end the
    household's assistance (the last member's death, a move out of the city), go to the
    centre; the rest the station decides."""
    if kind in STRUCTURAL_KINDS or ends_household:
        return Capability.LIFE_EVENT_APPROVE_MAJOR
    return Capability.LIFE_EVENT_APPROVE


@dataclass(frozen=True)
class RequestDraft:
    """The request form as typed (strings); only the fields of its kind are read."""

    kind: str = ""
    effective_on: str = ""
    note: str = ""
    member_id: str = ""  # death, leave, head change (the old head is implied)
    new_head_id: str = ""  # head change, split, a head's death
    old_head_outcome: str = ""  # head change
    leave_reason: str = ""  # leave
    to_unit_code: str = ""  # move (a community code), or "" with out_of_city
    out_of_city: str = ""
    address: str = ""  # move, split
    member_ids: tuple[str, ...] = ()  # split: the members who form the new household
    other_file_no: str = ""  # merge


@dataclass(frozen=True)
class CleanRequest:
    kind: ChangeKind
    effective_on: date
    note: str
    member_id: int | None = None
    new_head_id: int | None = None
    old_head_outcome: OldHeadOutcome | None = None
    leave_reason: LeaveReason | None = None
    to_unit_code: str = ""
    out_of_city: bool = False
    address: str = ""
    member_ids: tuple[int, ...] = ()
    other_file_no: str = ""

    def payload(self) -> dict[str, object]:
        """What is stored with the request (no identifiers: members by id, files by number)."""
        data: dict[str, object] = {
            "member_id": self.member_id,
            "new_head_id": self.new_head_id,
            "old_head_outcome": self.old_head_outcome.value if self.old_head_outcome else None,
            "leave_reason": self.leave_reason.value if self.leave_reason else None,
            "to_unit_code": self.to_unit_code,
            "out_of_city": self.out_of_city,
            "address": self.address,
            "member_ids": list(self.member_ids),
            "other_file_no": self.other_file_no,
        }
        return {key: value for key, value in data.items() if value not in (None, "", [], False)}


def _id(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdecimal() and len(text) < 12 else None


def _choice(enum: type[E], text: str, field: str, errors: dict[str, DomainError]) -> E | None:
    try:
        return enum(text.strip())
    except ValueError:
        errors[field] = DomainError(N_("Please choose a value from the list."), field=field)
        return None


def check_request(
    draft: RequestDraft, today: date, member_ids: set[int], head_id: int | None
) -> CleanRequest:
    """Validate a request against the household's members valid now (ids) and its head."""
    errors: dict[str, DomainError] = {}
    kind = _choice(ChangeKind, draft.kind, "kind", errors)
    effective_on: date | None = None
    try:
        effective_on = date.fromisoformat(draft.effective_on.strip())
    except ValueError:
        errors["effective_on"] = DomainError(N_("Please give a date as YYYY-MM-DD."), field="effective_on")
    if effective_on is not None and effective_on > today:
        errors["effective_on"] = DomainError(
            N_("A life event is recorded once it has happened: the date cannot be in the future."),
            field="effective_on",
        )
    elif effective_on is not None and effective_on < today - MAX_BACKDATE:
        errors["effective_on"] = DomainError(
            N_("The date is more than five years ago."), field="effective_on"
        )
    note = " ".join(draft.note.split())
    if len(note) < 4 or len(note) > 1000:
        errors["note"] = DomainError(
            N_("Please give a written reason (at least 4 characters)."), field="note"
        )
    if kind is None or effective_on is None or errors:
        raise ValidationFailed(errors)

    def member(text: str, field: str, *, allow_head: bool = True) -> int | None:
        found = _id(text)
        if found is None or found not in member_ids:
            errors[field] = DomainError(N_("Please choose a member of the household."), field=field)
            return None
        if not allow_head and found == head_id:
            errors[field] = DomainError(
                N_("The head of household leaves through a change of head."), field=field
            )
            return None
        return found

    clean = CleanRequest(kind, effective_on, note)
    if kind == ChangeKind.DEATH:
        died = member(draft.member_id, "member_id")
        new_head = None
        if died is not None and died == head_id and len(member_ids) > 1:
            new_head = member(draft.new_head_id, "new_head_id")
            if new_head == died:
                errors["new_head_id"] = DomainError(
                    N_("Choose another member as the new head."), field="new_head_id"
                )
        clean = CleanRequest(kind, effective_on, note, member_id=died, new_head_id=new_head)
    elif kind == ChangeKind.HEAD_CHANGE:
        new_head = member(draft.new_head_id, "new_head_id")
        if new_head is not None and new_head == head_id:
            errors["new_head_id"] = DomainError(
                N_("Choose another member as the new head."), field="new_head_id"
            )
        outcome = _choice(OldHeadOutcome, draft.old_head_outcome, "old_head_outcome", errors)
        clean = CleanRequest(kind, effective_on, note, new_head_id=new_head, old_head_outcome=outcome)
    elif kind == ChangeKind.LEAVE:
        leaving = member(draft.member_id, "member_id", allow_head=False)
        reason = _choice(LeaveReason, draft.leave_reason, "leave_reason", errors)
        clean = CleanRequest(kind, effective_on, note, member_id=leaving, leave_reason=reason)
    elif kind == ChangeKind.MOVE:
        out_of_city = draft.out_of_city.strip() in {"1", "on", "true", "yes"}
        code = draft.to_unit_code.strip()
        address = " ".join(draft.address.split())
        if not out_of_city:
            if not (code.isdecimal() and 6 <= len(code) <= 16):
                errors["to_unit_code"] = DomainError(
                    N_("Give the code of the community the household moves to."), field="to_unit_code"
                )
            if not address or len(address) > 120 or any(ch in address for ch in "<>"):
                errors["address"] = DomainError(
                    N_("Enter the address (at most 120 characters, no < or >)."), field="address"
                )
        clean = CleanRequest(
            kind,
            effective_on,
            note,
            to_unit_code="" if out_of_city else code,
            out_of_city=out_of_city,
            address="" if out_of_city else address,
        )
    elif kind == ChangeKind.SPLIT:
        chosen: list[int] = []
        for position, text in enumerate(draft.member_ids):
            found = member(text, "member_ids", allow_head=False)
            if found is not None and found not in chosen:
                chosen.append(found)
            if position > 20:
                break
        if not chosen and "member_ids" not in errors:
            errors["member_ids"] = DomainError(
                N_("Choose the members who form the new household."), field="member_ids"
            )
        new_head = member(draft.new_head_id, "new_head_id")
        if new_head is not None and new_head not in chosen:
            errors["new_head_id"] = DomainError(
                N_("The new head must be one of the members who leave."), field="new_head_id"
            )
        address = " ".join(draft.address.split())
        if not address or len(address) > 120 or any(ch in address for ch in "<>"):
            errors["address"] = DomainError(
                N_("Enter the address (at most 120 characters, no < or >)."), field="address"
            )
        clean = CleanRequest(
            kind, effective_on, note, new_head_id=new_head, member_ids=tuple(chosen), address=address
        )
    elif kind == ChangeKind.MERGE:
        other = draft.other_file_no.strip()
        if not other or len(other) > 24:
            errors["other_file_no"] = DomainError(
                N_("Give the file number of the other household."), field="other_file_no"
            )
        clean = CleanRequest(kind, effective_on, note, other_file_no=other)
    # BIRTH and JOIN carry a member form, checked by core.intake.check_member at the edge.
    if errors:
        raise ValidationFailed(errors)
    return clean
