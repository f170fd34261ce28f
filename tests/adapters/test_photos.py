"""The photo pipeline: bad uploads refused with the right reason, good ones clean."""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageFile
from PIL.TiffImagePlugin import IFDRational

from relief_pwa.adapters.photos import (
    GpsPoint,
    PhotoLimits,
    PhotoRejected,
    ProcessedPhoto,
    RejectReason,
    process_photo,
)
from relief_pwa.adapters.storage import LocalPhotoStore, PhotoKind
from relief_pwa.core.errors import DomainError
from tests.adapters import imagefactory as factory

LIMITS = PhotoLimits()


def ingest(data: bytes, store: LocalPhotoStore, limits: PhotoLimits = LIMITS) -> ProcessedPhoto:
    """What the photo service does: process, then store both renditions."""
    photo = process_photo(data, limits)
    store.put(photo.sha256, photo.image_jpeg, PhotoKind.IMAGE)
    store.put(photo.sha256, photo.thumb_jpeg, PhotoKind.THUMB)
    return photo


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def reopen(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    return image


def is_close(pixel: object, expected: tuple[int, int, int], tolerance: int = 24) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


# --- refusals ------------------------------------------------------------------

REJECTIONS: list[tuple[str, Callable[[], bytes], RejectReason, str]] = [
    ("empty upload", lambda: b"", RejectReason.EMPTY, "empty"),
    (
        "one byte over the limit",
        lambda: factory.oversized_upload(LIMITS.max_bytes),
        RejectReason.TOO_LARGE,
        "too large",
    ),
    ("text file named .jpg", lambda: factory.text_named_jpg()[1], RejectReason.NOT_AN_IMAGE, "not a photo"),
    ("SVG with a script", factory.svg_with_script, RejectReason.SVG, "SVG"),
    ("GIF (raster, not allowed)", factory.gif, RejectReason.UNSUPPORTED_FORMAT, "GIF images"),
    ("BMP (raster, not allowed)", factory.bmp, RejectReason.UNSUPPORTED_FORMAT, "BMP images"),
    ("truncated JPEG", factory.truncated_jpeg, RejectReason.CORRUPT, "damaged or incomplete"),
    ("PNG with garbage pixel data", factory.corrupt_png, RejectReason.CORRUPT, "damaged or incomplete"),
    ("400 MP PNG bomb", factory.png_bomb, RejectReason.TOO_MANY_PIXELS, "too many pixels"),
    (
        "64 MP PNG over our 50 MP limit",
        lambda: factory.png_bomb(8000, 8000),
        RejectReason.TOO_MANY_PIXELS,
        "too many pixels",
    ),
]


@pytest.mark.parametrize(
    ("make_upload", "reason", "message_part"),
    [row[1:] for row in REJECTIONS],
    ids=[row[0] for row in REJECTIONS],
)
def test_bad_upload_is_refused_and_nothing_is_stored(
    tmp_path: Path, make_upload: Callable[[], bytes], reason: RejectReason, message_part: str
) -> None:
    store = LocalPhotoStore(tmp_path / "photos")

    with pytest.raises(PhotoRejected) as caught:
        ingest(make_upload(), store)

    assert caught.value.reason == reason
    assert caught.value.field == "photo"
    assert message_part in str(caught.value)
    assert isinstance(caught.value, DomainError)
    assert stored_files(tmp_path / "photos") == []


def test_too_large_message_names_size_and_limit() -> None:
    limits = PhotoLimits(max_bytes=2 * 1024 * 1024)
    with pytest.raises(PhotoRejected) as caught:
        process_photo(b"\xff\xd8" + b"\x00" * (3 * 1024 * 1024), limits)
    assert caught.value.params == {"size_mb": "3.0", "limit_mb": "2.0"}
    assert str(caught.value) == "The photo is too large (3.0 MB); the limit is 2.0 MB."


def test_pixel_limit_is_checked_before_any_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = factory.png_bomb(8000, 8000)  # 64 MP: under Pillow's own limit, over ours

    def refuse_to_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("decoded a photo that should have been refused from its header")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse_to_decode)
    with pytest.raises(PhotoRejected) as caught:
        process_photo(bomb)
    assert caught.value.reason == RejectReason.TOO_MANY_PIXELS
    assert caught.value.params == {"limit_megapixels": "50"}


def test_pillow_bomb_warning_is_an_error_even_with_a_generous_limit() -> None:
    # 100 MP lies between Pillow's warning (~89 MP) and error (~179 MP)
    # thresholds: only turning the warning into an error stops it.
    generous = PhotoLimits(max_pixels=1_000_000_000)
    filters_before = list(warnings.filters)
    max_pixels_before = Image.MAX_IMAGE_PIXELS

    with pytest.raises(PhotoRejected) as caught:
        process_photo(factory.png_bomb(10_000, 10_000), generous)

    assert caught.value.reason == RejectReason.TOO_MANY_PIXELS
    # Local only: no global state changed.
    assert warnings.filters == filters_before
    assert max_pixels_before == Image.MAX_IMAGE_PIXELS


