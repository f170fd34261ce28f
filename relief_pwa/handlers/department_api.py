"""The read-only JSON API for relief departments' own systems (docs/departments.md).

``Authorization: Bearer <token>`` (a department token, created by the city): the
call acts as the department's API account, through the same service functions
as its staff's pages, so it sees exactly what they see; every call is rate
limited (services/ratelimit.py) and logged (services/access_log.py). The
OpenAPI schema of these routes is served at ``/api/departments/v1/openapi.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath, FromQuery

from relief_pwa.core.errors import AccessRefused, DomainError
from relief_pwa.handlers.common import PUBLIC, client_address, now_of
from relief_pwa.services import access_log, departments, ratelimit, referrals
from relief_pwa.services.actors import Actor

PREFIX = "/api/departments/v1"


@dataclass(frozen=True)
class HouseholdItem:
    id: int
    file_no: str
    head_name: str
    categories: list[str]


@dataclass(frozen=True)
class HouseholdPage:
    department_kind: str
    total: int
    page: int
    page_size: int
    households: list[HouseholdItem]


@dataclass(frozen=True)
class HouseholdView:
    id: int
    department_kind: str
    fields: dict[str, Any]
    members: list[dict[str, Any]]


@dataclass(frozen=True)
class ReferralItem:
    id: int
    household: int
    application: int | None
    category: str
    status: str
    due_on: str
    created_at: str
    answered_at: str | None
    decided_at: str | None
    decision: str
    reason: str
    request: str


@dataclass(frozen=True)
class ApiError:
    error: str


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(content=asdict(ApiError(message)), status_code=status, headers=headers or {})


async def _actor(request: Request[Any, Any, Any]) -> Actor | Response[Any]:
    """The department API actor of the bearer token, or the refusal to send."""
    limiter = ratelimit.DEPARTMENT_API
    decision = limiter.hit(f"addr:{client_address(request)}")
    if not decision.allowed:
        return _error(429, "rate limited", {"Retry-After": str(decision.retry_after_seconds)})
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    actor = await departments.actor_for_token(token) if token else None
    if actor is None:
        return _error(401, "invalid or revoked token", {"WWW-Authenticate": "Bearer"})
    decision = limiter.hit(f"dept:{actor.org_unit_id}")
    if not decision.allowed:
        return _error(429, "rate limited", {"Retry-After": str(decision.retry_after_seconds)})
    return actor


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def api_households(
    request: Request[Any, Any, Any], page: FromQuery[int] = 1, page_size: FromQuery[int] = 50
) -> Response[HouseholdPage]:
    """Households in the department's area qualifying for its relief (paged)."""
    actor = await _actor(request)
    if isinstance(actor, Response):
        return actor
    result = await departments.qualifying_households(
        actor, now=now_of(request), page=max(1, min(page, 100_000)), page_size=page_size
    )
    body = HouseholdPage(
        result.kind,
        result.total,
        result.page,
        result.page_size,
        [HouseholdItem(r["id"], r["file_no"], r["head_name"], r["categories"]) for r in result.rows],
    )
    return Response(content=body)


async def api_household(
    request: Request[Any, Any, Any], household_id: FromPath[int]
) -> Response[HouseholdView]:
    """One household as the department sees it (its field-level view)."""
    actor = await _actor(request)
    if isinstance(actor, Response):
        return actor
    try:
        view = await departments.department_view(actor, household_id, now=now_of(request), purpose="api")
    except (AccessRefused, DomainError):
        return _error(404, "not found")
    return Response(content=HouseholdView(view.household_id, view.kind, view.fields, view.members))


async def api_referrals(
    request: Request[Any, Any, Any], open_only: FromQuery[bool] = True
) -> Response[list[ReferralItem]]:
    """Referrals sent to the department (open ones by default)."""
    actor = await _actor(request)
    if isinstance(actor, Response):
        return actor
    rows = await referrals.list_referrals(actor, open_only=open_only)
    access_log.note_read(
        actor, "department.referrals", now=now_of(request), entity_type="referral", purpose="api"
    )
    return Response(
        content=[
            ReferralItem(
                r["id"],
                r["household"],
                r["application"],
                r["category"],
                r["status"],
                r["due_on"].isoformat(),
                r["created_at"].isoformat(),
                _iso(r["answered_at"]),
                _iso(r["decided_at"]),
                r["decision"],
                r["reason"],
                r["request"],
            )
            for r in rows
        ]
    )


def _api_handlers() -> list[Any]:
    """Fresh route handlers (the schema is generated from a copy registered on its own)."""
    return [
        get(f"{PREFIX}/households", opt=PUBLIC, name="api_department_households")(api_households),
        get(f"{PREFIX}/households/{{household_id:int}}", opt=PUBLIC, name="api_department_household")(
            api_household
        ),
        get(f"{PREFIX}/referrals", opt=PUBLIC, name="api_department_referrals")(api_referrals),
    ]


_SCHEMA: dict[str, Any] = {}


def openapi_schema() -> dict[str, Any]:
    """The OpenAPI document of the department API (Litestar's, for these routes only)."""
    if not _SCHEMA:
        docs_app = Litestar(
            route_handlers=_api_handlers(),
            openapi_config=OpenAPIConfig(
                title="Sunshine Relief department API",
                version="1.0.0",
                description="Read-only access for relief departments' own systems. "
                "Send `Authorization: Bearer <token>`; see docs/departments.md.",
            ),
        )
        schema = docs_app.openapi_schema.to_schema()
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
        }
        schema["security"] = [{"bearer": []}]
        _SCHEMA.update(schema)
    return _SCHEMA


@get(f"{PREFIX}/openapi.json", opt=PUBLIC, name="api_department_openapi")
async def api_openapi() -> Response[dict[str, Any]]:
    return Response(content=openapi_schema())


ROUTES = [*_api_handlers(), api_openapi]
