"""Scoring models as versioned data: drafts, validation, what-if preview, activation.

A model is never edited once active: a change is a new version. Only the
city role creates and activates models; activation is audited and starts a
background job that re-scores every open household (services/jobs.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from relief_pwa.core.errors import (
    Conflict,
    DomainError,
    NotFoundOrForbidden,
    ValidationFailed,
)
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.core.ranking import RankDiff, compare_rankings
from relief_pwa.core.scoring import FACTOR_CODES, ScoringModel, model_from_dict, model_to_dict, validate_model
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.bulk_scoring import local_date
from relief_pwa.services.scoring import city_path, get_active_model, score_in_memory
from relief_pwa.tables import Household, Job
from relief_pwa.tables import ScoringModel as ScoringModelRow

RESCORE_JOB = "rescore"
# Form fields per factor: (parameter, kind) — kind "points" is a decimal, "months" an integer.
INT_PARAMS: dict[str, tuple[str, ...]] = {
    "rigid_spending": ("scale_months",),
    "shock": ("decay_months",),
    "assets": ("exemption_months", "scale_months"),
    "aid": ("window_months", "scale_months"),
}
LEVELS: dict[str, tuple[str, ...]] = {
    "disability": ("1", "2", "3", "4"),
    "illness": ("serious", "chronic"),
    "housing": ("none", "unsafe", "rented_heavy", "rented", "owned_adequate"),
}


def require_reader(actor: Actor) -> None:
    require(actor, Capability.SCORING_MODELS_READ)


@dataclass(frozen=True)
class ModelRow:
    id: int
    version: str
    effective_from: date
    description: str
    status: str
    created_at: datetime
    activated_at: datetime | None
    definition: dict[str, Any]
    problems: list[DomainError]


def _row(row: Mapping[str, Any]) -> ModelRow:
    definition = json.loads(row["definition"])
    try:
        problems = validate_model(model_from_dict(definition))
    except DomainError as exc:
        problems = [exc]
    return ModelRow(
        row["id"],
        row["version"],
        row["effective_from"],
        row["description"],
        row["status"],
        row["created_at"],
        row["activated_at"],
        definition,
        problems,
    )


async def list_models(actor: Actor, *, now: datetime) -> list[ModelRow]:
    require_reader(actor)
    await get_active_model(now=now)  # make sure v1 exists before anyone looks
    rows = await ScoringModelRow.select().order_by(ScoringModelRow.id, ascending=False)
    return [_row(r) for r in rows]


async def get_model(actor: Actor, model_id: int) -> ModelRow:
    require_reader(actor)
    row = await ScoringModelRow.select().where(ScoringModelRow.id == model_id).first()
    if row is None:
        raise NotFoundOrForbidden()
    return _row(row)


def definition_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """Turn the model form into ``model_to_dict`` shape; a JSON text field wins if filled.

    Raises:
        ValidationFailed: a number is not a number (field names are the form's).
    """
    raw_json = form.get("definition_json", "").strip()
    if raw_json:
        try:
            data = json.loads(raw_json)
        except ValueError as exc:
            raise ValidationFailed(
                {
                    "definition_json": DomainError(
                        N_("This is not valid JSON: {detail}"), field="definition_json", detail=str(exc)
                    )
                }
            ) from exc
        if not isinstance(data, dict):
            raise ValidationFailed(
                {
                    "definition_json": DomainError(
                        N_("The model must be a JSON object."), field="definition_json"
                    )
                }
            )
        data.setdefault("version", form.get("version", ""))
        data.setdefault("effective_from", form.get("effective_from", ""))
        data.setdefault("description", form.get("description", ""))
        return data
    errors: dict[str, DomainError] = {}
    factors: dict[str, Any] = {}
    for code in FACTOR_CODES:
        points = form.get(f"{code}.max_points", "").strip()
        if points == "":
            continue  # a missing factor is reported by validate_model
        entry: dict[str, Any] = {"max_points": points, "levels": {}}
        try:
            Decimal(points)
        except ArithmeticError:
            errors[f"{code}.max_points"] = DomainError(
                N_("Please enter a number."), field=f"{code}.max_points"
            )
        for level in LEVELS.get(code, ()):
            value = form.get(f"{code}.level.{level}", "").strip()
            if value:
                entry["levels"][level] = value
                try:
                    Decimal(value)
                except ArithmeticError:
                    errors[f"{code}.level.{level}"] = DomainError(
                        N_("Please enter a number."), field=f"{code}.level.{level}"
                    )
        for param in INT_PARAMS.get(code, ()):
            value = form.get(f"{code}.{param}", "").strip()
            if value == "":
                entry[param] = None
            elif value.lstrip("-").isdecimal() and len(value) < 6:
                entry[param] = int(value)
            else:
                errors[f"{code}.{param}"] = DomainError(
                    N_("Please enter a whole number of months."), field=f"{code}.{param}"
                )
        factors[code] = entry
    if errors:
        raise ValidationFailed(errors)
    return {
        "version": form.get("version", "").strip(),
        "effective_from": form.get("effective_from", "").strip(),
        "description": form.get("description", "").strip(),
        "factors": factors,
    }


def check_definition(data: Mapping[str, Any]) -> ScoringModel:
    """Parse and validate a model definition; every problem is refused with its reason.

    Raises:
        ValidationFailed: field → reason (factor codes, "version", "effective_from", "factors").
    """
    errors: dict[str, DomainError] = {}
    version = str(data.get("version", "")).strip()
    if not version or len(version) > 40 or any(c.isspace() for c in version):
        errors["version"] = DomainError(
            N_("The version needs a short name without spaces (at most 40 characters)."), field="version"
        )
    try:
        date.fromisoformat(str(data.get("effective_from", "")))
    except ValueError:
        errors["effective_from"] = DomainError(
            N_("Please give the date the model takes effect."), field="effective_from"
        )
    if errors:
        raise ValidationFailed(errors)
    model = model_from_dict(data)
    problems = validate_model(model)
    if problems:
        first: dict[str, DomainError] = {}
        for problem in problems:
            first.setdefault(problem.field or "factors", problem)
        raise ValidationFailed(first)
    return model


async def do_create_model_draft(actor: Actor, data: Mapping[str, Any], *, now: datetime) -> int:
    """Store a new draft version after validating it (refused with reasons otherwise); audited."""
    require(actor, Capability.SCORING_MODELS_EDIT)
    model = check_definition(data)
    engine = ScoringModelRow._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, "scoring-model")
        if await ScoringModelRow.exists().where(ScoringModelRow.version == model.version):
            raise ValidationFailed(
                {
                    "version": DomainError(
                        N_("Version {version} already exists: choose a new name."),
                        field="version",
                        version=model.version,
                    )
                }
            )
        definition = json.dumps(model_to_dict(model), ensure_ascii=False, sort_keys=True)
        row = ScoringModelRow(
            version=model.version,
            effective_from=model.effective_from,
            definition=definition,
            description=model.description[:2000],
            status="draft",
            created_by=actor.staff_id,
            created_at=now,
        )
        await row.save()
        await record_event(
            actor,
            "scoring_model.create",
            "scoring_model",
            row.id,
            org_path=await city_path(),
            now=now,
            after={"version": model.version, "definition": model_to_dict(model)},
        )
    return int(row.id)


@dataclass(frozen=True)
class MoveView:
    household_id: int
    file_no: str
    head_name: str
    old_rank: int
    new_rank: int
    old_index: Decimal
    new_index: Decimal

    @property
    def shift(self) -> int:
        return self.old_rank - self.new_rank


@dataclass(frozen=True)
class WhatIf:
    """A draft's effect on the ranking of every open household, before activation."""

    active_version: str
    draft_version: str
    households: int
    diff: RankDiff
    moves: list[MoveView]
    mean_before: Decimal
    mean_after: Decimal

    @property
    def histogram_rows(self) -> list[tuple[str, int, int]]:
        labels = [f"{i * 10}–{i * 10 + 9 if i < 9 else 100}" for i in range(len(self.diff.histogram_before))]
        return list(zip(labels, self.diff.histogram_before, self.diff.histogram_after, strict=True))

    @property
    def histogram_max(self) -> int:
        return max([1, *self.diff.histogram_before, *self.diff.histogram_after])


async def preview_model(actor: Actor, model_id: int, *, now: datetime, largest: int = 20) -> WhatIf:
    """What-if: rank every open household under the active model and under this one."""
    require_reader(actor)
    target = await get_model(actor, model_id)
    candidate = check_definition(target.definition)
    active = await get_active_model(now=now)
    (before, after), tie_keys = await score_in_memory([active, candidate], now=now)
    diff = compare_rankings(before, after, tie_keys, largest=largest)
    ids = [m.household_id for m in diff.largest_moves]
    names = {
        r["id"]: r
        for r in await Household.select(Household.id, Household.file_no, Household.head_name).where(
            Household.id.is_in(ids or [-1])
        )
    }
    moves = [
        MoveView(
            m.household_id,
            names[m.household_id]["file_no"],
            names[m.household_id]["head_name"],
            m.old_rank,
            m.new_rank,
            m.old_index,
            m.new_index,
        )
        for m in diff.largest_moves
        if m.household_id in names
    ]
    count = len(before)

    def mean(values: dict[int, Decimal]) -> Decimal:
        return (sum(values.values(), Decimal(0)) / count).quantize(Decimal("0.01")) if count else Decimal(0)

    return WhatIf(active.version, candidate.version, count, diff, moves, mean(before), mean(after))


async def do_activate_model(actor: Actor, model_id: int, *, now: datetime) -> int:
    """Activate a valid draft (city only), retire the old model, queue the re-scoring job.

    Returns:
        The job id; the caller starts it (``jobs.start_job``) after the commit.
    """
    require(actor, Capability.SCORING_MODELS_EDIT)
    engine = ScoringModelRow._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, "scoring-model")
        row = await ScoringModelRow.select().where(ScoringModelRow.id == model_id).first()
        if row is None:
            raise NotFoundOrForbidden()
        if row["status"] != "draft":
            raise Conflict(N_("Only a draft can be activated; an active model is never edited."))
        model = check_definition(json.loads(row["definition"]))
        if model.effective_from > local_date(now):
            raise DomainError(
                N_("This model takes effect on {date}; it can be activated from that day."),
                field="effective_from",
                date=model.effective_from.isoformat(),
            )
        previous = await ScoringModelRow.select(ScoringModelRow.id, ScoringModelRow.version).where(
            ScoringModelRow.status == "active"
        )
        await ScoringModelRow.update({ScoringModelRow.status: "retired"}).where(
            ScoringModelRow.status == "active"
        )
        await ScoringModelRow.update(
            {
                ScoringModelRow.status: "active",
                ScoringModelRow.activated_by: actor.staff_id,
                ScoringModelRow.activated_at: now,
            }
        ).where(ScoringModelRow.id == model_id)
        total = await Household.count().where(Household.is_open.eq(True))
        job = Job(
            kind=RESCORE_JOB,
            status="queued",
            params=json.dumps({"model_version": model.version, "cursor": 0, "heartbeat": now.isoformat()}),
            progress_done=0,
            progress_total=total,
            created_by=actor.staff_id,
            created_at=now,
        )
        await job.save()
        await record_event(
            actor,
            "scoring_model.activate",
            "scoring_model",
            model_id,
            org_path=await city_path(),
            now=now,
            before={"active": [p["version"] for p in previous]},
            after={"active": model.version, "job": job.id, "households": total},
        )
    return int(job.id)
