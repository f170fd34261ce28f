"""Phone page weight: bytes over the wire for each role's main pages.

Seeds a small demo city into a throw-away database (RELIEF_DATABASE_URL to use
another), logs in as each demo account and fetches its phone pages as a phone
browser would (``accept-encoding: gzip``), then once more uncompressed as the
baseline. Static files (CSS, htmx, our scripts) are counted once, as a first
visit downloads them; their hashed names are cached for a year afterwards.

    .venv/bin/python bench/bench_pages.py [--households N]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
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


def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=200)
    args = parser.parse_args()
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
