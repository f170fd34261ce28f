"""The intake receipt: what the applicant takes home."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from relief_pwa.core.materials import MATERIALS, Material
from relief_pwa.core.rules import working_deadline
from relief_pwa.services.access import access_application
from relief_pwa.services.actors import Actor
from relief_pwa.services.org import ancestors
from relief_pwa.services.rules import load_calendar
from relief_pwa.tables import Household


@dataclass(frozen=True)
class Receipt:
    application: dict[str, Any]
    household: dict[str, Any]
    units: list[Any]  # city → community
    missing: list[Material]
    investigate_by: date
    extras: dict[str, Any]


async def get_receipt(actor: Actor, application_id: int, now: datetime | None = None) -> Receipt:
    application = await access_application(actor, application_id)
    household = await Household.select().where(Household.id == application.household).first()
    units = await ancestors(application.org_path)
    codes: list[str] | str = application.missing_materials or []
    if isinstance(codes, str):  # the JSON column comes back as text on some engines
        codes = json.loads(codes)
    missing = [MATERIALS[code] for code in codes if code in MATERIALS]
    office_rows = await _offices(application.org_path)
    return Receipt(
        application=application.to_dict(),
        household=household or {},
        units=units,
        missing=missing,
        investigate_by=working_deadline(
            await load_calendar(), application.received_on, "investigation_working_days"
        ),
        extras={"offices": office_rows, **(await _bot_extras(application.id, now))},
    )


async def _bot_extras(application_id: int, now: datetime | None) -> dict[str, Any]:
    """The Telegram deep link and QR code, when ``now`` is known."""
    if now is None:
        return {}
    from relief_pwa.services.bot import receipt_bot_link

    return await receipt_bot_link(application_id, now)


async def _offices(path: str) -> list[dict[str, Any]]:
    from relief_pwa.tables import OrgUnit

    codes = [c for c in path.split("/") if c]
    rows = await OrgUnit.select(
        OrgUnit.code,
        OrgUnit.name,
        OrgUnit.level,
        OrgUnit.office_name,
        OrgUnit.office_address,
        OrgUnit.hotline,
        OrgUnit.supervision_hotline,
    ).where(OrgUnit.code.is_in(codes))
    order = {code: i for i, code in enumerate(codes)}
    return sorted(rows, key=lambda r: order[r["code"]])
