"""Reference data cached per process: a change made anywhere is seen everywhere within a second."""

from __future__ import annotations

from typing import Any

from relief_pwa.services import refcache
from relief_pwa.services.org import ORG_CACHE, org_tree
from relief_pwa.services.org_changes import do_rename_unit
from relief_pwa.tables import OrgUnit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _names() -> dict[str, str]:
    return {r["code"]: r["name"] for r in await OrgUnit.select(OrgUnit.code, OrgUnit.name)}


async def test_another_process_sees_a_rename_within_a_second(world: Any, now: Any) -> None:
    clock = Clock()
    # Another process's cache: nothing in this process drops it; only the version row tells it.
    other = refcache.VersionedCache(ORG_CACHE, _names, clock=clock, register=False)
    assert (await other.get())["370102001"] != "新街道"
    unit = await OrgUnit.select(OrgUnit.id).where(OrgUnit.code == "370102001").first()
    assert unit is not None
    await do_rename_unit(world.actor("city"), unit["id"], "新街道", now=now)
    # This process (the writer) sees its change at once.
    assert {n.code: n.name for n in await org_tree()}["370102001"] == "新街道"
    clock.now += 0.5
    assert (await other.get())["370102001"] != "新街道"  # within the second: the old copy
    clock.now += 0.6
    assert (await other.get())["370102001"] == "新街道"  # checked again: reloaded


async def test_a_cache_reads_its_version_at_most_once_a_second(world: Any, monkeypatch: Any) -> None:
    clock = Clock()
    reads = []
    original = refcache.current_version

    async def counting(name: str) -> int:
        reads.append(name)
        return await original(name)

    monkeypatch.setattr(refcache, "current_version", counting)
    cache = refcache.VersionedCache("test_cache", _names, clock=clock, register=False)
    for _ in range(20):
        await cache.get()
        clock.now += 0.01
    assert len(reads) == 1
    clock.now += 1
    await cache.get()
    assert len(reads) == 2
