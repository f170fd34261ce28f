"""Each Telegram update is processed once: its ``update_id`` is claimed in the database.

Telegram re-delivers an update until the webhook answers 2xx, and may
re-deliver after a restart; a claimed id is dropped. Claims older than a week
are pruned (Telegram keeps undelivered updates for 24 hours).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from relief_pwa.core.bounds import fits_int64
from relief_pwa.db import write_transaction
from relief_pwa.tables import BotUpdateSeen

KEEP_CLAIMS = timedelta(days=7)


async def claim_update(update_id: int, now: datetime) -> bool:
    """True the first time ``update_id`` is seen (and records it), False afterwards."""
    if not fits_int64(update_id):
        return False
    try:
        async with write_transaction(BotUpdateSeen._meta.db):
            if await BotUpdateSeen.exists().where(BotUpdateSeen.update_id == update_id):
                return False
            await BotUpdateSeen.insert(BotUpdateSeen(update_id=update_id, received_at=now))
            await BotUpdateSeen.delete().where(BotUpdateSeen.received_at < now - KEEP_CLAIMS)
    except Exception as exc:  # a concurrent claim of the same id (unique constraint)
        if "unique" in str(exc).lower() or "duplicate" in str(exc).lower():
            return False
        raise
    return True
