"""Phone page weight: bytes over the wire for each role's main pages.

Seeds a small demo city into a throw-away database (RELIEF_DATABASE_URL to use
another), logs in as each demo account and fetches its phone pages as a phone
browser would (``accept-encoding: gzip``), then once more uncompressed as the
baseline. Static files (CSS, htmx, our scripts) are counted once, as a first
visit downloads them; their hashed names are cached for a year afterwards.

    .venv/bin/python bench/bench_pages.py [--households N]

With ``--floor`` it instead builds the synthetic benchmark city
(bench/synthetic_city.py, 60,000 households by default), numbers the stored
ranks, and measures the main pages against a bare Jinja page served by the
same stack in the same run: requests per second with ``--concurrency``
clients in one process (in-process ASGI, no network) and p50/p95, then each
page as a share of two floors measured in the same run: the bare page, and a
bare 50-row list (one indexed keyset query over the same application and
household tables, rendered in a plain table) (docs/scale.md, "Pages at the floor").

    .venv/bin/python bench/bench_pages.py --floor [--households 60000] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench._env  # noqa: F401  (environment before the project is imported)

TARGET_KB = 30  # gzip HTML of one phone page, without the static files


async def _seed(households: int) -> dict[str, Any]:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from relief_pwa.demo import DEMO_STREET, seed_demo
    from relief_pwa.services.wiring import register_listeners
    from relief_pwa.tables import Application, HouseholdCard, PublicNotice, Visit

    register_listeners()
    result = await run_forwards("relief")
    assert result.success, result.message
    await seed_demo(households=households)
    community = f"{DEMO_STREET}001"
    card = await HouseholdCard.select(HouseholdCard.household).first()
    from relief_pwa.tables import Staff

    liaison = await Staff.select(Staff.id).where(Staff.username == "liaison").first()
    visit = (
        await Visit.select(Visit.id)
        .where((Visit.status == "scheduled") & (Visit.assigned_to == (liaison or {}).get("id")))
        .first()
    )
    application = (
        await Application.select(Application.id, Application.household)
        .where(Application.org_path.like(f"%/{community}/"))
        .first()
    )
    notice = await PublicNotice.select(PublicNotice.application).first()
    household = (card or {}).get("household") or (application or {}).get("household")
    return {
        "community": community,
        "street": DEMO_STREET,
        "household": household,
        "visit": visit["id"] if visit else None,
        "application": application["id"] if application else None,
        "notice_application": notice["application"] if notice else None,
    }


def _pages(ids: dict[str, Any]) -> dict[str | None, list[str]]:
    h, a = ids["household"], ids["application"]
    return {
        "liaison": [
            "/",
            "/intake",
            "/visits",
            f"/visits/{ids['visit']}",
            f"/households/{h}",
            f"/households/{h}/ledger",
            f"/households/{h}/visits/record",
            f"/households/{h}/card",
            f"/applications/{a}/receipt",
            "/cases",
        ],
        "station": ["/notices", f"/applications/{ids['notice_application']}/opinion"],
        "center": ["/approvals", "/plans/draft", "/batches", "/resources"],
        "supervisor": ["/supervision", "/supervision/audit"],
        None: [
            f"/board/{ids['community']}",
            f"/board/{ids['community']}/poster",
            f"/board/{ids['street']}",
            "/public/objections/new",
        ],
    }


async def measure(households: int) -> tuple[list[tuple[str, str, int, int]], dict[str, tuple[int, int]]]:
    import httpx

    from relief_pwa.app import create_app
    from relief_pwa.demo import DEMO_PASSWORD
    from relief_pwa.settings import load_settings

    ids = await _seed(households)
    app: Any = create_app(load_settings())
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    rows: list[tuple[str, str, int, int]] = []
    assets: dict[str, tuple[int, int]] = {}
    for role, paths in _pages(ids).items():
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            if role:
                login = await client.get("/login")
                token = re.search(r'name="_csrf_token" value="([^"]+)"', login.text)
                assert token
                await client.post(
                    "/login",
                    data={
                        "username": role,
                        "password": DEMO_PASSWORD,
                        "next": "/",
                        "_csrf_token": token.group(1),
                    },
                )
            for path in paths:
                sizes = []
                for encoding in ("gzip", "identity"):
                    response = await client.get(path, headers={"accept-encoding": encoding})
                    if response.status_code != 200:
                        break
                    sizes.append(response.num_bytes_downloaded)
                    if encoding == "gzip":
                        for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', response.text):
                            if asset not in assets:
                                zipped = await client.get(asset, headers={"accept-encoding": "gzip"})
                                plain = await client.get(asset, headers={"accept-encoding": "identity"})
                                assets[asset] = (zipped.num_bytes_downloaded, plain.num_bytes_downloaded)
                if len(sizes) == 2:
                    rows.append((role or "public", path, sizes[0], sizes[1]))
                else:
                    rows.append((role or "public", path, -1, -1))
    from relief_pwa.piccolo_conf import DB

    close = getattr(DB, "close_pool", None)
    if close is not None:
        await close()
    return rows, assets


def _floor_app(handler: Any, compressed: bool) -> Any:
    """A floor page's app: Litestar with nothing else, compressing as the real app does when
    the clients ask for gzip (so a page and its floor pay the same for their bytes)."""
    from litestar import Litestar
    from litestar.response import Response

    from relief_pwa.app import page_compression

    return Litestar(
        [handler],
        signature_namespace={"Response": Response},
        compression_config=page_compression() if compressed else None,
    )


def _bare_app(compressed: bool) -> Any:
    """A bare Jinja page on the same stack (Litestar + Jinja): the floor the pages are held to."""
    import jinja2
    from litestar import get
    from litestar.response import Response

    template = jinja2.Environment(autoescape=True).from_string(
        "<!doctype html><html><body><h1>{{ title }}</h1><ul>{% for i in rows %}<li>{{ i }}</li>{% endfor %}"
        "</ul></body></html>"
    )

    @get("/bare", sync_to_thread=False)
    def bare() -> Response[str]:
        return Response(template.render(title="bare", rows=range(25)), media_type="text/html")

    return _floor_app(bare, compressed)


BARE_LIST_ROWS = 50


def _bare_list_app(compressed: bool) -> Any:
    """The second floor: a bare Litestar + Jinja page that runs one indexed keyset query
    (50 applications newest first, joined to their household, by the ``application_newest``
    index) and renders them in a plain table. No session, no layout, no translations."""
    import jinja2
    from litestar import get
    from litestar.response import Response

    from relief_pwa.tables import Application

    template = jinja2.Environment(autoescape=True).from_string(
        "<!doctype html><html><body><table><tbody>{% for r in rows %}<tr><td>{{ r['number'] }}</td>"
        "<td><a href=\"/households/{{ r['household.id'] }}\">{{ r['household.head_name'] }}</a></td>"
        "<td>{{ r['state'] }}</td><td>{{ r['received_on'] }}</td></tr>{% endfor %}</tbody></table>"
        "{% if rows %}<a href=\"/list?after={{ rows[-1]['received_on'] }}.{{ rows[-1]['id'] }}\">next</a>"
        "{% endif %}</body></html>"
    )

    @get("/list")
    async def bare_list(after: str = "") -> Response[str]:
        query = Application.select(
            Application.id,
            Application.number,
            Application.state,
            Application.received_on,
            Application.household.id,
            Application.household.head_name,
        )
        day, _, row_id = after.partition(".")
        if row_id.isdecimal():
            from datetime import date

            on = date.fromisoformat(day)
            query = query.where(
                (Application.received_on < on)
                | ((Application.received_on == on) & (Application.id < int(row_id)))
            )
        rows = await (
            query.order_by(Application.received_on, ascending=False)
            .order_by(Application.id, ascending=False)
            .limit(BARE_LIST_ROWS)
        )
        return Response(template.render(rows=rows), media_type="text/html")

    return _floor_app(bare_list, compressed)


async def _load(client: Any, url: str, requests: int, concurrency: int) -> tuple[float, list[float]]:
    """(requests per second, latencies in ms) for ``requests`` GETs by ``concurrency`` clients."""
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            began = time.perf_counter()
            response = await client.get(url)
            latencies.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, (url, response.status_code, response.text[:200])

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - began), latencies


async def _client_for(app: Any, username: str | None, password: str, encoding: str = "gzip") -> Any:
    import httpx

    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50003))
    client = httpx.AsyncClient(
        transport=transport, base_url="http://bench", headers={"accept-encoding": encoding}
    )
    if username:
        login = await client.get("/login")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', login.text)
        assert token
        response = await client.post(
            "/login",
            data={"username": username, "password": password, "next": "/", "_csrf_token": token.group(1)},
        )
        assert response.status_code == 303, response.text[:300]
        # From here on the cookies go as one fixed header, as wrk sends them (-H "Cookie: …"):
        # httpx's cookie jar matches and formats them on every request, about 0.1 ms of this
        # process's time that the floor pages, which have no cookies, would not pay.
        fixed = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        client.cookies.clear()
        client.headers["cookie"] = fixed
    return client


async def measure_floor(
    households: int,
    requests: int,
    concurrency: int,
    reuse: bool = False,
    rounds: int = 1,
    encoding: str = "identity",
) -> tuple[list[tuple[str, float, float, float]], dict[str, float]]:
    """The pages and both floors (best round of each), and each page's paired share of the list."""
    from bench.bench_index import prepare_database
    from bench.synthetic_city import BENCH_NOW, BENCH_PASSWORD, CityInfo, build_city
    from relief_pwa.app import create_app, freeze_startup_objects
    from relief_pwa.clock import FixedClock
    from relief_pwa.piccolo_conf import DB
    from relief_pwa.services.scoring import get_active_model, rescore_all
    from relief_pwa.settings import load_settings
    from relief_pwa.tables import Application, Household, HouseholdRank, Staff

    if reuse:
        # The city an earlier run built in this database (same RELIEF_VAR_DIR, whose keys sealed it).
        await prepare_database(reset=False)
        info = CityInfo()
        station = await Staff.select(Staff.org_path).where(Staff.username == info.station_username).first()
        assert station is not None, "no benchmark city in this database: run once without --reuse"
        info.street_code = str(station["org_path"]).rstrip("/").rsplit("/", 1)[-1]
        info.households = await Household.count()
        print(f"engine {DB.engine_type}: reusing {info.households} households")
    else:
        await prepare_database(reset=True)
        info = await build_city(households, now=BENCH_NOW)
        began = time.perf_counter()
        # The synthetic city comes unscored: score it as the nightly run would (this numbers the ranks too).
        scored = await rescore_all(
            await get_active_model(now=BENCH_NOW), now=BENCH_NOW, trigger="bench", workers=2
        )
        ranks = await HouseholdRank.count()
        print(f"engine {DB.engine_type}: {info.households} households; {scored.count} scored and {ranks}"
              f" stored ranks numbered in {time.perf_counter() - began:.1f} s")  # fmt: skip
    if DB.engine_type == "postgres":
        await DB.run_ddl("ANALYZE")
    street = info.street_code
    household = await (
        Household.select(Household.id)
        .where(Household.org_path.like(f"%/{street}%/"))
        .order_by(Household.id)
        .first()
    )
    newest = await (
        Application.select(Application.id, Application.received_on)
        .order_by(Application.received_on, ascending=False)
        .order_by(Application.id, ascending=False)
        .offset(24)
        .first()
    )
    assert household is not None and newest is not None
    cursor = f"{newest['received_on']}.{newest['id']}"
    app = create_app(load_settings(), FixedClock(BENCH_NOW))
    city = await _client_for(app, info.city_username, BENCH_PASSWORD, encoding)
    station = await _client_for(app, info.station_username, BENCH_PASSWORD, encoding)
    compressed = encoding != "identity"
    bare = await _client_for(_bare_app(compressed), None, "", encoding)
    bare_list = await _client_for(_bare_list_app(compressed), None, "", encoding)
    freeze_startup_objects()  # as the app's startup does (the in-process clients run no lifespan)
    plan = [
        ("bare Jinja page (same stack)", bare, "/bare"),
        (f"bare {BARE_LIST_ROWS}-row indexed list", bare_list, "/list"),
        ("/healthz", city, "/healthz"),
        ("case list, first page (city)", city, "/cases"),
        ("case list, next page (city)", city, f"/cases?page=2&after={cursor}"),
        ("case list filtered (city)", city, "/cases?state=active&category=dibao"),
        ("case list (station)", station, "/cases"),
        ("household file (station)", station, f"/households/{household['id']}"),
        ("ranking, city user", city, "/ranking"),
        ("ranking, city user, page 100", city, "/ranking?page=100"),
        ("ranking, station user", station, "/ranking"),
        ("city dashboard (cached)", city, "/analytics"),
    ]
    best: dict[str, tuple[str, float, float, float]] = {}
    # Each page's rate over the bare list's measured just before it: a pair a few seconds
    # apart shares the machine's mood, where the best rounds of each may not.
    paired: dict[str, list[float]] = {}
    _list_name, _list_client, list_url = plan[1]
    # The whole plan ``rounds`` times over, each page's best round kept: on a shared machine a
    # floor measured in a slow moment would flatter every page's share of it.
    for _ in range(rounds):
        for name, client, url in plan:
            await _load(client, url, min(10, requests), 1)  # warm up templates and caches
            if client not in (bare, bare_list):
                floor_rate, _ = await _load(bare_list, list_url, requests, concurrency)
            rate, latencies = await _load(client, url, requests, concurrency)
            if client not in (bare, bare_list):
                paired.setdefault(name, []).append(rate / floor_rate)
            ordered = sorted(latencies)
            row = (
                name,
                rate,
                statistics.median(ordered),
                ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
            )
            if name not in best or rate > best[name][1]:
                best[name] = row
    rows = [best[name] for name, _client, _url in plan]
    for client in (city, station, bare, bare_list):
        await client.aclose()
    from relief_pwa.db import close_engine

    await close_engine(DB)  # SQLite's connection threads would keep the process from exiting
    return rows, {name: statistics.median(ratios) for name, ratios in paired.items()}


