"""Test set-up: a throw-away database (SQLite, or the PostgreSQL named by
RELIEF_TEST_DATABASE_URL), migrated once, emptied after every test.

The environment is set before anything of the project is imported, so the
suite can never touch the demo database under ./var/.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="relief-test-"))
os.environ["RELIEF_VAR_DIR"] = str(_TMP)
os.environ["RELIEF_MEDIA_DIR"] = str(_TMP / "media")
os.environ["RELIEF_MODE"] = "demo"
os.environ["RELIEF_SECRET_KEY"] = "test-secret-key-" + "x" * 40
os.environ["RELIEF_DATABASE_URL"] = (
    os.environ.get("RELIEF_TEST_DATABASE_URL") or f"sqlite:///{_TMP / 'test.sqlite3'}"
)
os.environ["RELIEF_BOT_TOKEN"] = ""
os.environ["PICCOLO_CONF"] = "relief_pwa.piccolo_conf"

import httpx  # noqa: E402
import pytest_asyncio  # noqa: E402

from relief_pwa.clock import CHINA_TZ, FixedClock  # noqa: E402

TEST_NOW = datetime(2026, 11, 16, 9, 30, tzinfo=CHINA_TZ)  # a Monday


def pytest_report_header(config: pytest.Config) -> str:
    return f"relief database: {os.environ['RELIEF_DATABASE_URL'].split('@')[-1]}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that uses no test database gives the same result on either engine: CI runs the
    suite on both side by side, so such a test runs once, with the SQLite suite."""
    if not os.environ["RELIEF_DATABASE_URL"].startswith("postgres"):
        return
    once = pytest.mark.skip(reason="engine-free: the SQLite suite runs it")
    for item in items:
        if item.get_closest_marker("engine_free") or item.get_closest_marker("browser"):
            item.add_marker(once)


@pytest_asyncio.fixture(scope="session")
async def database() -> AsyncIterator[Any]:
    """Migrate a fresh schema once per session (this also tests the migrations)."""
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.engine.postgres import PostgresEngine

    from relief_pwa.db import BoundedSQLiteEngine
    from relief_pwa.piccolo_conf import DB
    from relief_pwa.services.wiring import register_listeners

    register_listeners()
    if isinstance(DB, PostgresEngine):
        await DB.start_connection_pool(min_size=1, max_size=8)
        await DB.run_ddl("DROP SCHEMA public CASCADE")
        await DB.run_ddl("CREATE SCHEMA public")
    result = await run_forwards("relief")
    assert result.success, result.message
    yield DB
    if isinstance(DB, PostgresEngine):
        import asyncio

        try:
            # A connection still checked out by a test's leftover task must not hang the end of the run.
            await asyncio.wait_for(DB.close_connection_pool(), timeout=20)
        except TimeoutError:
            pool = getattr(DB, "pool", None)
            if pool is not None:
                pool.terminate()
    else:
        assert isinstance(DB, BoundedSQLiteEngine)
        await DB.close_pool()


def _tables() -> list[Any]:
    from piccolo.table import sort_table_classes

    from relief_pwa.piccolo_app import APP_CONFIG

    return sort_table_classes(list(APP_CONFIG.table_classes))


@pytest_asyncio.fixture()
async def db(database: Any) -> AsyncIterator[Any]:
    """A database emptied after the test (tables in reverse dependency order)."""
    from relief_pwa.services import refcache
    from relief_pwa.services.access_log import discard_pending_reads

    refcache.reset_all()  # the emptied tables were another test's reference data
    yield database
    discard_pending_reads()
    (_TMP / "audit-checkpoints.jsonl").unlink(missing_ok=True)  # the published checkpoints go with the data
    tables = _tables()
    if database.engine_type == "postgres":
        names = ", ".join(t._meta.tablename for t in tables)
        # The job queue's tables too: a job left queued must not run in a later test
        # against a row that has since got its id.
        names += ", pgqueuer, pgqueuer_log, pgqueuer_schedules, pgqueuer_statistics"
        await database.run_ddl(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    else:
        from piccolo.querystring import QueryString

        from relief_pwa.db import write_transaction

        async with write_transaction(database):
            # Self-references (org_unit.parent) make any delete order fail; check at commit instead.
            await database.run_querystring(QueryString("PRAGMA defer_foreign_keys = ON"))
            for table in reversed(tables):
                await table.delete(force=True)


@pytest.fixture()
def clock() -> FixedClock:
    return FixedClock(TEST_NOW)


@pytest.fixture()
def now(clock: FixedClock) -> datetime:
    return clock.now()


@pytest_asyncio.fixture()
async def world(db: Any, now: datetime) -> Any:
    """A small real piece of Jinan with one staff account per role (see tests/factories.py)."""
    from tests.factories import build_world

    return await build_world(now)


@pytest_asyncio.fixture()
async def app(db: Any, clock: FixedClock) -> Any:
    from relief_pwa.app import create_app
    from relief_pwa.settings import load_settings

    return create_app(load_settings(), clock)


class Client(httpx.AsyncClient):
    """An httpx client over ASGI that knows the CSRF token of the last page."""

    csrf: str = ""

    async def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> httpx.Response:
        response = await super().request(method, url, *args, **kwargs)
        match = re.search(
            r'name="_csrf_token" value="([^"]+)"',
            response.text if "html" in response.headers.get("content-type", "") else "",
        )
        if match:
            self.csrf = match.group(1)
        return response

    async def ensure_csrf(self) -> str:
        if not self.csrf:
            await self.get("/login")
        return self.csrf

    async def post_form(
        self, url: str, data: dict[str, Any] | list[tuple[str, Any]], **kwargs: Any
    ) -> httpx.Response:
        token = await self.ensure_csrf()
        items = list(data.items()) if isinstance(data, dict) else list(data)
        form: dict[str, list[Any]] = {}
        for key, value in [*items, ("_csrf_token", token)]:
            form.setdefault(key, []).extend(value if isinstance(value, list) else [value])
        return await self.post(url, data=form, **kwargs)

    async def login(self, username: str, password: str = "sunshine-test") -> httpx.Response:
        self.csrf = ""
        response = await self.post_form(
            "/login", {"username": username, "password": password, "next": "/cases"}
        )
        assert response.status_code == 303, response.text[:500]
        self.csrf = ""
        return response


@pytest_asyncio.fixture()
async def client(app: Any) -> AsyncIterator[Client]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with Client(transport=transport, base_url="http://testserver", follow_redirects=False) as c:
        yield c


@pytest_asyncio.fixture()
async def make_client(app: Any) -> AsyncIterator[Any]:
    """Several independent browsers (sessions) against the same app."""
    clients: list[Client] = []

    def factory(host: str = "127.0.0.1") -> Client:
        c = Client(transport=httpx.ASGITransport(app=app, client=(host, 50000)), base_url="http://testserver")
        clients.append(c)
        return c

    yield factory
    for c in clients:
        await c.aclose()
