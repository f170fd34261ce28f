"""Reference data cached per process, invalidated across processes by version rows.

Every cache has a row in ``cache_version``. A change to the data it holds
bumps that row inside the same write transaction (``bump``), so the new
version becomes visible exactly when the change commits. Each process checks
the version of a cache at most once per ``CHECK_SECONDS`` and reloads when it
moved; a change made by any process is therefore seen everywhere within about
a second, at the cost of one indexed single-row read per cache per second per
process (docs/scale.md, "Reference data"). A bump also drops the local copy at
once, so the writing process never reads its own change stale.

Version rows, not LISTEN/NOTIFY: they work the same on SQLite and PostgreSQL,
need no long-lived listening connection per process, and a notification missed
while a connection was down cannot leave a cache stale for ever.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from relief_pwa.tables import CacheVersion

T = TypeVar("T")
CHECK_SECONDS = 1.0

_caches: dict[str, VersionedCache[object]] = {}


async def current_version(name: str) -> int:
    row = await CacheVersion.select(CacheVersion.version).where(CacheVersion.name == name).first()
    return int(row["version"]) if row else 0


async def bump(name: str) -> None:
    """Mark cache ``name`` stale in every process; call inside the changing write transaction."""
    if CacheVersion._meta.db.current_transaction.get() is None:
        raise RuntimeError("bump runs inside the write transaction that changes the data")
    updated = (
        await CacheVersion.update({CacheVersion.version: CacheVersion.version + 1})
        .where(CacheVersion.name == name)
        .returning(CacheVersion.id)
    )
    if not updated:
        await CacheVersion.insert(CacheVersion(name=name, version=1)).on_conflict(
            target=CacheVersion.name, action="DO NOTHING"
        )
    cache = _caches.get(name)
    if cache is not None:
        cache.drop()


def reset_all() -> None:
    """Forget every cached value (a new database under the same process: tests, benchmarks)."""
    for cache in _caches.values():
        cache.drop()


class VersionedCache(Generic[T]):
    """One cached value, reloaded by ``loader`` when its version row moves."""

    def __init__(
        self,
        name: str,
        loader: Callable[[], Awaitable[T]],
        *,
        clock: Callable[[], float] = time.monotonic,
        register: bool = True,
    ) -> None:
        self.name = name
        self._loader = loader
        self._clock = clock
        self._value: T | None = None
        self._version = -1
        self._checked_at = float("-inf")
        if register:  # unregistered: only the version row reaches it, as in another process
            _caches[name] = self  # type: ignore[assignment]  # the registry only calls drop()

    def drop(self) -> None:
        self._value = None
        self._version = -1
        self._checked_at = float("-inf")

    async def get(self) -> T:
        now = self._clock()
        if self._value is not None and now - self._checked_at < CHECK_SECONDS:
            return self._value
        version = await current_version(self.name)
        self._checked_at = now
        if self._value is None or version != self._version:
            self._value = await self._loader()
            self._version = version
        return self._value
