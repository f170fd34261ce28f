"""QR rendering: what we draw must decode back to exactly what we encoded."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from relief_pwa.adapters.qr import qr_png, qr_svg

SVG_NS = "{http://www.w3.org/2000/svg}"

PAYLOADS = [
    "https://relief.example.cn/receipt/7f3c9a2e-4b1d-4c8e-9a55-0c2f7d1e6b90",
    "https://relief.example.cn/notice/370102?street=泉城路街道&lang=zh",
    "阳光救助 公示 — 历下区 2026-03",
    "x" * 600,  # long enough to force a large QR version
]


def decode(image: Image.Image) -> list[tuple[str, str]]:
    return [(result.text, result.ec_level) for result in zxingcpp.read_barcodes(image)]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_png_decodes_to_exact_data_with_level_m(payload: str) -> None:
    png = qr_png(payload)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert decode(image.convert("L")) == [(payload, "M")]


def test_png_size_follows_box_size_and_border() -> None:
    # "A" fits in version 1 (21×21 modules).
    assert Image.open(io.BytesIO(qr_png("A"))).size == ((21 + 2 * 4) * 8,) * 2
    assert Image.open(io.BytesIO(qr_png("A", box_size=3, border=2))).size == ((21 + 2 * 2) * 3,) * 2


@pytest.mark.parametrize(("data", "box_size", "border"), [("", 8, 4), ("A", 0, 4), ("A", 8, -1)])
def test_invalid_input_is_refused(data: str, box_size: int, border: int) -> None:
    with pytest.raises(ValueError):
        qr_png(data, box_size=box_size, border=border)


def rasterise_path_svg(svg: str, scale: int = 6) -> Image.Image:
    """Draw qrcode's SvgPathImage path (one ``M x,y H V H z`` square per module)."""
    root = ET.fromstring(svg)
    width, height = (int(value) for value in root.attrib["viewBox"].split()[2:])
    path = root.find(f"{SVG_NS}path")
    assert path is not None
    squares = re.findall(r"M(\d+),(\d+)H(\d+)V(\d+)H\d+z", path.attrib["d"])
    assert squares, "path data not in the expected square-per-module form"
    image = Image.new("L", (width * scale, height * scale), 255)
    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1 in squares:
        draw.rectangle((int(x0) * scale, int(y0) * scale, int(x1) * scale - 1, int(y1) * scale - 1), fill=0)
    return image


@pytest.mark.parametrize("payload", PAYLOADS[:3])
def test_svg_is_one_path_that_decodes_to_exact_data(payload: str) -> None:
    svg = qr_svg(payload)

    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    paths = root.findall(f".//{SVG_NS}path")
    assert len(paths) == 1
    assert paths[0].attrib["d"]
    assert root.find(f".//{SVG_NS}script") is None
    assert decode(rasterise_path_svg(svg)) == [(payload, "M")]


def test_captioned_png_still_decodes_and_carries_the_file_number_below_the_code() -> None:
    from relief_pwa.adapters.qr import qr_png_captioned

    url = "http://192.168.1.20:8123/q/" + "A" * 43
    plain = Image.open(io.BytesIO(qr_png(url)))
    captioned = Image.open(io.BytesIO(qr_png_captioned(url, "370102-H000011")))
    assert decode(captioned) == decode(plain) and decode(captioned)[0][0] == url
    assert captioned.height > plain.height + 20  # room for the caption
    strip = captioned.crop((0, plain.height, captioned.width, captioned.height)).convert("L")
    assert min(strip.tobytes()) < 100  # dark text drawn under the code (one byte per "L" pixel)
