"""Relief index pages: a household's index, the ranking, scoring models and the re-scoring job."""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from markupsafe import Markup, escape

from relief_pwa.clock import local_date
from relief_pwa.core.bounds import parse_big_id, parse_day, parse_id
from relief_pwa.core.enums import Category
from relief_pwa.core.errors import DomainError
from relief_pwa.core.money import parse_yuan
from relief_pwa.core.scoring import FACTOR_CODES, FACTOR_LABELS, model_to_dict
from relief_pwa.handlers.common import C, first, flash, form_errors, is_htmx, needs, now_of, render
from relief_pwa.handlers.replica import REPLICA_READS
from relief_pwa.i18n import translate
from relief_pwa.services import jobs, queue
from relief_pwa.services.actors import Actor
from relief_pwa.services.ranking import RankingQuery, list_ranking
from relief_pwa.services.scoring import (
    SHOCK_KINDS,
    do_recompute_household,
    do_record_external_aid,
    do_record_shock,
    get_active_model,
    get_index_view,
)
from relief_pwa.services.scoring_models import (
    INT_PARAMS,
    LEVELS,
    definition_from_form,
    do_activate_model,
    do_create_model_draft,
    get_model,
    list_models,
    preview_model,
    require_reader,
)


def _int(raw: str, default: int = 1) -> int:
    return int(raw) if raw.isdecimal() and len(raw) < 7 else default


def _date_or_none(raw: str) -> date | None:
    try:
        return parse_day(raw, "as_of")
    except DomainError:
        return None


# --------------------------------------------------------------------------- household index


