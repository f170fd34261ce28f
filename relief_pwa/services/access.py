"""The only way to load a protected row for an actor.

Each ``access_*`` function returns the row when it lies in the actor's org
subtree and raises :class:`NotFoundOrForbidden` otherwise, with the same
error for "does not exist" and "not yours" so the response does not reveal
which households exist elsewhere. Lists are filtered with :func:`in_scope`.

Some rows are scoped by more than the org subtree: a referral reaches the
department it was sent to, a department's resource and its API tokens belong
to a department unit. Their rules are here too, so a service never checks a
jurisdiction inline (tests/test_architecture.py holds the services to it).
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import Column

from relief_pwa.core.enums import OrgLevel
from relief_pwa.core.errors import NotFoundOrForbidden
from relief_pwa.services.actors import Actor
from relief_pwa.services.prepared import Prepared, Read
from relief_pwa.tables import (
    Application,
    DepartmentToken,
    Household,
    Member,
    OrgUnit,
    Referral,
    Resource,
    Visit,
)


def in_scope(actor: Actor, org_path_column: Column) -> Any:
    """A WHERE clause limiting rows to the actor's jurisdiction (indexed prefix match)."""
    return org_path_column.like(scope_pattern(actor))


def scope_pattern(actor: Actor) -> str:
    """The LIKE pattern of the actor's jurisdiction (for statements built with their values apart)."""
    return f"{actor.org_path}%"


def path_range(org_path_column: Column, prefix: str) -> Any | None:
    """On SQLite, the byte range holding every path under ``prefix`` (an index range), or None.

    SQLite's LIKE ignores case and so never uses an index: a station's prefix match would
    read the whole city's index. Paths are ASCII digits and "/", so under "a/b/" lies exactly
    ["a/b/", "a/b0") in byte order. PostgreSQL's LIKE uses its pattern index and needs no range.
    """
    bounds = path_bounds(org_path_column, prefix)
    return None if bounds is None else (org_path_column >= bounds[0]) & (org_path_column < bounds[1])


def path_bounds(org_path_column: Column, prefix: str) -> tuple[str, str] | None:
    """``path_range``'s (low, high), or None where no range is wanted."""
    if org_path_column._meta.table._meta.db.engine_type != "sqlite" or not prefix.endswith("/"):
        return None
    return prefix_bounds(prefix)


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """Every path under ``prefix`` ("a/b/") lies in ["a/b/", "a/b0") byte by byte: paths are
    ASCII digits and "/", and "0" follows "/"."""
    return prefix, prefix[:-1] + "0"


def within_jurisdiction(actor: Actor, org_path: str) -> bool:
    """Whether a row at ``org_path`` lies in the actor's jurisdiction (what a page may offer)."""
    return bool(actor.org_path) and org_path.startswith(actor.org_path)


MAX_ID = 2**31 - 1  # serial keys are 32-bit on PostgreSQL (core/bounds.py)


def valid_id(row_id: int) -> int:
    """Ids outside the database's integer range cannot exist: refuse them before querying."""
    if not 0 < row_id <= MAX_ID:
        raise NotFoundOrForbidden()
    return row_id


def _check(actor: Actor, row: Any) -> Any:
    if row is None or not actor.org_path or not row.org_path.startswith(actor.org_path):
        raise NotFoundOrForbidden()
    return row


# Every page loads its row through one of these: compiled once (services/prepared.py).
_HOUSEHOLD: Prepared[Household] = Prepared(lambda key: Household.objects().where(Household.id == key).first())
_MEMBER: Prepared[Member] = Prepared(lambda key: Member.objects().where(Member.id == key).first())
_APPLICATION: Prepared[Application] = Prepared(
    lambda key: Application.objects().where(Application.id == key).first()
)


async def access_household(actor: Actor, household_id: int) -> Household:
    row = await _HOUSEHOLD.first(valid_id(household_id))
    return _check(actor, row)  # type: ignore[no-any-return]


def household_read(household_id: int) -> Read:
    """The read ``access_household`` sends, for a page that sends it with others
    (``prefetched``): the row still reaches the page only through ``access_household``."""
    return (_HOUSEHOLD, (valid_id(household_id),))


async def access_member(actor: Actor, member_id: int) -> Member:
    row = await _MEMBER.first(valid_id(member_id))
    return _check(actor, row)  # type: ignore[no-any-return]


async def access_application(actor: Actor, application_id: int) -> Application:
    row = await _APPLICATION.first(valid_id(application_id))
    return _check(actor, row)  # type: ignore[no-any-return]


async def access_household_by_file_no(actor: Actor, file_no: str) -> Household:
    row = await Household.objects().where(Household.file_no == file_no[:40]).first()
    return _check(actor, row)  # type: ignore[no-any-return]


async def access_visit_row(actor: Actor, visit_id: int) -> dict[str, Any]:
    """A visit's whole row (services/visits.access_visit gives the page's view of it)."""
    row = await Visit.select().where(Visit.id == valid_id(visit_id)).first()
    if row is None or not actor.org_path or not str(row["org_path"]).startswith(actor.org_path):
        raise NotFoundOrForbidden()
    result: dict[str, Any] = row
    return result


def _unit_in_area(actor: Actor, row: OrgUnit | None) -> OrgUnit:
    if row is None or not row.path.startswith(actor.org_path):
        raise NotFoundOrForbidden()
    return row


async def access_org_unit(actor: Actor, org_unit_id: int) -> OrgUnit:
    row = await OrgUnit.objects().where(OrgUnit.id == valid_id(org_unit_id)).first()
    return _unit_in_area(actor, row)


async def access_org_unit_by_code(actor: Actor, code: str) -> OrgUnit:
    row = await OrgUnit.objects().where(OrgUnit.code == code.strip()[:20]).first()
    return _unit_in_area(actor, row)


async def access_department_unit(actor: Actor, unit_id: int) -> OrgUnit:
    """A relief department's unit in the actor's area (its administrators)."""
    row = await access_org_unit(actor, unit_id)
    if row.level != OrgLevel.DEPARTMENT:
        raise NotFoundOrForbidden()
    return row


async def access_department_token(actor: Actor, token_id: int) -> dict[str, Any]:
    """A department API token (id, revoked_at and its department's path) in the actor's area."""
    row = (
        await DepartmentToken.select(
            DepartmentToken.id, DepartmentToken.revoked_at, DepartmentToken.org_unit.path
        )
        .where(DepartmentToken.id == valid_id(token_id))
        .first()
    )
    if row is None or not str(row["org_unit.path"]).startswith(actor.org_path):
        raise NotFoundOrForbidden()
    result: dict[str, Any] = row
    return result


async def access_own_resource(actor: Actor, resource_id: int) -> dict[str, Any]:
    """One of the department's own resources in the pool (what its unit owns)."""
    row = await Resource.select().where(Resource.id == valid_id(resource_id)).first()
    if row is None or not actor.unit_path or not str(row["org_path"]).startswith(actor.unit_path):
        raise NotFoundOrForbidden()
    result: dict[str, Any] = row
    return result


async def access_referral(actor: Actor, referral_id: int) -> Referral:
    """A referral: a department reaches those sent to it; everyone else those of their area."""
    row = await Referral.objects().where(Referral.id == valid_id(referral_id)).first()
    if row is None:
        raise NotFoundOrForbidden()
    if actor.department_kind:
        if row.to_unit != actor.org_unit_id:
            raise NotFoundOrForbidden()
        return row
    return _check(actor, row)  # type: ignore[no-any-return]
