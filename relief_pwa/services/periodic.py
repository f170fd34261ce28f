"""Work the web process does on a timer: one loop shape for every periodic task.

Each task runs at start-up and then every ``seconds``; a failure is logged and
the loop goes on (a database hiccup must not stop the clock for good). The
loop ends with the app. Running the same task from several processes is
harmless: every periodic job is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

log = logging.getLogger(__name__)


@asynccontextmanager
async def every(
    seconds: float,
    work: Callable[[], Awaitable[Any]],
    *,
    name: str,
    first_after: float = 0.0,
    finally_: Callable[[], Awaitable[Any]] | None = None,
) -> AsyncIterator[None]:
    """Run ``work`` after ``first_after`` seconds and then every ``seconds`` while the block lasts;
    ``finally_`` runs once at the end (e.g. a last flush)."""

    async def loop() -> None:
        await asyncio.sleep(first_after)
        while True:
            try:
                await work()
            except Exception:
                log.exception("periodic task %s failed; trying again in %s s", name, seconds)
            await asyncio.sleep(seconds)

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        if finally_ is not None:
            with suppress(Exception):
                await finally_()
