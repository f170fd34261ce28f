"""Charts are valid SVG, accessible, and carry every number in a <title>."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from relief_pwa.core.charts import (
    Bar,
    Series,
    Tile,
    bar_chart,
    grid_positions,
    line_chart,
    nice_max,
    tile_map,
)

NS = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert root.find(f"{NS}title") is not None and root.find(f"{NS}desc") is not None
    return root


def _titles(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}title")]


def test_bar_chart_titles_carry_label_and_value() -> None:
    svg = bar_chart(
        "c1", "在册 <cases> & more", "desc", [Bar("低保", 12, "12", "/x?a=1&b=2"), Bar("特困", 0, "0")]
    )
    root = _parse(svg)
    titles = _titles(root)
    assert titles[0] == "在册 <cases> & more"  # escaped in the text, intact after parsing
    assert "低保: 12" in titles and "特困: 0" in titles
    links = [a for a in root.iter(f"{NS}a")]
    assert links[0].get("href") == "/x?a=1&b=2"


def test_bar_chart_empty_and_longest_bar_fits() -> None:
    _parse(bar_chart("c2", "t", "d", []))
    root = _parse(bar_chart("c3", "t", "d", [Bar("a", 7, "7"), Bar("b", 3, "3")], width=500, label_width=100))
    widths = [float(r.get("width", "0")) for r in root.iter(f"{NS}rect")]
    assert max(widths) <= 500 - 100 and widths[0] > widths[1] > 0


def test_line_chart_has_a_point_per_month_with_its_number() -> None:
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    series = [
        Series("新申请", [float(m) for m in range(12)], [str(m) for m in range(12)]),
        Series("批准", [0.0] * 12, ["0"] * 12),
    ]
    root = _parse(line_chart("c4", "Flows", "d", months, series))
    circles = list(root.iter(f"{NS}circle"))
    assert len(circles) == 24
    titles = _titles(root)
    assert "新申请 2026-03: 2" in titles and "批准 2026-12: 0" in titles


def test_tile_map_colours_by_value_and_links() -> None:
    tiles = [
        Tile("历下区", 10, "10", 0, 0, "/analytics/370102"),
        Tile("市中区", 0, "0", 0, 1),
        Tile("槐荫区", None, "—", 1, 0),
    ]
    root = _parse(tile_map("c5", "Active", "d", tiles, legend_high="10"))
    assert "历下区: 10" in _titles(root) and "槐荫区: —" in _titles(root)
    fills = {r.get("fill") for r in root.iter(f"{NS}rect")}
    assert "#e9ecef" in fills  # no data is grey


def test_helpers() -> None:
    assert nice_max(0) == 1 and nice_max(7) == 10 and nice_max(180) == 200 and nice_max(2400) == 2500
    assert grid_positions(5, 4) == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]
