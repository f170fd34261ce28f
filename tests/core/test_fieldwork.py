"""Pure field-work rules: the discrepancy test, record completeness, GPS, buckets."""

from __future__ import annotations

from datetime import date

import pytest

from relief_pwa.core.errors import DomainError, ValidationFailed
from relief_pwa.core.fieldwork import (
    RecordFacts,
    VisitKind,
    bucket_of,
    check_client_uuid,
    check_schedule_date,
    check_threshold,
    check_visit_record,
    discrepancy,
    parse_gps,
)


def test_discrepancy_flags_only_beyond_the_threshold() -> None:
    assert discrepancy(100_00, None, 20) is None
    exact = discrepancy(100_00, 120_00, 20)
    assert exact is not None and not exact.flagged and exact.percent == 20.0
    over = discrepancy(100_00, 120_01, 20)
    assert over is not None and over.flagged and over.difference_fen == 20_01
    under = discrepancy(100_00, 79_00, 20)
    assert under is not None and under.flagged and under.percent == -21.0


def test_anything_found_where_nothing_was_declared_is_flagged() -> None:
    found = discrepancy(0, 1, 50)
    assert found is not None and found.flagged and found.percent is None
    nothing = discrepancy(0, 0, 50)
    assert nothing is not None and not nothing.flagged


def _facts(**overrides: object) -> RecordFacts:
    values: dict[str, object] = dict(
        kind=VisitKind.HOME,
        findings="家中陈设简陋",
        outcome="",
        recorder_id=1,
        assigned_id=1,
        second_investigator_id=2,
        second_investigator_ok=True,
        has_signature=True,
    )
    values.update(overrides)
    return RecordFacts(**values)  # type: ignore[arg-type]


def test_home_visit_needs_a_second_investigator_and_the_signature() -> None:
    check_visit_record(_facts())
    with pytest.raises(ValidationFailed) as caught:
        check_visit_record(_facts(second_investigator_id=None, has_signature=False, findings=" "))
    assert set(caught.value.errors) == {"second_investigator", "signature", "findings"}
    with pytest.raises(ValidationFailed) as same:
        check_visit_record(_facts(second_investigator_id=1))
    assert "second_investigator" in same.value.errors


def test_only_follow_ups_record_an_outcome() -> None:
    check_visit_record(
        _facts(kind=VisitKind.FOLLOW_UP, outcome="full", second_investigator_id=None, has_signature=False)
    )
    with pytest.raises(ValidationFailed):
        check_visit_record(_facts(kind=VisitKind.FOLLOW_UP, outcome="", second_investigator_id=None))
    with pytest.raises(ValidationFailed):
        check_visit_record(_facts(kind=VisitKind.NEIGHBOUR, outcome="full"))


def test_gps_threshold_uuid_and_dates() -> None:
    assert parse_gps("", "") is None
    assert parse_gps("36.6613891", "117.0166671") == (36.661389, 117.016667)
    for lat, lon in [("91", "0"), ("x", "1"), ("nan", "1"), ("1", "")]:
        with pytest.raises(DomainError):
            parse_gps(lat, lon)
    assert check_threshold(" 25 % ") == 25
    for raw in ["0", "101", "-5", "abc", "12.5"]:
        with pytest.raises(DomainError):
            check_threshold(raw)
    assert (
        check_client_uuid("  6F9619FF-8B86-D011-B42D-00C04FC964FF ") == "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    )
    with pytest.raises(DomainError):
        check_client_uuid("not-a-uuid")
    today = date(2026, 11, 16)
    with pytest.raises(DomainError):
        check_schedule_date(date(2026, 11, 15), today)
    check_schedule_date(today, today)
    assert [bucket_of(date(2026, 11, d), today) for d in (15, 16, 17)] == ["overdue", "today", "upcoming"]
