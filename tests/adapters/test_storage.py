"""Content-addressed local photo storage."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from relief_pwa.adapters.storage import (
    InvalidPhotoKeyError,
    LocalPhotoStore,
    PhotoKind,
    PhotoNotStoredError,
    PhotoStore,
    is_valid_key,
)

IMAGE = b"\xff\xd8 pretend this is a processed JPEG \xff\xd9"
KEY = hashlib.sha256(IMAGE).hexdigest()
THUMB = b"\xff\xd8 thumbnail \xff\xd9"


def all_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_round_trip_and_sharded_layout(tmp_path: Path) -> None:
    local = LocalPhotoStore(tmp_path)
    store: PhotoStore = local

    assert store.put(KEY, IMAGE, PhotoKind.IMAGE) is True
    assert store.put(KEY, THUMB, PhotoKind.THUMB) is True

    assert store.get(KEY, PhotoKind.IMAGE) == IMAGE
    assert store.get(KEY, PhotoKind.THUMB) == THUMB
    assert store.exists(KEY, PhotoKind.IMAGE)
    shard = tmp_path / KEY[:2] / KEY[2:4]
    assert all_files(tmp_path) == [shard / f"{KEY}.jpg", shard / f"{KEY}.thumb.jpg"]
    assert local.path_for(KEY, PhotoKind.THUMB) == shard / f"{KEY}.thumb.jpg"


def test_second_put_is_a_no_op(tmp_path: Path) -> None:
    store = LocalPhotoStore(tmp_path)
    store.put(KEY, IMAGE, PhotoKind.IMAGE)
    path = store.path_for(KEY, PhotoKind.IMAGE)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # mark the first write

    assert store.put(KEY, IMAGE, PhotoKind.IMAGE) is False

    assert path.stat().st_mtime_ns == 1_000_000_000  # not rewritten
    assert all_files(tmp_path) == [path]


def test_image_bytes_must_match_their_key(tmp_path: Path) -> None:
    store = LocalPhotoStore(tmp_path)
    with pytest.raises(ValueError, match="do not match"):
        store.put(KEY, IMAGE + b"tampered", PhotoKind.IMAGE)
    assert all_files(tmp_path) == []


def test_files_are_not_world_readable(tmp_path: Path) -> None:
    store = LocalPhotoStore(tmp_path)
    store.put(KEY, IMAGE, PhotoKind.IMAGE)
    mode = stat.S_IMODE(store.path_for(KEY, PhotoKind.IMAGE).stat().st_mode)
    assert mode & stat.S_IROTH == 0
    assert mode & stat.S_IRUSR


def test_failed_write_leaves_no_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalPhotoStore(tmp_path)

    def disk_full(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.put(KEY, IMAGE, PhotoKind.IMAGE)
    monkeypatch.undo()

    assert all_files(tmp_path) == []
    assert not store.exists(KEY, PhotoKind.IMAGE)
    # And a retry succeeds.
    assert store.put(KEY, IMAGE, PhotoKind.IMAGE) is True


def test_get_missing_raises(tmp_path: Path) -> None:
    with pytest.raises(PhotoNotStoredError):
        LocalPhotoStore(tmp_path).get(KEY, PhotoKind.IMAGE)


def test_delete_one_kind_or_both(tmp_path: Path) -> None:
    store = LocalPhotoStore(tmp_path)
    store.put(KEY, IMAGE, PhotoKind.IMAGE)
    store.put(KEY, THUMB, PhotoKind.THUMB)

    assert store.delete(KEY, PhotoKind.THUMB) is True
    assert store.exists(KEY, PhotoKind.IMAGE)
    assert not store.exists(KEY, PhotoKind.THUMB)
    assert store.delete(KEY) is True
    assert store.delete(KEY) is False
    assert all_files(tmp_path) == []


BAD_KEYS = [
    "",
    "../../etc/passwd",
    "/etc/passwd",
    KEY[:63],
    KEY + "0",
    KEY.upper(),
    KEY[:62] + "/x",
    KEY[:63] + "\x00",
    KEY[:63] + "g",
    "٠" * 64,  # Arabic-Indic digits: "digits", but not hex
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_malformed_keys_never_reach_the_filesystem(tmp_path: Path, key: str) -> None:
    store = LocalPhotoStore(tmp_path / "store")
    assert not is_valid_key(key)
    assert store.exists(key, PhotoKind.IMAGE) is False
    with pytest.raises(InvalidPhotoKeyError):
        store.put(key, IMAGE, PhotoKind.THUMB)
    with pytest.raises(InvalidPhotoKeyError):
        store.get(key, PhotoKind.IMAGE)
    with pytest.raises(InvalidPhotoKeyError):
        store.delete(key)
    with pytest.raises(InvalidPhotoKeyError):
        store.path_for(key, PhotoKind.IMAGE)
    assert sorted(tmp_path.rglob("*")) == [tmp_path / "store"]


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalPhotoStore(tmp_path).path_for(KEY, "../secret")  # type: ignore[arg-type]
