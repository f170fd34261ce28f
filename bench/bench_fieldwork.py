"""Benchmark field work on a phone.

1. Photo evidence through the service (``services.photos.do_add_photo``: clean
   in a worker thread, store by content, link to the visit, audit) on a
   generated 12 MP phone JPEG: time per photo and the process's peak RSS.
   Baseline in the same run: a naive ``Image.open(...).save(...)`` at full
   size (no checks, no resize). Each variant runs in its own child process,
   so ``ru_maxrss`` is that variant's own peak.
2. Page weight of the visit form for a phone: the bytes over the wire on the
   first load (HTML + CSS + htmx + our scripts, gzip as the app sends them)
   and on an htmx swap (the ledger fragment), against the same bytes
   uncompressed. Target: under 60 KB first load including htmx.

Run from the repository root::

    .venv/bin/python -m bench.bench_fieldwork          # 8 photos per variant
    .venv/bin/python -m bench.bench_fieldwork -n 20
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PHOTO_TARGET_MS = 400.0
FIRST_LOAD_TARGET_KB = 60.0


def _environment(root: Path) -> None:
    os.environ.update(
        {
            "RELIEF_VAR_DIR": str(root),
            "RELIEF_MEDIA_DIR": str(root / "media"),
            "RELIEF_DATABASE_URL": f"sqlite:///{root / 'bench.sqlite3'}",
            "RELIEF_MODE": "demo",
            "RELIEF_SECRET_KEY": "bench-secret-" + "z" * 40,
            "RELIEF_BOT_TOKEN": "",
            "PICCOLO_CONF": "relief_pwa.piccolo_conf",
        }
    )


async def _seed() -> dict[str, Any]:
    """Migrate a fresh database and make a household with a home visit due today."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from relief_pwa.clock import CHINA_TZ
    from relief_pwa.services.wiring import register_listeners
    from tests.factories import build_world
    from tests.services.fieldwork_support import household_with_items, schedule

    register_listeners()
    result = await run_forwards("relief")
    assert result.success, result.message
    from datetime import datetime

    now = datetime(2026, 11, 16, 9, 30, tzinfo=CHINA_TZ)
    world = await build_world(now)
    household = await household_with_items(world)
    visit_id = await schedule(world, household.household_id)
    return {"world": world, "now": now, "household_id": household.household_id, "visit_id": visit_id}


async def _close_database() -> None:
    # The pooled SQLite connections run in threads that would keep the process alive.
    from relief_pwa.db import close_engine
    from relief_pwa.piccolo_conf import DB

    await close_engine(DB)


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- 1. photos --------------------------------------------------------------------


def child_photos(variant: str, photo_path: str, repeat: int) -> None:
    """Runs in a child process; prints one JSON line."""
    data = Path(photo_path).read_bytes()
    times: list[float] = []
    if variant == "baseline":
        from PIL import Image

        for _ in range(repeat + 1):
            started = time.perf_counter()
            buffer = io.BytesIO()
            Image.open(io.BytesIO(data)).save(buffer, format="JPEG", quality=82)
            times.append((time.perf_counter() - started) * 1000)
    else:
        root = Path(tempfile.mkdtemp(prefix="relief-bench-"))
        _environment(root)

        async def run() -> None:
            from relief_pwa.services.photos import do_add_photo

            seeded = await _seed()
            actor = seeded["world"].actor("liaison")
            for _ in range(repeat + 1):
                started = time.perf_counter()
                await do_add_photo(actor, seeded["visit_id"], data, now=seeded["now"])
                times.append((time.perf_counter() - started) * 1000)
            await _close_database()

        asyncio.run(run())
    measured = times[1:]  # the first call pays imports and warm-up
    print(
        json.dumps(
            {
                "median_ms": statistics.median(measured),
                "max_ms": max(measured),
                "maxrss_mib": _maxrss_mib(),
            }
        )
    )


