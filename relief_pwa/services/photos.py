"""Photo evidence of visits: validate and clean uploads, store them by content,
link them to a visit once, and hand them out only to staff who may see the household.

The CPU-bound pipeline (``adapters.photos.process_photo``) and the disk writes
run in worker threads so one 12 MP upload never stalls the event loop.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import anyio.to_thread

from relief_pwa.adapters.photos import PhotoLimits, ProcessedPhoto, process_photo
from relief_pwa.adapters.storage import (
    LocalPhotoStore,
    PhotoKind,
    PhotoNotStoredError,
    PhotoStore,
    PhotoStoreError,
    S3Credentials,
    S3Location,
    S3PhotoStore,
    make_s3_client,
)
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden
from relief_pwa.core.fieldwork import PhotoPurpose, VisitStatus
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services.access import in_scope
from relief_pwa.services.access_log import note_read
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.settings import get_settings
from relief_pwa.tables import Photo, Visit

# Uploads above this are refused by the route before they are read in full;
# phone photos are ~10 MB, the browser downscales to well under 1 MB.
UPLOAD_LIMIT_BYTES = 16 * 1024 * 1024
PHOTO_LIMITS = PhotoLimits(max_bytes=15 * 1024 * 1024)
MAX_PHOTOS_PER_VISIT = 30
CAPTION_MAX_LENGTH = 200


log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _store_at(root: Path) -> LocalPhotoStore:
    return LocalPhotoStore(root)


@lru_cache(maxsize=4)
def _s3_store_at(url: str, credentials: S3Credentials) -> S3PhotoStore:
    return S3PhotoStore(S3Location.parse(url), make_s3_client(credentials))


def local_photo_store() -> LocalPhotoStore:
    """The photos on this machine's disk (the store unless RELIEF_PHOTO_STORE names a bucket)."""
    return _store_at(get_settings().media_dir / "photos")


def s3_credentials() -> S3Credentials:
    settings = get_settings()
    return S3Credentials(
        settings.s3_endpoint_url, settings.s3_region, settings.s3_access_key_id, settings.s3_secret_access_key
    )


def photo_store() -> PhotoStore:
    """The configured store: an S3-compatible bucket, or the local disk."""
    settings = get_settings()
    if settings.photo_store:
        return _s3_store_at(settings.photo_store, s3_credentials())
    return local_photo_store()


class PhotoStoreUnavailable(DomainError):
    """The photo store failed; the details are logged, the user sees what to do."""


def _unavailable(exc: PhotoStoreError, message: str) -> PhotoStoreUnavailable:
    log.warning("%s", exc)
    return PhotoStoreUnavailable(message, field="photo")


async def prepare_photo(data: bytes) -> ProcessedPhoto:
    """Validate and clean one upload in a worker thread.

    Raises:
        PhotoRejected: not an acceptable photo (the message says why).
    """
    return await anyio.to_thread.run_sync(process_photo, data, PHOTO_LIMITS)


async def store_photo(photo: ProcessedPhoto) -> None:
    """Write image and thumbnail (idempotent: the key is the content), before any row
    refers to them: a store that fails raises here and no row is written.

    Raises:
        PhotoStoreUnavailable: the store could not take both renditions.
    """

    def put() -> None:
        store = photo_store()
        store.put(photo.sha256, photo.image_jpeg, PhotoKind.IMAGE)
        store.put(photo.sha256, photo.thumb_jpeg, PhotoKind.THUMB)

    try:
        await anyio.to_thread.run_sync(put)
    except PhotoStoreError as exc:
        # An image stored without its thumbnail is never linked (no row points at it),
        # and the retry that the user is asked for stores the rest under the same key.
        raise _unavailable(
            exc, N_("The photo store cannot be reached; the photo was not saved. Please try again later.")
        ) from exc


@dataclass(frozen=True)
class PhotoView:
    id: int
    visit_id: int | None
    household_id: int
    sha256: str
    purpose: PhotoPurpose
    width: int
    height: int
    caption: str
    gps_lat: float | None
    gps_lon: float | None
    taken_at: str
    uploaded_at: datetime