def test_refuses_to_run_when_truncated_images_are_globally_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        process_photo(factory.truncated_jpeg())


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        PhotoLimits(thumb_edge=2000, long_edge=1600)
    with pytest.raises(ValueError):
        PhotoLimits(jpeg_quality=100)
    with pytest.raises(ValueError):
        PhotoLimits(max_bytes=0)


# --- accepted uploads ------------------------------------------------------------

GOOD_UPLOADS: list[tuple[str, Callable[[], bytes], str, tuple[int, int]]] = [
    ("phone JPEG, orientation 6", factory.phone_jpeg, "JPEG", (200, 400)),
    ("12 MP JPEG", factory.twelve_megapixel_jpeg, "JPEG", (1600, 1200)),
    ("large PNG", factory.png_rgb, "PNG", (1600, 800)),
    ("PNG with transparency", factory.png_rgba_with_transparency, "PNG", (300, 100)),
    ("16-bit grey PNG", factory.png_16bit_grey, "PNG", (64, 64)),
    ("WebP", factory.webp, "WEBP", (500, 250)),
    ("HEIC", factory.heic, "HEIF", (400, 200)),
    ("AVIF", factory.avif, "AVIF", (200, 100)),
    ("CMYK JPEG", factory.cmyk_jpeg, "JPEG", (120, 60)),
]


@pytest.mark.parametrize(
    ("make_upload", "source_format", "size"),
    [row[1:] for row in GOOD_UPLOADS],
    ids=[row[0] for row in GOOD_UPLOADS],
)
def test_good_upload_is_stored_clean_and_small(
    tmp_path: Path, make_upload: Callable[[], bytes], source_format: str, size: tuple[int, int]
) -> None:
    data = make_upload()
    store = LocalPhotoStore(tmp_path)

    photo = ingest(data, store)

    assert photo.source_format == source_format
    assert (photo.width, photo.height) == size
    assert photo.sha256 == hashlib.sha256(photo.image_jpeg).hexdigest()
    assert photo.original_sha256 == hashlib.sha256(data).hexdigest()
    assert store.get(photo.sha256, PhotoKind.IMAGE) == photo.image_jpeg
    assert store.get(photo.sha256, PhotoKind.THUMB) == photo.thumb_jpeg

    for jpeg, edge in ((photo.image_jpeg, LIMITS.long_edge), (photo.thumb_jpeg, LIMITS.thumb_edge)):
        output = reopen(jpeg)
        assert output.format == "JPEG"
        assert output.mode == "RGB"
        assert max(output.size) <= edge
        assert len(output.getexif()) == 0
        for key in ("exif", "icc_profile", "xmp", "comment", "photoshop", "adobe"):
            assert key not in output.info
        # And at the byte level: no APP1 EXIF/XMP, ICC or comment segments.
        for marker in (b"Exif\x00\x00", b"ICC_PROFILE", b"http://ns.adobe.com/xap", b"\xff\xfe"):
            assert marker not in jpeg
    assert reopen(photo.image_jpeg).size == (photo.width, photo.height)


def test_phone_metadata_is_stripped_but_gps_and_time_are_returned() -> None:
    data = factory.phone_jpeg()
    original = Image.open(io.BytesIO(data))
    # The fixture really does carry what we claim to strip.
    assert {"exif", "icc_profile", "xmp", "comment"} <= set(original.info)

    photo = process_photo(data)

    assert photo.gps == GpsPoint(lat=factory.JINAN_LAT, lon=factory.JINAN_LON)
    assert photo.taken_at == factory.TAKEN_AT
    assert b"Zhang San" not in photo.image_jpeg
    assert b"secret comment" not in photo.image_jpeg


# Stored pixels: left half red, right half blue, 400×200. Where the colours
# must appear once the orientation is applied: (size, red point, blue point).
ORIENTATIONS = [
    (1, (400, 200), (10, 100), (390, 100)),
    (3, (400, 200), (390, 100), (10, 100)),  # rotated 180°
    (6, (200, 400), (100, 10), (100, 390)),  # rotated 90° clockwise: left → top
    (8, (200, 400), (100, 390), (100, 10)),  # rotated 90° anticlockwise: left → bottom
]


@pytest.mark.parametrize(("orientation", "size", "red_at", "blue_at"), ORIENTATIONS)
def test_exif_orientation_is_applied(
    orientation: int, size: tuple[int, int], red_at: tuple[int, int], blue_at: tuple[int, int]
) -> None:
    photo = process_photo(factory.phone_jpeg(400, 200, orientation=orientation))
    output = reopen(photo.image_jpeg)
    assert output.size == size
    assert is_close(output.getpixel(red_at), factory.RED)
    assert is_close(output.getpixel(blue_at), factory.BLUE)
    # The thumbnail is cut from the oriented image.
    thumb = reopen(photo.thumb_jpeg)
    assert (thumb.width > thumb.height) == (size[0] > size[1])


