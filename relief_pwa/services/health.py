"""Readiness: the database answers a query."""

from __future__ import annotations

from relief_pwa.tables import OrgUnit


async def check_database() -> str:
    await OrgUnit.count()
    return str(OrgUnit._meta.db.engine_type)