async def _index_page(
    request: Request[Any, Any, Any],
    actor: Actor,
    household_id: int,
    *,
    record_id: int | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[str]:
    view = await get_index_view(actor, household_id, record_id, now=now_of(request))
    context = {
        "view": view,
        "shock_kinds": SHOCK_KINDS,
        "factor_labels": FACTOR_LABELS,
        "errors": errors or {},
        "values": values or {},
        "today": local_date(now_of(request)).isoformat(),
    }
    return render(request, "scoring/household_index.html", context, status_code=status_code)


@get("/households/{household_id:int}/index", name="household_index", opt=needs(C.CASES_READ))
async def household_index(
    request: Request[Any, Any, Any],
    household_id: FromPath[int],
    actor: NamedDependency[Actor],
    record: FromQuery[str] = "",
) -> Response[str]:
    # Any 64-bit record id: a city passes a million index records within months.
    return await _index_page(request, actor, household_id, record_id=parse_big_id(record))


@post("/households/{household_id:int}/shocks", opt=needs(C.INDEX_FACTS_RECORD))
async def record_shock(
    request: Request[Any, Any, Any], household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    values = {name: first(form, name, 300) for name in ("kind", "occurred_on", "note")}
    try:
        await do_record_shock(
            actor,
            household_id,
            kind=values["kind"],
            occurred_on=_date_or_none(values["occurred_on"]),
            note=values["note"],
            now=now_of(request),
        )
    except DomainError as exc:
        errors = {f"shock-{k}": v for k, v in form_errors(exc).items()}
        return await _index_page(
            request,
            actor,
            household_id,
            errors=errors,
            values={f"shock-{k}": v for k, v in values.items()},
            status_code=422,
        )
    flash(request, translate("The event was recorded and the index recomputed."))
    return Redirect(f"/households/{household_id}/index", status_code=303)


@post("/households/{household_id:int}/aid", opt=needs(C.INDEX_FACTS_RECORD))
async def record_aid(
    request: Request[Any, Any, Any], household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    values = {name: first(form, name, 300) for name in ("value", "received_on", "note", "reference")}
    try:
        value_fen: int | None = None
        if values["value"].strip():
            value_fen = parse_yuan(values["value"], field="value")
        await do_record_external_aid(
            actor,
            household_id,
            value_fen=value_fen,
            received_on=_date_or_none(values["received_on"]),
            note=values["note"],
            reference=values["reference"],
            now=now_of(request),
        )
    except DomainError as exc:
        errors = {f"aid-{k}": v for k, v in form_errors(exc).items()}
        return await _index_page(
            request,
            actor,
            household_id,
            errors=errors,
            values={f"aid-{k}": v for k, v in values.items()},
            status_code=422,
        )
    flash(request, translate("The aid was recorded and the index recomputed."))
    return Redirect(f"/households/{household_id}/index", status_code=303)


@post("/households/{household_id:int}/index/recompute", opt=needs(C.INDEX_RECOMPUTE))
async def recompute(
    request: Request[Any, Any, Any], household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    try:
        await do_recompute_household(actor, household_id, now=now_of(request))
    except DomainError as exc:
        flash(request, " ".join(form_errors(exc).values()), "error")
        return Redirect(f"/households/{household_id}/index", status_code=303)
    flash(request, translate("The index was recomputed."))
    return Redirect(f"/households/{household_id}/index", status_code=303)


# --------------------------------------------------------------------------- ranking


@lru_cache(maxsize=32)
def _unit_options_html(units: tuple[Any, ...]) -> str:
    # A city user's filter lists ~180 districts and streets: rendered once per org tree
    # (the cached nodes are the key), not escaped value by value on every request.
    return "".join(
        f'<option value="{escape(u.code)}">{"— " if u.level == "street" else ""}{escape(u.name)}</option>'
        for u in units
    )


def _unit_options(units: tuple[Any, ...], selected: str) -> Markup:
    html = _unit_options_html(units)
    if selected:
        marker = f'<option value="{escape(selected)}">'
        html = html.replace(marker, marker[:-1] + " selected>", 1)
    return Markup(html)  # noqa: S704  (built from escaped values only)


@get("/ranking", name="ranking", opt={**needs(C.RANKING_READ), **REPLICA_READS})
async def ranking(
    request: Request[Any, Any, Any],
    actor: NamedDependency[Actor],
    org: FromQuery[str] = "",
    category: FromQuery[str] = "",
    as_of: FromQuery[str] = "",
    page: FromQuery[str] = "1",
    after: FromQuery[str] = "",
    before: FromQuery[str] = "",
) -> Response[str]:
    query = RankingQuery(
        org=org[:12],
        category=category[:20],
        as_of=as_of[:10],
        page=_int(page),
        after=after[:80],
        before=before[:80],
    )
    errors: dict[str, str] = {}
    try:
        result = await list_ranking(actor, query, now=now_of(request))
    except DomainError as exc:
        errors = form_errors(exc)
        result = await list_ranking(actor, RankingQuery(category=query.category), now=now_of(request))
    context = {
        "result": result,
        "errors": errors,
        "categories": list(Category),
        "factor_labels": FACTOR_LABELS,
        "unit_options": _unit_options(tuple(result.units), result.query.org),
    }
    block = "results" if is_htmx(request) and request.headers.get("hx-target") == "ranking-results" else None
    return render(request, "ranking/list.html", context, block=block)


# --------------------------------------------------------------------------- models and jobs


def _form_values(definition: dict[str, Any]) -> dict[str, str]:
    """A model definition as flat form values (the form's field names)."""
    values = {
        "version": "",
        "effective_from": str(definition.get("effective_from", "")),
        "description": str(definition.get("description", "")),
    }
    for code, params in definition.get("factors", {}).items():
        values[f"{code}.max_points"] = str(params.get("max_points", ""))
        for level, points in params.get("levels", {}).items():
            values[f"{code}.level.{level}"] = str(points)
        for param in INT_PARAMS.get(code, ()):
            value = params.get(param)
            values[f"{code}.{param}"] = "" if value is None else str(value)
    return values


def _models_context(models: Any, latest_jobs: Any, actor: Actor) -> dict[str, Any]:
    return {
        "models": models,
        "jobs": latest_jobs,
        "can_edit": actor.can(C.SCORING_MODELS_EDIT),
    }


@get("/scoring/models", name="scoring_models", opt=needs(C.SCORING_MODELS_READ))
async def models_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[str]:
    now = now_of(request)
    models = await list_models(actor, now=now)
    await queue.resume_stale(request.app.state.clock)
    return render(request, "scoring/models.html", _models_context(models, await jobs.latest_jobs(), actor))


@get("/scoring/jobs/{job_id:int}", name="scoring_job", opt=needs(C.SCORING_MODELS_READ))
async def job_progress(
    request: Request[Any, Any, Any], job_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    require_reader(actor)
    job = await jobs.get_job(job_id)
    if is_htmx(request):
        return render(request, "scoring/_job.html", {"job": job}, block="job")
    return render(request, "scoring/job.html", {"job": job})


async def _new_model_form(
    request: Request[Any, Any, Any],
    actor: Actor,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response[str]:
    context = {
        "values": values,
        "errors": errors,
        "factor_codes": FACTOR_CODES,
        "levels": LEVELS,
        "int_params": INT_PARAMS,
        "factor_labels": FACTOR_LABELS,
        "can_edit": actor.can(C.SCORING_MODELS_EDIT),
    }
    return render(request, "scoring/model_form.html", context, status_code=status_code)


@get("/scoring/models/new", name="scoring_model_new", opt=needs(C.SCORING_MODELS_EDIT))
async def new_model(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], base: FromQuery[str] = ""
) -> Response[str]:
    require_reader(actor)
    base_id = parse_id(base)
    if base_id is not None:
        definition = (await get_model(actor, base_id)).definition
    else:
        definition = model_to_dict(await get_active_model(now=now_of(request)))
    values = _form_values(definition)
    values["effective_from"] = local_date(now_of(request)).isoformat()
    return await _new_model_form(request, actor, values, {})


@post("/scoring/models", opt=needs(C.SCORING_MODELS_EDIT))
async def create_model(request: Request[Any, Any, Any], actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    values = {key: first(form, key, 20000 if key == "definition_json" else 200) for key in form}
    try:
        definition = definition_from_form(values)
        model_id = await do_create_model_draft(actor, definition, now=now_of(request))
    except DomainError as exc:
        return await _new_model_form(request, actor, values, form_errors(exc), status_code=422)
    flash(request, translate("Draft saved. Preview it before activating."))
    return Redirect(f"/scoring/models/{model_id}", status_code=303)


@get("/scoring/models/{model_id:int}", name="scoring_model", opt=needs(C.SCORING_MODELS_READ))
async def model_detail(
    request: Request[Any, Any, Any], model_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    model = await get_model(actor, model_id)
    context = {
        "model": model,
        "definition_json": json.dumps(model.definition, ensure_ascii=False, indent=2, sort_keys=True),
        "can_edit": actor.can(C.SCORING_MODELS_EDIT),
        "factor_codes": FACTOR_CODES,
        "factor_labels": FACTOR_LABELS,
    }
    return render(request, "scoring/model_detail.html", context)


@get("/scoring/models/{model_id:int}/preview", name="scoring_model_preview", opt=needs(C.SCORING_MODELS_READ))
async def model_preview(
    request: Request[Any, Any, Any], model_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    model = await get_model(actor, model_id)
    errors: dict[str, str] = {}
    what_if = None
    try:
        what_if = await preview_model(actor, model_id, now=now_of(request))
    except DomainError as exc:
        errors = form_errors(exc)
    context = {"model": model, "what_if": what_if, "errors": errors}
    return render(request, "scoring/preview.html", context, block="preview" if is_htmx(request) else None)


@post("/scoring/models/{model_id:int}/activate", opt=needs(C.SCORING_MODELS_EDIT))
async def activate_model(
    request: Request[Any, Any, Any], model_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    try:
        job_id = await do_activate_model(actor, model_id, now=now_of(request))
    except DomainError as exc:
        flash(request, " ".join(form_errors(exc).values()), "error")
        return Redirect(f"/scoring/models/{model_id}", status_code=303)
    await queue.submit_rescore(job_id, request.app.state.clock)
    flash(request, translate("Model activated. Every household is being re-scored in the background."))
    return Redirect("/scoring/models", status_code=303)


ROUTES: list[Any] = [
    household_index,
    record_shock,
    record_aid,
    recompute,
    ranking,
    models_page,
    job_progress,
    new_model,
    create_model,
    model_detail,
    model_preview,
    activate_model,
]
