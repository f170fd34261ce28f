"""Household QR cards: print, PNG, issue/revoke, the /q/<token> landing and in-app scanning."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from relief_pwa.adapters.qr import qr_png_captioned, qr_svg
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden
from relief_pwa.handlers.common import (
    PUBLIC,
    C,
    first,
    flash,
    form_errors,
    needs,
    now_of,
    optional_actor,
    public_base_url,
    render,
)
from relief_pwa.handlers.public import limit_reads
from relief_pwa.i18n import translate
from relief_pwa.services.actors import Actor
from relief_pwa.services.cards import (
    card_url,
    do_issue_card,
    do_revoke_card,
    find_by_file_no,
    get_card,
    resolve_card,
)

NO_STORE = {"cache-control": "no-store"}


def _base_url(request: Request[Any, Any, Any]) -> str:
    return public_base_url(request)


@get("/households/{household_id:int}/card", name="household_card", opt=needs(C.CASES_READ))
async def card_page(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[str]:
    card = await get_card(actor, household_id, now=now_of(request))
    svg = qr_svg(card_url(_base_url(request), card.token)) if card.token else ""
    return render(
        request,
        "cards/card.html",
        {
            "card": card,
            "qr_svg": svg,
            "can_issue": actor.can(C.CARD_ISSUE),
            "errors": {},
        },
        headers=NO_STORE,
    )


@get("/households/{household_id:int}/card.png", name="household_card_png", opt=needs(C.CASES_READ))
async def card_png(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[bytes]:
    card = await get_card(actor, household_id, now=now_of(request))
    if not card.token:
        raise NotFoundOrForbidden()
    png = await anyio.to_thread.run_sync(
        qr_png_captioned, card_url(_base_url(request), card.token), card.file_no
    )
    return Response(
        png,
        media_type="image/png",
        headers={
            **NO_STORE,
            "content-disposition": f'inline; filename="card-{card.file_no}.png"',
        },
    )


@post("/households/{household_id:int}/card/issue", opt=needs(C.CARD_ISSUE))
async def card_issue(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Redirect:
    had_card = bool((await get_card(actor, household_id, now=now_of(request))).token)
    await do_issue_card(actor, household_id, now=now_of(request))
    if had_card:
        flash(request, translate("A new card was issued; any earlier card no longer works."))
    else:
        flash(request, translate("The household card was issued. Print it or download it below."))
    return Redirect(f"/households/{household_id}/card", status_code=303)


@post("/households/{household_id:int}/card/revoke", opt=needs(C.CARD_ISSUE))
async def card_revoke(
    request: Request[Any, Any, Any], *, household_id: FromPath[int], actor: NamedDependency[Actor]
) -> Response[Any]:
    form = await request.form()
    try:
        await do_revoke_card(actor, household_id, reason=first(form, "reason", 300), now=now_of(request))
    except DomainError as exc:
        card = await get_card(actor, household_id, now=now_of(request))
        svg = qr_svg(card_url(_base_url(request), card.token)) if card.token else ""
        return render(
            request,
            "cards/card.html",
            {
                "card": card,
                "qr_svg": svg,
                "can_issue": True,
                "errors": form_errors(exc),
            },
            status_code=422,
            headers=NO_STORE,
        )
    flash(request, translate("The card was revoked."))
    return Redirect(f"/households/{household_id}/card", status_code=303)


async def _optional_actor(request: Request[Any, Any, Any]) -> Actor | None:
    return optional_actor(request)


@get("/q/{token:str}", name="card_landing", before_request=limit_reads, opt=PUBLIC)
async def card_landing(request: Request[Any, Any, Any], *, token: FromPath[str]) -> Response[Any]:
    """Staff who may see the household land on its file; everyone else sees one neutral page."""
    actor = await _optional_actor(request)
    household_id = await resolve_card(actor, token[:100])
    if household_id is not None:
        return Redirect(f"/households/{household_id}", status_code=303, headers=NO_STORE)
    # Identical for unknown, revoked and other-area tokens, logged in or not.
    return render(
        request,
        "cards/neutral.html",
        {"logged_in": actor is not None},
        headers={
            **NO_STORE,
            "referrer-policy": "no-referrer",
        },
    )


@get("/scan", name="scan", opt=needs(C.CASES_READ))
async def scan_page(
    request: Request[Any, Any, Any], *, actor: NamedDependency[Actor], file_no: FromQuery[str] = ""
) -> Response[Any]:
    errors: dict[str, str] = {}
    if file_no:
        try:
            household_id = await find_by_file_no(actor, file_no)
        except NotFoundOrForbidden:
            errors["file_no"] = translate("No household with this file number in your area.")
        except DomainError as exc:
            errors = form_errors(exc)
        else:
            return Redirect(f"/households/{household_id}", status_code=303)
    return render(
        request,
        "cards/scan.html",
        {"file_no": file_no[:30], "errors": errors},
        status_code=404 if errors else 200,
    )


ROUTES: list[Any] = [card_page, card_png, card_issue, card_revoke, card_landing, scan_page]
