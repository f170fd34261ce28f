"""``scripts/pitr-drill``: WAL archiving, a base backup and a restore to a recovery
target time, on PostgreSQL clusters of its own (docs/scale.md, "Point-in-time recovery")."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DRILL = REPO_ROOT / "scripts" / "pitr-drill"
NEEDED = ("initdb", "pg_ctl", "pg_basebackup", "psql", "postgres")


def _major_version(bindir: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bindir))


def postgres_bindir() -> Path | None:
    """The server binaries, found as scripts/lib/postgres.sh finds them."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    complete = [
        path
        for path in glob.glob("/usr/lib/postgresql/*/bin")
        if all(os.access(Path(path, name), os.X_OK) for name in NEEDED)
    ]
    if complete:
        return Path(max(complete, key=_major_version))
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).resolve().parent if pg_ctl else None


def skip_reason() -> str:
    bindir = postgres_bindir()
    if bindir is None or not all(os.access(bindir / name, os.X_OK) for name in NEEDED):
        return "PostgreSQL server binaries not installed (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no 'postgres' user for initdb and the server"
    return ""


def free_ports(count: int) -> list[int]:
    """Ports free right now: the suite runs twice at once in CI, so no fixed port."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.slow
@pytest.mark.engine_free  # clusters of its own: the SQLite suite runs it
@pytest.mark.skipif(bool(skip_reason()), reason=skip_reason() or "runs")
def test_pitr_drill_restores_to_the_target_time_and_audit_verify_names_the_lost_tail():
    primary_port, restore_port = free_ports(2)
    command = ["bash", str(DRILL), "--port", str(primary_port), "--restore-port", str(restore_port)]
    with subprocess.Popen(
        [*command, "--python", sys.executable], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as drill:
        try:
            output, errors = drill.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            drill.terminate()  # the drill stops its clusters on SIGTERM; SIGKILL would leave them running
            output, errors = drill.communicate(timeout=60)
            pytest.fail(f"the drill took more than 240 s:\n{output}\n{errors}")
    report = f"stdout:\n{output}\nstderr:\n{errors}"
    assert drill.returncode == 0, report
    assert "archive_mode=on archive_timeout=10 wal_level=replica" in output, report
    assert "base.tar.gz" in output and "pg_wal.tar.gz" in output, report
    assert "created staff pitr_marker_a" in output and "created staff pitr_marker_b" in output, report

    # The restore replayed the archive up to the target and stopped at marker B's commit.
    target = re.search(r"recovery_target_time = '([^']+)'", output)
    assert target, report
    assert "recovery stopping before commit of transaction" in output, report
    assert re.search(r"promoted: timeline 2, read-write", output), report
    assert "the restored database holds: pitr_marker_a\n" in output, report
    assert "ok: marker A (written before the target) is there" in output, report
    assert "ok: marker B (written after the target) is not there" in output, report

    # The checkpoint published after the target is named as the lost tail; the ones before it hold.
    chain_ends = [int(seq) for seq in re.findall(r"the audit chain ends at event (\d+)", output)]
    assert len(chain_ends) == 2 and chain_ends[1] > chain_ends[0], report
    seq_a, seq_b = chain_ends
    assert (
        f"audit chain BROKEN at event {seq_a + 1}: Events were deleted from the end" in output
        and f"saw event {seq_b}, the chain now ends at event {seq_a}." in output
    ), report
    assert f"audit chain OK: {seq_a} events verified, 2 published checkpoints match" in output, report
    assert re.search(r"^pitr-drill: PASSED in [\d.]+ s$", output, re.MULTILINE), report

    # Its clusters are stopped and its folder is gone.
    folder = re.search(r"; folder (\S+)$", output, re.MULTILINE)
    assert folder, report
    assert not Path(folder.group(1)).exists(), report
    for port in (primary_port, restore_port):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on {port}"
