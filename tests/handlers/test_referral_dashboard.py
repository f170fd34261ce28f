"""Referrals on the dashboards: the centre's, the city's and a district's (from the city) count
the open, overdue and escalated referrals of their area and link to the overdue list; the
counts follow an injected clock, and looking writes nothing."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from relief_pwa.clock import FixedClock
from relief_pwa.services import analytics
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.departments import do_create_department
from relief_pwa.services.referrals import do_decide, do_refer, escalate_overdue_referrals
from relief_pwa.tables import AuditEvent, OrgUnit, Referral
from tests.helpers import found
from tests.services.departments_support import seed_city


async def _unit(code: str) -> int:
    return int(found(await OrgUnit.select(OrgUnit.id).where(OrgUnit.code == code).first())["id"])


def _figure(html: str, key: str) -> int:
    match = re.search(rf'id="referrals-{key}"><span class="figure-n"><a href="[^"]*">(\d+)</a>', html)
    assert match is not None, f"no {key} referral figure on the page"
    return int(match.group(1))


def _figures(html: str) -> tuple[int, int, int]:
    return (_figure(html, "open"), _figure(html, "overdue"), _figure(html, "escalated"))


async def _snapshot() -> tuple[int, list[dict[str, Any]]]:
    return (
        await AuditEvent.count(),
        list(await Referral.select(Referral.id, Referral.status, Referral.version).order_by(Referral.id)),
    )


@pytest.fixture()
async def referrals(world: Any, now: datetime, clock: FixedClock) -> dict[str, Any]:
    """In 历下区: one escalated, one decided after escalation, one past its deadline that the
    daily task has not reached yet, one not yet due. In 市中区: one escalated."""
    city = await seed_city(world, now)
    await do_create_department(
        SYSTEM_ACTOR, kind="education", parent_code="370103", name="市中区教育局", now=now
    )
    lixia, shizhong = await _unit("370102D01"), await _unit("370103D01")
    station, center_b = world.actor("station"), world.actor("center_b")

    async def refer(actor: Any, household: str, to: int, at: datetime, category: str = "education") -> int:
        return await do_refer(
            actor, city[household], to_unit=to, category=category, request="上学困难", now=at
        )

    escalated = await refer(station, "without_child", lixia, now)
    decided = await refer(station, "with_child", lixia, now)
    elsewhere = await refer(center_b, "elsewhere", shizhong, now)
    later = await refer(station, "applying", lixia, now + timedelta(days=1))
    due = found(await Referral.select(Referral.due_on).where(Referral.id == escalated).first())["due_on"]
    late = datetime.combine(due + timedelta(days=1), now.timetz())
    assert await escalate_overdue_referrals(late) == 3  # the three of the first day
    await do_decide(world.actor("department"), decided, decision="refused", reason="不符合条件", now=late)
    later_due = found(await Referral.select(Referral.due_on).where(Referral.id == later).first())["due_on"]
    view = datetime.combine(later_due + timedelta(days=1), now.timetz())
    not_due = await refer(station, "with_child", lixia, view, category="housing")
    clock.set(view)
    analytics.clear_cache()
    return {"escalated": escalated, "later": later, "not_due": not_due, "elsewhere": elsewhere}


async def test_the_centre_city_and_district_dashboards_count_referrals(
    make_client: Any, referrals: dict[str, Any]
) -> None:
    center = make_client()
    await center.login("center")
    before = await _snapshot()
    page = await center.get("/analytics")
    assert page.status_code == 200
    # Open: escalated, past its deadline, not yet due; the decided one is closed.
    assert _figures(page.text) == (3, 2, 1)
    assert 'href="/referrals/overdue?org=370102"' in page.text
    overdue = await center.get("/referrals/overdue?org=370102")
    assert overdue.status_code == 200
    listed = {int(i) for i in re.findall(r'href="/referrals/(\d+)"', overdue.text)}
    assert listed == {referrals["escalated"], referrals["later"]}
    # Another district is out of the centre's reach, on the dashboard and the list.
    assert (await center.get("/analytics/370103")).status_code in {403, 404}
    assert (await center.get("/referrals/overdue?org=370103")).status_code == 404

    city = make_client()
    await city.login("city")
    whole = await city.get("/analytics")
    assert _figures(whole.text) == (4, 3, 2)
    district = await city.get("/analytics/370103")
    assert _figures(district.text) == (1, 1, 1)
    assert 'href="/referrals/overdue?org=370103"' in district.text
    listed = await city.get("/referrals/overdue?org=370103")
    assert {int(i) for i in re.findall(r'href="/referrals/(\d+)"', listed.text)} == {referrals["elsewhere"]}

    center_b = make_client()
    await center_b.login("center_b")
    assert _figures((await center_b.get("/analytics")).text) == (1, 1, 1)
    # Every dashboard and list above was a read: nothing changed.
    assert await _snapshot() == before


async def test_a_station_sees_the_counts_linking_to_its_referral_list(
    make_client: Any, referrals: dict[str, Any]
) -> None:
    station = make_client()
    await station.login("station")
    page = await station.get("/analytics")
    assert page.status_code == 200
    assert _figures(page.text) == (3, 2, 1)
    assert "/referrals/overdue" not in page.text  # the overdue list is the centre's


async def test_the_counts_follow_the_clock(
    make_client: Any, referrals: dict[str, Any], clock: FixedClock
) -> None:
    due = found(await Referral.select(Referral.due_on).where(Referral.id == referrals["not_due"]).first())[
        "due_on"
    ]
    clock.set(datetime.combine(due, clock.now().timetz()))  # the deadline day: not yet overdue
    analytics.clear_cache()
    center = make_client()
    await center.login("center")
    assert _figures((await center.get("/analytics")).text) == (3, 2, 1)
    clock.advance(timedelta(days=1))
    analytics.clear_cache()
    await center.login("center")  # a day idle ends the session
    assert _figures((await center.get("/analytics")).text) == (3, 3, 1)
