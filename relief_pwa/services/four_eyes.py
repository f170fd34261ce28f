"""Four eyes on money and decisions: which steps must be taken by a second person.

On by default; the city can switch the rule off (a small office with one
clerk), which is audited, and the integrity flags then show what one person
did alone. The pairs themselves live in ``core.permissions.FourEyes``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from relief_pwa.core.errors import PermissionDenied
from relief_pwa.core.permissions import Capability, FourEyesRule, four_eyes_breach
from relief_pwa.db import write_transaction
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.system_settings import store_setting
from relief_pwa.tables import SystemSetting

FOUR_EYES_KEY = "four_eyes"


async def four_eyes_enabled() -> bool:
    row = await SystemSetting.select(SystemSetting.value).where(SystemSetting.key == FOUR_EYES_KEY).first()
    return row is None or str(row["value"]).strip() != "off"


async def require_second_person(actor: Actor, rule: FourEyesRule, earlier: Iterable[int | None]) -> None:
    """Refuse (403, with the rule's message) when the actor took one of the ``earlier`` steps."""
    if four_eyes_breach(actor.staff_id, earlier) and await four_eyes_enabled():
        raise PermissionDenied(rule.message)


async def do_set_four_eyes(actor: Actor, enabled: bool, *, now: datetime) -> None:
    """The city switches the four-eyes rules on or off; audited with the old value."""
    require(actor, Capability.SETTINGS_MANAGE)
    value = "on" if enabled else "off"
    async with write_transaction(SystemSetting._meta.db):
        before = await four_eyes_enabled()
        previous = "on" if before else "off"
        await store_setting(actor, FOUR_EYES_KEY, value, before=previous, after=value, now=now)
