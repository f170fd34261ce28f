"""Photo evidence pipeline: validate an upload, normalise it, strip metadata.

Uploads come from phones (often ~10 MB, 12 MP, HEIC on iPhones) and from
anyone who can reach an upload form, so every byte is untrusted. The pipeline
(DESIGN §8 "Photos") is:

1. refuse empty or oversized uploads before touching a decoder;
2. sniff the content with Pillow, restricted to an allow-list of raster
   formats (the filename and content type are never consulted);
3. check width × height against the pixel limit *before* decoding, and turn
   Pillow's decompression-bomb warning into a rejection;
4. decode in full (a truncated file is refused, never padded with grey), using
   JPEG draft mode so a 12 MP photo is decoded at reduced scale;
5. read orientation, GPS and capture time from EXIF while it is still there,
   then shrink to the long edge;
6. convert to sRGB, apply the orientation, flatten onto a fresh RGB image —
   which carries no EXIF, GPS, ICC, XMP or comments — and encode as JPEG;
7. make a thumbnail from the result.

The GPS point is returned separately so the service can keep it as a
staff-only field; it never travels inside the stored image.

Everything here is synchronous and CPU-bound: services call
:func:`process_photo` in a worker thread.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import warnings
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any, Final

import pillow_heif
from PIL import Image, ImageCms, ImageFile

from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_

# Register HEIC/HEIF once, at import: iPhones upload HEIC by default.
pillow_heif.register_heif_opener()

MIB: Final = 1024 * 1024

# Formats Pillow may use to parse an upload. Restricting the plugin list keeps
# exotic parsers (EPS, PSD, TIFF, ...) away from untrusted bytes.
ACCEPTED_FORMATS: Final[tuple[str, ...]] = ("JPEG", "PNG", "WEBP", "HEIF", "AVIF")
# Pillow reports a JPEG that carries an MPO extension (phone depth maps,
# panoramas) as "MPO"; it is still a JPEG and we keep its first frame.
_FORMAT_ALIASES: Final[dict[str, str]] = {"MPO": "JPEG"}

# Magic numbers of raster formats we recognise but do not accept, so the user
# learns "GIF is not accepted" rather than "this is not an image".
_REFUSED_SIGNATURES: Final[tuple[tuple[bytes, str], ...]] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
    (b"\x00\x00\x01\x00", "ICO"),
)

# EXIF tag numbers (see PIL.ExifTags); spelled out to keep this module explicit.
_TAG_ORIENTATION: Final = 0x0112
_IFD_EXIF: Final = 0x8769
_IFD_GPS: Final = 0x8825
_TAG_DATETIME_ORIGINAL: Final = 0x9003
_GPS_LATITUDE_REF: Final = 1
_GPS_LATITUDE: Final = 2
_GPS_LONGITUDE_REF: Final = 3
_GPS_LONGITUDE: Final = 4

_TRANSPOSE_FOR_ORIENTATION: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# What a decoder may raise on hostile or damaged input. Anything else is a bug
# in our code and should surface as one.
_DECODE_ERRORS: Final[tuple[type[Exception], ...]] = (
    OSError,  # includes PIL.UnidentifiedImageError and "image file is truncated"
    ValueError,
    SyntaxError,  # Pillow's plugins raise it for malformed headers
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    RuntimeError,  # pillow_heif / libheif decode failures
)

_TAKEN_AT_MAX_LENGTH: Final = 32
_WHITE: Final = (255, 255, 255)


class RejectReason(StrEnum):
    """Why an upload was refused; stable values for logs and tests."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    NOT_AN_IMAGE = "not_an_image"
    SVG = "svg"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TOO_MANY_PIXELS = "too_many_pixels"
    CORRUPT = "corrupt"


