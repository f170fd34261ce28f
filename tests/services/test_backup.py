"""The restore drill: backup → wipe → restore → audit verify OK, identical rows and photos."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from relief_pwa.adapters.backupcrypt import MAGIC, BackupDecryptError, DecryptingReader, EncryptingWriter
from relief_pwa.services.applications import do_transition
from relief_pwa.services.audit import publish_checkpoint, verify_chain
from relief_pwa.services.backup import BackupError, create_backup, restore_backup, sqlite_row_counts
from relief_pwa.settings import get_settings
from tests.factories import make_intake


def test_encryption_round_trips_and_detects_tampering(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # a bit more than two chunks
    target = tmp_path / "x.bin"
    with target.open("wb") as raw:
        writer = EncryptingWriter(raw, "k" * 40)
        writer.write(data)
        writer.close()
    blob = target.read_bytes()
    assert blob.startswith(MAGIC) and data[:1000] not in blob
    with target.open("rb") as raw:
        assert DecryptingReader(raw, "k" * 40).read() == data
    with target.open("rb") as raw, pytest.raises(BackupDecryptError, match="wrong backup key"):
        DecryptingReader(raw, "other" * 10).read()
    target.write_bytes(blob[: len(blob) - 100])
    with target.open("rb") as raw, pytest.raises(BackupDecryptError, match="truncated"):
        DecryptingReader(raw, "k" * 40).read()


async def test_restore_drill(world: Any, now: Any, tmp_path: Path) -> None:
    settings = get_settings()
    if not settings.is_sqlite:
        pytest.skip("the PostgreSQL path needs pg_dump/pg_restore")
    result = await make_intake(world)
    await do_transition(world.actor("station"), result.application_id, "start_investigation", now=now)
    await publish_checkpoint(now=now)
    shutil.rmtree(settings.media_dir, ignore_errors=True)  # photos left by earlier tests (rows are gone)
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    (settings.media_dir / "ab").mkdir(exist_ok=True)
    (settings.media_dir / "ab" / "photo.jpg").write_bytes(b"\xff\xd8 evidence")
    before = sqlite_row_counts(settings.sqlite_path)
    assert (await verify_chain()).ok

    out = tmp_path / "backup.relief"
    made = await create_backup(settings, out, now=now)
    assert made.media_files == 1 and out.stat().st_mode & 0o777 == 0o600
    assert b"evidence" not in out.read_bytes() and b"CREATE TABLE" not in out.read_bytes()
    with pytest.raises(BackupError, match="not empty"):
        await restore_backup(settings, out)  # never over live data

    # wipe: every row (as the test database fixture does) and the photos
    from piccolo.querystring import QueryString

    from relief_pwa.db import write_transaction
    from tests.conftest import _tables

    engine = _tables()[0]._meta.db
    async with write_transaction(engine):
        await engine.run_querystring(QueryString("PRAGMA defer_foreign_keys = ON"))
        for table in reversed(_tables()):
            await table.delete(force=True)
    shutil.rmtree(settings.media_dir)
    assert sqlite_row_counts(settings.sqlite_path)["audit_event"] == 0

    restored = await restore_backup(settings, out)
    assert restored.row_counts == before
    assert sqlite_row_counts(settings.sqlite_path) == before
    assert (settings.media_dir / "ab" / "photo.jpg").read_bytes() == b"\xff\xd8 evidence"
    report = await verify_chain()
    assert report.ok and report.events_checked == before["audit_event"] and report.checkpoints_checked >= 1
