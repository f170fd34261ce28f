"""Files with personal data are readable by the service account only.

:func:`secure_files` runs at start-up (web app, command line): it sets the
process umask to 077, so every file created afterwards — the SQLite database
and its ``-wal``/``-shm`` files, photos, keys, backups — is 0600 and every
directory 0700, and it tightens what already exists under ``var/`` and the
media directory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from relief_pwa.settings import Settings

FILE_MODE = 0o600
DIR_MODE = 0o700


def _tighten(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & ~mode:
            path.chmod(current & mode)
    except OSError:  # not ours, or gone: leave it
        pass


def secure_files(settings: Settings) -> None:
    """Umask 077, then tighten existing database files, keys and media."""
    os.umask(0o077)
    if settings.var_dir.exists():
        _tighten(settings.var_dir, DIR_MODE)
        for child in settings.var_dir.iterdir():
            if child.is_file():
                _tighten(child, FILE_MODE)
    if settings.is_sqlite:
        base = settings.sqlite_path
        for suffix in ("", "-wal", "-shm", "-journal"):
            candidate = base.with_name(base.name + suffix)
            if candidate.exists():
                _tighten(candidate, FILE_MODE)
    media = settings.media_dir
    if media.exists():
        _tighten(media, DIR_MODE)
        for root, dirs, files in os.walk(media):
            for name in dirs:
                _tighten(Path(root, name), DIR_MODE)
            for name in files:
                _tighten(Path(root, name), FILE_MODE)
