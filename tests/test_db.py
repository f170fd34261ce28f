"""The database engine as the project configures it."""

from __future__ import annotations

from typing import Any

import pytest
from piccolo.querystring import QueryString


async def test_postgresql_plans_every_statement_for_its_values(db: Any) -> None:
    """asyncpg prepares statements; PostgreSQL's generic plan for a reused one
    ignores the values (a dashboard query went from 150 ms to 12 s after five runs)."""
    if db.engine_type != "postgres":
        pytest.skip("PostgreSQL only: SQLite plans each statement as it is prepared")
    rows = await db.run_querystring(QueryString("SHOW plan_cache_mode"))
    assert [dict(row) for row in rows] == [{"plan_cache_mode": "force_custom_plan"}]
