"""The SMS gateway's inbound webhook: applicants' replies ("退订", "订阅", "查询").

Authenticated by an HMAC of the body with the shared secret and a fresh
timestamp (docs/sms.md); anything else is refused before it is read further.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response, post

from relief_pwa.adapters.sms import SIGNATURE_HEADER, TIMESTAMP_HEADER, parse_inbound, verify_inbound
from relief_pwa.handlers.common import PUBLIC, now_of
from relief_pwa.services import sms as service
from relief_pwa.settings import Settings

log = logging.getLogger(__name__)
MAX_INBOUND_BYTES = 16 * 1024


@post("/sms/inbound", name="sms_inbound", request_max_body_size=MAX_INBOUND_BYTES, opt=PUBLIC)
async def inbound(request: Request[Any, Any, Any]) -> Response[Any]:
    settings: Settings = request.app.state.settings
    if not settings.sms_gateway_url:
        return Response({"ok": False, "error": "sms_disabled"}, status_code=404)
    body = await request.body()
    now = now_of(request)
    headers = request.headers
    if not verify_inbound(
        settings.sms_webhook_secret, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER), body, now
    ):
        return Response({"ok": False, "error": "forbidden"}, status_code=403)
    message = parse_inbound(body)
    if message is None:
        log.warning("sms inbound: dropped a malformed body (%d bytes)", len(body))
        return Response({"ok": False, "error": "malformed"}, status_code=400)
    outcome = await service.handle_inbound(message, now)
    runtime = getattr(request.app.state, "bot", None)
    if outcome.replied and runtime is not None:
        runtime.worker.wake()
    return Response({"ok": True}, status_code=200)


ROUTES = [inbound]