def print_floor(
    rows: list[tuple[str, float, float, float]],
    concurrency: int,
    rounds: int = 1,
    encoding: str = "identity",
    paired: dict[str, float] | None = None,
) -> None:
    """The table, each page as a share of both floors: the bare page and the bare list; with
    ``paired``, also the median of its rate over the list's measured just before it."""
    bare_rate, list_rate = rows[0][1], rows[1][1]
    rounds_note = f", each page's best of {rounds} rounds" if rounds > 1 else ""
    print(
        f"\n{concurrency} concurrent clients, one process, in-process ASGI (no network){rounds_note};"
        f" accept-encoding: {encoding}"
    )
    paired_head = f"{'paired':>9}" if paired else ""
    print(f"  {'page':<36}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'of bare':>9}{'of list':>9}{paired_head}")
    for name, rate, p50, p95 in rows:
        pair = ""
        if paired:
            pair = f"{paired[name]:>9.0%}" if name in paired else " " * 9
        print(
            f"  {name:<36}{rate:>9.0f}{p50:>9.1f}{p95:>9.1f}{rate / bare_rate:>9.0%}{rate / list_rate:>9.0%}"
            f"{pair}"
        )
    if paired:
        print(
            "  paired: the median over the rounds of the page's rate over the bare list's,"
            " measured just before it"
        )


