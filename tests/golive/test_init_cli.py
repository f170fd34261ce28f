"""``relief-pwa init`` in production mode on a fresh SQLite file, then create-user with an org code."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import production_keys

# One set of keys for every command of a test: the database is sealed under them.
KEYS = production_keys()


def run(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RELIEF_VAR_DIR": str(var_dir),
        "RELIEF_MODE": "production",
        **KEYS,
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
    # 1 city + 13 districts + 164 streets, and the 9 shipped relief departments (docs/departments.md).
    assert "187 org units" in first.stdout and "city account admin" in first.stdout
    second = run(tmp_path, "init", "--admin", "admin")  # no password asked: the account exists
    assert second.returncode == 0, second.stderr
    assert "nothing changed" in second.stdout
    created = run(
        tmp_path,
        "create-user",
        "jfl",
        "--role",
        "station",
        "--org",
        "370102001",
        "--password",
        "Quiet-river-1987",
    )
    assert created.returncode == 0, created.stderr
    with sqlite3.connect(tmp_path / "relief.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM staff").fetchone()[0] == 2
    assert run(tmp_path, "audit", "verify").returncode == 0


@pytest.mark.slow
def test_import_org_after_init_with_a_dry_run_first(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("Quan-cheng 2026 spring\n")
    assert run(tmp_path, "init", "--admin", "admin", "--password-file", str(secret)).returncode == 0
    org = tmp_path / "org.csv"
    org.write_text(
        "代码,名称,所属街道,地址,电话\n370102001001,解放路社区,370102001,解放路1号,0531-86011111\n"
    )
    trial = run(tmp_path, "import-org", str(org), "--dry-run")
    assert trial.returncode == 0 and "dry run, nothing written: 1 new" in trial.stdout
    loaded = run(tmp_path, "import-org", str(org))
    assert loaded.returncode == 0 and "imported: 1 new" in loaded.stdout
    again = run(tmp_path, "import-org", str(org))
    assert "0 new, 0 renamed, 0 office details changed, 1 unchanged" in again.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,parent\n370102001002,和平社区,999999999\n")
    refused = run(tmp_path, "import-org", str(bad))
    assert refused.returncode != 0 and "line 2 (370102001002)" in refused.stderr
    created = run(
        tmp_path,
        "create-user",
        "liaison1",
        "--role",
        "liaison",
        "--org",
        "370102001001",
        "--password",
        "Quiet-river-1987",
    )
    assert created.returncode == 0, created.stderr


@pytest.mark.slow
def test_load_calendar_from_a_file(tmp_path):
    assert run(tmp_path, "migrate").returncode == 0
    notice = tmp_path / "2027.csv"
    notice.write_text("date,kind,name\n2027-02-09,holiday,春节\n2027-02-20,workday,春节调休上班\n")
    loaded = run(tmp_path, "load-calendar", str(notice))
    assert loaded.returncode == 0 and "2 days added or changed" in loaded.stdout, loaded.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("2027-02-30,holiday,x\n")
    refused = run(tmp_path, "load-calendar", str(bad))
    assert refused.returncode != 0 and "Line 1" in refused.stderr
