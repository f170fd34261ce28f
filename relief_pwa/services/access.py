"""The only way to load a protected row for an actor.

Each ``access_*`` function returns the row when it lies in the actor's org
subtree and raises :class:`NotFoundOrForbidden` otherwise, with the same
error for "does not exist" and "not yours" so the response does not reveal
which households exist elsewhere. Lists are filtered with :func:`in_scope`.
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import Column

from relief_pwa.core.errors import NotFoundOrForbidden
from relief_pwa.services.actors import Actor
from relief_pwa.tables import Application, Household, Member, OrgUnit


def in_scope(actor: Actor, org_path_column: Column) -> Any:
    """A WHERE clause limiting rows to the actor's jurisdiction (indexed prefix match)."""
    return org_path_column.like(f"{actor.org_path}%")


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


async def access_household(actor: Actor, household_id: int) -> Household:
    row = await Household.objects().where(Household.id == valid_id(household_id)).first()
    return _check(actor, row)  # type: ignore[no-any-return]


async def access_member(actor: Actor, member_id: int) -> Member:
    row = await Member.objects().where(Member.id == valid_id(member_id)).first()
    return _check(actor, row)  # type: ignore[no-any-return]


async def access_application(actor: Actor, application_id: int) -> Application:
    row = await Application.objects().where(Application.id == valid_id(application_id)).first()
    return _check(actor, row)  # type: ignore[no-any-return]


async def access_org_unit(actor: Actor, org_unit_id: int) -> OrgUnit:
    row = await OrgUnit.objects().where(OrgUnit.id == valid_id(org_unit_id)).first()
    if row is None or not row.path.startswith(actor.org_path):
        raise NotFoundOrForbidden()
    return row
