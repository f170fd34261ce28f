"""Content-addressed photo storage.

A photo is stored under the SHA-256 of its processed image bytes (see
:func:`relief_pwa.adapters.photos.process_photo`); its thumbnail shares the
key. Because the key is the content, storing is idempotent: a retried upload
(the PWA's offline outbox retries) lands on the same files and writes nothing.

:class:`LocalPhotoStore` is the embedded default (photos on the local disk);
an S3-compatible store can implement the same :class:`PhotoStore` protocol.
The methods are synchronous file I/O: services call them in a worker thread.

Deleting is the caller's decision: the same content may be referenced by more
than one record, so check references before calling :meth:`PhotoStore.delete`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Final, Protocol

_KEY_PATTERN: Final = re.compile(r"[0-9a-f]{64}")
# Photos are personal data: readable by the service account and its group only.
_FILE_MODE: Final = 0o640


class PhotoKind(StrEnum):
    """Which rendition of a photo."""

    IMAGE = "image"
    THUMB = "thumb"


_SUFFIX: Final[dict[PhotoKind, str]] = {
    PhotoKind.IMAGE: ".jpg",
    PhotoKind.THUMB: ".thumb.jpg",
}


class InvalidPhotoKeyError(ValueError):
    """The key is not a lowercase 64-digit hex SHA-256 (never a path)."""


class PhotoNotStoredError(LookupError):
    """No stored file for this key and kind."""


def is_valid_key(key: str) -> bool:
    """Tell whether ``key`` is a well-formed photo key (lowercase SHA-256 hex).

    Handlers can use it to answer 404 for a malformed key from a URL.
    """
    return isinstance(key, str) and _KEY_PATTERN.fullmatch(key) is not None


def _checked_key(key: str) -> str:
    if not is_valid_key(key):
        raise InvalidPhotoKeyError(f"invalid photo key: {key!r:.80}")
    return key


class PhotoStore(Protocol):
    """Where processed photos and thumbnails live, addressed by content hash."""

    def put(self, key: str, data: bytes, kind: PhotoKind) -> bool:
        """Store ``data`` under ``key``; return False if it was already stored."""
        ...

    def get(self, key: str, kind: PhotoKind) -> bytes:
        """Return the stored bytes; raise :class:`PhotoNotStoredError` if absent."""
        ...

    def exists(self, key: str, kind: PhotoKind) -> bool:
        """Tell whether a file is stored under ``key`` and ``kind``."""
        ...

    def delete(self, key: str, kind: PhotoKind | None = None) -> bool:
        """Remove one rendition, or both when ``kind`` is None; True if any went."""
        ...

    def path_for(self, key: str, kind: PhotoKind) -> Path:
        """The local path of a rendition (whether or not it exists yet)."""
        ...


class LocalPhotoStore:
    """Photos on the local disk, sharded as ``ab/cd/abcd….jpg``.

    Two levels of 256 folders keep directories small at millions of photos.
    Writes are atomic (temporary file in the target folder, fsync, then
    ``os.replace``), so a reader never sees half a photo and a crash leaves
    at most a stray ``.tmp`` file, never a damaged photo under a valid key.
    """

    def __init__(self, root: Path) -> None:
        """Use ``root`` (created if missing) as the top of the store."""
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str, kind: PhotoKind) -> Path:
        """Return the path of a rendition: ``root/ab/cd/<key><suffix>``.

        Raises:
            InvalidPhotoKeyError: ``key`` is not lowercase SHA-256 hex.
        """
        key = _checked_key(key)
        return self.root / key[:2] / key[2:4] / f"{key}{_SUFFIX[PhotoKind(kind)]}"

    def put(self, key: str, data: bytes, kind: PhotoKind) -> bool:
        """Store ``data`` atomically; a second put of the same key is a no-op.

        Args:
            key: SHA-256 hex of the processed image (shared by its thumbnail).
            data: The JPEG bytes.
            kind: Image or thumbnail.

        Returns:
            True if the file was written, False if it was already stored.

        Raises:
            InvalidPhotoKeyError: ``key`` is not lowercase SHA-256 hex.
            ValueError: ``kind`` is IMAGE and ``data`` does not hash to ``key``.
        """
        path = self.path_for(key, kind)
        if kind == PhotoKind.IMAGE and hashlib.sha256(data).hexdigest() != key:
            # The key promises the content; refuse to break that promise.
            raise ValueError("image bytes do not match their key")
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, data)
        return True

    def get(self, key: str, kind: PhotoKind) -> bytes:
        """Return the stored bytes.

        Raises:
            InvalidPhotoKeyError: ``key`` is not lowercase SHA-256 hex.
            PhotoNotStoredError: nothing is stored under this key and kind.
        """
        path = self.path_for(key, kind)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise PhotoNotStoredError(f"{key} ({kind})") from None

    def exists(self, key: str, kind: PhotoKind) -> bool:
        """Tell whether a rendition is stored (False for a malformed key)."""
        if not is_valid_key(key):
            return False
        return self.path_for(key, kind).is_file()

    def delete(self, key: str, kind: PhotoKind | None = None) -> bool:
        """Remove one rendition, or both when ``kind`` is None.

        Returns:
            True if at least one file was removed.

        Raises:
            InvalidPhotoKeyError: ``key`` is not lowercase SHA-256 hex.
        """
        kinds = list(PhotoKind) if kind is None else [kind]
        removed = False
        for each in kinds:
            try:
                self.path_for(key, each).unlink()
            except FileNotFoundError:
                continue
            removed = True
        return removed


def _write_atomically(path: Path, data: bytes) -> None:
    descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, _FILE_MODE)
        # Same content under the same name: a concurrent writer of the same key
        # replacing our file (or we theirs) is harmless.
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # Make the rename itself durable: the database row pointing at this key
    # may commit right after we return.
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        descriptor = os.open(directory, flags)
    except OSError:
        return  # not supported on this platform/filesystem; the data is fsynced
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
