"""What sealing identifiers costs: ID-number search and the household file with encryption on and
off (target: within 15%), and re-sealing a city of 60,000 households under a new key.

One run, one database (RELIEF_DATABASE_URL to choose it; a throw-away SQLite file otherwise):

1. A synthetic city (bench/synthetic_city.py) with identifiers sealed as in production.
2. ``relief-pwa keys rotate``'s service under a new data key: time, rows and the process's peak
   memory during the rotation (Linux: the high-water mark is reset just before it).
3. More households stored with a null cipher (the value in clear behind the same prefix, the blind
   index is the value itself): "encryption off", side by side in the same tables and indexes.
4. ``/cases?q=<ID number>`` and ``/households/<id>`` as the city account, alternating on and off
   households request by request, so both see the same cache and database state.

    .venv/bin/python bench/bench_privacy.py [--households 60000] [--plain 5000] [--repeat 60]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench._env  # noqa: F401  (environment before the project is imported)

TARGET_OVERHEAD = 0.15


def _null_seal(ring: Any, kind: str, value: str) -> str:
    return f"s1.{ring.current_id}.{value}" if value else ""


def _null_unseal(ring: Any, kind: str, token: str) -> str:
    return token.split(".", 2)[2] if token else ""


def _null_index(ring: Any, kind: str, value: str) -> str:
    return value[:32]


@contextmanager
def encryption_off() -> Iterator[None]:
    """Identifiers stored and read in clear (the cost of sealing taken out, the code path kept)."""
    from relief_pwa.adapters import crypto

    saved = (crypto.seal, crypto.unseal, crypto.blind_index)
    crypto.seal, crypto.unseal, crypto.blind_index = _null_seal, _null_unseal, _null_index
    try:
        yield
    finally:
        crypto.seal, crypto.unseal, crypto.blind_index = saved


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def bench_rotation(batch: int) -> dict[str, float]:
    """Re-seal every identifier under a new data key; time, rows and peak memory."""
    from bench.synthetic_city import BENCH_NOW
    from relief_pwa.adapters import crypto
    from relief_pwa.services import identifiers
    from relief_pwa.services.key_rotation import count_outdated, rotate_keys
    from relief_pwa.settings import get_settings

    settings = get_settings()
    new_key = crypto.new_data_key_line("k2")
    rotated = dataclasses.replace(settings, data_keys=f"{new_key},{settings.data_keys}")
    identifiers.get_settings = lambda: rotated  # type: ignore[assignment, attr-defined]
    outdated = await count_outdated()
    gc.collect()
    before = _rss_mb()
    reset = _reset_peak_rss()
    started = time.perf_counter()
    result = await rotate_keys(now=BENCH_NOW, batch=batch)
    seconds = time.perf_counter() - started
    peak = _peak_rss_mb()
    assert result.remaining == 0, result
    return {
        "values": float(outdated),
        "rows": float(result.resealed),
        "seconds": seconds,
        "rss_before_mb": before,
        "peak_mb": peak,
        "peak_reset": float(reset),
    }


async def _sample_ids(household_ids: list[int], count: int, rng: random.Random) -> list[tuple[int, str]]:
    """(household id, its head's ID number) for ``count`` random households (opened as stored)."""
    from relief_pwa.services import identifiers
    from relief_pwa.tables import Household

    chosen = rng.sample(household_ids, min(count, len(household_ids)))
    rows = await Household.select(Household.id, Household.head_id_sealed).where(Household.id.is_in(chosen))
    return [(int(r["id"]), identifiers.opened(identifiers.ID_NUMBER, r["head_id_sealed"])) for r in rows]


async def bench_pages(
    on: list[tuple[int, str]], off: list[tuple[int, str]], username: str, repeat: int
) -> dict[str, dict[str, list[float]]]:
    import httpx

    from bench.synthetic_city import BENCH_NOW, BENCH_PASSWORD
    from relief_pwa.app import create_app
    from relief_pwa.clock import FixedClock
    from relief_pwa.settings import load_settings

    app = create_app(load_settings(), FixedClock(BENCH_NOW))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50003))  # type: ignore[arg-type]
    samples: dict[str, dict[str, list[float]]] = {
        "search": {"on": [], "off": []},
        "file": {"on": [], "off": []},
    }
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        login_page = await client.get("/login")
        token = login_page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
        response = await client.post(
            "/login",
            data={"username": username, "password": BENCH_PASSWORD, "next": "/cases", "_csrf_token": token},
        )
        assert response.status_code == 303, response.text[:300]

        async def timed(url: str, expect: str) -> float:
            started = time.perf_counter()
            page = await client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
            assert page.status_code == 200, (url, page.status_code)
            assert expect in page.text, (url, expect)
            return elapsed

        def runs(mode: str, household_id: int, id_number: str) -> list[tuple[str, Callable[[], Any]]]:
            return [
                ("search", lambda: timed(f"/cases?q={id_number}", f"/households/{household_id}")),
                ("file", lambda: timed(f"/households/{household_id}", "****")),
            ]

        # Warm-up (templates, statement caches), then alternate on/off request by request.
        for household_id, number in on[:3]:
            for _, call in runs("on", household_id, number):
                await call()
        with encryption_off():
            for household_id, number in off[:3]:
                for _, call in runs("off", household_id, number):
                    await call()
        for step in range(repeat):
            h_on, n_on = on[step % len(on)]
            h_off, n_off = off[step % len(off)]
            for kind, call in runs("on", h_on, n_on):
                samples[kind]["on"].append(await call())
            with encryption_off():
                for kind, call in runs("off", h_off, n_off):
                    samples[kind]["off"].append(await call())
    return samples


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=60_000, help="the sealed city (and the rotation)")
    parser.add_argument("--plain", type=int, default=5_000, help="households stored without encryption")
    parser.add_argument("--repeat", type=int, default=60, help="requests timed per page and mode")
    parser.add_argument("--batch", type=int, default=1000, help="rotation batch size")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("relief_pwa").setLevel(logging.ERROR)

    from bench.bench_index import prepare_database
    from bench.synthetic_city import build_city
    from relief_pwa.db import close_engine
    from relief_pwa.piccolo_conf import DB
    from relief_pwa.services.access_log import discard_pending_reads

    await prepare_database(reset=True)
    print(f"engine: {DB.engine_type}")
    city = await build_city(args.households)
    print(f"sealed city: {city.households} households, {city.members} people, built in {city.seconds:.1f} s")

    rotation = await bench_rotation(args.batch)
    print(
        f"key rotation: {int(rotation['values'])} sealed values in {int(rotation['rows'])} rows "
        f"re-sealed in {rotation['seconds']:.1f} s "
        f"({rotation['rows'] / rotation['seconds']:.0f} rows/s); peak memory {rotation['peak_mb']:.0f} MB "
        f"(process at {rotation['rss_before_mb']:.0f} MB before"
        + ("" if rotation["peak_reset"] else "; peak not reset: the whole run's high-water mark")
        + ")"
    )

    with encryption_off():
        plain = await build_city(args.plain, seed=2012)
    print(f"plain households (encryption off): {plain.households}, built in {plain.seconds:.1f} s")

    rng = random.Random(17)
    on = await _sample_ids(city.household_ids, args.repeat, rng)
    with encryption_off():
        off = await _sample_ids(plain.household_ids, args.repeat, rng)
    samples = await bench_pages(on, off, city.city_username, args.repeat)
    discard_pending_reads()
    print(f"{'page':<34}{'on median':>10}{'off median':>11}{'on p95':>9}{'off p95':>9}{'overhead':>10}")
    verdicts = []
    for kind, title in (("search", "/cases?q=<ID number>"), ("file", "/households/<id>")):
        on_ms, off_ms = _median(samples[kind]["on"]), _median(samples[kind]["off"])
        overhead = on_ms / off_ms - 1
        verdicts.append(overhead <= TARGET_OVERHEAD)
        print(
            f"{title:<34}{on_ms:>8.1f}ms{off_ms:>9.1f}ms{_p95(samples[kind]['on']):>7.1f}ms"
            f"{_p95(samples[kind]['off']):>7.1f}ms{overhead:>+9.1%}"
        )
    print(f"target: encryption adds at most {TARGET_OVERHEAD:.0%} — {'met' if all(verdicts) else 'NOT met'}")
    await close_engine(DB)


if __name__ == "__main__":
    asyncio.run(main())
