"""A 20 MB bank return file is parsed off the event loop: pages stay responsive."""

from __future__ import annotations

import asyncio
import gc
import io
import time
import zipfile
from typing import Any

from relief_pwa.services import disbursement, plans
from relief_pwa.services.plans import DraftScope
from relief_pwa.tables import Payment
from tests.services.plans_support import pool, recipient

BOUNDARY = "relief-test-boundary"


def _multipart(filename: str, data: bytes, csrf: str) -> tuple[bytes, dict[str, str]]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={BOUNDARY}", "x-csrftoken": csrf}


async def _exported_batch(world: Any) -> tuple[int, str]:
    await recipient(world, index="90")
    _, fund, _ = await pool(world)
    center = world.actor("center")
    for plan_id in await plans.do_save_drafts(center, DraftScope(), now=world.now):
        await plans.do_approve_plan(world.actor("center_2"), plan_id, now=world.now)  # four eyes
    await disbursement.do_generate_monthly_lines(center, "2026-11", now=world.now)
    result = await disbursement.do_create_batch(center, fund, "2026-11", now=world.now)
    await disbursement.do_export_batch(world.actor("center_2"), result.batch_id, "csv", now=world.now)
    return result.batch_id, result.batch_no


def _big_return_file(batch_no: str, size: int) -> bytes:
    lines = ["批次号,行号,金额(元),状态,失败原因,备注"]
    padding = "x" * 60
    total, n = 0, 0
    while total < size - 200:
        line = f"{batch_no},L{n:09d},100.00,成功,,{padding}"
        lines.append(line)
        total += len(line.encode()) + 1
        n += 1
    return ("\n".join(lines) + "\n").encode()


async def test_healthz_stays_fast_while_a_20_mb_return_file_is_parsed(world: Any, client: Any) -> None:
    batch_id, batch_no = await _exported_batch(world)
    data = _big_return_file(batch_no, 20 * 1024 * 1024 - 4096)
    assert len(data) > 19 * 1024 * 1024
    await client.login("center")
    await client.get(f"/batches/{batch_id}")
    body, headers = _multipart("return.csv", data, client.csrf)

    latencies: list[float] = []
    done = asyncio.Event()

    async def poll() -> None:
        while not done.is_set():
            started = time.perf_counter()
            response = await client.get("/healthz")
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
            await asyncio.sleep(0.02)

    # The test process carries the heap of every earlier test; a full garbage
    # collection of it would be the test runner's pause, not the server's.
    gc.collect()
    gc.freeze()
    try:
        poller = asyncio.create_task(poll())
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        response = await client.post(f"/batches/{batch_id}/return", content=body, headers=headers)
        elapsed = time.perf_counter() - started
        done.set()
        await poller
    finally:
        gc.unfreeze()
    assert response.status_code == 422, response.text[:500]
    assert "L000000000" in response.text  # the first unknown line is reported
    assert await Payment.count() == 0
    # Relative, not absolute: a parse on the event loop would stall one /healthz for about the
    # whole upload; off the loop every answer takes a small share of it, however loaded the machine.
    assert len(latencies) >= 5, (elapsed, latencies)
    assert max(latencies) < elapsed / 3, (elapsed, sorted(latencies)[-5:])


async def test_a_shared_string_bomb_upload_is_refused_with_a_clear_message(world: Any, client: Any) -> None:
    batch_id, _ = await _exported_batch(world)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/sharedStrings.xml", "w") as member:
            for _ in range(20 * 1024):
                member.write(b"<si><t>" + b"y" * 1010 + b"</t></si>")
    await client.login("center")
    await client.get(f"/batches/{batch_id}")
    body, headers = _multipart("return.xlsx", buffer.getvalue(), client.csrf)
    response = await client.post(f"/batches/{batch_id}/return", content=body, headers=headers)
    assert response.status_code == 422
    assert "shared text table is too large" in response.text or "共享文本表过大" in response.text