def _run_child(*arguments: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.bench_fieldwork", "--child", *arguments]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def bench_photos(repeat: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "12mp.jpg"
        subprocess.run(
            [sys.executable, "-m", "bench.bench_fieldwork", "--child", "write", str(photo)], check=True
        )
        size = photo.stat().st_size
        results = {
            variant: _run_child(variant, str(photo), str(repeat)) for variant in ("service", "baseline")
        }
    results["photo"] = {"bytes": float(size)}
    return results


def child_write(path: str) -> None:
    from tests.adapters.imagefactory import twelve_megapixel_jpeg

    Path(path).write_bytes(twelve_megapixel_jpeg())


# --- 2. page weight ---------------------------------------------------------------


def child_pages() -> None:
    root = Path(tempfile.mkdtemp(prefix="relief-bench-"))
    _environment(root)

    async def run() -> dict[str, Any]:
        import httpx

        from relief_pwa.app import create_app
        from relief_pwa.clock import FixedClock
        from relief_pwa.settings import load_settings
        from tests.factories import TEST_PASSWORD

        seeded = await _seed()
        app = create_app(load_settings(), FixedClock(seeded["now"]))
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))  # type: ignore[arg-type]
        results: dict[str, Any] = {}
        for encoding in ("gzip", "identity"):
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                login = await client.get("/login")
                token = re.search(r'name="_csrf_token" value="([^"]+)"', login.text)
                assert token
                await client.post(
                    "/login",
                    data={
                        "username": "liaison",
                        "password": TEST_PASSWORD,
                        "next": "/visits",
                        "_csrf_token": token.group(1),
                    },
                )
                headers = {"accept-encoding": encoding}
                page = await client.get(f"/visits/{seeded['visit_id']}", headers=headers)
                assert page.status_code == 200, page.status_code
                assets = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"', page.text)
                weights = {"html": page.num_bytes_downloaded}
                for asset in dict.fromkeys(assets):
                    response = await client.get(asset, headers=headers)
                    weights[asset] = response.num_bytes_downloaded
                swap = await client.get(
                    f"/households/{seeded['household_id']}/ledger",
                    headers={**headers, "hx-request": "true", "hx-target": "ledger"},
                )
                results[encoding] = {
                    "first_load": weights,
                    "swap": swap.num_bytes_downloaded,
                    "swap_encoding": swap.headers.get("content-encoding", "identity"),
                }
        await _close_database()
        return results

    print(json.dumps(asyncio.run(run())))


# --- report -----------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind = sys.argv[2]
        if kind == "write":
            child_write(sys.argv[3])
        elif kind == "pages":
            child_pages()
        else:
            child_photos(kind, sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--repeat", type=int, default=8, help="photos per variant")
    args = parser.parse_args()

    photos = bench_photos(args.repeat)
    service, baseline = photos["service"], photos["baseline"]
    print(
        f"Photo evidence, 12 MP JPEG ({photos['photo']['bytes'] / 1024 / 1024:.1f} MB), {args.repeat} photos"
    )
    print(f"  {'variant':<34}{'median ms':>10}{'max ms':>10}{'peak RSS MiB':>14}")
    print(
        f"  {'service do_add_photo (+DB, audit)':<34}{service['median_ms']:>10.0f}{service['max_ms']:>10.0f}"
        f"{service['maxrss_mib']:>14.0f}"
    )
    print(
        f"  {'baseline open+save full size':<34}{baseline['median_ms']:>10.0f}{baseline['max_ms']:>10.0f}"
        f"{baseline['maxrss_mib']:>14.0f}"
    )
    print(
        f"  service / baseline time: {service['median_ms'] / baseline['median_ms']:.2f}×; "
        f"target < {PHOTO_TARGET_MS:.0f} ms: {'met' if service['median_ms'] < PHOTO_TARGET_MS else 'MISSED'}"
    )

    pages: dict[str, Any] = _run_child("pages")
    gzip_weights, raw_weights = pages["gzip"]["first_load"], pages["identity"]["first_load"]
    first_gzip, first_raw = sum(gzip_weights.values()), sum(raw_weights.values())
    print("\nVisit form on a phone, bytes over the wire (gzip as sent, vs. uncompressed)")
    for name in gzip_weights:
        print(f"  {name:<44}{gzip_weights[name]:>9,} B{raw_weights[name]:>10,} B")
    print(
        f"  {'first load total':<44}{first_gzip:>9,} B{first_raw:>10,} B  "
        f"({first_gzip / 1024:.1f} KB; {first_gzip / first_raw:.2f} of uncompressed)"
    )
    swap_gzip, swap_raw = pages["gzip"]["swap"], pages["identity"]["swap"]
    print(f"  {'htmx swap (ledger fragment)':<44}{swap_gzip:>9,} B{swap_raw:>10,} B")
    met = first_gzip / 1024 < FIRST_LOAD_TARGET_KB
    print(f"  target first load < {FIRST_LOAD_TARGET_KB:.0f} KB: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
