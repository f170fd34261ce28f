"""The public audit page: the latest published checkpoints of the audit chain.

Anyone can note (or print) the chain head published here; a later rewrite or
truncation of the trail no longer matches it and ``relief-pwa audit verify``
names where it happened.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from relief_pwa.handlers.common import render
from relief_pwa.handlers.public import PUBLIC_OPT, limit_reads
from relief_pwa.services.audit import recent_checkpoints


@get("/public/audit", name="public_audit", opt=PUBLIC_OPT, before_request=limit_reads)
async def audit_checkpoints_page(request: Request[Any, Any, Any]) -> Response[Any]:
    checkpoints = await recent_checkpoints(limit=30)
    context = {"latest": checkpoints[0] if checkpoints else None, "checkpoints": checkpoints}
    return render(request, "public/audit.html", context, headers={"cache-control": "no-store"})


ROUTES: list[Any] = [audit_checkpoints_page]
