"""The relief-pwa command line on a fresh SQLite database of its own."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


def run(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RELIEF_VAR_DIR": str(var_dir), "RELIEF_MODE": "demo"}
    env.pop("RELIEF_DATABASE_URL", None)
    env.pop("RELIEF_MEDIA_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "relief_pwa", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_migrate_create_user_and_audit_verify(tmp_path):
    fresh = run(tmp_path, "migrate")
    assert fresh.returncode == 0
    # One truthful line: on an empty database nothing was "already complete".
    assert "already complete" not in fresh.stdout and "not yet run" not in fresh.stdout
    assert re.search(r"migrations: \d+ applied", fresh.stdout), fresh.stdout
    again = run(tmp_path, "migrate")
    assert "none to apply" in again.stdout, again.stdout
    database = tmp_path / "relief.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute(
            "INSERT INTO org_unit (code, name, level, parent, path, area_type, office_name, office_address,"
            " hotline, supervision_hotline, active) VALUES ('370100', '济南市', 'city', NULL, '370100/',"
            " 'urban', '', '', '', '', 1)"
        )
    created = run(
        tmp_path, "create-user", "admin", "--role", "city", "--org", "370100", "--password", "long-password"
    )
    assert created.returncode == 0, created.stderr
    refused = run(
        tmp_path, "create-user", "x1", "--role", "liaison", "--org", "370100", "--password", "long-password"
    )
    assert refused.returncode != 0  # a liaison belongs to a community, not the city
    verified = run(tmp_path, "audit", "verify")
    assert verified.returncode == 0 and "1 events verified" in verified.stdout
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE audit_event SET actor_label = 'someone else' WHERE seq = 1")
    broken = run(tmp_path, "audit", "verify")
    assert broken.returncode == 1 and "BROKEN at event 1" in broken.stdout


@pytest.mark.slow
def test_rescore_is_audited_and_leaves_the_chain_valid(tmp_path):
    assert run(tmp_path, "migrate").returncode == 0
    rescored = run(tmp_path, "rescore", "--workers", "2")
    assert rescored.returncode == 0, rescored.stderr
    assert "re-scored 0 households" in rescored.stdout
    with sqlite3.connect(tmp_path / "relief.sqlite3") as conn:
        actions = [row[0] for row in conn.execute("SELECT action FROM audit_event ORDER BY seq")]
    assert actions[-1] == "index.rescore_all"
    verified = run(tmp_path, "audit", "verify")
    assert verified.returncode == 0, verified.stdout


@pytest.mark.slow
def test_backup_wipe_restore_drill_and_a_cut_tail(tmp_path):
    assert run(tmp_path, "migrate").returncode == 0
    database = tmp_path / "relief.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute(
            "INSERT INTO org_unit (code, name, level, parent, path, area_type, office_name, office_address,"
            " hotline, supervision_hotline, active) VALUES ('370100', '济南市', 'city', NULL, '370100/',"
            " 'urban', '', '', '', '', 1)"
        )
    for name in ("admin", "admin2"):
        created = run(
            tmp_path,
            "create-user",
            name,
            "--role",
            "city",
            "--org",
            "370100",
            "--password",
            "long-password-1",
        )
        assert created.returncode == 0, created.stderr
    published = run(tmp_path, "audit", "checkpoint")
    assert published.returncode == 0 and "checkpoint published: event 2" in published.stdout
    assert database.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(database) as conn:
        before = {
            t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in ("staff", "audit_event")
        }
    out = tmp_path / "backups" / "relief.backup"
    made = run(tmp_path, "backup", str(out))
    assert made.returncode == 0, made.stderr
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"relief.sqlite3{suffix}").unlink(missing_ok=True)
    restored = run(tmp_path, "restore", str(out))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "audit chain OK: 2 events, 1 checkpoints" in restored.stdout
    with sqlite3.connect(database) as conn:
        after = {
            t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in ("staff", "audit_event")
        }
    assert after == before
    again = run(tmp_path, "restore", str(out))
    assert again.returncode == 1 and "not empty" in again.stderr
    # someone deletes the newest event (and the checkpoint rows): the chain still links, the file does not
    with sqlite3.connect(database) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq = 2")
        conn.execute("DELETE FROM audit_checkpoint")
    cut = run(tmp_path, "audit", "verify")
    assert cut.returncode == 1 and "BROKEN at event 2" in cut.stdout and "deleted from the end" in cut.stdout


def test_import_caseload_template_dry_run_and_refusal(tmp_path):
    assert run(tmp_path, "migrate").returncode == 0
    template = tmp_path / "template.xlsx"
    written = run(tmp_path, "import-caseload", "--template", str(template))
    assert written.returncode == 0 and template.is_file(), written.stderr
    checked = run(tmp_path, "import-caseload", str(template), "--dry-run")
    assert checked.returncode == 0, checked.stderr
    assert "0 households" in checked.stdout and "dry run" in checked.stdout
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "户号,社区,家庭住址,姓名,身份证号,与户主关系,劳动能力,救助类别,月保障金额,起始年月\n"
        "T-1,无此社区,解放路1号,张三,3.70102198001021E+17,户主,有劳动能力,低保,900,2024-03\n",
        encoding="utf-8",
    )
    report = tmp_path / "report.xlsx"
    refused = run(tmp_path, "import-caseload", str(roster), "--report", str(report))
    assert refused.returncode == 1
    assert "CSV row 2" in refused.stdout and report.is_file()
    with sqlite3.connect(tmp_path / "relief.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM household").fetchone()[0] == 0


@pytest.mark.slow
def test_tick_from_two_processes_does_each_task_once(tmp_path):
    assert run(tmp_path, "migrate").returncode == 0
    env = {**os.environ, "RELIEF_VAR_DIR": str(tmp_path), "RELIEF_MODE": "demo"}
    env.pop("RELIEF_DATABASE_URL", None)
    env.pop("RELIEF_MEDIA_DIR", None)
    command = [sys.executable, "-m", "relief_pwa", "tick", "--at", "2026-03-02T09:00"]
    both = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    both.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=120) for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    with sqlite3.connect(tmp_path / "relief.sqlite3") as conn:
        runs = conn.execute("SELECT task, day, status, attempts FROM scheduled_run ORDER BY task").fetchall()
    assert runs
    assert {(day, status, attempts) for _, day, status, attempts in runs} == {("2026-03-02", "done", 1)}
    again = run(tmp_path, "tick", "--at", "2026-03-02T10:00")
    assert again.returncode == 0 and "close_due_notices: skipped" in again.stdout, again.stdout


def test_worker_refuses_sqlite_where_the_app_runs_its_own_jobs(tmp_path):
    result = run(tmp_path, "worker")
    assert result.returncode != 0
    assert "needs PostgreSQL" in result.stderr


@pytest.mark.slow
def test_datacheck_export_and_import_from_the_command_line(tmp_path):
    assert run(tmp_path, "migrate").returncode == 0
    out = tmp_path / "batches"
    nothing = run(tmp_path, "datacheck", "export", str(out))
    assert nothing.returncode == 0 and "no check requests are waiting" in nothing.stdout, nothing.stderr
    refused = run(tmp_path, "datacheck", "export", "--agency", "vehicles", str(out))
    assert refused.returncode != 0 and "export refused" in refused.stderr
    assert run(tmp_path, "datacheck", "export", "--agency", "boats", str(out)).returncode != 0
    results = tmp_path / "results.csv"
    results.write_text(
        "batch,row,id_number,name,found,count,amount_yuan,detail\n"
        '1,1,370102198001021234,张三,1,1,"12,34",\n'
        "1,1,370102198001021234,张三,2,1,100,\n",
        encoding="utf-8",
    )
    bad = run(tmp_path, "datacheck", "import", str(results))
    assert bad.returncode != 0 and "import refused" in bad.stderr
    assert "row 2:" in bad.stderr and "row 3:" in bad.stderr  # every problem with its row
    with sqlite3.connect(tmp_path / "relief.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM datacheck_batch").fetchone()[0] == 0
