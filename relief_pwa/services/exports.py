"""Recording file exports: every CSV/XLSX download leaves an audit event.

The event says who exported what (the kind of list and its scope), in which
format, and how many rows; never the rows themselves.
"""

from __future__ import annotations

from datetime import datetime

from relief_pwa.db import write_transaction
from relief_pwa.services.actors import Actor
from relief_pwa.services.audit import record_event
from relief_pwa.tables import AuditEvent


async def do_record_export(
    actor: Actor, *, what: str, file_format: str, rows: int, org_path: str, now: datetime
) -> int:
    """Append an ``export.download`` audit event; returns its seq."""
    async with write_transaction(AuditEvent._meta.db):
        return await record_event(
            actor,
            "export.download",
            "export",
            0,
            org_path=org_path or actor.org_path,
            now=now,
            after={"what": what[:120], "format": file_format, "rows": rows},
        )
