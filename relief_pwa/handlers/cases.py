"""The case list (search, filters, paging) and the household file."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from relief_pwa.clock import local_date
from relief_pwa.core.errors import DomainError
from relief_pwa.handlers.common import C, clean_text, form_errors, is_htmx, needs, now_of, render
from relief_pwa.services.actors import Actor
from relief_pwa.services.facts_history import parse_facts_day
from relief_pwa.services.households import (
    REVEAL_PURPOSES,
    CaseQuery,
    get_household_file,
    list_cases,
    reveal_identifiers,
)
from relief_pwa.services.org import list_units_in_scope


def _int(raw: str, default: int = 1) -> int:
    return int(raw) if raw.isdecimal() and len(raw) < 7 else default


@get("/cases", name="cases", opt=needs(C.CASES_READ))
async def case_list(
    request: Request[Any, Any, Any],
    actor: NamedDependency[Actor],
    q: FromQuery[str] = "",
    state_filter: Annotated[str, QueryParameter(name="state")] = "",
    category: FromQuery[str] = "",
    org: FromQuery[str] = "",
    page: FromQuery[str] = "1",
    after: FromQuery[str] = "",
    before: FromQuery[str] = "",
) -> Response[str]:
    query = CaseQuery(
        q=clean_text(q, 100),
        state=state_filter,
        category=category,
        org=org,
        page=_int(page),
        after=after[:24],
        before=before[:24],
    )
    errors: dict[str, str] = {}
    try:
        result = await list_cases(actor, query, now=now_of(request))
    except DomainError as exc:
        errors = form_errors(exc)
        result = await list_cases(
            actor, CaseQuery(q=query.q, state=state_filter, category=category, page=1), now=now_of(request)
        )
    context = {
        "result": result,
        "errors": errors,
        "streets": await list_units_in_scope(actor, "street") if actor.org_path.count("/") <= 2 else (),
    }
    block = "results" if is_htmx(request) and request.headers.get("hx-target") == "case-results" else None
    return render(request, "cases/list.html", context, block=block)


@get("/households/{household_id:int}", name="household", opt=needs(C.CASES_READ))
async def household_file(
    request: Request[Any, Any, Any],
    household_id: FromPath[int],
    actor: NamedDependency[Actor],
    on: FromQuery[str] = "",
) -> Response[str]:
    """The household file; ``on`` (YYYY-MM-DD, before today) shows the facts valid that day."""
    now = now_of(request)
    day = parse_facts_day(on, local_date(now))
    file = await get_household_file(actor, household_id, now=now, on=day)
    return render(request, "households/file.html", {"file": file, "today": local_date(now)})


@get("/households/{household_id:int}/identifiers", name="household_identifiers", opt=needs(C.CASES_READ))
async def household_identifiers(
    request: Request[Any, Any, Any],
    household_id: FromPath[int],
    actor: NamedDependency[Actor],
    purpose: FromQuery[str] = "",
) -> Response[str]:
    """ID numbers, phones and the account in full: asks why first, and logs the answer."""
    revealed, errors = None, {}
    if purpose:
        try:
            revealed = await reveal_identifiers(
                actor, household_id, purpose=purpose[:20], now=now_of(request)
            )
        except DomainError as exc:
            errors = form_errors(exc)
    context = {
        "household_id": household_id,
        "revealed": revealed,
        "purposes": REVEAL_PURPOSES,
        "errors": errors,
    }
    return render(
        request,
        "households/identifiers.html",
        context,
        status_code=400 if errors else 200,
        headers={"cache-control": "no-store"},
    )
