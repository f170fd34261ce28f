"""Photos in an S3-compatible bucket, against a local S3 server (moto's server mode)
that the tests start: upload, thumbnail, access check, delete, migrate, and a
failing store that leaves nothing half-written (docs/scale.md)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from relief_pwa.adapters.photos import process_photo
from relief_pwa.adapters.storage import (
    InvalidPhotoKeyError,
    LocalPhotoStore,
    PhotoKind,
    PhotoNotStoredError,
    PhotoStoreError,
    S3Credentials,
    S3Location,
    S3PhotoStore,
    make_s3_client,
)
from relief_pwa.core.errors import NotFoundOrForbidden
from relief_pwa.services import photos as photo_service
from relief_pwa.services.photos import (
    PhotoStoreUnavailable,
    do_add_photo,
    local_photo_store,
    migrate_local_photos,
    photo_store,
    read_photo,
)
from relief_pwa.settings import get_settings
from relief_pwa.tables import AuditEvent, Photo
from tests.adapters import imagefactory
from tests.services.fieldwork_support import household_with_items, schedule


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _credentials(endpoint: str) -> S3Credentials:
    return S3Credentials(endpoint, "us-east-1", "test-key-id", "test-secret-key")


@pytest.fixture()
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket, named by the settings as the photo store (prefix 'photos')."""
    name = f"relief-{uuid.uuid4().hex[:12]}"
    make_s3_client(_credentials(s3_endpoint)).create_bucket(Bucket=name)
    _use_store(monkeypatch, s3_endpoint, f"s3://{name}/photos")
    yield name
    photo_service._s3_store_at.cache_clear()


def _use_store(monkeypatch: pytest.MonkeyPatch, endpoint: str, url: str) -> None:
    configured = dataclasses.replace(
        get_settings(),
        photo_store=url,
        s3_endpoint_url=endpoint,
        s3_region="us-east-1",
        s3_access_key_id="test-key-id",
        s3_secret_access_key="test-secret-key",
    )
    monkeypatch.setattr(photo_service, "get_settings", lambda: configured)
    photo_service._s3_store_at.cache_clear()


def _objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    client = make_s3_client(_credentials(endpoint))
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def _local_files() -> list[Path]:
    return [p for p in local_photo_store().root.rglob("*.jpg")]


async def test_upload_thumbnail_access_check_and_delete_in_the_bucket(
    world: Any, now: datetime, bucket: str, s3_endpoint: str
) -> None:
    visit_id = await schedule(world, (await household_with_items(world)).household_id)
    liaison = world.actor("liaison")
    before_local = _local_files()

    uploaded = await do_add_photo(liaison, visit_id, imagefactory.phone_jpeg(), now=now)

    [row] = await Photo.select(Photo.sha256)
    key = row["sha256"]
    stored = _objects(s3_endpoint, bucket)
    assert sorted(stored) == [
        f"photos/{key[:2]}/{key[2:4]}/{key}.jpg",
        f"photos/{key[:2]}/{key[2:4]}/{key}.thumb.jpg",
    ]
    assert _local_files() == before_local  # nothing went to the local disk
    image = await read_photo(liaison, uploaded.photo_id, now=now)
    thumb = await read_photo(liaison, uploaded.photo_id, now=now, thumb=True)
    assert hashlib.sha256(image).hexdigest() == key
    assert thumb == stored[f"photos/{key[:2]}/{key[2:4]}/{key}.thumb.jpg"] and len(thumb) < len(image)
    with pytest.raises(NotFoundOrForbidden):  # another district's staff never get the bytes
        await read_photo(world.actor("station_b"), uploaded.photo_id, now=now)

    store = photo_store()
    assert store.exists(key, PhotoKind.THUMB)
    assert store.delete(key) is True
    assert _objects(s3_endpoint, bucket) == {}
    assert store.delete(key) is False
    with pytest.raises(NotFoundOrForbidden):  # the row is there, the object is not: 404, not a crash
        await read_photo(liaison, uploaded.photo_id, now=now)


async def test_adapter_checks_keys_and_contents(bucket: str, s3_endpoint: str) -> None:
    store = S3PhotoStore(S3Location.parse(f"s3://{bucket}/p"), make_s3_client(_credentials(s3_endpoint)))
    processed = process_photo(imagefactory.phone_jpeg())
    assert store.put(processed.sha256, processed.image_jpeg, PhotoKind.IMAGE) is True
    assert store.put(processed.sha256, processed.image_jpeg, PhotoKind.IMAGE) is False  # same bytes: no-op
    with pytest.raises(ValueError):
        store.put("0" * 64, processed.image_jpeg, PhotoKind.IMAGE)  # the key promises the content
    with pytest.raises(InvalidPhotoKeyError):
        store.get("../../etc/passwd", PhotoKind.IMAGE)
    assert store.exists("not-a-key", PhotoKind.IMAGE) is False
    with pytest.raises(PhotoNotStoredError):
        store.get(processed.sha256, PhotoKind.THUMB)
    assert store.get(processed.sha256, PhotoKind.IMAGE) == processed.image_jpeg
    assert S3Location.parse("s3://b") == S3Location("b", "")
    with pytest.raises(ValueError):
        S3Location.parse("https://b/p")