def test_heic_orientation_is_applied_exactly_once() -> None:
    photo = process_photo(factory.heic(400, 200, exif=factory.make_exif(orientation=6)))
    output = reopen(photo.image_jpeg)
    assert output.size == (200, 400)
    assert is_close(output.getpixel((100, 10)), factory.RED)
    assert is_close(output.getpixel((100, 390)), factory.BLUE)


def test_twelve_megapixel_photo_shrinks_to_long_edge_with_thumbnail() -> None:
    photo = process_photo(factory.twelve_megapixel_jpeg())
    assert (photo.width, photo.height) == (1600, 1200)
    assert reopen(photo.thumb_jpeg).size == (320, 240)
    assert photo.gps == GpsPoint(lat=factory.JINAN_LAT, lon=factory.JINAN_LON)
    assert len(photo.image_jpeg) < 1_500_000  # a 12 MP upload becomes a modest file


def test_transparency_becomes_white_not_black() -> None:
    output = reopen(process_photo(factory.png_rgba_with_transparency(300, 100)).image_jpeg)
    assert is_close(output.getpixel((50, 50)), factory.RED)
    assert is_close(output.getpixel((250, 50)), (255, 255, 255), tolerance=4)


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    output = reopen(process_photo(factory.png_16bit_grey()).image_jpeg)
    assert is_close(output.getpixel((32, 32)), (128, 128, 128), tolerance=3)


GPS_CASES: list[tuple[str, Callable[[], bytes], GpsPoint | None]] = [
    (
        "southern and western hemispheres are negative",
        lambda: factory.phone_jpeg(gps=(-33.856784, -151.215297)),
        GpsPoint(lat=-33.856784, lon=-151.215297),
    ),
    ("no GPS at all", lambda: factory.phone_jpeg(gps=None), None),
    ("zero fix written as 0,0", lambda: factory.phone_jpeg(gps=(0.0, 0.0)), None),
    (
        "zero denominator",
        lambda: factory.jpeg_with_raw_gps(
            {1: "N", 2: (IFDRational(36, 0), IFDRational(1), IFDRational(0)), 3: "E", 4: (117.0, 2.0, 0.0)}
        ),
        None,
    ),
    (
        "missing hemisphere",
        lambda: factory.jpeg_with_raw_gps({2: (36.0, 40.0, 0.0), 3: "E", 4: (117.0, 2.0, 0.0)}),
        None,
    ),
    (
        "latitude out of range",
        lambda: factory.jpeg_with_raw_gps({1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (117.0, 0.0, 0.0)}),
        None,
    ),
    (
        "minutes out of range",
        lambda: factory.jpeg_with_raw_gps({1: "N", 2: (36.0, 75.0, 0.0), 3: "E", 4: (117.0, 0.0, 0.0)}),
        None,
    ),
    (
        "decimal degrees in a single value",
        lambda: factory.jpeg_with_raw_gps({1: "N", 2: (36.5,), 3: "W", 4: (117.25,)}),
        GpsPoint(lat=36.5, lon=-117.25),
    ),
]


@pytest.mark.parametrize(
    ("make_upload", "expected"), [row[1:] for row in GPS_CASES], ids=[row[0] for row in GPS_CASES]
)
def test_gps_is_read_strictly(make_upload: Callable[[], bytes], expected: GpsPoint | None) -> None:
    gps = process_photo(make_upload()).gps
    if expected is None:
        assert gps is None
    else:
        assert gps is not None
        # EXIF seconds are stored in hundredths: ~3e-6 degrees of quantisation.
        assert (gps.lat, gps.lon) == pytest.approx((expected.lat, expected.lon), abs=1e-5)


def test_missing_capture_time_is_none() -> None:
    assert process_photo(factory.phone_jpeg(taken_at=None)).taken_at is None


def test_same_upload_twice_gives_same_key_and_one_stored_file(tmp_path: Path) -> None:
    data = factory.phone_jpeg()
    store = LocalPhotoStore(tmp_path)

    first = ingest(data, store)
    second = ingest(data, store)

    assert first.sha256 == second.sha256
    assert first.image_jpeg == second.image_jpeg
    assert [path.name for path in stored_files(tmp_path)] == [
        f"{first.sha256}.jpg",
        f"{first.sha256}.thumb.jpg",
    ]


def test_same_picture_with_different_metadata_gets_a_different_original_hash_only() -> None:
    # Metadata differs, pixels are the same: the stored image is identical.
    with_gps = process_photo(factory.phone_jpeg(gps=(factory.JINAN_LAT, factory.JINAN_LON)))
    without_gps = process_photo(factory.phone_jpeg(gps=None))
    assert with_gps.original_sha256 != without_gps.original_sha256
    assert with_gps.sha256 == without_gps.sha256
