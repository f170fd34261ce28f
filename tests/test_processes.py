"""Two app processes and two workers against one PostgreSQL (docs/scale.md).

Real processes: two uvicorn servers and two ``relief-pwa worker`` processes,
all pointed at the test database and at a Bot API stub in this process that
records every message and when it arrived. What one process does, the others
see: a session, a job that must run once, the outbox and Telegram's global
rate, and the public rate limits.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from relief_pwa.bot.stubapi import StubBotAPI
from relief_pwa.clock import SystemClock
from relief_pwa.db import write_transaction
from relief_pwa.services import outbox, queue
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.scoring_models import do_create_model_draft
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.tables import AuditEvent, Household, IndexRecord, Job, OutboxMessage
from tests.conftest import Client
from tests.factories import make_intake, member
from tests.processes_support import drain, free_port, stop_all, wait_line, wait_ready

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("RELIEF_TEST_DATABASE_URL", "").startswith("postgres"),
        reason="several processes share one database only on PostgreSQL (SQLite runs one process)",
    ),
]

NOTICES = 1_000
CHATS = 500  # two notices each: the per-chat gap is exercised too


@dataclass
class Fleet:
    apps: list[str]  # base URLs
    stub: StubBotAPI


@pytest.fixture()
async def fleet(world: Any) -> AsyncIterator[Fleet]:
    stub = StubBotAPI()
    await stub.start()
    env = {
        **os.environ,
        "RELIEF_BOT_TOKEN": stub.token,
        "RELIEF_BOT_API_BASE_URL": stub.base_url,
        "RELIEF_SCHEDULER_INTERVAL_SECONDS": "0",  # the workers' schedule ticks, not the apps
        "RELIEF_TRUSTED_PROXIES": "127.0.0.1",  # so each check can speak for an address of its own
        "PYTHONUNBUFFERED": "1",
    }
    processes: list[asyncio.subprocess.Process] = []
    readers: list[asyncio.Task[None]] = []
    urls: list[str] = []
    try:
        for _ in range(2):
            port = free_port()
            app = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "uvicorn", "relief_pwa.asgi:app", "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "warning",
                env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            processes.append(app)
            readers.append(asyncio.create_task(drain(app.stderr)))
            urls.append(f"http://127.0.0.1:{port}")
        workers = []
        for _ in range(2):
            worker = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "relief_pwa", "worker",
                env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            processes.append(worker)
            workers.append(worker)
            readers.append(asyncio.create_task(drain(worker.stderr)))
        await asyncio.gather(
            *(wait_ready(url, app) for url, app in zip(urls, processes, strict=False)),
            *(wait_line(worker, "worker ready") for worker in workers),
        )
        for worker in workers:
            readers.append(asyncio.create_task(drain(worker.stdout)))
        yield Fleet(urls, stub)
    finally:
        await stop_all(processes, readers)
        await stub.stop()


async def _until(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_session_made_on_one_process_is_valid_on_the_other(fleet: Fleet) -> None:
    first, second = fleet.apps
    async with Client(base_url=first, follow_redirects=False) as browser:
        await browser.login("city")
        here = await browser.get(f"{first}/cases")
        there = await browser.get(f"{second}/cases")
        assert here.status_code == there.status_code == 200
        assert "/login" not in there.headers.get("location", "")
        # Logging out on the second ends it on the first too.
        await browser.get(f"{second}/account")
        await browser.post_form(f"{second}/logout", {})
        after = await browser.get(f"{first}/cases")
        assert after.status_code in {302, 303} and "/login" in after.headers["location"]


async def test_a_rescore_job_queued_twice_runs_once(world: Any, fleet: Fleet) -> None:
    now = world.now
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    for income in ("100", "300", "500"):
        from relief_pwa.core.intake import ItemDraft

        await make_intake(world, items=[ItemDraft("income", "wages", "0", "", income)], members=[member()])
    open_households = await Household.count().where(Household.is_open.eq(True))
    from relief_pwa.core.scoring import DEFAULT_MODEL, model_to_dict

    definition = model_to_dict(DEFAULT_MODEL) | {"version": "v2", "effective_from": "2026-11-01"}
    model_id = await do_create_model_draft(world.actor("city"), definition, now=now)
    async with Client(base_url=fleet.apps[0], follow_redirects=False) as browser:
        await browser.login("city")
        await browser.get(f"/scoring/models/{model_id}")
        activated = await browser.post_form(f"/scoring/models/{model_id}/activate", {})
        assert activated.status_code == 303
    job = await Job.select(Job.id).where(Job.kind == "rescore").order_by(Job.id, ascending=False).first()
    assert job is not None
    await queue.submit_rescore(int(job["id"]), SystemClock())  # a second submission, e.g. a retry

    async def finished() -> bool:
        row = await Job.select(Job.status).where(Job.id == job["id"]).first()
        return row is not None and row["status"] in {"done", "failed"}

    await _until(finished, 60, "the re-score job")
    row = await Job.select().where(Job.id == job["id"]).first()
    assert row is not None and row["status"] == "done", row
    assert (
        await AuditEvent.count().where(
            (AuditEvent.action == "job.done") & (AuditEvent.entity_id == job["id"])
        )
        == 1
    )
    # Each open household was re-scored with the new model exactly once, by one worker.
    assert await IndexRecord.count().where(IndexRecord.trigger == "model:v2") == open_households


async def test_a_thousand_notices_go_out_once_each_within_telegrams_limits(world: Any, fleet: Fleet) -> None:
    now = world.now
    async with write_transaction(OutboxMessage._meta.db):
        for i in range(NOTICES):
            chat = 10_000 + i % CHATS
            await outbox.enqueue(chat, "notice", f"notice {i}", f"test:{i}", now)

    async def all_sent() -> bool:
        return len(fleet.stub.sent()) >= NOTICES and not await OutboxMessage.count().where(
            OutboxMessage.status != "sent"
        )

    await _until(all_sent, NOTICES / 30 + 60, "every notice to be sent")
    await asyncio.sleep(1.0)  # nothing more may arrive
    sent = [c for c in fleet.stub.calls if c.method == "sendMessage"]
    texts = collections.Counter(str(c.params["text"]) for c in sent)
    assert len(texts) == NOTICES and set(texts.values()) == {1}, "a notice went out twice or not at all"

    times = sorted(c.at for c in sent)  # one clock: the stub timed every send it answered

    def busiest(seconds: float) -> int:
        return max(bisect.bisect_left(times, start + seconds) - i for i, start in enumerate(times))

    per_second = 30
    rate = len(times) / (times[-1] - times[0])
    print(f"busiest second {busiest(1.0)}, busiest 5 s {busiest(5.0)}, {rate:.1f}/s")
    # Slots are booked 1/30 s apart on the database's clock, and a sender that woke late books
    # again. What arrives at the stub also carries each request's way through a busy 2-core
    # machine (four app and worker processes, the database and this one), so a few may land
    # together: measured 37 in the busiest second and 153 in the busiest five at a load
    # average of 9 (docs/scale.md). Over five seconds the spacing holds, and the whole run
    # never beats the rate.
    assert busiest(5.0) <= 5 * per_second + 10
    assert busiest(1.0) <= per_second + 10
    assert (len(times) - 1) / (times[-1] - times[0]) <= per_second * 1.01

    by_chat: dict[int, list[float]] = collections.defaultdict(list)
    for call in sent:
        by_chat[int(call.params["chat_id"])].append(call.at)
    gaps = [b - a for at in by_chat.values() for a, b in zip(sorted(at), sorted(at)[1:], strict=False)]
    assert len(gaps) == NOTICES - CHATS
    assert min(gaps) >= 0.95, f"a chat got two messages {min(gaps):.3f} s apart"


async def _early_in_window(seconds: int, margin: float) -> None:
    """Fixed windows: start a count well inside one, so it does not roll over mid-test."""
    into = time.time() % seconds
    if into > seconds - margin:
        await asyncio.sleep(seconds - into + 0.1)


async def test_public_rate_limits_are_counted_across_both_processes(fleet: Fleet) -> None:
    first, second = fleet.apps
    await _early_in_window(600, 30)
    statuses = []
    writer = {"x-forwarded-for": "203.0.113.8"}
    async with Client(base_url=first, follow_redirects=False, headers=writer) as browser:
        for url in (first, second, first, second, first, second, first):
            response = await browser.post_form(
                f"{url}/public/objections", {"notice": "0", "kind": "objection", "body": "短"}
            )
            statuses.append(response.status_code)
    # Five objections per address in ten minutes, wherever they land.
    assert [s == 429 for s in statuses] == [False] * 5 + [True] * 2, statuses

    # Reads are counted in memory and shared about once a second: 120 a minute in all.
    await _early_in_window(60, 15)
    async with httpx.AsyncClient(headers={"x-forwarded-for": "203.0.113.9"}) as reader:

        async def read(url: str, times: int) -> list[int]:
            return [(await reader.get(f"{url}/public")).status_code for _ in range(times)]

        assert set(await read(first, 70)) == {200}
        await asyncio.sleep(2.5)  # the first process has shared its count
        assert set(await read(second, 30)) == {200}
        await asyncio.sleep(2.5)  # and the second its own, learning the first's
        last = await read(second, 30)
    assert last.count(200) == 20 and last.count(429) == 10, collections.Counter(last)
