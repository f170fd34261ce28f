"""Analytics pages: dashboards render with charts, exports equal the page's tables,
scope holds over HTTP, the report prints, the targeting monitor works end to end."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

from openpyxl import load_workbook

from tests.services.analytics_seed import seed_city


class TableParser(HTMLParser):
    """The data tables of a page: key → rows of cell texts (header first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.current: str | None = None
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.skip_row = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        table = a.get("data-table")
        if tag == "table" and table:
            self.current = table
            self.tables[self.current] = []
        elif self.current and tag == "tr":
            self.row, self.skip_row = [], a.get("class") == "empty"
        elif self.current and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.current = None
        elif self.current and tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif self.current and tag == "tr" and self.row is not None:
            if not self.skip_row:
                self.tables[self.current].append(self.row)
            self.row = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def tables_of(html: str) -> dict[str, list[list[str]]]:
    parser = TableParser()
    parser.feed(html)
    return parser.tables


def plain(text: str) -> str:
    """Money is shown with thousands separators and exported without them; "—" (no value) is an empty cell."""
    if text == "—":
        return ""
    return text.replace(",", "") if re.fullmatch(r"-?[\d,]+\.\d\d", text) else text


async def test_city_dashboard_page_charts_and_exports(world: Any, client: Any) -> None:
    await seed_city(world)
    await client.login("city")
    page = await client.get("/analytics")
    assert page.status_code == 200, page.text[:300]
    svgs = re.findall(r"<svg .*?</svg>", page.text, flags=re.S)
    assert len(svgs) >= 6
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.get("role") == "img"
    tables = tables_of(page.text)
    assert {
        "states",
        "categories",
        "flows",
        "index",
        "moves",
        "units",
        "funds",
        "providers",
        "batches",
        "visits",
        "objections",
    } <= set(tables)
    # every number of the states table is in a chart <title>
    states_svg = next(s for s in svgs if 'id="chart-states-title"' in s)
    titles = {t.text for t in ET.fromstring(states_svg).iter("{http://www.w3.org/2000/svg}title")}
    for label, n in tables["states"][1:]:
        assert f"{label}: {n}" in titles
    # drill-down table lists the two districts
    assert [r[0] for r in tables["units"][1:]] == ["370102", "370103"]
    for key, rows in tables.items():
        response = await client.get(f"/analytics?format=csv&table={key}")
        assert response.status_code == 200
        assert response.content.startswith(b"\xef\xbb\xbf")
        parsed = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert parsed == [[plain(c) for c in row] for row in rows], key
        xlsx = await client.get(f"/analytics?format=xlsx&table={key}")
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        values = [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]
        assert [[_xlsx_text(v) for v in row] for row in values] == [
            [_csv_norm(c) for c in row] for row in parsed
        ], key
    everything = await client.get("/analytics?format=xlsx")
    assert set(load_workbook(io.BytesIO(everything.content)).sheetnames) >= set(tables)


def _xlsx_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{Decimal(str(value)).normalize():f}"
    return str(value)


def _csv_norm(text: str) -> str:
    if re.fullmatch(r"-?\d+\.\d+", text):
        return f"{Decimal(text).normalize():f}"
    return "" if text == "—" else text


async def test_codes_stay_text_in_xlsx(world: Any, client: Any) -> None:
    await seed_city(world)
    await client.login("city")
    xlsx = await client.get("/analytics?format=xlsx&table=units")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.cell(row=3, column=1).value == "370102"
    assert sheet.cell(row=3, column=1).number_format == "@"
    households = await client.get("/analytics/370100/households?measure=state&value=active&format=xlsx")
    sheet = load_workbook(io.BytesIO(households.content)).active
    assert all(isinstance(r[0], str) for r in sheet.iter_rows(min_row=3, values_only=True))


async def test_scope_over_http(world: Any, client: Any, make_client: Any) -> None:
    city = await seed_city(world)
    await client.login("center")
    page = await client.get("/analytics")
    assert page.status_code == 200
    tables = tables_of(page.text)
    assert [r[0] for r in tables["units"][1:]] == ["370102001", "370102002"]
    for url in (
        "/analytics/370103",
        "/analytics/370100",
        "/analytics/370103/households?measure=new",
        "/analytics/370103?format=csv&table=states",
    ):
        assert (await client.get(url)).status_code == 404, url
    listing = await client.get("/analytics/370102/households?measure=state&value=active")
    other_files = {f"T-H{c.household_id}" for c in city.cases if c.path.startswith(city.paths["370103"])}
    assert listing.status_code == 200 and not any(f in listing.text for f in other_files if f)
    station = make_client()
    await station.login("station")
    assert (await station.get("/analytics/370102002")).status_code == 404
    street = tables_of((await station.get("/analytics")).text)
    assert [r[0] for r in street["units"][1:]] == ["370102001001", "370102001002"]
    liaison = make_client()
    await liaison.login("liaison")
    assert (await liaison.get("/analytics")).status_code == 403


async def test_households_behind_a_number_and_bad_input(world: Any, client: Any) -> None:
    city = await seed_city(world)
    await client.login("city")
    listing = await client.get("/analytics/370100/households?measure=state&value=active")
    assert listing.status_code == 200
    rows = tables_of(listing.text)["households"][1:]
    assert len(rows) == min(50, sum(1 for c in city.cases if c.state == "active"))
    csv_rows = list(
        csv.reader(
            io.StringIO(
                (
                    await client.get("/analytics/370100/households?measure=state&value=active&format=csv")
                ).content.decode("utf-8-sig")
            )
        )
    )
    assert len(csv_rows) - 1 == sum(1 for c in city.cases if c.state == "active")
    assert (await client.get("/analytics/370100/households?measure=bogus")).status_code == 400
    assert (await client.get("/analytics/370100/households?measure=index&value=42")).status_code == 400
    assert (await client.get("/analytics?format=pdf&table=states")).status_code == 400
    assert (await client.get("/analytics?format=csv")).status_code == 400
    assert (await client.get("/analytics?format=csv&table=nope")).status_code == 400
    bad = await client.get("/analytics?month=2026-13")
    assert bad.status_code == 200 and 'role="alert"' in bad.text
    assert (await client.get("/analytics?quarter=2026-Q2&category=dibao")).status_code == 200
    assert (await client.get("/analytics?start=2026-03-01&end=2026-02-01")).status_code == 200
    assert (await client.get("/analytics/xyz")).status_code == 404


async def test_monthly_report_prints(world: Any, client: Any) -> None:
    await seed_city(world)
    await client.login("center")
    page = await client.get("/analytics/report?month=2026-10")
    assert page.status_code == 200
    assert "2026-10" in page.text and "<svg" in page.text
    assert "units" in tables_of(page.text)
    assert (await client.get("/analytics/report?month=10-2026")).status_code == 400


async def test_targeting_monitor_end_to_end(world: Any, client: Any) -> None:
    await seed_city(world, households=60)
    await client.login("city")
    form = await client.get("/analytics/targeting")
    assert form.status_code == 200
    refused = await client.post_form("/analytics/targeting", {"size_active": "x", "size_rejected": "2"})
    assert refused.status_code == 400
    drawn = await client.post_form(
        "/analytics/targeting", {"size_active": "5", "size_rejected": "3", "seed": "77"}
    )
    assert drawn.status_code == 303
    sample_url = drawn.headers["location"]
    page = await client.get(sample_url)
    assert page.status_code == 200
    item_ids = re.findall(r'action="/analytics/targeting/items/(\d+)"', page.text)
    assert len(item_ids) >= 5
    sample_id = sample_url.rsplit("/", 1)[1]
    done = await client.post_form(
        f"/analytics/targeting/items/{item_ids[0]}", {"finding": "ineligible", "sample": sample_id}
    )
    assert done.status_code == 303
    exported = await client.get(f"{sample_url}?format=csv&table=errors")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][0] and len(rows) >= 2
    assert [
        [plain(c) for c in r] for r in tables_of((await client.get(sample_url)).text)["errors"][1:]
    ] == rows[1:]


async def test_integrity_count_fragment(world: Any, client: Any, make_client: Any) -> None:
    await seed_city(world)
    await client.login("city")
    page = await client.get("/analytics")
    assert 'hx-get="/analytics/370100/integrity"' in page.text
    fragment = await client.get("/analytics/370100/integrity", headers={"hx-request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert re.search(r">\d+</a>|—", fragment.text)
    station = make_client()
    await station.login("station")
    assert (await station.get("/analytics/370103/integrity")).status_code == 404
    own = await station.get("/analytics/370102001/integrity", headers={"hx-request": "true"})
    assert own.status_code == 200 and ("—" in own.text or re.search(r">\d+</a>", own.text))