_MESSAGES: Final[dict[RejectReason, str]] = {
    RejectReason.EMPTY: N_("The photo is empty. Please choose a photo and try again."),
    RejectReason.TOO_LARGE: N_("The photo is too large ({size_mb} MB); the limit is {limit_mb} MB."),
    RejectReason.NOT_AN_IMAGE: N_("This file is not a photo. Please upload a JPEG, PNG, WebP or HEIC image."),
    RejectReason.SVG: N_(
        "Vector (SVG) images are not accepted. Please upload a photo (JPEG, PNG, WebP or HEIC)."
    ),
    RejectReason.UNSUPPORTED_FORMAT: N_(
        "{format} images are not accepted. Please upload a JPEG, PNG, WebP or HEIC photo."
    ),
    RejectReason.TOO_MANY_PIXELS: N_(
        "The photo has too many pixels; the limit is {limit_megapixels} megapixels."
    ),
    RejectReason.CORRUPT: N_("The photo is damaged or incomplete. Please take or upload it again."),
}


class PhotoRejected(DomainError):
    """An upload that is not an acceptable photo; ``reason`` says which rule failed."""

    def __init__(self, reason: RejectReason, **params: Any) -> None:
        super().__init__(_MESSAGES[reason], field="photo", **params)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PhotoLimits:
    """Upload limits and output sizes.

    Attributes:
        max_bytes: Largest accepted upload (a 12 MP phone JPEG is ~10 MB).
        max_pixels: Largest accepted width × height, checked before decoding.
        long_edge: Longest edge of the stored image, in pixels.
        thumb_edge: Longest edge of the thumbnail, in pixels.
        jpeg_quality: JPEG quality of both outputs (1–95).
    """

    max_bytes: int = 15 * MIB
    max_pixels: int = 50_000_000
    long_edge: int = 1600
    thumb_edge: int = 320
    jpeg_quality: int = 82

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError("max_bytes and max_pixels must be positive")
        if not 0 < self.thumb_edge <= self.long_edge:
            raise ValueError("need 0 < thumb_edge <= long_edge")
        if not 1 <= self.jpeg_quality <= 95:
            raise ValueError("jpeg_quality must be within 1..95")


@dataclass(frozen=True, slots=True)
class GpsPoint:
    """A WGS-84 position as written by the camera (decimal degrees)."""

    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class ProcessedPhoto:
    """A clean, re-encoded photo ready to store under ``sha256``.

    Attributes:
        image_jpeg: The stored image: oriented, at most ``long_edge``, no metadata.
        thumb_jpeg: The thumbnail: at most ``thumb_edge``, no metadata.
        sha256: Hex digest of ``image_jpeg``: the storage key. Re-encoding is
            deterministic, so the same upload retried gets the same key.
        original_sha256: Hex digest of the raw upload (for audit and dedup).
        width: Width of ``image_jpeg`` in pixels.
        height: Height of ``image_jpeg`` in pixels.
        gps: Camera position from EXIF, or None when absent or invalid.
        taken_at: EXIF DateTimeOriginal as written ("YYYY:MM:DD HH:MM:SS"), or None.
        source_format: The detected upload format ("JPEG", "PNG", "WEBP", "HEIF", "AVIF").
    """

    image_jpeg: bytes
    thumb_jpeg: bytes
    sha256: str
    original_sha256: str
    width: int
    height: int
    gps: GpsPoint | None
    taken_at: str | None
    source_format: str


@dataclass(frozen=True, slots=True)
class _Metadata:
    orientation: int
    gps: GpsPoint | None
    taken_at: str | None
    icc_profile: bytes | None