async def test_a_failing_store_saves_no_row_and_a_retry_saves_one(
    world: Any, now: datetime, bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    visit_id = await schedule(world, (await household_with_items(world)).household_id)
    liaison = world.actor("liaison")

    # The thumbnail's PUT fails after the image's succeeded.
    real_put = S3PhotoStore.put

    def put_without_thumbs(self: S3PhotoStore, key: str, data: bytes, kind: PhotoKind) -> bool:
        if kind == PhotoKind.THUMB:
            raise PhotoStoreError("photo store: could not write (simulated outage)")
        return real_put(self, key, data, kind)

    monkeypatch.setattr(S3PhotoStore, "put", put_without_thumbs)
    with pytest.raises(PhotoStoreUnavailable) as refused:
        await do_add_photo(liaison, visit_id, imagefactory.phone_jpeg(), now=now)
    assert refused.value.field == "photo" and "not saved" in refused.value.message
    assert await Photo.count() == 0
    assert await AuditEvent.count().where(AuditEvent.action == "photo.add") == 0

    monkeypatch.setattr(S3PhotoStore, "put", real_put)
    retried = await do_add_photo(liaison, visit_id, imagefactory.phone_jpeg(), now=now)
    assert retried.created and await Photo.count() == 1
    assert len(_objects(s3_endpoint, bucket)) == 2  # the image once, and now its thumbnail

    # A bucket that is gone: the upload is refused with the same clear error, and reads too.
    _use_store(monkeypatch, s3_endpoint, f"s3://{bucket}-missing/photos")
    with pytest.raises(PhotoStoreUnavailable):
        await do_add_photo(liaison, visit_id, imagefactory.phone_jpeg(width=402), now=now)
    assert await Photo.count() == 1
    with pytest.raises(PhotoStoreUnavailable):
        await read_photo(liaison, retried.photo_id, now=now)


async def test_migrate_copies_verifies_resumes_and_repairs(
    bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    source = LocalPhotoStore(tmp_path / "photos")
    keys = []
    for width in (400, 404, 408):
        processed = process_photo(imagefactory.phone_jpeg(width=width))
        source.put(processed.sha256, processed.image_jpeg, PhotoKind.IMAGE)
        source.put(processed.sha256, processed.thumb_jpeg, PhotoKind.THUMB)
        keys.append(processed.sha256)
    (tmp_path / "photos" / "README").write_text("not a photo")  # stray files are left alone
    target = photo_store()
    assert isinstance(target, S3PhotoStore)

    first = await migrate_local_photos(source, target)
    assert (first.copied, first.already, first.failed) == (6, 0, [])
    for key in keys:
        for kind in PhotoKind:
            assert target.get(key, kind) == source.get(key, kind)

    again = await migrate_local_photos(source, target)  # idempotent: an interrupted run resumes here
    assert (again.copied, again.already, again.failed) == (0, 6, [])

    # An object damaged in the bucket is copied again; a damaged local file is reported, not copied.
    damaged = target.object_key(keys[0], PhotoKind.IMAGE)
    target.client.put_object(Bucket=bucket, Key=damaged, Body=b"truncated")
    source.path_for(keys[1], PhotoKind.IMAGE).write_bytes(b"bit rot")
    target.delete(keys[1], PhotoKind.IMAGE)
    repaired = await migrate_local_photos(source, target)
    assert (repaired.copied, repaired.already) == (1, 4)
    assert len(repaired.failed) == 1 and keys[1] in repaired.failed[0] and not repaired.ok
    assert target.get(keys[0], PhotoKind.IMAGE) == source.get(keys[0], PhotoKind.IMAGE)
    assert not target.exists(keys[1], PhotoKind.IMAGE)


@pytest.mark.slow
def test_photos_migrate_command(s3_endpoint: str, tmp_path: Path) -> None:
    name = f"relief-{uuid.uuid4().hex[:12]}"
    make_s3_client(_credentials(s3_endpoint)).create_bucket(Bucket=name)
    processed = process_photo(imagefactory.phone_jpeg(width=412))
    local = LocalPhotoStore(tmp_path / "media" / "photos")
    local.put(processed.sha256, processed.image_jpeg, PhotoKind.IMAGE)
    local.put(processed.sha256, processed.thumb_jpeg, PhotoKind.THUMB)
    env = {
        **os.environ,
        "RELIEF_VAR_DIR": str(tmp_path),
        "RELIEF_MEDIA_DIR": str(tmp_path / "media"),
        "RELIEF_MODE": "demo",
        "RELIEF_PHOTO_STORE": f"s3://{name}/city",
        "RELIEF_S3_ENDPOINT_URL": s3_endpoint,
        "RELIEF_S3_REGION": "us-east-1",
        "RELIEF_S3_ACCESS_KEY_ID": "test-key-id",
        "RELIEF_S3_SECRET_ACCESS_KEY": "test-secret-key",
    }
    env.pop("RELIEF_DATABASE_URL", None)

    def migrate(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "relief_pwa", "photos", "migrate"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = migrate(env)
    assert first.returncode == 0, first.stderr[-500:]
    assert "2 copied and verified, 0 already there, 0 failed" in first.stdout
    assert "test-secret-key" not in first.stdout + first.stderr
    again = migrate(env)
    assert "0 copied and verified, 2 already there, 0 failed" in again.stdout
    assert sorted(_objects(s3_endpoint, name)) == sorted(
        f"city/{processed.sha256[:2]}/{processed.sha256[2:4]}/{processed.sha256}{suffix}"
        for suffix in (".jpg", ".thumb.jpg")
    )
    without_bucket = migrate({k: v for k, v in env.items() if k != "RELIEF_PHOTO_STORE"})
    assert without_bucket.returncode == 2 and "s3://bucket/prefix" in without_bucket.stderr
