"""Rate limits for the public pages, keyed by client address.

Each process first counts in memory with a sliding window, so a refused
request costs a dictionary lookup and the public pages keep answering
everyone else while one address hammers them. Memory is bounded: at most
``max_keys`` addresses are tracked, the least recently seen are forgotten
first.

On PostgreSQL every app process shares the count (docs/scale.md): the
``rate_counter`` table holds each limit's hits per address in a fixed window,
added with atomic upserts. Reads (the board, the policies) write nothing in
the request path: a process counts them in memory and adds them to the table
about once a second (``SharedLimiter.flush``, from the app's lifespan), and
each flush brings back the totals of every process for the addresses it saw,
so the whole fleet lets an address through at most one flush interval's hits
past the limit. Writes (filing an objection) write anyway, so they are counted
in the table before the request goes on (``hit_now``): exact across processes.
On SQLite there is one process, and the in-memory window is all.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
PURGE_EVERY_SECONDS = 600.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_seconds: int  # 0 when allowed


class SlidingWindowLimiter:
    """At most ``limit`` hits per ``window_seconds`` for each key."""

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        *,
        max_keys: int = 20_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("limit must be >= 1 and window_seconds > 0")
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self._monotonic = monotonic
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str) -> Decision:
        """Count one request for ``key`` unless it is over the limit (refusals are not counted)."""
        now = self._monotonic()
        horizon = now - self.window_seconds
        hits = self._hits.get(key)
        if hits is None:
            hits = deque()
            self._hits[key] = hits
            if len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= horizon:
            hits.popleft()
        if len(hits) >= self.limit:
            retry = max(1, int(hits[0] - horizon + 0.999))
            return Decision(False, retry)
        hits.append(now)
        return Decision(True, 0)

    def reset(self) -> None:
        self._hits.clear()

    def __len__(self) -> int:
        return len(self._hits)


class SharedLimiter:
    """A limit counted by every process on PostgreSQL, in front of a per-process window.

    ``hit`` decides at once from this process's window, the fleet's total at the last
    flush and the hits not flushed yet; ``flush`` adds those to ``rate_counter`` and
    takes the new totals back. ``hit_now`` counts in the table before it answers.
    """

    def __init__(self, name: str, local: SlidingWindowLimiter) -> None:
        self.name = name
        self.local = local
        self.shared = False  # set by the app's lifespan on PostgreSQL
        self._pending: dict[tuple[str, int], int] = {}
        self._totals: OrderedDict[str, tuple[int, int]] = OrderedDict()  # key -> (window start, hits)

    @property
    def limit(self) -> int:
        return self.local.limit

    @limit.setter
    def limit(self, value: int) -> None:
        self.local.limit = value

    @property
    def window(self) -> int:
        return max(1, int(self.local.window_seconds))

    def _window_start(self, epoch: float) -> int:
        return int(epoch // self.window) * self.window

    def _fleet_hits(self, key: str, start: int) -> int:
        known = self._totals.get(key)
        return known[1] if known is not None and known[0] == start else 0

    def hit(self, key: str) -> Decision:
        decision = self.local.hit(key)
        if not decision.allowed or not self.shared:
            return decision
        epoch = time.time()
        start = self._window_start(epoch)
        pending = self._pending.get((key, start), 0)
        if self._fleet_hits(key, start) + pending >= self.limit:
            return Decision(False, max(1, int(start + self.window - epoch + 0.999)))
        self._pending[(key, start)] = pending + 1
        return decision

    async def hit_now(self, key: str) -> Decision:
        decision = self.local.hit(key)
        if not decision.allowed or not self.shared:
            return decision
        epoch = time.time()
        start = self._window_start(epoch)
        try:
            totals = await _add_hits([(f"{self.name}:{key}", start, 1)])
        except Exception:  # the database is the app's anyway: a hiccup must not refuse everyone
            log.warning("shared rate limit %s: counting failed; using this process's window", self.name)
            return decision
        hits = totals.get(f"{self.name}:{key}", (start, 1))[1]
        self._remember(key, start, hits)
        if hits > self.limit:
            return Decision(False, max(1, int(start + self.window - epoch + 0.999)))
        return decision

    def _remember(self, key: str, start: int, hits: int) -> None:
        self._totals[key] = (start, hits)
        self._totals.move_to_end(key)
        while len(self._totals) > self.local.max_keys:
            self._totals.popitem(last=False)

    async def flush(self) -> None:
        """Add this process's unflushed hits to the table and learn the fleet's totals."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        prefix = f"{self.name}:"
        try:
            totals = await _add_hits([(prefix + key, start, n) for (key, start), n in pending.items()])
        except Exception:
            for item, n in pending.items():  # counted at the next flush instead
                self._pending[item] = self._pending.get(item, 0) + n
            raise
        for bucket, (start, hits) in totals.items():
            self._remember(bucket.removeprefix(prefix), start, hits)

    def reset(self) -> None:
        self.local.reset()
        self._pending.clear()
        self._totals.clear()


