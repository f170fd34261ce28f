"""Generate the app icons in static/icons/ with Pillow.

Run from anywhere: ``.venv/bin/python scripts/make-icons.py``. The output is
deterministic for a given Pillow version, so the PNGs in git can always be
rebuilt from this file instead of being edited by hand.

The glyph is a sun: a filled disc with twelve tapered rays.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

ICON_DIR = Path(__file__).resolve().parent.parent / "static" / "icons"

SUN_ORANGE = (232, 89, 12, 255)  # #e8590c, the app's accent colour
SUN_CORE = (247, 103, 7, 255)  # #f76707, a touch lighter so the disc reads as a disc
WHITE = (255, 255, 255, 255)
WARM_WHITE = (255, 244, 230, 255)  # #fff4e6
TRANSPARENT = (0, 0, 0, 0)

# Drawn larger, then downscaled, so edges come out anti-aliased.
SUPERSAMPLE = 4


def draw_sun(
    side: int,
    *,
    background: tuple[int, int, int, int],
    disc: tuple[int, int, int, int],
    rays: tuple[int, int, int, int],
    glyph_fraction: float,
    rounded_background: bool = False,
    ray_count: int = 12,
    ray_weight: float = 0.42,
) -> Image.Image:
    """Render a square sun icon.

    Args:
        side: Output width and height in pixels.
        background: RGBA fill behind the glyph.
        disc: RGBA colour of the sun's disc.
        rays: RGBA colour of the rays.
        glyph_fraction: Diameter of the whole glyph (ray tips) relative to side.
        rounded_background: Clip the background to a rounded square.
        ray_count: Number of rays; fewer read better at favicon sizes.
        ray_weight: Ray base width as a share of the gap between rays.

    Returns:
        The RGBA image.
    """
    big = side * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), TRANSPARENT)
    draw = ImageDraw.Draw(image)
    if rounded_background:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 5, fill=background)
    else:
        draw.rectangle((0, 0, big - 1, big - 1), fill=background)

    centre = big / 2
    outer = big * glyph_fraction / 2
    inner = outer * 0.66  # where rays start, leaving a gap around the disc
    disc_radius = outer * 0.54
    half_width = math.pi / ray_count * ray_weight  # angular half-width of a ray's base

    for index in range(ray_count):
        angle = 2 * math.pi * index / ray_count - math.pi / 2
        base_left = (
            centre + inner * math.cos(angle - half_width),
            centre + inner * math.sin(angle - half_width),
        )
        base_right = (
            centre + inner * math.cos(angle + half_width),
            centre + inner * math.sin(angle + half_width),
        )
        tip = (centre + outer * math.cos(angle), centre + outer * math.sin(angle))
        draw.polygon([base_left, tip, base_right], fill=rays)

    draw.ellipse(
        (
            centre - disc_radius,
            centre - disc_radius,
            centre + disc_radius,
            centre + disc_radius,
        ),
        fill=disc,
    )
    return image.resize((side, side), Image.Resampling.LANCZOS)


def save_png(image: Image.Image, name: str) -> None:
    """Save an icon as an optimised PNG without metadata chunks."""
    image.save(ICON_DIR / name, format="PNG", optimize=True)


def main() -> None:
    """Write every icon the manifest and the page head refer to."""
    ICON_DIR.mkdir(parents=True, exist_ok=True)

    for side in (192, 512):
        icon = draw_sun(
            side,
            background=WHITE,
            disc=SUN_CORE,
            rays=SUN_ORANGE,
            glyph_fraction=0.86,
            rounded_background=True,
        )
        save_png(icon, f"icon-{side}.png")

    # Maskable: full-bleed background, glyph inside the 80 % safe circle.
    maskable = draw_sun(512, background=SUN_ORANGE, disc=WHITE, rays=WARM_WHITE, glyph_fraction=0.62)
    save_png(maskable, "icon-maskable-512.png")

    # iOS paints transparency black, so the touch icon is opaque.
    apple = draw_sun(180, background=WHITE, disc=SUN_CORE, rays=SUN_ORANGE, glyph_fraction=0.8)
    save_png(apple.convert("RGB"), "apple-touch-icon-180.png")

    favicon = draw_sun(
        64,
        background=TRANSPARENT,
        disc=SUN_CORE,
        rays=SUN_ORANGE,
        glyph_fraction=1.0,
        ray_count=8,
        ray_weight=0.6,
    )
    save_png(favicon.resize((32, 32), Image.Resampling.LANCZOS), "favicon-32.png")
    favicon.save(ICON_DIR / "favicon.ico", format="ICO", sizes=[(16, 16), (32, 32), (48, 48)])

    for path in sorted(ICON_DIR.iterdir()):
        print(f"{path.relative_to(ICON_DIR.parent.parent)}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