def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("relief_pwa.access").setLevel(
        logging.WARNING
    )  # a line per request would drown the table
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=200)
    parser.add_argument("--floor", action="store_true", help="the pages-at-the-floor table instead")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--reuse", action="store_true", help="--floor on the city an earlier run left in RELIEF_DATABASE_URL"
    )
    parser.add_argument("--rounds", type=int, default=1, help="--floor: run the plan N times, keep each best")
    parser.add_argument(
        "--encoding",
        choices=("identity", "gzip"),
        default="identity",
        help="--floor: what the clients accept; identity as wrk sends, gzip as a phone (floors compress too)",
    )
    args = parser.parse_args()
    if args.floor:
        households = args.households if args.households != 200 else 60_000
        floor, paired = asyncio.run(
            measure_floor(
                households,
                args.requests,
                args.concurrency,
                reuse=args.reuse,
                rounds=args.rounds,
                encoding=args.encoding,
            )
        )
        print_floor(floor, args.concurrency, args.rounds, args.encoding, paired)
        return
    rows, assets = asyncio.run(measure(args.households))
    print(
        f"Phone pages, HTML bytes over the wire (gzip as sent vs. uncompressed); target {TARGET_KB} KB gzip"
    )
    print(f"  {'role':<11}{'page':<40}{'gzip':>10}{'plain':>10}{'ratio':>7}")
    for role, path, zipped, plain in rows:
        if zipped < 0:
            print(f"  {role:<11}{path:<40}{'(not shown to this role)':>27}")
            continue
        flag = "" if zipped / 1024 <= TARGET_KB else "  over target"
        print(f"  {role:<11}{path:<40}{zipped:>9,}B{plain:>9,}B{zipped / plain:>7.2f}{flag}")
    shown = [r for r in rows if r[2] >= 0]
    total_zipped, total_plain = sum(r[2] for r in shown), sum(r[3] for r in shown)
    print(f"  {'all pages':<51}{total_zipped:>9,}B{total_plain:>9,}B{total_zipped / total_plain:>7.2f}")
    print("\nStatic files, downloaded once (hashed names, cached for a year)")
    for asset, (zipped, plain) in sorted(assets.items()):
        print(f"  {asset:<62}{zipped:>9,}B{plain:>9,}B")
    static_zipped = sum(z for z, _ in assets.values())
    static_plain = sum(p for _, p in assets.values())
    print(f"  {'first visit total':<62}{static_zipped:>9,}B{static_plain:>9,}B")
    largest = max(shown, key=lambda r: r[2])
    print(
        f"\nLargest phone page: {largest[1]} ({largest[0]}) {largest[2] / 1024:.1f} KB gzip; "
        f"first visit with static files {(largest[2] + static_zipped) / 1024:.1f} KB"
    )


if __name__ == "__main__":
    main()
