"""Real test images, generated in memory (no binary fixtures in the repo).

Each function returns the bytes a client would upload. Images that need to
prove orientation handling are split into coloured halves, so a test can
check where each colour ended up.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from functools import cache
from typing import Final

import pillow_heif
from PIL import Image, ImageCms
from PIL.TiffImagePlugin import IFDRational

RED: Final = (220, 30, 30)
BLUE: Final = (30, 30, 220)

# A point in Jinan (Quancheng Square) and one south/west of Greenwich, to
# exercise both hemisphere signs.
JINAN_LAT: Final = 36.661389  # 36° 39' 41.0" N
JINAN_LON: Final = 117.016667  # 117° 1' 0.0" E
TAKEN_AT: Final = "2026:03:01 10:20:30"

_TAG_ORIENTATION: Final = 0x0112
_IFD_EXIF: Final = 0x8769
_IFD_GPS: Final = 0x8825
_TAG_DATETIME_ORIGINAL: Final = 0x9003


def two_tone(width: int, height: int, *, mode: str = "RGB") -> Image.Image:
    """Left half RED, right half BLUE (as stored, before any orientation)."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(BLUE, (width // 2, 0, width, height))
    return image.convert(mode) if mode != "RGB" else image


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Decimal degrees → EXIF degrees/minutes/seconds rationals (seconds × 100)."""
    total_hundredths = round(value * 3600 * 100)
    degrees, rest = divmod(total_hundredths, 3600 * 100)
    minutes, seconds_hundredths = divmod(rest, 60 * 100)
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(seconds_hundredths, 100)


def make_exif(
    *,
    orientation: int | None = None,
    gps: tuple[float, float] | None = None,
    taken_at: str | None = None,
    raw_gps: dict[int, object] | None = None,
) -> Image.Exif:
    """Build an EXIF block with optional orientation, GPS IFD and capture time.

    Args:
        orientation: EXIF orientation tag (1–8).
        gps: (lat, lon) in signed decimal degrees.
        taken_at: DateTimeOriginal string.
        raw_gps: GPS IFD entries written as given (for malformed-GPS tests).
    """
    exif = Image.Exif()
    if orientation is not None:
        exif[_TAG_ORIENTATION] = orientation
    if gps is not None:
        lat, lon = gps
        gps_ifd = exif.get_ifd(_IFD_GPS)
        gps_ifd[1] = "N" if lat >= 0 else "S"
        gps_ifd[2] = _dms(abs(lat))
        gps_ifd[3] = "E" if lon >= 0 else "W"
        gps_ifd[4] = _dms(abs(lon))
    if raw_gps is not None:
        exif.get_ifd(_IFD_GPS).update(raw_gps)
    if taken_at is not None:
        exif.get_ifd(_IFD_EXIF)[_TAG_DATETIME_ORIGINAL] = taken_at
    return exif


def srgb_icc_profile() -> bytes:
    """A real ICC profile (sRGB), to prove the output drops embedded profiles."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return profile.tobytes()


def phone_jpeg(
    width: int = 400,
    height: int = 200,
    *,
    orientation: int = 6,
    gps: tuple[float, float] | None = (JINAN_LAT, JINAN_LON),
    taken_at: str | None = TAKEN_AT,
) -> bytes:
    """A JPEG as a phone writes it: EXIF orientation, GPS, time, ICC, XMP, comment.

    With orientation 6 the stored 400×200 pixels display as 200×400: the red
    (left) half ends up on top.
    """
    buffer = io.BytesIO()
    two_tone(width, height).save(
        buffer,
        format="JPEG",
        quality=90,
        exif=make_exif(orientation=orientation, gps=gps, taken_at=taken_at),
        icc_profile=srgb_icc_profile(),
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">home of Zhang San</x:xmpmeta>',
        comment=b"secret comment",
    )
    return buffer.getvalue()


def jpeg_with_raw_gps(raw_gps: dict[int, object]) -> bytes:
    """A small JPEG whose GPS IFD holds exactly ``raw_gps``."""
    buffer = io.BytesIO()
    two_tone(64, 32).save(buffer, format="JPEG", exif=make_exif(raw_gps=raw_gps))
    return buffer.getvalue()


@cache
def twelve_megapixel_jpeg(seed: int = 7) -> bytes:
    """A 4000×3000 JPEG with photo-like texture (~9 MB, like a phone photo).

    Pure noise would be unrealistically large and a flat colour unrealistically
    small; blurred noise plus a gradient plus grain lands near real photos.
    """
    rng = random.Random(seed)
    size = (4000, 3000)
    coarse = Image.frombytes("RGB", (1000, 750), rng.randbytes(1000 * 750 * 3))
    texture = coarse.resize(size, Image.Resampling.BICUBIC)
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    grain = Image.frombytes("L", (2000, 1500), rng.randbytes(2000 * 1500)).resize(size)
    image = Image.blend(Image.blend(texture, gradient, 0.4), grain.convert("RGB"), 0.35)
    buffer = io.BytesIO()
    image.save(
        buffer,
        format="JPEG",
        quality=96,
        exif=make_exif(orientation=1, gps=(JINAN_LAT, JINAN_LON), taken_at=TAKEN_AT),
    )
    return buffer.getvalue()


