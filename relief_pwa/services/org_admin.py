"""Changing the org network (city administrators): units and their service offices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from relief_pwa.core.enums import AreaType, OrgLevel
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.db import write_transaction
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.org import org_changed, org_path_for
from relief_pwa.tables import OrgUnit

_CHILD_LEVEL = {
    OrgLevel.CITY: OrgLevel.DISTRICT,
    OrgLevel.DISTRICT: OrgLevel.STREET,
    OrgLevel.STREET: OrgLevel.COMMUNITY,
}
_CODE_LENGTH = {OrgLevel.CITY: 6, OrgLevel.DISTRICT: 6, OrgLevel.STREET: 9, OrgLevel.COMMUNITY: 12}


@dataclass(frozen=True)
class NewOrgUnit:
    code: str
    name: str
    level: OrgLevel
    parent_code: str | None
    area_type: AreaType
    office_name: str = ""
    office_address: str = ""
    hotline: str = ""
    supervision_hotline: str = ""


async def do_create_org_units(actor: Actor, units: list[NewOrgUnit], *, now: datetime) -> int:
    """Create units (parents before children) in one transaction, each audited."""
    require(actor, Capability.ORG_MANAGE)
    async with write_transaction(OrgUnit._meta.db):
        await org_changed()  # the org cache of every process reloads
        known = {
            r["code"]: r for r in await OrgUnit.select(OrgUnit.id, OrgUnit.code, OrgUnit.path, OrgUnit.level)
        }
        created = 0
        for unit in units:
            if unit.code in known:
                continue
            if len(unit.code) != _CODE_LENGTH[unit.level] or not unit.code.isdecimal():
                raise DomainError(N_("The code does not fit the level of the unit."), field="code")
            parent = known.get(unit.parent_code or "")
            if unit.level == OrgLevel.CITY:
                if parent is not None:
                    raise DomainError(N_("A city has no parent unit."), field="parent_code")
                path = org_path_for("", unit.code)
            else:
                if parent is None or _CHILD_LEVEL.get(OrgLevel(parent["level"])) != unit.level:
                    raise DomainError(
                        N_("The parent unit is missing or at the wrong level."), field="parent_code"
                    )
                path = org_path_for(parent["path"], unit.code)
            row = OrgUnit(
                code=unit.code,
                name=unit.name,
                level=unit.level,
                parent=parent["id"] if parent else None,
                path=path,
                area_type=unit.area_type,
                office_name=unit.office_name,
                office_address=unit.office_address,
                hotline=unit.hotline,
                supervision_hotline=unit.supervision_hotline,
            )
            await row.save()
            known[unit.code] = {"id": row.id, "code": unit.code, "path": path, "level": unit.level}
            await record_event(
                actor,
                "org.create",
                "org_unit",
                row.id,
                org_path=path,
                now=now,
                after={"code": unit.code, "name": unit.name, "level": unit.level},
            )
            created += 1
    return created


@dataclass(frozen=True)
class OfficeDetails:
    office_name: str
    office_address: str
    hotline: str
    supervision_hotline: str


async def do_update_office(actor: Actor, unit_id: int, details: OfficeDetails, *, now: datetime) -> None:
    """Change a unit's service office details (city administrators), audited with before/after."""
    from relief_pwa.core.errors import ValidationFailed
    from relief_pwa.core.phone import normalise_phone
    from relief_pwa.services.access import access_org_unit

    require(actor, Capability.ORG_MANAGE)
    unit = await access_org_unit(actor, unit_id)
    errors: dict[str, DomainError] = {}
    values = {
        "office_name": " ".join(details.office_name.split())[:120],
        "office_address": " ".join(details.office_address.split())[:200],
        "hotline": "",
        "supervision_hotline": "",
    }
    for field in ("hotline", "supervision_hotline"):
        raw = getattr(details, field).strip()
        if raw:
            try:
                values[field] = normalise_phone(raw)
            except DomainError as exc:
                errors[field] = DomainError(exc.message, field=field, **exc.params)
    for field in ("office_name", "office_address"):
        if any(ch in values[field] for ch in "<>"):
            errors[field] = DomainError(N_("The characters < and > are not allowed."), field=field)
    if errors:
        raise ValidationFailed(errors)
    before = {key: getattr(unit, key) for key in values}
    async with write_transaction(OrgUnit._meta.db):
        await org_changed()  # the org cache of every process reloads
        await OrgUnit.update({getattr(OrgUnit, key): value for key, value in values.items()}).where(
            OrgUnit.id == unit.id
        )
        await record_event(
            actor,
            "org.update_office",
            "org_unit",
            unit.id,
            org_path=unit.path,
            now=now,
            before=before,
            after=values,
        )
