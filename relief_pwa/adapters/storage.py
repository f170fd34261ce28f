"""Content-addressed photo storage.

A photo is stored under the SHA-256 of its processed image bytes (see
:func:`relief_pwa.adapters.photos.process_photo`); its thumbnail shares the
key. Because the key is the content, storing is idempotent: a retried upload
(the PWA's offline outbox retries) lands on the same files and writes nothing.

:class:`LocalPhotoStore` is the embedded default (photos on the local disk);
:class:`S3PhotoStore` keeps them in an S3-compatible bucket (docs/scale.md).
Both implement :class:`PhotoStore`. The methods block (file or network I/O):
services call them in a worker thread. A store that cannot be reached or
refuses a request raises :class:`PhotoStoreError`.

Deleting is the caller's decision: the same content may be referenced by more
than one record, so check references before calling :meth:`PhotoStore.delete`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

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


class PhotoStoreError(RuntimeError):
    """The store failed (unreachable, refused, or stored bytes that do not match).

    The message names the operation and the key, never credentials.
    """


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

    def describe(self) -> str:
        """Where the photos are, for messages and logs (never a credential)."""
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

    def describe(self) -> str:
        return str(self.root)

    def stored(self) -> Iterator[tuple[str, PhotoKind, Path]]:
        """Every stored rendition as (key, kind, path), in key order (stray files skipped)."""
        suffixes = sorted(_SUFFIX.items(), key=lambda item: -len(item[1]))  # ".thumb.jpg" before ".jpg"
        # Folder by folder, so millions of photos never sit in one list.
        for shard in sorted(self.root.glob("??/??")):
            for path in sorted(shard.glob("*.jpg")):
                for kind, suffix in suffixes:
                    key = path.name.removesuffix(suffix)
                    if path.name.endswith(suffix) and is_valid_key(key):
                        yield key, kind, path
                        break

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


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix`` parsed: the bucket and the key prefix (may be empty)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"not an s3://bucket/prefix address: {url!r:.120}")
        prefix = parsed.path.strip("/")
        return cls(parsed.netloc, f"{prefix}/" if prefix else "")


@dataclass(frozen=True)
class S3Credentials:
    """Where and as whom to reach an S3-compatible service (empty: boto3's defaults)."""

    endpoint_url: str = ""
    region: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""


def make_s3_client(credentials: S3Credentials) -> Any:
    """A boto3 S3 client (thread-safe) with bounded retries and timeouts."""
    import boto3  # only deployments with an S3 store pay for importing it
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=credentials.endpoint_url or None,
        region_name=credentials.region or None,
        aws_access_key_id=credentials.access_key_id or None,
        aws_secret_access_key=credentials.secret_access_key or None,
        config=Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            # Path-style addressing works with every S3-compatible server (MinIO, Ceph, moto).
            s3={"addressing_style": "path"},
        ),
    )


class S3PhotoStore:
    """Photos in an S3-compatible bucket, under ``prefix/ab/cd/<key>.jpg`` like the local store.

    An object appears whole or not at all (S3 PUT is atomic), and each PUT
    carries the body's MD5, so the server refuses bytes damaged on the way.
    """

    def __init__(self, location: S3Location, client: Any) -> None:
        self.location = location
        self.client = client

    def describe(self) -> str:
        return f"s3://{self.location.bucket}/{self.location.prefix}"

    def object_key(self, key: str, kind: PhotoKind) -> str:
        """The bucket key of a rendition.

        Raises:
            InvalidPhotoKeyError: ``key`` is not lowercase SHA-256 hex.
        """
        key = _checked_key(key)
        return f"{self.location.prefix}{key[:2]}/{key[2:4]}/{key}{_SUFFIX[PhotoKind(kind)]}"

    def put(self, key: str, data: bytes, kind: PhotoKind) -> bool:
        """Store ``data``; a second put of the same key is a no-op (see LocalPhotoStore.put).

        Raises:
            PhotoStoreError: the bucket could not be read or written.
        """
        name = self.object_key(key, kind)
        if kind == PhotoKind.IMAGE and hashlib.sha256(data).hexdigest() != key:
            raise ValueError("image bytes do not match their key")
        if self.stored_md5(key, kind) == hashlib.md5(data, usedforsecurity=False).hexdigest():
            return False
        self.put_verified(name, data)
        return True

    def put_verified(self, name: str, data: bytes) -> None:
        """PUT one object with its MD5; the ETag the server answers must be that MD5."""
        digest = hashlib.md5(data, usedforsecurity=False)
        try:
            answer = self.client.put_object(
                Bucket=self.location.bucket,
                Key=name,
                Body=data,
                ContentType="image/jpeg",
                ContentMD5=base64.b64encode(digest.digest()).decode("ascii"),
            )
        except (BotoCoreError, ClientError) as exc:
            raise _store_error("write", name, exc) from exc
        if str(answer.get("ETag", "")).strip('"') != digest.hexdigest():
            raise PhotoStoreError(f"photo store: {name} was stored with a different checksum")

    def get(self, key: str, kind: PhotoKind) -> bytes:
        """Return the stored bytes.

        Raises:
            PhotoNotStoredError: nothing is stored under this key and kind.
            PhotoStoreError: the bucket could not be read.
        """
        name = self.object_key(key, kind)
        try:
            answer = self.client.get_object(Bucket=self.location.bucket, Key=name)
            data: bytes = answer["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            if _is_missing(exc):
                raise PhotoNotStoredError(f"{key} ({kind})") from None
            raise _store_error("read", name, exc) from exc
        return data

    def stored_md5(self, key: str, kind: PhotoKind) -> str | None:
        """The MD5 (hex) the server computed for a stored rendition, or None if absent.

        Every object here is written by one PUT, so its ETag is its MD5.
        """
        name = self.object_key(key, kind)
        try:
            answer = self.client.head_object(Bucket=self.location.bucket, Key=name)
        except (BotoCoreError, ClientError) as exc:
            if _is_missing(exc):
                return None
            raise _store_error("check", name, exc) from exc
        return str(answer.get("ETag", "")).strip('"')

    def exists(self, key: str, kind: PhotoKind) -> bool:
        """Tell whether a rendition is stored (False for a malformed key)."""
        if not is_valid_key(key):
            return False
        return self.stored_md5(key, kind) is not None

    def delete(self, key: str, kind: PhotoKind | None = None) -> bool:
        """Remove one rendition, or both when ``kind`` is None; True if any went.

        Raises:
            PhotoStoreError: the bucket could not be read or written.
        """
        kinds = list(PhotoKind) if kind is None else [kind]
        removed = False
        for each in kinds:
            if self.stored_md5(key, each) is None:
                continue
            name = self.object_key(key, each)
            try:
                self.client.delete_object(Bucket=self.location.bucket, Key=name)
            except (BotoCoreError, ClientError) as exc:
                raise _store_error("delete", name, exc) from exc
            removed = True
        return removed


def _is_missing(exc: Exception) -> bool:
    if not isinstance(exc, ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


def _store_error(operation: str, name: str, exc: Exception) -> PhotoStoreError:
    # botocore's messages name the endpoint and the error code, never the secret key.
    return PhotoStoreError(f"photo store: could not {operation} {name}: {type(exc).__name__}: {exc}")