def process_photo(data: bytes, limits: PhotoLimits | None = None) -> ProcessedPhoto:
    """Validate an uploaded photo and produce the clean image and thumbnail.

    Args:
        data: The raw uploaded bytes (untrusted).
        limits: Size limits and output settings; the defaults when None.

    Returns:
        The re-encoded image and thumbnail, their key, and the staff-only
        metadata (GPS, capture time) read from the original.

    Raises:
        PhotoRejected: The upload is empty, too large, not an accepted raster
            image, has too many pixels, or is truncated/corrupt.
    """
    limits = limits or PhotoLimits()
    _check_upload_size(data, limits)
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone flipped Pillow's global switch: we would accept half-grey
        # photos as evidence. Fail loudly rather than silently.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")

    with warnings.catch_warnings():
        # Only this category, so that the filter is harmless even if another
        # thread's catch_warnings interleaves with ours (the module is not
        # thread-safe) and it outlives this block.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image, source_format, metadata = _decode(data, limits)

    image = _to_srgb(image, metadata.icc_profile)
    transpose = _TRANSPOSE_FOR_ORIENTATION.get(metadata.orientation)
    if transpose is not None:
        image = image.transpose(transpose)
    clean = _flatten_to_fresh_rgb(image)

    image_jpeg = _encode_jpeg(clean, limits.jpeg_quality)
    thumb = clean.copy()
    thumb.thumbnail((limits.thumb_edge, limits.thumb_edge), Image.Resampling.BICUBIC)
    thumb_jpeg = _encode_jpeg(thumb, limits.jpeg_quality)

    return ProcessedPhoto(
        image_jpeg=image_jpeg,
        thumb_jpeg=thumb_jpeg,
        sha256=hashlib.sha256(image_jpeg).hexdigest(),
        original_sha256=hashlib.sha256(data).hexdigest(),
        width=clean.width,
        height=clean.height,
        gps=metadata.gps,
        taken_at=metadata.taken_at,
        source_format=source_format,
    )


def _check_upload_size(data: bytes, limits: PhotoLimits) -> None:
    if not data:
        raise PhotoRejected(RejectReason.EMPTY)
    if len(data) > limits.max_bytes:
        raise PhotoRejected(
            RejectReason.TOO_LARGE,
            size_mb=f"{len(data) / MIB:.1f}",
            limit_mb=f"{limits.max_bytes / MIB:.1f}",
        )


def _decode(data: bytes, limits: PhotoLimits) -> tuple[Image.Image, str, _Metadata]:
    """Open, check pixels, fully decode (reduced for JPEG), read metadata, shrink."""
    too_many_pixels = PhotoRejected(
        RejectReason.TOO_MANY_PIXELS,
        limit_megapixels=f"{limits.max_pixels / 1_000_000:g}",
    )
    try:
        image = Image.open(io.BytesIO(data), formats=_registered_accepted_formats())
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many_pixels from None
    except _DECODE_ERRORS:
        raise _unidentified(data) from None

    with image:
        width, height = image.size
        if width <= 0 or height <= 0:
            raise PhotoRejected(RejectReason.CORRUPT)
        if width * height > limits.max_pixels:
            raise too_many_pixels
        source_format = _FORMAT_ALIASES.get(image.format or "", image.format or "")
        try:
            # JPEG only: let libjpeg decode at 1/2, 1/4 or 1/8 scale, staying at
            # least as large as the output. A no-op for other formats.
            image.draft("RGB", _fit_within(image.size, limits.long_edge))
            # Full decode now, before anything else can trigger it: truncation
            # and corruption raise here. (PNG's getexif() would otherwise load
            # lazily, and a failed load leaves black pixels behind.)
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_many_pixels from None
        except _DECODE_ERRORS:
            raise PhotoRejected(RejectReason.CORRUPT) from None
        # Metadata stays in image.info through draft and load; read it before
        # the resize and the fresh-image copy drop it.
        metadata = _read_metadata(image)
        image.thumbnail((limits.long_edge, limits.long_edge), Image.Resampling.BICUBIC)
        # Detach pixels from the file object (and its metadata) before closing.
        reduced = image.copy()
    return reduced, source_format, metadata


@cache
def _registered_accepted_formats() -> tuple[str, ...]:
    # Image.open raises KeyError for a format id that has no plugin (e.g. a
    # Pillow build without AVIF), so only pass the ones this build knows.
    Image.init()
    return tuple(name for name in ACCEPTED_FORMATS if name in Image.OPEN)


def _unidentified(data: bytes) -> PhotoRejected:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<?xml") or b"<svg" in head:
        return PhotoRejected(RejectReason.SVG)
    for signature, name in _REFUSED_SIGNATURES:
        if data.startswith(signature):
            return PhotoRejected(RejectReason.UNSUPPORTED_FORMAT, format=name)
    return PhotoRejected(RejectReason.NOT_AN_IMAGE)