def photo_view(row: dict[str, Any]) -> PhotoView:
    return PhotoView(
        id=row["id"],
        visit_id=row["visit"],
        household_id=row["household"],
        sha256=row["sha256"],
        purpose=PhotoPurpose(row["purpose"]),
        width=row["width"],
        height=row["height"],
        caption=row["caption"],
        gps_lat=float(row["gps_lat"]) if row["gps_lat"] is not None else None,
        gps_lon=float(row["gps_lon"]) if row["gps_lon"] is not None else None,
        taken_at=row["taken_at"],
        uploaded_at=row["uploaded_at"],
    )


async def link_photo(
    actor: Actor,
    visit: dict[str, Any],
    photo: ProcessedPhoto,
    *,
    purpose: PhotoPurpose,
    caption: str,
    now: datetime,
) -> tuple[int, bool]:
    """Attach a stored photo to a visit, once per (visit, content). Inside a write transaction.

    Returns:
        The photo row id and whether it was created (False: a retried upload).
    """
    engine = Photo._meta.db
    await advisory_xact_lock(engine, f"photo:{visit['id']}:{photo.sha256}")
    existing = (
        await Photo.select(Photo.id)
        .where((Photo.visit == visit["id"]) & (Photo.sha256 == photo.sha256))
        .first()
    )
    if existing is not None:
        return int(existing["id"]), False
    count = await Photo.count().where(Photo.visit == visit["id"])
    if count >= MAX_PHOTOS_PER_VISIT:
        raise DomainError(
            N_("A visit can hold at most {limit} photos."), field="photo", limit=MAX_PHOTOS_PER_VISIT
        )
    row = Photo(
        household=visit["household"],
        visit=visit["id"],
        org_path=visit["org_path"],
        sha256=photo.sha256,
        purpose=purpose,
        width=photo.width,
        height=photo.height,
        gps_lat=photo.gps.lat if photo.gps else None,
        gps_lon=photo.gps.lon if photo.gps else None,
        taken_at=(photo.taken_at or "")[:30],
        caption=caption.strip()[:CAPTION_MAX_LENGTH],
        uploaded_by=actor.staff_id,
        uploaded_at=now,
    )
    await row.save()
    await record_event(
        actor,
        "photo.add",
        "photo",
        row.id,
        org_path=visit["org_path"],
        now=now,
        household_id=visit["household"],
        after={
            "visit_id": visit["id"],
            "sha256": photo.sha256,
            "purpose": purpose.value,
            "source_format": photo.source_format,
            "original_sha256": photo.original_sha256,
        },
    )
    return row.id, True


@dataclass(frozen=True)
class UploadResult:
    photo_id: int
    created: bool


async def do_add_photo(
    actor: Actor,
    visit_id: int,
    data: bytes,
    *,
    purpose: str = PhotoPurpose.EVIDENCE,
    caption: str = "",
    now: datetime,
) -> UploadResult:
    """Validate, clean and store one uploaded photo for a visit.

    Nothing is written when the upload is refused. A retried upload of the
    same photo returns the row stored the first time.
    """
    require(actor, Capability.VISIT_RECORD)
    try:
        chosen = PhotoPurpose(purpose or PhotoPurpose.EVIDENCE)
    except ValueError:
        raise DomainError(N_("Unknown kind of photo."), field="purpose") from None
    visit = await _visit_in_scope(actor, visit_id)
    if visit["status"] == VisitStatus.CANCELLED:
        raise DomainError(N_("This visit was cancelled."), field="photo")
    processed = await prepare_photo(data)
    await store_photo(processed)
    async with write_transaction(Photo._meta.db):
        photo_id, created = await link_photo(
            actor, visit, processed, purpose=chosen, caption=caption, now=now
        )
    return UploadResult(photo_id, created)


