"""Scoring models: validation with reasons, what-if, city-only activation, the re-scoring job."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from relief_pwa.core.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from relief_pwa.core.intake import ItemDraft
from relief_pwa.core.scoring import DEFAULT_MODEL, model_to_dict
from relief_pwa.services import jobs
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.ranking import RankingQuery, list_ranking
from relief_pwa.services.scoring import check_recompute, get_active_model
from relief_pwa.services.scoring_models import (
    definition_from_form,
    do_activate_model,
    do_create_model_draft,
    list_models,
    preview_model,
)
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.tables import AuditEvent, Household, IndexRecord, Job, ScoringModel
from tests.factories import make_intake, member


def _v2(**changes: Any) -> dict[str, Any]:
    """DEFAULT_MODEL with aid weighing double and income a little less (still 100 points)."""
    data = model_to_dict(DEFAULT_MODEL)
    data["version"] = "v2"
    data["effective_from"] = "2026-11-01"
    data["factors"]["aid"]["max_points"] = "-40"
    data["factors"]["income_gap"]["max_points"] = "30"
    data["factors"]["dependants"]["max_points"] = "20"
    data.update(changes)
    return data


@pytest.fixture()
async def households(world: Any, now: Any) -> list[Any]:
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    made = []
    for income, grade in (("100", ""), ("300", "1"), ("500", ""), ("700", "3"), ("0", "")):
        made.append(
            await make_intake(
                world,
                items=[ItemDraft("income", "wages", "0", "", income)],
                members=[member(disability_grade=grade)],
            )
        )
    return made


async def test_invalid_models_are_refused_with_reasons(world: Any, now: Any) -> None:
    city = world.actor("city")
    bad = _v2()
    del bad["factors"]["shock"]
    bad["factors"]["assets"]["max_points"] = "5"  # a penalty must be ≤ 0
    bad["factors"]["aid"]["window_months"] = -3
    with pytest.raises(ValidationFailed) as refused:
        await do_create_model_draft(city, bad, now=now)
    assert {"shock", "assets", "aid"} <= set(refused.value.errors)
    assert "missing" in str(refused.value.errors["shock"])
    with pytest.raises(ValidationFailed) as refused:
        await do_create_model_draft(city, _v2(version="has space", effective_from="soon"), now=now)
    assert set(refused.value.errors) == {"version", "effective_from"}
    with pytest.raises(DomainError):
        await do_create_model_draft(
            city, {"version": "v3", "effective_from": "2026-01-01", "factors": 7}, now=now
        )
    assert await ScoringModel.count() == 0


async def test_form_fields_become_a_definition(world: Any, now: Any) -> None:
    with pytest.raises(ValidationFailed) as refused:
        definition_from_form(
            {
                "version": "v2",
                "income_gap.max_points": "lots",
                "aid.max_points": "-20",
                "aid.window_months": "1.5",
            }
        )
    assert set(refused.value.errors) == {"income_gap.max_points", "aid.window_months"}
    data = definition_from_form({"definition_json": json.dumps(_v2())})
    assert data["version"] == "v2"


async def test_only_city_creates_and_activates(households: list[Any], world: Any, now: Any) -> None:
    for username in ("station", "center", "supervisor"):
        with pytest.raises(PermissionDenied):
            await do_create_model_draft(world.actor(username), _v2(), now=now)
    model_id = await do_create_model_draft(world.actor("city"), _v2(), now=now)
    for username in ("station", "center", "supervisor"):
        with pytest.raises(PermissionDenied):
            await do_activate_model(world.actor(username), model_id, now=now)
    row = await ScoringModel.select().where(ScoringModel.id == model_id).first()
    assert row is not None and row["status"] == "draft"


async def test_what_if_preview_counts_rank_changes(households: list[Any], world: Any, now: Any) -> None:
    model_id = await do_create_model_draft(world.actor("city"), _v2(), now=now)
    what_if = await preview_model(world.actor("supervisor"), model_id, now=now)
    assert what_if.households == len(households)
    assert what_if.active_version == "v1" and what_if.draft_version == "v2"
    assert sum(what_if.diff.histogram_before) == sum(what_if.diff.histogram_after) == len(households)
    assert what_if.diff.changed_count == len(what_if.moves) or len(what_if.moves) <= 20
    # Nothing was written by a preview.
    assert await IndexRecord.count().where(IndexRecord.model_version == "v2") == 0


async def test_activation_rescores_every_household_in_a_job(
    households: list[Any], world: Any, now: Any, clock: Any
) -> None:
    city = world.actor("city")
    clock.advance(timedelta(hours=2))
    model_id = await do_create_model_draft(city, _v2(), now=clock.now())
    job_id = await do_activate_model(city, model_id, now=clock.now())
    jobs.start_job(job_id, clock, batch_size=2)  # small batches: several progress steps
    job = await jobs.wait_for(job_id)
    assert job.status == "done", job.error
    assert job.done == job.total == len(households)
    for result in households:
        latest = (
            await IndexRecord.select()
            .where(IndexRecord.household == result.household_id)
            .order_by(IndexRecord.id, ascending=False)
            .first()
        )
        assert latest is not None
        assert latest["model_version"] == "v2" and latest["trigger"] == "model:v2"
        assert (await check_recompute(latest["id"])).matches
        household = await Household.select().where(Household.id == result.household_id).first()
        assert household is not None
        assert Decimal(household["current_index"]) == Decimal(latest["total"])
    assert (await get_active_model(now=clock.now())).version == "v2"
    models = {m.version: m.status for m in await list_models(city, now=clock.now())}
    assert models == {"v1": "retired", "v2": "active"}
    assert await AuditEvent.exists().where(AuditEvent.action == "scoring_model.activate")
    assert await AuditEvent.exists().where(AuditEvent.action == "job.done")
    # An active model is never edited or re-activated.
    with pytest.raises(Conflict):
        await do_activate_model(city, model_id, now=clock.now())
    # The ranking now explains moves by the model change.
    page = await list_ranking(world.actor("station"), RankingQuery(), now=clock.now())
    assert any(row.model_change == ("v1", "v2") for row in page.rows)


async def test_interrupted_job_resumes_from_its_cursor(
    households: list[Any], world: Any, now: Any, clock: Any
) -> None:
    city = world.actor("city")
    model_id = await do_create_model_draft(city, _v2(), now=now)
    job_id = await do_activate_model(city, model_id, now=now)
    # Simulate a restart after the first two households: cursor saved, no task alive, stale heartbeat.
    first_two = sorted(r.household_id for r in households)[1]
    stale = (now - timedelta(minutes=10)).isoformat()
    await Job.update(
        {
            Job.status: "running",
            Job.progress_done: 2,
            Job.params: json.dumps({"model_version": "v2", "cursor": first_two, "heartbeat": stale}),
        }
    ).where(Job.id == job_id)
    resumed = await jobs.resume_stale_jobs(clock)
    assert resumed == [job_id]
    job = await jobs.wait_for(job_id)
    assert job.status == "done" and job.done == len(households)
    v2_records = await IndexRecord.count().where(IndexRecord.model_version == "v2")
    assert v2_records == len(households) - 2  # the first two were "done before the restart"


async def test_future_model_cannot_be_activated_yet(world: Any, now: Any) -> None:
    city = world.actor("city")
    model_id = await do_create_model_draft(city, _v2(effective_from="2027-06-01"), now=now)
    with pytest.raises(DomainError, match="takes effect"):
        await do_activate_model(city, model_id, now=now)


async def test_ranking_as_of_a_past_date_uses_stored_records(
    households: list[Any], world: Any, now: Any, clock: Any
) -> None:
    station = world.actor("station")
    before = await list_ranking(station, RankingQuery(), now=now)
    clock.advance(timedelta(days=2))
    city = world.actor("city")
    model_id = await do_create_model_draft(city, _v2(), now=clock.now())
    job_id = await do_activate_model(city, model_id, now=clock.now())
    jobs.start_job(job_id, clock)
    await jobs.wait_for(job_id)
    as_of = await list_ranking(station, RankingQuery(as_of=now.date().isoformat()), now=clock.now())
    assert [(r.household_id, r.index) for r in as_of.rows] == [(r.household_id, r.index) for r in before.rows]
    current = await list_ranking(station, RankingQuery(), now=clock.now())
    assert [r.index for r in current.rows] != [r.index for r in before.rows]
    with pytest.raises(DomainError):
        await list_ranking(station, RankingQuery(as_of="yesterday"), now=clock.now())
