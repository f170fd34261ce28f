"""Public pages, no login: notice boards, QR posters, policies, objections, digest check.

Boards, posters and policies are cacheable (Cache-Control + ETag, no cookie
set, no CSRF token in the page). Every public route is rate-limited per
client address before anything else runs: over the limit the answer is a
small 429 page, with no database access at all.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect

from relief_pwa.adapters.qr import qr_png
from relief_pwa.clock import local_date
from relief_pwa.core.enums import Category, OrgLevel
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden, PermissionDenied, ValidationFailed
from relief_pwa.handlers.assets import manifest
from relief_pwa.handlers.common import (
    PUBLIC,
    C,
    client_address,
    first,
    flash,
    form_errors,
    needs,
    now_of,
    public_base_url,
    render,
)
from relief_pwa.handlers.replica import REPLICA_READS
from relief_pwa.i18n import current_language, gettext
from relief_pwa.services import objections as objection_service
from relief_pwa.services import policies as policy_service
from relief_pwa.services import public_boards
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.ratelimit import PUBLIC_READS, PUBLIC_WRITES, Decision
from relief_pwa.services.rules import quoted_rules

# Public pages carry no identity: no session is loaded or stored (an anonymous
# visit writes nothing), and cacheable pages set no CSRF cookie either.
PUBLIC_OPT = {"exclude_from_csrf": True, "skip_session": True, **PUBLIC}
PUBLIC_FORM_OPT = {"skip_session": True, **PUBLIC}
BOARD_MAX_AGE = 60
RECIPIENTS_PER_PAGE = 500
_TOO_MANY = (
    "<!doctype html><html><head><meta charset=utf-8><meta name=viewport content='width=device-width'>"
    "<title>429</title></head><body><h1>429</h1><p>{}</p></body></html>"
)


def client_key(request: Request[Any, Any, Any]) -> str:
    return client_address(request)


def _refusal(decision: Decision) -> Response[str] | None:
    if decision.allowed:
        return None
    return Response(
        _TOO_MANY.format(gettext("Too many requests; please wait a moment.")),
        status_code=429,
        media_type="text/html; charset=utf-8",
        headers={"retry-after": str(decision.retry_after_seconds), "cache-control": "no-store"},
    )


async def limit_reads(request: Request[Any, Any, Any]) -> Response[str] | None:
    """before_request of every public page: refuse quickly over the per-address limit."""
    return _refusal(PUBLIC_READS.hit(client_key(request)))


async def limit_writes(request: Request[Any, Any, Any]) -> Response[str] | None:
    """Writes are counted across processes before they go on (services/ratelimit.py)."""
    key = client_key(request)
    return _refusal(PUBLIC_READS.hit(key)) or _refusal(await PUBLIC_WRITES.hit_now(key))


def _etag(*parts: object) -> str:
    # The static files' digest too: a page names them by hashed name.
    seed = "|".join(str(p) for p in (*parts, current_language.get(), manifest().digest))
    return '"' + hashlib.sha256(seed.encode()).hexdigest()[:32] + '"'


def _not_modified(request: Request[Any, Any, Any], etag: str) -> bool:
    header = request.headers.get("if-none-match", "")
    return etag in [tag.strip().removeprefix("W/") for tag in header.split(",")]


def _cache_headers(etag: str, max_age: int = BOARD_MAX_AGE) -> dict[str, str]:
    return {"etag": etag, "cache-control": f"public, max-age={max_age}", "vary": "Cookie, Accept-Language"}


# Rendered public pages by ETag. A public page is a pure function of its data and
# language (no session, no CSRF token), and the ETag covers both, so a page with
# a known ETag never needs rendering again. Bounded: least recently used go first.
_rendered: OrderedDict[str, bytes] = OrderedDict()
RENDERED_MAX = 512


def _cached_page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    etag: str,
    max_age: int = BOARD_MAX_AGE,
) -> Response[Any]:
    headers = _cache_headers(etag, max_age)
    if _not_modified(request, etag):
        return Response(b"", status_code=304, headers=headers)
    key = f"{template}|{etag}"
    body = _rendered.get(key)
    if body is None:
        body = str(render(request, template, context).content).encode("utf-8")
        _rendered[key] = body
        if len(_rendered) > RENDERED_MAX:
            _rendered.popitem(last=False)
    else:
        _rendered.move_to_end(key)
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


def clear_rendered() -> None:
    _rendered.clear()


def board_url(request: Request[Any, Any, Any], code: str) -> str:
    return f"{public_base_url(request)}/board/{code}"


# --- boards ---------------------------------------------------------------------


@get("/public", name="public_home", opt=PUBLIC_OPT, before_request=limit_reads)
async def public_home(request: Request[Any, Any, Any]) -> Response[Any]:
    directory = await public_boards.get_directory()
    policies = await policy_service.list_policies()
    etag = _etag("home", *(d.code for d in directory.districts), *(p.slug + str(p.version) for p in policies))
    return _cached_page(request, "public/index.html", {"directory": directory, "policies": policies}, etag)


@get("/board/{code:str}", name="board", opt={**PUBLIC_OPT, **REPLICA_READS}, before_request=limit_reads)
async def board_page(
    request: Request[Any, Any, Any],
    *,
    code: FromPath[str],
    page: Annotated[int, QueryParameter(ge=1, le=10000)] = 1,
) -> Response[Any]:
    board = await public_boards.get_board(code, now_of(request))
    pages = max(1, -(-len(board.recipients) // RECIPIENTS_PER_PAGE))
    page = min(page, pages)
    recipients = board.recipients[(page - 1) * RECIPIENTS_PER_PAGE : page * RECIPIENTS_PER_PAGE]
    context = {
        "board": board,
        "recipients": recipients,
        "page": page,
        "pages": pages,
        "short_digest": public_boards.short_digest,
        "is_community": board.unit.level == OrgLevel.COMMUNITY,
    }
    return _cached_page(request, "public/board.html", context, _etag("board", board.etag_seed, page))


@get(
    "/board/{code:str}/poster",
    name="board_poster",
    opt={**PUBLIC_OPT, **REPLICA_READS},
    before_request=limit_reads,
)
async def board_poster(request: Request[Any, Any, Any], *, code: FromPath[str]) -> Response[Any]:
    unit = await public_boards.get_unit(code)
    if unit.level not in public_boards.BOARD_LEVELS:
        raise NotFoundOrForbidden()
    office = await public_boards.office_for(unit.path)
    trail = await public_boards.trail_for(unit)
    answer_days = (await quoted_rules(local_date(now_of(request)))).objection_answer_working_days
    context = {
        "unit": unit,
        "office": office,
        "url": board_url(request, code),
        "trail": trail,
        "answer_days": answer_days,
    }
    etag = _etag("poster", code, office, context["url"], answer_days)
    return _cached_page(request, "public/poster.html", context, etag, 3600)


@get("/board/{code:str}/qr.png", name="board_qr", opt=PUBLIC_OPT, before_request=limit_reads)
async def board_qr(request: Request[Any, Any, Any], *, code: FromPath[str]) -> Response[bytes]:
    unit = await public_boards.get_unit(code)
    url = board_url(request, unit.code)
    etag = _etag("qr", url)
    if _not_modified(request, etag):
        return Response(b"", status_code=304, headers=_cache_headers(etag, 86400))
    return Response(qr_png(url, box_size=10), media_type="image/png", headers=_cache_headers(etag, 86400))


# --- verifying a printed list ------------------------------------------------------


@get("/public/verify", name="public_verify", opt=PUBLIC_OPT, before_request=limit_reads)
async def verify_page(request: Request[Any, Any, Any], *, digest: FromQuery[str] = "") -> Response[Any]:
    errors: dict[str, str] = {}
    results: list[public_boards.Publication] = []
    searched = bool(digest.strip())
    if searched:
        try:
            results = await public_boards.verify_digest(digest[:100])
        except DomainError as exc:
            errors = form_errors(exc)
    context = {"digest": digest[:100], "results": results, "errors": errors, "searched": searched}
    return render(request, "public/verify.html", context, headers={"cache-control": "no-store"})


# --- policies --------------------------------------------------------------------------


@get("/public/policies", name="public_policies", opt=PUBLIC_OPT, before_request=limit_reads)
async def policies_page(request: Request[Any, Any, Any]) -> Response[Any]:
    policies = await policy_service.list_policies()
    etag = _etag("policies", *(f"{p.slug}:{p.version}" for p in policies))
    return _cached_page(request, "public/policies.html", {"policies": policies}, etag)


@get("/public/policies/{slug:str}", name="public_policy", opt=PUBLIC_OPT, before_request=limit_reads)
async def policy_page(
    request: Request[Any, Any, Any],
    *,
    slug: FromPath[str],
    version: Annotated[int | None, QueryParameter(ge=1, le=100000)] = None,
) -> Response[Any]:
    policy = await policy_service.get_policy(slug, version)
    history = await policy_service.policy_history(slug)
    etag = _etag("policy", slug, policy.version, policy.latest_version)
    return _cached_page(request, "public/policy.html", {"policy": policy, "history": history}, etag)


# --- objections and complaints -------------------------------------------------------


async def _objection_context(
    request: Request[Any, Any, Any], notice: str, recipient: str, board: str, values: dict[str, str]
) -> dict[str, Any]:
    context = await objection_service.describe_target(notice, recipient, board, now=now_of(request))
    return {**context, "values": values}


@get("/public/objections/new", name="objection_form", opt=PUBLIC_FORM_OPT, before_request=limit_reads)
async def objection_form(
    request: Request[Any, Any, Any],
    *,
    notice: FromQuery[str] = "",
    recipient: FromQuery[str] = "",
    board: FromQuery[str] = "",
    kind: FromQuery[str] = "",
) -> Response[Any]:
    context = await _objection_context(
        request,
        notice[:12],
        recipient[:12],
        board[:12],
        {"kind": kind if kind in objection_service.KINDS else ""},
    )
    context.update(errors={}, categories=list(Category))
    return render(request, "public/objection_form.html", context, headers={"cache-control": "no-store"})


@post("/public/objections", name="objection_submit", opt=PUBLIC_FORM_OPT, before_request=limit_writes)
async def objection_submit(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await request.form()
    if first(form, "website", 200):  # honeypot field, invisible to people
        return Redirect("/public/objections/status", status_code=303)
    values = {
        name: first(form, name, limit)
        for name, limit in (
            ("kind", 20),
            ("body", 4000),
            ("contact_name", 60),
            ("contact_phone", 30),
            ("about", 120),
            ("notice", 12),
            ("recipient", 12),
            ("board", 12),
        )
    }
    channel = "board" if first(form, "from_board", 5) == "1" else "web"
    values["from_board"] = "1" if channel == "board" else ""
    try:
        notice_id = objection_service.check_form_ids(values["notice"], "notice")
        recipient_id = objection_service.check_form_ids(values["recipient"], "recipient")
        filed = await objection_service.file_objection(
            kind=values["kind"],
            body=values["body"],
            now=now_of(request),
            channel=channel,
            notice_id=notice_id,
            recipient_application_id=recipient_id,
            board_code=values["board"],
            about=values["about"],
            contact_name=values["contact_name"],
            contact_phone=values["contact_phone"],
        )
    except DomainError as exc:
        context = await _objection_context(
            request, values["notice"], values["recipient"], values["board"], values
        )
        context.update(errors=form_errors(exc), categories=list(Category))
        return render(
            request,
            "public/objection_form.html",
            context,
            status_code=400,
            headers={"cache-control": "no-store"},
        )
    return render(
        request, "public/objection_filed.html", {"filed": filed}, headers={"cache-control": "no-store"}
    )


@get("/public/objections/status", name="objection_status", opt=PUBLIC_OPT, before_request=limit_reads)
async def objection_status(request: Request[Any, Any, Any], *, code: FromQuery[str] = "") -> Response[Any]:
    errors: dict[str, str] = {}
    status = None
    if code.strip():
        try:
            status = await objection_service.get_public_status(code[:30])
        except DomainError as exc:
            errors = form_errors(exc)
    context = {
        "code": code[:30],
        "status": status,
        "errors": errors,
        "status_label": objection_service.status_label,
        "kind_label": objection_service.kind_label,
    }
    return render(request, "public/objection_status.html", context, headers={"cache-control": "no-store"})


# --- policy editing (city staff) ------------------------------------------------------------


def _require_editor(actor: Actor) -> None:
    require(actor, C.POLICIES_EDIT)


@get("/policies", name="policy_admin", opt=needs(C.POLICIES_READ))
async def policy_admin(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    policies = await policy_service.list_policies()
    return render(
        request, "public/policy_admin.html", {"policies": policies, "can_edit": actor.can(C.POLICIES_EDIT)}
    )


@get("/policies/new", name="policy_new", opt=needs(C.POLICIES_EDIT))
async def policy_new(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    _require_editor(actor)
    context = {"values": {"slug": "", "title": "", "body": ""}, "errors": {}, "is_new": True, "version": None}
    return render(request, "public/policy_edit.html", context)


@get("/policies/{slug:str}/edit", name="policy_edit", opt=needs(C.POLICIES_EDIT))
async def policy_edit(
    request: Request[Any, Any, Any], *, slug: FromPath[str], actor: NamedDependency[Actor]
) -> Response[Any]:
    _require_editor(actor)
    policy = await policy_service.get_policy(slug)
    context = {
        "values": {"slug": policy.slug, "title": policy.title, "body": policy.body},
        "errors": {},
        "is_new": False,
        "version": policy.version,
    }
    return render(request, "public/policy_edit.html", context)


@post("/policies", name="policy_publish", opt=needs(C.POLICIES_EDIT))
async def policy_publish(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[Any]:
    form = await request.form()
    values = {
        "slug": first(form, "slug", 80),
        "title": first(form, "title", 300),
        "body": first(form, "body", 60_000),
    }
    raw_version = first(form, "version", 8)
    version = int(raw_version) if raw_version.isdecimal() else None
    try:
        published = await policy_service.do_publish_policy(
            actor,
            slug=values["slug"],
            title=values["title"],
            body=values["body"],
            now=now_of(request),
            based_on_version=version,
        )
    except ValidationFailed as exc:
        context = {
            "values": values,
            "errors": form_errors(exc),
            "is_new": version is None,
            "version": version,
        }
        return render(request, "public/policy_edit.html", context, status_code=400)
    except DomainError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        context = {
            "values": values,
            "errors": form_errors(exc),
            "is_new": version is None,
            "version": version,
        }
        return render(request, "public/policy_edit.html", context, status_code=409)
    flash(request, gettext("Published version %(v)s.") % {"v": published})
    return Redirect("/policies", status_code=303)


ROUTES: list[Any] = [
    public_home,
    board_page,
    board_poster,
    board_qr,
    verify_page,
    policies_page,
    policy_page,
    objection_form,
    objection_submit,
    objection_status,
    policy_admin,
    policy_new,
    policy_edit,
    policy_publish,
]