async def _visit_in_scope(actor: Actor, visit_id: int) -> dict[str, Any]:
    row = (
        await Visit.select(Visit.id, Visit.household, Visit.org_path, Visit.status)
        .where((Visit.id == visit_id) & in_scope(actor, Visit.org_path))
        .first()
    )
    if row is None:
        raise NotFoundOrForbidden()
    return dict(row)


async def access_photo(actor: Actor, photo_id: int) -> PhotoView:
    row = await Photo.select().where((Photo.id == photo_id) & in_scope(actor, Photo.org_path)).first()
    if row is None or not actor.org_path:
        raise NotFoundOrForbidden()
    return photo_view(row)


async def read_photo(actor: Actor, photo_id: int, *, now: datetime, thumb: bool = False) -> bytes:
    """The stored JPEG of a photo the actor may see (404 otherwise).

    Opening the full photo is logged; thumbnails are part of the page that shows
    them (the household file or the visit), whose view is logged already.
    """
    view = await access_photo(actor, photo_id)
    kind = PhotoKind.THUMB if thumb else PhotoKind.IMAGE
    if not thumb:
        row = await Photo.select(Photo.org_path).where(Photo.id == view.id).first()
        note_read(
            actor,
            "photo.view",
            now=now,
            entity_type="photo",
            entity_id=view.id,
            household_id=view.household_id,
            org_path=str(row["org_path"]) if row else "",
        )
    try:
        # In the thread as a whole: the first call also builds the store's client.
        data: bytes = await anyio.to_thread.run_sync(lambda: photo_store().get(view.sha256, kind))
    except PhotoNotStoredError:
        raise NotFoundOrForbidden() from None
    except PhotoStoreError as exc:
        raise _unavailable(exc, N_("The photo store cannot be reached. Please try again later.")) from exc
    return data


async def list_visit_photos(actor: Actor, visit_id: int) -> list[PhotoView]:
    rows = (
        await Photo.select()
        .where((Photo.visit == visit_id) & in_scope(actor, Photo.org_path))
        .order_by(Photo.id)
    )
    return [photo_view(r) for r in rows]


@dataclass
class MigrationReport:
    """What ``migrate_local_photos`` did, rendition by rendition."""

    copied: int = 0  # written to the target and verified
    already: int = 0  # the target held the same bytes already (an earlier or interrupted run)
    failed: list[str] = field(default_factory=list)  # "key (kind): why"

    @property
    def ok(self) -> bool:
        return not self.failed


def _migrate_one(target: S3PhotoStore, key: str, kind: PhotoKind, path: Path) -> bool:
    """Copy one local rendition unless the target holds the same bytes; True if copied.

    The local bytes are checked against their key first (an image's key is its
    SHA-256), and the copy is checked by the MD5 the server computed.
    """
    data = path.read_bytes()
    if kind == PhotoKind.IMAGE and hashlib.sha256(data).hexdigest() != key:
        raise PhotoStoreError(f"local file {path.name} does not match its key; not copied")
    if target.stored_md5(key, kind) == hashlib.md5(data, usedforsecurity=False).hexdigest():
        return False
    target.put_verified(target.object_key(key, kind), data)
    return True


async def migrate_local_photos(
    source: LocalPhotoStore, target: S3PhotoStore, *, progress: Any = None
) -> MigrationReport:
    """Copy every local photo and thumbnail to the bucket (``relief-pwa photos migrate``).

    Idempotent and resumable: a rendition the bucket already holds with the same
    checksum is skipped, so a second or interrupted run copies only what is left.
    Nothing local is deleted. Each copy runs in a worker thread.
    """
    report = MigrationReport()
    for key, kind, path in source.stored():
        try:
            copied = await anyio.to_thread.run_sync(_migrate_one, target, key, kind, path)
        except (PhotoStoreError, OSError) as exc:
            report.failed.append(f"{key} ({kind.value}): {exc}")
            continue
        if copied:
            report.copied += 1
        else:
            report.already += 1
        if progress is not None:
            progress(report)
    return report
