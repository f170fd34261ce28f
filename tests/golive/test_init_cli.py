"""``relief-pwa init`` in production mode on a fresh SQLite file, then create-user with an org code."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


def run(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RELIEF_VAR_DIR": str(var_dir),
        "RELIEF_MODE": "production",
        "RELIEF_SECRET_KEY": "k" * 40,
    }
    env.pop("RELIEF_DATABASE_URL", None)
    env.pop("RELIEF_MEDIA_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "relief_pwa", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_init_is_idempotent_and_create_user_works_after_it(tmp_path):
    weak = tmp_path / "weak"
    weak.write_text("password\n")
    refused = run(tmp_path, "init", "--admin", "admin", "--password-file", str(weak))
    assert refused.returncode != 0 and "init refused" in refused.stderr

    secret = tmp_path / "secret"
    secret.write_text("Quan-cheng 2026 spring\n")
    first = run(tmp_path, "init", "--admin", "admin", "--password-file", str(secret))
    assert first.returncode == 0, first.stderr
    assert "178 org units" in first.stdout and "city account admin" in first.stdout
    second = run(tmp_path, "init", "--admin", "admin")  # no password asked: the account exists
    assert second.returncode == 0, second.stderr
    assert "nothing changed" in second.stdout
    created = run(
        tmp_path, "create-user", "jfl", "--role", "station", "--org", "370102001", "--password", "x" * 14
    )
    assert created.returncode == 0, created.stderr
    with sqlite3.connect(tmp_path / "relief.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM staff").fetchone()[0] == 2
    assert run(tmp_path, "audit", "verify").returncode == 0