_ADD_HITS_SQL = """
INSERT INTO rate_counter (bucket, window_start, hits)
SELECT * FROM unnest({}::varchar[], {}::bigint[], {}::integer[])
ON CONFLICT (bucket) DO UPDATE SET
    hits = CASE
        WHEN EXCLUDED.window_start > rate_counter.window_start THEN EXCLUDED.hits
        WHEN EXCLUDED.window_start = rate_counter.window_start THEN rate_counter.hits + EXCLUDED.hits
        ELSE rate_counter.hits END,
    window_start = GREATEST(rate_counter.window_start, EXCLUDED.window_start)
RETURNING bucket, window_start, hits
"""


async def _add_hits(items: list[tuple[str, int, int]]) -> dict[str, tuple[int, int]]:
    """Add hits per bucket in one statement; the buckets' totals after it."""
    from relief_pwa.db import write_transaction
    from relief_pwa.tables import RateCounter

    items.sort()  # one lock order for every process: no deadlock between two flushes
    async with write_transaction(RateCounter._meta.db):  # a transaction: always the primary
        rows = await RateCounter.raw(
            _ADD_HITS_SQL, [b for b, _, _ in items], [w for _, w, _ in items], [n for _, _, n in items]
        )
    return {r["bucket"]: (int(r["window_start"]), int(r["hits"])) for r in rows}


async def purge_old_counters(before_epoch: int) -> None:
    from relief_pwa.db import write_transaction
    from relief_pwa.tables import RateCounter

    async with write_transaction(RateCounter._meta.db):
        await RateCounter.delete().where(RateCounter.window_start < before_epoch)


# Reading boards and policies: generous (a phone at a notice board reloads a
# few times); filing objections: a handful per address and hour.
PUBLIC_READS = SharedLimiter("reads", SlidingWindowLimiter(limit=120, window_seconds=60))
PUBLIC_WRITES = SharedLimiter("writes", SlidingWindowLimiter(limit=5, window_seconds=600))
# The departments' read-only API: per client address and per department (docs/departments.md).
DEPARTMENT_API = SharedLimiter("department_api", SlidingWindowLimiter(limit=120, window_seconds=60))
SHARED_LIMITERS = (PUBLIC_READS, PUBLIC_WRITES, DEPARTMENT_API)


def reset_all() -> None:
    """Forget every window (tests start from a clean slate)."""
    for limiter in SHARED_LIMITERS:
        limiter.reset()


async def flush_all() -> None:
    for limiter in SHARED_LIMITERS:
        await limiter.flush()


@asynccontextmanager
async def ratelimit_lifespan(app: Any) -> AsyncIterator[None]:
    """App lifespan: on PostgreSQL share the public limits with every other process."""
    from relief_pwa.piccolo_conf import DB
    from relief_pwa.services.periodic import every

    if DB.engine_type != "postgres":
        yield
        return
    for limiter in SHARED_LIMITERS:
        limiter.shared = True
    last_purge = time.monotonic()

    async def flush_and_purge() -> None:
        nonlocal last_purge
        await flush_all()
        if time.monotonic() - last_purge > PURGE_EVERY_SECONDS:
            last_purge = time.monotonic()
            await purge_old_counters(int(time.time()) - 86_400)

    try:
        async with every(FLUSH_SECONDS, flush_and_purge, name="ratelimit-flush", finally_=flush_all):
            yield
    finally:
        for limiter in SHARED_LIMITERS:
            limiter.shared = False
