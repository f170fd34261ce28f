"""The quarterly assessment against figures counted by hand on a seeded quarter."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from relief_pwa.core.assessment import Figure, rank, score_of
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, PermissionDenied
from relief_pwa.core.periods import parse_period
from relief_pwa.services.assessment import (
    clear_cache,
    do_set_weight,
    get_assessment,
    resolve_assessed_unit,
)
from relief_pwa.tables import AuditEvent
from tests.helpers import found
from tests.services.assessment_seed import seed_quarter

TODAY = date(2026, 11, 16)
Q3 = parse_period(quarter="2026-Q3", today=TODAY)

# Every figure below is counted by hand from the events in assessment_seed.py.
S1_FIGURES = {
    # A1 A3 A4 on time; A2 late, A5 never started; not counted: A6 withdrawn, A8 imported, A7 (Q2)
    "intake": (3, 5),
    "investigation": (3, 5),  # A1 (holiday-extended deadline) A3 A4; A2 late, A5 overdue
    "approval": (1, 3),  # A4 on time; A3 late, A7 undecided past its deadline
    "review": (2, 4),  # 08-05 and 09-24 (holiday grace) on time; the missed one and the late one
    "objection": (1, 2),  # one answered in time, one never answered
    "payment": (1, 3),  # July paid; August failed (retry not counted), September never reconciled
    "targeting": (2, 3),  # two sampled households rightly classed, one inclusion error
    # station findings of Q3 (A3, A4; A1 and A2 were found in Q4): no check report before either
    "datacheck": (0, 2),
}
S2_FIGURES = {
    "intake": (1, 1),
    "investigation": (1, 1),
    "approval": (1, 1),
    "review": (0, 0),
    "objection": (0, 1),
    "payment": (0, 1),
    "targeting": (0, 0),
    "datacheck": (0, 1),  # B1 found without a check report
}
S3_FIGURES = {
    "intake": (0, 1),
    "investigation": (1, 1),
    "approval": (0, 0),
    "review": (1, 1),
    "objection": (0, 0),
    "payment": (2, 2),
    "targeting": (0, 1),
    "datacheck": (0, 1),  # C1 found on 08-14 without a check report
}


def pairs(figures: dict[str, Figure]) -> dict[str, tuple[int, int]]:
    return {k: (f.numerator, f.denominator) for k, f in figures.items() if k in S1_FIGURES}


def summed(*units: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    return {k: (sum(u[k][0] for u in units), sum(u[k][1] for u in units)) for k in units[0]}


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    clear_cache()
    yield
    clear_cache()


async def test_street_figures_equal_counts_by_hand(world: Any) -> None:
    await seed_quarter(world)
    center = world.actor("center")
    district = await resolve_assessed_unit(center)
    result = await get_assessment(center, district, Q3, today=TODAY)
    by_name = {r.unit.name: r for r in result.rows}
    assert set(by_name) == {"解放路街道", "千佛山街道"}  # streets of the centre's district only
    assert pairs(by_name["解放路街道"].figures) == S1_FIGURES
    assert pairs(by_name["千佛山街道"].figures) == S2_FIGURES
    assert result.total is not None
    assert pairs(result.total.figures) == summed(S1_FIGURES, S2_FIGURES)
    # default weights: intake 10, investigation 15, approval 15, review 15, objection 10,
    # data checks 10, payment 10, targeting 5 (no referral in the quarter: its weight moves)
    s1 = (10 * 0.6 + 15 * 0.6 + 15 / 3 + 15 * 0.5 + 10 * 0.5 + 10 * 0 + 10 / 3 + 5 * 2 / 3) / 90 * 100
    s2 = (10 + 15 + 15) / (10 + 15 + 15 + 10 + 10 + 10) * 100  # no reviews, no samples: their weight moves
    assert by_name["解放路街道"].score.score == pytest.approx(s1, abs=0.01)
    assert by_name["千佛山街道"].score.score == pytest.approx(s2, abs=0.01)
    assert by_name["千佛山街道"].score.applied["review"] == 0
    assert by_name["千佛山街道"].score.applied["intake"] == pytest.approx(10 / 70)
    assert [r.unit.name for r in result.rows] == ["千佛山街道", "解放路街道"]
    assert [r.rank for r in result.rows] == [1, 2]


async def test_district_figures_and_scope(world: Any) -> None:
    await seed_quarter(world)
    city = world.actor("city")
    result = await get_assessment(city, await resolve_assessed_unit(city), Q3, today=TODAY)
    by_name = {r.unit.name: r for r in result.rows}
    assert pairs(by_name["历下区"].figures) == summed(S1_FIGURES, S2_FIGURES)
    assert pairs(by_name["市中区"].figures) == S3_FIGURES
    # a district's centre sees its own streets, never the other district
    with pytest.raises(NotFoundOrForbidden):
        await resolve_assessed_unit(world.actor("center"), "370103")
    # a street is not an assessed unit (nothing below it is ranked)
    with pytest.raises(NotFoundOrForbidden):
        await resolve_assessed_unit(city, "370102001")
    with pytest.raises(PermissionDenied):
        await resolve_assessed_unit(world.actor("station"))


async def test_a_holiday_missing_from_the_calendar_makes_on_time_work_late(world: Any) -> None:
    """The same quarter without 中秋节 in the calendar: A1's intake (due Fri 09-25 now) and
    investigation (due 10-13) and the review of Thu 09-24 done on Saturday all turn late."""
    from relief_pwa.tables import CalendarDay

    await seed_quarter(world)
    await CalendarDay.delete(force=True)
    center = world.actor("center")
    result = await get_assessment(center, await resolve_assessed_unit(center), Q3, today=TODAY)
    s1 = {r.unit.name: r for r in result.rows}["解放路街道"]
    assert (s1.figures["intake"].numerator, s1.figures["investigation"].numerator) == (2, 2)
    assert s1.figures["review"].numerator == 1


async def test_weights_change_the_ranking_and_are_audited(world: Any, now: datetime) -> None:
    await seed_quarter(world)
    city, center = world.actor("city"), world.actor("center")
    district = await resolve_assessed_unit(center)
    before = await get_assessment(center, district, Q3, today=TODAY)
    assert [r.unit.name for r in before.rows] == ["千佛山街道", "解放路街道"]
    # a change effective after the quarter does not touch it
    await do_set_weight(city, "objection", 100, effective_from=date(2026, 10, 1), now=now)
    await do_set_weight(city, "payment", 100, effective_from=date(2026, 10, 1), now=now)
    same = await get_assessment(center, district, Q3, today=TODAY)
    assert [r.unit.name for r in same.rows] == ["千佛山街道", "解放路街道"]
    # objections and payments weigh most from the quarter on: 千佛山 failed both, 解放路 half
    await do_set_weight(city, "objection", 100, effective_from=date(2026, 7, 1), note="考核办法", now=now)
    await do_set_weight(city, "payment", 100, effective_from=date(2026, 7, 1), now=now)
    after = await get_assessment(center, district, Q3, today=TODAY)
    assert [r.unit.name for r in after.rows] == ["解放路街道", "千佛山街道"]
    s2 = (10 + 15 + 15) / (10 + 15 + 15 + 100 + 10 + 100) * 100  # the 10 of data checks (0 of 1)
    assert after.rows[1].score.score == pytest.approx(s2, abs=0.01)
    events = await AuditEvent.select().where(AuditEvent.action == "assessment.weight_set")
    assert len(events) == 4
    assert all(e["actor"] == city.staff_id for e in events)
    for role in ("center", "supervisor", "station"):
        with pytest.raises(PermissionDenied):
            await do_set_weight(world.actor(role), "objection", 5, effective_from=date(2026, 7, 1), now=now)
    with pytest.raises(DomainError):
        await do_set_weight(city, "objection", 101, effective_from=date(2026, 7, 1), now=now)
    with pytest.raises(DomainError):
        await do_set_weight(city, "nonsense", 5, effective_from=date(2026, 7, 1), now=now)


def test_score_redistributes_missing_indicators_and_ranks_ties() -> None:
    figures = {"a": Figure(1, 2), "b": Figure(0, 0), "c": Figure(3, 3)}
    score = score_of(figures, {"a": 10, "b": 50, "c": 30})
    assert score.score == pytest.approx((10 * 0.5 + 30 * 1.0) / 40 * 100)
    assert score.applied == {"a": 0.25, "b": 0.0, "c": 0.75}
    assert score_of({"a": Figure(0, 0)}, {"a": 10}).score is None
    assert rank([("x", 80.0), ("y", 90.0), ("z", 80.0), ("w", None)]) == {"y": 1, "x": 2, "z": 2, "w": None}


async def test_referral_and_datacheck_indicators_count_by_hand(world: Any) -> None:
    """Referrals answered by their due day, and station findings made with a check result in."""
    from relief_pwa import tables
    from relief_pwa.services.identifiers import sealed
    from tests.services.assessment_seed import S1, at

    ids = await seed_quarter(world)
    unit = found(
        await tables.OrgUnit.select(tables.OrgUnit.id, tables.OrgUnit.path)
        .where(tables.OrgUnit.code == S1)
        .first()
    )
    path, unit_id = str(unit["path"]), int(unit["id"])
    applications = {
        int(r["id"]): int(r["household"])
        for r in await tables.Application.select(tables.Application.id, tables.Application.household).where(
            tables.Application.id.is_in([ids["A3"], ids["A4"]])
        )
    }
    household = applications[ids["A3"]]

    def referral(due_on: date, **answered: Any) -> Any:
        return tables.Referral(
            household=household, org_path=path, from_unit=unit_id, to_unit=unit_id, category="dibao",
            status="open", due_on=due_on, created_at=at(date(2026, 7, 1)), **answered,
        )  # fmt: skip

    await tables.Referral.insert(
        referral(date(2026, 8, 10), answered_at=at(date(2026, 8, 10), 22)),  # on time (Beijing day)
        referral(date(2026, 8, 10), decided_at=at(date(2026, 8, 12))),  # late
        referral(date(2026, 9, 1)),  # never answered: late
        referral(date(2026, 10, 9)),  # due in Q4: not counted
    )
    for label, answered_on in (("A3", date(2026, 7, 9)), ("A4", date(2026, 7, 20))):
        household_id = applications[ids[label]]
        id_sealed, id_index = sealed("id_number", f"37010219800101{label}")
        member = tables.Member(
            household=household_id,
            org_path=path,
            name=f"户主{label}",
            id_sealed=id_sealed,
            id_index=id_index,
            sex="male",
            birth_date=date(1980, 1, 1),
            relation="head",
            work_capacity="full",
            schooling="none",
        )
        await member.save()
        await tables.DataCheckRequest(
            household=household_id,
            application=ids[label],
            member=member.id,
            org_path=path,
            agency="tax",
            requested_at=at(date(2026, 7, 1)),
            answered_at=at(answered_on),
        ).save()
    center = world.actor("center")
    result = await get_assessment(center, await resolve_assessed_unit(center), Q3, today=TODAY)
    s1 = {r.unit.name: r for r in result.rows}["解放路街道"]
    assert (s1.figures["referral"].numerator, s1.figures["referral"].denominator) == (1, 3)
    # findings in Q3 in S1: A3 (07-10) and A4 (07-15); A3's result came 07-09, A4's 07-20
    assert (s1.figures["datacheck"].numerator, s1.figures["datacheck"].denominator) == (1, 2)
