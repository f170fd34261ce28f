"""Encrypted backups of the database and the photo evidence, and their restore.

``relief-pwa backup OUT`` writes one file: a tar archive (manifest, database
snapshot, photos, a copy of the audit checkpoint file) encrypted with the
backup key (``RELIEF_BACKUP_KEY``/``RELIEF_BACKUP_KEY_FILE``; see
:mod:`relief_pwa.adapters.backupcrypt`). The database snapshot is taken with
SQLite's online backup API (consistent, while the app keeps running) or with
``pg_dump --format=custom`` for PostgreSQL. ``relief-pwa restore IN`` puts it
back into an *empty* database and media directory, checks every photo against
the manifest's SHA-256 and the row counts against the manifest. See
docs/backup.md for the schedule and the restore drill.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from relief_pwa.adapters.backupcrypt import DecryptingReader, EncryptingWriter
from relief_pwa.settings import Settings

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite3"
PG_MEMBER = "database.pgdump"
CHECKPOINTS_MEMBER = "audit-checkpoints.jsonl"
MEDIA_PREFIX = "media/"


class BackupError(RuntimeError):
    """The backup or restore cannot be done; the message says why."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    row_counts: dict[str, int]
    media_files: int
    size_bytes: int


@dataclass(frozen=True)
class RestoreResult:
    row_counts: dict[str, int]
    media_files: int
    created_at: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sqlite_row_counts(path: Path) -> dict[str, int]:
    """Rows per table of an SQLite file (its own catalogue names the tables)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        counts = {}
        for name in names:  # names from the catalogue, quoted as identifiers
            query = f'SELECT count(*) FROM "{name}"'  # noqa: S608
            counts[name] = int(connection.execute(query).fetchone()[0])
        return counts
    finally:
        connection.close()


def _sqlite_snapshot(settings: Settings, target: Path) -> None:
    source = sqlite3.connect(settings.sqlite_path)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)  # the online backup API: consistent while others write
    finally:
        destination.close()
        source.close()


def _pg_dump(settings: Settings, target: Path) -> None:
    binary = shutil.which("pg_dump")
    if binary is None:
        raise BackupError(
            "pg_dump is not installed: install the PostgreSQL client tools to back up PostgreSQL"
        )
    subprocess.run(  # noqa: S603 - fixed binary, URL from settings
        [binary, "--format=custom", "--no-owner", f"--file={target}", settings.database_url],
        check=True,
        capture_output=True,
        timeout=6 * 3600,
    )


async def _pg_row_counts() -> dict[str, int]:
    from relief_pwa.piccolo_app import APP_CONFIG

    return {t._meta.tablename: await t.count() for t in APP_CONFIG.table_classes}


def _media_files(media: Path) -> list[Path]:
    if not media.exists():
        return []
    return sorted(p for p in media.rglob("*") if p.is_file() and not p.is_symlink())


async def create_backup(settings: Settings, out: Path, *, now: datetime) -> BackupResult:
    """Write an encrypted backup of the database and photos to ``out`` (0600).

    The file work runs in a worker thread (the web process may call this too)."""
    pg_counts = None if settings.is_sqlite else await _pg_row_counts()
    return await asyncio.to_thread(_create_backup, settings, out, now, pg_counts)


def _create_backup(
    settings: Settings, out: Path, now: datetime, pg_counts: dict[str, int] | None
) -> BackupResult:
    if out.exists():
        raise BackupError(f"{out} exists already; choose a new file name")
    with tempfile.TemporaryDirectory(prefix="relief-backup-") as scratch:
        scratch_dir = Path(scratch)
        if settings.is_sqlite:
            snapshot = scratch_dir / SQLITE_MEMBER
            _sqlite_snapshot(settings, snapshot)
            counts = sqlite_row_counts(snapshot)
        else:
            snapshot = scratch_dir / PG_MEMBER
            counts = pg_counts or {}
            _pg_dump(settings, snapshot)
        media = _media_files(settings.media_dir)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created_at": now.astimezone(UTC).isoformat(),
            "engine": "sqlite" if settings.is_sqlite else "postgres",
            "database": snapshot.name,
            "database_sha256": _sha256(snapshot),
            "row_counts": counts,
            "media": {p.relative_to(settings.media_dir).as_posix(): _sha256(p) for p in media},
        }
        manifest_path = scratch_dir / MANIFEST
        manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True))
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw:
                writer = EncryptingWriter(raw, settings.backup_key)
                with tarfile.open(fileobj=writer, mode="w|") as archive:
                    archive.add(manifest_path, arcname=MANIFEST)
                    archive.add(snapshot, arcname=snapshot.name)
                    if settings.audit_checkpoint_file.exists():
                        archive.add(settings.audit_checkpoint_file, arcname=CHECKPOINTS_MEMBER)
                    for path in media:
                        archive.add(
                            path, arcname=MEDIA_PREFIX + path.relative_to(settings.media_dir).as_posix()
                        )
                writer.close()
        except BaseException:
            out.unlink(missing_ok=True)
            raise
    return BackupResult(out, counts, len(media), out.stat().st_size)


def _safe_member(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError(f"the backup contains an unsafe path: {name[:100]}")
    return path


def _extract(source: BinaryIO, settings: Settings, scratch: Path) -> dict[str, Any]:
    reader = DecryptingReader(source, settings.backup_key)
    with tarfile.open(fileobj=reader, mode="r|") as archive:
        for member in archive:
            path = _safe_member(member.name)
            if not member.isfile():
                raise BackupError(f"the backup contains something that is not a file: {member.name[:100]}")
            handle = archive.extractfile(member)
            if handle is None:
                continue
            target = scratch / Path(*path.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                shutil.copyfileobj(handle, out)
    manifest_path = scratch / MANIFEST
    if not manifest_path.exists():
        raise BackupError("the backup has no manifest")
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    return manifest


def _sqlite_is_empty(path: Path) -> bool:
    if not path.exists():
        return True
    counts = sqlite_row_counts(path)
    return all(counts.get(name, 0) == 0 for name in ("staff", "audit_event", "household", "org_unit"))


async def _pg_is_empty() -> bool:
    from relief_pwa.tables import AuditEvent, Household, Staff

    try:
        return not any([await Staff.count(), await AuditEvent.count(), await Household.count()])
    except Exception:  # no schema yet
        return True


async def restore_backup(settings: Settings, source_path: Path) -> RestoreResult:
    """Restore a backup into an empty database and media directory; check what was restored."""
    pg_empty = True if settings.is_sqlite else await _pg_is_empty()
    manifest, counts = await asyncio.to_thread(_restore, settings, source_path, pg_empty)
    if counts is None:
        counts = await _pg_row_counts()
    expected: dict[str, int] = manifest["row_counts"]
    differing = {k: (v, counts.get(k)) for k, v in expected.items() if counts.get(k) != v}
    if differing:
        raise BackupError(f"row counts differ after restore: {differing}")
    return RestoreResult(counts, len(manifest.get("media", {})), manifest["created_at"])


def _restore(
    settings: Settings, source_path: Path, pg_empty: bool
) -> tuple[dict[str, Any], dict[str, int] | None]:
    counts: dict[str, int] | None
    with tempfile.TemporaryDirectory(prefix="relief-restore-") as scratch:
        scratch_dir = Path(scratch)
        with source_path.open("rb") as source:
            manifest = _extract(source, settings, scratch_dir)
        snapshot = scratch_dir / manifest["database"]
        if _sha256(snapshot) != manifest["database_sha256"]:
            raise BackupError("the database snapshot does not match the manifest")
        media_manifest: dict[str, str] = manifest.get("media", {})
        for relative, digest in media_manifest.items():
            extracted = scratch_dir / "media" / Path(*_safe_member(relative).parts)
            if not extracted.exists() or _sha256(extracted) != digest:
                raise BackupError(f"photo {relative} is missing from the backup or damaged")
        if settings.media_dir.exists() and any(settings.media_dir.rglob("*.*")):
            existing = {
                p.relative_to(settings.media_dir).as_posix() for p in _media_files(settings.media_dir)
            }
            if existing - set(media_manifest):
                raise BackupError(f"the media directory {settings.media_dir} is not empty")
        if manifest["engine"] == "sqlite":
            if not settings.is_sqlite:
                raise BackupError("this is an SQLite backup; RELIEF_DATABASE_URL names PostgreSQL")
            if not _sqlite_is_empty(settings.sqlite_path):
                raise BackupError(
                    f"the database {settings.sqlite_path} is not empty; restore needs an empty one"
                )
            settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            source_db = sqlite3.connect(snapshot)
            target_db = sqlite3.connect(settings.sqlite_path)
            try:
                source_db.backup(target_db)
            finally:
                target_db.close()
                source_db.close()
            counts = sqlite_row_counts(settings.sqlite_path)
        else:
            if settings.is_sqlite:
                raise BackupError("this is a PostgreSQL backup; RELIEF_DATABASE_URL names SQLite")
            if not pg_empty:
                raise BackupError("the PostgreSQL database is not empty; restore needs an empty one")
            binary = shutil.which("pg_restore")
            if binary is None:
                raise BackupError("pg_restore is not installed")
            subprocess.run(  # noqa: S603 - fixed binary, URL from settings
                [
                    binary,
                    "--no-owner",
                    "--clean",
                    "--if-exists",
                    f"--dbname={settings.database_url}",
                    str(snapshot),
                ],
                check=True,
                capture_output=True,
                timeout=6 * 3600,
            )
            counts = None
        for relative in media_manifest:
            target = settings.media_dir / Path(*_safe_member(relative).parts)
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copyfile(scratch_dir / "media" / Path(*_safe_member(relative).parts), target)
        checkpoints = scratch_dir / CHECKPOINTS_MEMBER
        if checkpoints.exists() and not settings.audit_checkpoint_file.exists():
            settings.audit_checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(checkpoints, settings.audit_checkpoint_file)
    return manifest, counts
