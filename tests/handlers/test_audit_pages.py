"""The public audit page and the monthly report show the latest published checkpoint."""

from __future__ import annotations

from typing import Any

from relief_pwa.services.audit import publish_checkpoint
from tests.factories import make_intake
from tests.helpers import found


async def test_public_audit_page_and_monthly_report_show_the_checkpoint(
    world: Any, client: Any, now: Any
) -> None:
    empty = await client.get("/public/audit")
    assert empty.status_code == 200 and "no-store" in empty.headers["cache-control"]
    await make_intake(world)
    checkpoint = found(await publish_checkpoint(now=now))
    page = await client.get("/public/audit")
    assert page.status_code == 200 and checkpoint.head_hash in page.text
    await client.login("center")
    report = await client.get("/analytics/report?month=2026-10")
    assert report.status_code == 200 and checkpoint.head_hash in report.text
