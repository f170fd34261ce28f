"""Run-time settings that city staff change (``system_setting`` rows): one write path, audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from relief_pwa.services.actors import Actor
from relief_pwa.services.audit import record_event
from relief_pwa.tables import SystemSetting


async def store_setting(
    actor: Actor, key: str, value: str, *, before: Any, after: Any, now: datetime
) -> None:
    """Insert or update one setting and audit the change; call inside the caller's write transaction."""
    row = await SystemSetting.select(SystemSetting.id).where(SystemSetting.key == key).first()
    if row is None:
        setting = SystemSetting(key=key, value=value, updated_at=now)
        await setting.save()
        setting_id = int(setting.id)
    else:
        setting_id = int(row["id"])
        await SystemSetting.update({SystemSetting.value: value, SystemSetting.updated_at: now}).where(
            SystemSetting.id == setting_id
        )
    await record_event(
        actor,
        "setting.update",
        "system_setting",
        setting_id,
        org_path=actor.org_path,
        now=now,
        before={key: before},
        after={key: after},
    )