def _fit_within(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, long_edge / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _read_metadata(image: Image.Image) -> _Metadata:
    """Read what we keep before reduction and re-encoding drop it.

    EXIF is optional and often sloppy: a malformed block means "no metadata",
    never a rejected photo.
    """
    icc = image.info.get("icc_profile")
    icc_profile = icc if isinstance(icc, bytes) and icc else None
    try:
        exif = image.getexif()
    except Exception:  # untrusted EXIF may fail in many ways
        return _Metadata(orientation=1, gps=None, taken_at=None, icc_profile=icc_profile)

    orientation = exif.get(_TAG_ORIENTATION, 1)
    if not isinstance(orientation, int) or orientation not in range(1, 9):
        orientation = 1
    return _Metadata(
        orientation=orientation,
        gps=_read_gps(exif),
        taken_at=_read_taken_at(exif),
        icc_profile=icc_profile,
    )


def _read_gps(exif: Image.Exif) -> GpsPoint | None:
    try:
        gps_ifd = exif.get_ifd(_IFD_GPS)
        lat = _gps_coordinate(gps_ifd.get(_GPS_LATITUDE), gps_ifd.get(_GPS_LATITUDE_REF), "N", "S", 90.0)
        lon = _gps_coordinate(gps_ifd.get(_GPS_LONGITUDE), gps_ifd.get(_GPS_LONGITUDE_REF), "E", "W", 180.0)
    except Exception:  # untrusted EXIF may fail in many ways
        return None
    if lat is None or lon is None:
        return None
    if lat == 0.0 and lon == 0.0:
        # Cameras without a fix often write zeros; "Null Island" is not a home visit.
        return None
    return GpsPoint(lat=round(lat, 6), lon=round(lon, 6))


def _gps_coordinate(value: object, ref: object, positive: str, negative: str, limit: float) -> float | None:
    """Degrees/minutes/seconds plus hemisphere → signed decimal degrees, or None."""
    if value is None:
        return None
    parts = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not 1 <= len(parts) <= 3:
        return None
    numbers = [float(part) for part in parts]
    if any(not math.isfinite(n) or n < 0 for n in numbers):
        return None  # IFDRational with a zero denominator becomes NaN
    if any(n > 60 for n in numbers[1:]):
        return None  # 60 itself is a writer's rounding artefact, still a valid place
    degrees = sum(n / divisor for n, divisor in zip(numbers, (1.0, 60.0, 3600.0), strict=False))
    if degrees > limit:
        return None
    hemisphere = ref.decode("ascii", "replace") if isinstance(ref, bytes) else ref
    if not isinstance(hemisphere, str):
        return None
    hemisphere = hemisphere.strip("\x00 ").upper()
    if hemisphere == positive:
        return degrees
    if hemisphere == negative:
        return -degrees
    return None  # without a hemisphere the sign is a guess: better no point at all


def _read_taken_at(exif: Image.Exif) -> str | None:
    try:
        raw = exif.get_ifd(_IFD_EXIF).get(_TAG_DATETIME_ORIGINAL)
    except Exception:  # untrusted EXIF may fail in many ways
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    if not isinstance(raw, str):
        return None
    text = raw.strip("\x00 ")
    if not text or len(text) > _TAKEN_AT_MAX_LENGTH or not text.isprintable():
        return None
    return text


@cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Convert embedded-profile colours (e.g. iPhone Display P3) to sRGB.

    The stored JPEG carries no profile, so viewers assume sRGB; converting
    first keeps colours right. A broken profile is ignored, not fatal.
    """
    if icc_profile is None or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        converted = ImageCms.profileToProfile(image, source, _srgb_profile(), outputMode=output_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    return converted if converted is not None else image


def _flatten_to_fresh_rgb(image: Image.Image) -> Image.Image:
    """Return a brand-new RGB image holding only pixels: no info, EXIF or ICC.

    Transparent areas become white (not black) so documents stay legible.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greyscale PNG: scale to 8 bits instead of clipping to white.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    fresh = Image.new("RGB", image.size, _WHITE)
    if has_alpha:
        rgba = image.convert("RGBA")
        fresh.paste(rgba, mask=rgba.getchannel("A"))
    else:
        fresh.paste(image.convert("RGB"))
    return fresh


def _encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    # No exif=, icc_profile= or comment=: the output carries pixels only.
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()
