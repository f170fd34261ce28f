"""`relief-pwa retention` on a fresh SQLite database: a dry run by default, a run that deletes and
audits, and a refused retention setting; two runs at once on the test database (SQLite or
PostgreSQL): the second refuses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from relief_pwa.tables import AuditEvent, LoginAttempt
from tests.test_cli import run


@pytest.mark.slow
def test_retention_dry_run_then_run(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    database = tmp_path / "relief.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute(
            "INSERT INTO login_attempt (username, client, at)"
            " VALUES ('x', '1.2.3.4', '2020-01-01T00:00:00+00:00')"
        )
    dry = run(tmp_path, "retention")
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and "login_attempts: 1 rows to delete" in dry.stdout
    assert "audit_trail: kept" in dry.stdout
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM login_attempt").fetchone()[0] == 1
    done = run(tmp_path, "retention", "--run")
    assert done.returncode == 0, done.stderr
    assert "login_attempts: 1 rows deleted" in done.stdout
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM login_attempt").fetchone()[0] == 0
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_event ORDER BY seq")]
    assert actions == ["retention.delete"]
    assert run(tmp_path, "audit", "verify").returncode == 0


def test_a_period_below_the_legal_minimum_refuses_to_start(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RELIEF_VAR_DIR": str(tmp_path),
        "RELIEF_MODE": "demo",
        "RELIEF_RETENTION_DAYS": "access_log=30",
    }
    env.pop("RELIEF_DATABASE_URL", None)
    refused = subprocess.run(
        [sys.executable, "-m", "relief_pwa", "retention"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and "RELIEF_RETENTION_DAYS" in refused.stderr


ATTEMPTS = 30


@pytest.mark.slow
async def test_two_concurrent_runs_do_each_batch_once(db: Any) -> None:
    """Two ``retention --run`` processes on the test database (SQLite or PostgreSQL): the first is
    frozen mid-run holding the lock, the second refuses with its own exit code, and once the first
    goes on every batch is done exactly once (one audit event per one-row batch)."""
    old = datetime(2020, 1, 1, tzinfo=UTC)
    for i in range(ATTEMPTS):
        await LoginAttempt.insert(LoginAttempt(username=f"u{i}", client="1.2.3.4", at=old))
    command = [sys.executable, "-m", "relief_pwa", "retention", "--run", "--batch", "1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the test database, from tests/conftest.py
    first = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert first.stdout is not None
        while b"rows so far" not in (line := await asyncio.wait_for(first.stdout.readline(), 120)):
            assert line, "the first run ended before its first batch"
        first.send_signal(signal.SIGSTOP)  # it holds the lock, wherever in its loop it stopped
        second = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        blocked = False
        try:
            out, err = await asyncio.wait_for(second.communicate(), 8)
        except TimeoutError:
            # On SQLite the frozen run may sit inside a write transaction: the second then waits
            # for the write lock, and once the first goes on it either finds the lease held or,
            # on a loaded machine, comes in after the first has finished and finds nothing to do.
            # Either way each batch is done once (checked below).
            blocked = True
            first.send_signal(signal.SIGCONT)
            out, err = await asyncio.wait_for(second.communicate(), 120)
        with contextlib.suppress(ProcessLookupError):  # the first may have finished meanwhile
            first.send_signal(signal.SIGCONT)
        if not blocked:
            assert second.returncode == 3, (out, err)
            assert b"another retention run is in progress" in err and b"rows deleted" not in out
        else:
            assert second.returncode in (0, 3), (out, err)
        rest, first_err = await asyncio.wait_for(first.communicate(), 120)
        assert first.returncode == 0, first_err
        assert b"login_attempts: " in rest
    finally:
        if first.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                first.send_signal(signal.SIGCONT)
                first.kill()
            await first.wait()
    assert await LoginAttempt.count() == 0
    events = await AuditEvent.select(AuditEvent.after).where(AuditEvent.action == "retention.delete")
    payloads = [json.loads(e["after"]) for e in events]
    assert [(p["rule"], p["rows"]) for p in payloads] == [("login_attempts", 1)] * ATTEMPTS
