"""Targeting monitor: reproducible draws, scheduled re-verification visits, audited
findings, and inclusion/exclusion errors recounted by hand."""

from __future__ import annotations

from typing import Any

import pytest

from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, PermissionDenied
from relief_pwa.core.sampling import ALL
from relief_pwa.services.analytics import (
    DrawRequest,
    do_draw_sample,
    do_record_finding,
    get_sample_report,
    list_samples,
)
from relief_pwa.services.audit import verify_chain
from relief_pwa.tables import AuditEvent, SampleItem, Staff, Visit
from tests.helpers import found
from tests.services.analytics_seed import seed_city


async def test_draw_schedules_visits_and_is_reproducible(world: Any) -> None:
    city = await seed_city(world, households=80)
    actor = world.actor("city")
    active = {c.household_id for c in city.cases if c.state in ("active", "under_review")}
    sample_id = await do_draw_sample(actor, DrawRequest("", 6, 4, seed=123), now=world.now)
    items = await SampleItem.select().where(SampleItem.sample == sample_id)
    drawn_active = {i["household"] for i in items if i["sample_group"] == "active"}
    drawn_rejected = {i["household"] for i in items if i["sample_group"] == "rejected"}
    assert len(drawn_active) == 6 and drawn_active <= active
    rejected_pool = {c.household_id for c in city.cases if c.state == "rejected"}
    assert 0 < len(drawn_rejected) <= 4 and drawn_rejected <= rejected_pool
    visits = await Visit.select().where(Visit.id.is_in([i["visit"] for i in items]))
    assert len(visits) == len(items) and {v["kind"] for v in visits} == {"reverify"}
    assert {v["status"] for v in visits} == {"scheduled"}
    liaison = found(await Staff.select(Staff.id).where(Staff.username == "liaison").first())
    for v in visits:
        if v["org_path"].endswith("370102001001/"):
            assert v["assigned_to"] == liaison["id"]  # the community's own liaison
    assert await AuditEvent.count().where(AuditEvent.action == "sample.draw") == 1
    assert await AuditEvent.count().where(AuditEvent.action == "visit.schedule") == len(items)
    assert (await verify_chain()).ok
    # the same seed over the same population draws the same households
    again = await do_draw_sample(actor, DrawRequest("", 6, 4, seed=123), now=world.now)
    items_again = await SampleItem.select().where(SampleItem.sample == again)
    assert {(i["household"], i["sample_group"]) for i in items_again} == {
        (i["household"], i["sample_group"]) for i in items
    }


async def test_findings_give_inclusion_and_exclusion_errors(world: Any) -> None:
    await seed_city(world, households=80, rng_seed=21)
    city_actor = world.actor("city")
    sample_id = await do_draw_sample(city_actor, DrawRequest("", 8, 6, seed=5), now=world.now)
    report = await get_sample_report(city_actor, sample_id)
    # record: every other recipient ineligible, every rejected household eligible except the first
    expected: dict[str, list[int]] = {}
    rejected_seen = 0
    for n, item in enumerate(report.items):
        if item.group == "active":
            finding = "ineligible" if n % 2 else "eligible"
        else:
            finding = "ineligible" if rejected_seen == 0 else "eligible"
            rejected_seen += 1
        if n == 0:
            # the first one is read from the visit once it is done, not typed in
            await Visit.update(
                {Visit.status: "done", Visit.outcome: finding, Visit.done_at: world.now}
            ).where(Visit.id == item.visit_id)
        else:
            await do_record_finding(
                world.actor("center") if item.stratum.endswith("370102/") else city_actor,
                item.id,
                finding,
                now=world.now,
            )
        stats = expected.setdefault(item.stratum + item.group, [0, 0])
        stats[0] += 1
        stats[1] += (finding == "ineligible") if item.group == "active" else (finding == "eligible")
    report = await get_sample_report(city_actor, sample_id)
    assert report.items[0].finding_source == "visit"
    for est in report.estimates:
        if est.stratum == ALL:
            continue
        a = expected.get(est.stratum + "active", [0, 0])
        r = expected.get(est.stratum + "rejected", [0, 0])
        assert (est.inclusion.checked, est.inclusion.errors) == tuple(a)
        assert (est.exclusion.checked, est.exclusion.errors) == tuple(r)
    pooled = report.estimates[-1]
    assert pooled.stratum == ALL
    assert pooled.inclusion.checked == sum(v[0] for k, v in expected.items() if k.endswith("active"))
    assert await AuditEvent.count().where(AuditEvent.action == "sample_item.finding") == len(report.items) - 1
    with pytest.raises(DomainError):
        await do_record_finding(city_actor, report.items[1].id, "maybe", now=world.now)


async def test_sample_scope_and_roles(world: Any) -> None:
    await seed_city(world, households=60, rng_seed=2)
    sample_id = await do_draw_sample(world.actor("center"), DrawRequest("", 4, 2, seed=1), now=world.now)
    report = await get_sample_report(world.actor("center"), sample_id)
    assert all(i.stratum.startswith("370100/370102/") for i in report.items)
    assert [s.id for s in await list_samples(world.actor("center_b"))] == []
    with pytest.raises(NotFoundOrForbidden):
        await get_sample_report(world.actor("center_b"), sample_id)
    with pytest.raises(NotFoundOrForbidden):
        await do_record_finding(world.actor("center_b"), report.items[0].id, "eligible", now=world.now)
    with pytest.raises(PermissionDenied):
        await do_draw_sample(world.actor("supervisor"), DrawRequest("", 4, 2, seed=1), now=world.now)
    with pytest.raises(NotFoundOrForbidden):
        await do_draw_sample(world.actor("center"), DrawRequest("370103", 4, 2, seed=1), now=world.now)
    assert (await get_sample_report(world.actor("supervisor"), sample_id)).sample.id == sample_id
