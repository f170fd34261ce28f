"""Recording file exports: every CSV/XLSX download is a read of personal data.

It goes to the access log (services/access_log.py: who exported what, the kind
of list and its scope, in which format, how many rows; never the rows), which
is written off the request path: a GET that exports writes nothing itself.
"""

from __future__ import annotations

from datetime import datetime

from relief_pwa.services.access_log import note_read
from relief_pwa.services.actors import Actor


async def do_record_export(
    actor: Actor, *, what: str, file_format: str, rows: int, org_path: str, now: datetime, purpose: str = ""
) -> None:
    """Note one export in the access log."""
    note_read(
        actor,
        "export",
        now=now,
        entity_type="export",
        org_path=org_path or actor.org_path,
        purpose=purpose,
        detail=f"{what[:120]} · {file_format} · {rows}",
    )
