"""The lifecycle of a household's applications: withdraw, appeal, suspend, reinstate, exit.

One POST route per workflow action offered on the household file
(``Transition.on_file``), generated from ``core.workflow.TRANSITIONS``, each
declaring the capability of its transition; the household file loads the
section in place (htmx) or links to it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from relief_pwa.core.enums import ExitReason
from relief_pwa.core.errors import Conflict, DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import transition_capability
from relief_pwa.core.workflow import TRANSITIONS
from relief_pwa.handlers.common import C, first, flash, form_errors, is_htmx, needs, now_of, render
from relief_pwa.i18n import gettext
from relief_pwa.services.access import access_application
from relief_pwa.services.actors import Actor
from relief_pwa.services.applications import do_transition, household_lifecycle


async def _page(
    request: Request[Any, Any, Any],
    actor: Actor,
    household_id: int,
    *,
    errors: dict[str, str] | None = None,
    failed: tuple[int, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response[str]:
    lifecycle = await household_lifecycle(actor, household_id, now=now_of(request))
    context = {
        "lifecycle": lifecycle,
        "errors": errors or {},
        "failed": failed,
        "values": values or {},
    }
    block = "lifecycle" if is_htmx(request) else None
    return render(request, "households/lifecycle.html", context, block=block, status_code=status)


@get("/households/{household_id:int}/lifecycle", name="household_lifecycle", opt=needs(C.CASES_READ))
async def lifecycle_page(
    request: Request[Any, Any, Any], household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    return await _page(request, actor, household_id)


def _parse(form: FormMultiDict) -> tuple[str, ExitReason | None, date | None, int | None]:
    reason = first(form, "reason", 2000)
    raw_exit = first(form, "exit_reason", 40)
    try:
        exit_reason = ExitReason(raw_exit) if raw_exit else None
    except ValueError:
        raise DomainError(N_("Choose why assistance ends."), field="exit_reason") from None
    raw_day = first(form, "effective_on", 10)
    try:
        effective_on = date.fromisoformat(raw_day) if raw_day else None
    except ValueError:
        raise DomainError(N_("Enter a date like 2026-12-01."), field="effective_on") from None
    raw_version = first(form, "version", 10)
    return reason, exit_reason, effective_on, int(raw_version) if raw_version.isdecimal() else None


def _transition_route(action: str) -> Any:
    async def take(
        request: Request[Any, Any, Any], application_id: FromPath[int], actor: NamedDependency[Actor]
    ) -> Response[Any]:
        # The household (for the page) through the jurisdiction check, before anything is parsed.
        household_id = int((await access_application(actor, application_id)).household)
        form = await request.form()
        try:
            reason, exit_reason, effective_on, version = _parse(form)
            await do_transition(
                actor,
                application_id,
                action,
                reason=reason,
                now=now_of(request),
                expected_version=version,
                exit_reason=exit_reason,
                effective_on=effective_on,
            )
        except (Conflict, DomainError) as exc:
            values = {key: first(form, key, 2000) for key in ("reason", "exit_reason", "effective_on")}
            return await _page(
                request,
                actor,
                household_id,
                errors=form_errors(exc),
                failed=(application_id, action),
                values=values,
                status=409 if isinstance(exc, Conflict) else 422,
            )
        if is_htmx(request):
            return await _page(request, actor, household_id)
        flash(request, gettext("Saved."))
        return Redirect(f"/households/{household_id}/lifecycle", status_code=303)

    take.__name__ = f"transition_{action}"
    take.__qualname__ = take.__name__
    return post(
        f"/applications/{{application_id:int}}/lifecycle/{action}",
        name=f"transition_{action}",
        opt=needs(transition_capability(action)),
    )(take)


TRANSITION_ROUTES: dict[str, Any] = {
    action: _transition_route(action) for action, transition in TRANSITIONS.items() if transition.on_file
}

ROUTES: list[Any] = [lifecycle_page, *TRANSITION_ROUTES.values()]
