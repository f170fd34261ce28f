"""Plain QR code rendering (receipt and notice-board codes).

Only the code itself: layouts (cards, notices, captions) belong in templates.
Error correction level M (~15 % recoverable) survives a creased paper notice
while keeping the code small enough to scan from a phone at arm's length.
"""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
import qrcode.image.pil
import qrcode.image.svg


def _build(data: str, *, box_size: int, border: int) -> qrcode.QRCode:
    if not data:
        raise ValueError("QR data must not be empty")
    if box_size < 1 or border < 0:
        raise ValueError("box_size must be >= 1 and border >= 0")
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=box_size,
        border=border,
    )
    code.add_data(data)
    code.make(fit=True)  # smallest version that holds the data
    return code


def qr_png(data: str, box_size: int = 8, border: int = 4) -> bytes:
    """Render ``data`` as a black-on-white QR code PNG.

    Args:
        data: The text to encode (usually a URL).
        box_size: Pixels per module.
        border: Quiet zone width in modules (the standard asks for 4).

    Returns:
        The PNG bytes.

    Raises:
        ValueError: ``data`` is empty or the sizes are invalid.
        qrcode.exceptions.DataOverflowError: ``data`` does not fit in a QR code.
    """
    code = _build(data, box_size=box_size, border=border)
    image = code.make_image(image_factory=qrcode.image.pil.PilImage)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_png_captioned(data: str, caption: str, box_size: int = 8, border: int = 4) -> bytes:
    """A QR code PNG with one line of text under it (a card's file number), so a
    downloaded or forwarded image still says which household it belongs to.

    The caption is drawn with Pillow's built-in font (Latin letters, digits and
    dashes: file numbers); the quiet zone around the code is kept."""
    from PIL import Image, ImageDraw, ImageFont

    code = _build(data, box_size=box_size, border=border)
    qr = code.make_image(image_factory=qrcode.image.pil.PilImage).get_image().convert("L")
    font = ImageFont.load_default(size=max(12, box_size * 4))
    draw = ImageDraw.Draw(qr)
    left, top, right, bottom = draw.textbbox((0, 0), caption, font=font)
    text_width, text_height = right - left, bottom - top
    width = max(qr.width, text_width + 2 * box_size * border)
    height = qr.height + text_height + box_size * border
    image = Image.new("L", (width, height), 255)
    image.paste(qr, ((width - qr.width) // 2, 0))
    ImageDraw.Draw(image).text(
        ((width - text_width) // 2 - left, qr.height - top), caption, font=font, fill=0
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_svg(data: str) -> str:
    """Render ``data`` as a scalable QR code: one SVG ``<path>``, no script.

    Width and height are in millimetres (qrcode's default); CSS can resize it.

    Args:
        data: The text to encode (usually a URL).

    Returns:
        The SVG document as text.

    Raises:
        ValueError: ``data`` is empty.
        qrcode.exceptions.DataOverflowError: ``data`` does not fit in a QR code.
    """
    code = _build(data, box_size=10, border=4)
    image = code.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    svg: str = image.to_string(encoding="unicode")
    return svg