def png_rgba_with_transparency(width: int = 300, height: int = 100) -> bytes:
    """A PNG with a fully transparent right half (should become white)."""
    image = Image.new("RGBA", (width, height), (*RED, 255))
    image.paste((0, 0, 0, 0), (width // 2, 0, width, height))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_rgb(width: int = 2400, height: int = 1200, *, exif: Image.Exif | None = None) -> bytes:
    """A plain RGB PNG (larger than the long edge, so it must shrink)."""
    buffer = io.BytesIO()
    two_tone(width, height).save(buffer, format="PNG", exif=exif or Image.Exif())
    return buffer.getvalue()


def png_16bit_grey(width: int = 64, height: int = 64) -> bytes:
    """A 16-bit greyscale PNG at mid-grey (32768 of 65535)."""
    image = Image.new("I;16", (width, height), 32768)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def webp(width: int = 500, height: int = 250) -> bytes:
    """A lossy WebP with the two-tone pattern."""
    buffer = io.BytesIO()
    two_tone(width, height).save(buffer, format="WEBP", quality=90)
    return buffer.getvalue()


def cmyk_jpeg(width: int = 120, height: int = 60) -> bytes:
    """A CMYK JPEG (print workflows and some scanners write these)."""
    buffer = io.BytesIO()
    two_tone(width, height, mode="CMYK").save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def heic(width: int = 400, height: int = 200, *, exif: Image.Exif | None = None) -> bytes:
    """An HEIC (HEVC in HEIF) as iPhones upload, encoded with pillow_heif."""
    heif_file = pillow_heif.from_pillow(two_tone(width, height))
    buffer = io.BytesIO()
    if exif is not None:
        heif_file.info["exif"] = exif.tobytes()
    heif_file.save(buffer, format="HEIF", quality=90)
    return buffer.getvalue()


def avif(width: int = 200, height: int = 100) -> bytes:
    """An AVIF, encoded by Pillow's built-in plugin."""
    buffer = io.BytesIO()
    two_tone(width, height).save(buffer, format="AVIF", quality=90)
    return buffer.getvalue()


def gif(width: int = 40, height: int = 40) -> bytes:
    """A GIF: a real raster image, but not in the allow-list."""
    buffer = io.BytesIO()
    two_tone(width, height).save(buffer, format="GIF")
    return buffer.getvalue()


def bmp(width: int = 40, height: int = 40) -> bytes:
    """A BMP: a real raster image, but not in the allow-list."""
    buffer = io.BytesIO()
    two_tone(width, height).save(buffer, format="BMP")
    return buffer.getvalue()


def truncated_jpeg(keep_fraction: float = 0.6) -> bytes:
    """A valid JPEG cut short, as a dropped mobile upload would be."""
    buffer = io.BytesIO()
    # Noise, so the scan data is most of the file and the cut lands inside it.
    noise = Image.frombytes("RGB", (256, 256), random.Random(3).randbytes(256 * 256 * 3))
    noise.save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    return data[: int(len(data) * keep_fraction)]


def corrupt_png() -> bytes:
    """A PNG whose compressed pixel data is garbage (header intact)."""
    data = bytearray(png_rgb(64, 64))
    idat = data.find(b"IDAT")
    for offset in range(idat + 8, idat + 40):
        data[offset] ^= 0x5A
    return bytes(data)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@cache
def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A *valid* 1-bit PNG of width×height white pixels that is tiny on disk.

    20000×20000 is 400 megapixels (decoded as RGB: 1.2 GB) in ~50 KB. Rows are
    streamed into zlib, so building it never holds the raw image in memory.
    """
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((width + 7) // 8)  # filter byte + zero bits
    compressor = zlib.compressobj(9)
    rows_per_chunk = max(1, (1 << 20) // len(row))
    chunk = row * rows_per_chunk
    compressed = []
    remaining = height
    while remaining > 0:
        count = min(rows_per_chunk, remaining)
        compressed.append(compressor.compress(chunk if count == rows_per_chunk else row * count))
        remaining -= count
    compressed.append(compressor.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"".join(compressed))
        + _png_chunk(b"IEND", b"")
    )


def text_named_jpg() -> tuple[str, bytes]:
    """A text file with a .jpg name: the name must not matter."""
    return "IMG_0001.jpg", b"This is not a photo, just text pretending.\n" * 20


def svg_with_script() -> bytes:
    """An SVG carrying a script: must never be accepted or served."""
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        b"<script>alert(document.cookie)</script>"
        b'<rect width="100" height="100" fill="red"/></svg>'
    )


def oversized_upload(max_bytes: int) -> bytes:
    """A JPEG-looking upload one byte over ``max_bytes``."""
    return b"\xff\xd8\xff\xe0" + b"\x00" * (max_bytes - 3)
