"""Loading communities and villages from the bureau's file (city staff; ``--dry-run`` writes nothing).

New codes are created under their street; known codes under the same street
get the file's name (a rename, kept as a version), address and hotline. A
known code under another street is refused: moving is a decision of its own
(the re-parent action), not a side effect of a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from relief_pwa.adapters.orgfile import OrgRow
from relief_pwa.core.enums import AreaType, OrgLevel
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.core.phone import normalise_phone
from relief_pwa.db import write_transaction
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.org import org_changed
from relief_pwa.services.org_admin import NewOrgUnit, do_create_org_units
from relief_pwa.services.org_changes import do_rename_unit
from relief_pwa.tables import OrgUnit

# NBS village-level codes: 001–199 residents' committees (社区), 200–399 villagers' committees (村).
RURAL_FIRST, RURAL_LAST = 200, 399


@dataclass(frozen=True)
class RowProblem:
    line: int
    code: str
    message: str  # English message id
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportPlan:
    create: list[NewOrgUnit] = field(default_factory=list)
    rename: list[tuple[int, str, str]] = field(default_factory=list)  # unit id, old name, new name
    update_office: list[tuple[int, str, str]] = field(default_factory=list)  # unit id, address, hotline
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def area_type_for(code: str) -> AreaType:
    return AreaType.RURAL if RURAL_FIRST <= int(code[9:12]) <= RURAL_LAST else AreaType.URBAN


async def plan_import(actor: Actor, rows: list[OrgRow]) -> ImportPlan:
    """What loading ``rows`` would change, and every row's problem (nothing is written)."""
    require(actor, Capability.ORG_MANAGE)
    units = {
        r["code"]: r
        for r in await OrgUnit.select(
            OrgUnit.id,
            OrgUnit.code,
            OrgUnit.name,
            OrgUnit.level,
            OrgUnit.path,
            OrgUnit.parent,
            OrgUnit.active,
            OrgUnit.office_address,
            OrgUnit.hotline,
        )
    }
    by_id = {r["id"]: r for r in units.values()}
    plan = ImportPlan()
    seen: set[str] = set()
    for row in rows:

        def problem(message: str, row: OrgRow = row, **params: Any) -> None:
            plan.problems.append(RowProblem(row.line, row.code, message, params))

        if not (len(row.code) == 12 and row.code.isdigit()):
            problem(N_("The code must have 12 digits."))
            continue
        if row.code in seen:
            problem(N_("The code appears twice in the file."))
            continue
        seen.add(row.code)
        name = " ".join(row.name.split())[:100]
        if not name or any(ch in name for ch in "<>"):
            problem(N_("Enter a name (without < or >)."))
            continue
        parent = units.get(row.parent_code)
        if (
            parent is None
            or parent["level"] != OrgLevel.STREET
            or not str(parent["path"]).startswith(actor.org_path)
        ):
            problem(N_("Unknown street code {parent}."), parent=row.parent_code)
            continue
        if not parent["active"]:
            problem(N_("The street {parent} is no longer active."), parent=row.parent_code)
            continue
        hotline = ""
        if row.hotline:
            try:
                hotline = normalise_phone(row.hotline)
            except DomainError:
                problem(N_("The hotline is not a phone number."))
                continue
        address = " ".join(row.address.split())[:200]
        existing = units.get(row.code)
        if existing is None:
            plan.create.append(
                NewOrgUnit(
                    row.code,
                    name,
                    OrgLevel.COMMUNITY,
                    row.parent_code,
                    area_type_for(row.code),
                    office_name=f"{name}救助服务点",
                    office_address=address,
                    hotline=hotline,
                )
            )
            continue
        if existing["level"] != OrgLevel.COMMUNITY:
            problem(N_("The code belongs to a unit that is not a community or village."))
            continue
        if not existing["active"]:
            problem(N_("That unit is no longer active."))
            continue
        if by_id.get(existing["parent"], {}).get("code") != row.parent_code:
            problem(N_("The unit belongs to another street: move it on its page first."))
            continue
        changed = False
        if existing["name"] != name:
            plan.rename.append((int(existing["id"]), str(existing["name"]), name))
            changed = True
        if (address and existing["office_address"] != address) or (
            hotline and existing["hotline"] != hotline
        ):
            plan.update_office.append(
                (int(existing["id"]), address or existing["office_address"], hotline or existing["hotline"])
            )
            changed = True
        plan.unchanged += not changed
    return plan


async def do_import_org(
    actor: Actor, rows: list[OrgRow], *, now: datetime, dry_run: bool = False
) -> ImportPlan:
    """Apply the plan in one transaction, all or nothing: any problem refuses the whole file."""
    plan = await plan_import(actor, rows)
    if dry_run or not plan.ok:
        return plan
    async with write_transaction(OrgUnit._meta.db):
        await org_changed()  # the org cache of every process reloads
        await do_create_org_units(actor, plan.create, now=now)
        for unit_id, _old, new in plan.rename:
            await do_rename_unit(actor, unit_id, new, now=now)
        for unit_id, address, hotline in plan.update_office:
            unit = (
                await OrgUnit.select(OrgUnit.path, OrgUnit.office_address, OrgUnit.hotline)
                .where(OrgUnit.id == unit_id)
                .first()
            )
            assert unit is not None
            await OrgUnit.update({OrgUnit.office_address: address, OrgUnit.hotline: hotline}).where(
                OrgUnit.id == unit_id
            )
            await record_event(
                actor,
                "org.update_office",
                "org_unit",
                unit_id,
                org_path=str(unit["path"]),
                now=now,
                before={"office_address": unit["office_address"], "hotline": unit["hotline"]},
                after={"office_address": address, "hotline": hotline},
            )
    return plan
