"""`relief-pwa retention` on a fresh SQLite database: a dry run by default, a run that deletes and
audits, and a refused retention setting."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

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
