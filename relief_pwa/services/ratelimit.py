"""An in-process sliding-window rate limiter for the public pages.

Keyed by client address. It never touches the database, so a refused
request costs a dictionary lookup: public pages keep answering everyone else
while one address hammers them. Memory is bounded: at most ``max_keys``
addresses are tracked, the least recently seen are forgotten first.

Several app workers each keep their own windows, so the effective limit is
``limit × workers``; a proxy in front is the place for a shared limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


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


# Reading boards and policies: generous (a phone at a notice board reloads a
# few times); filing objections: a handful per address and hour.
PUBLIC_READS = SlidingWindowLimiter(limit=120, window_seconds=60)
PUBLIC_WRITES = SlidingWindowLimiter(limit=5, window_seconds=600)
# The departments' read-only API: per client address and per department (docs/departments.md).
DEPARTMENT_API = SlidingWindowLimiter(limit=120, window_seconds=60)


def reset_all() -> None:
    """Forget every window (tests start from a clean slate)."""
    PUBLIC_READS.reset()
    DEPARTMENT_API.reset()
    PUBLIC_WRITES.reset()
