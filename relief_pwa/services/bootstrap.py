"""Going live on an empty database: the shipped org network, calendar and the first city account.

``relief-pwa init`` migrates, then calls ``do_init``. Idempotent: units and
calendar days already present are kept, and the first account is created
only while no city account exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from relief_pwa.core.enums import OrgLevel, Role
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability, roles_with
from relief_pwa.data.jinan import CITY_CODE, CITY_NAME, DISTRICTS
from relief_pwa.db import write_transaction
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.auth import do_create_staff
from relief_pwa.services.departments import do_load_shipped_departments
from relief_pwa.services.org_admin import NewOrgUnit, do_create_org_units
from relief_pwa.services.passwords import check_new_password
from relief_pwa.services.rules import do_set_calendar_days, shipped_calendar
from relief_pwa.tables import Staff


def shipped_network() -> list[NewOrgUnit]:
    """Jinan's city, district-level and street-level units with their real NBS codes.

    Office names, addresses and hotlines are left empty: the shipped ones are
    demo placeholders; city staff enter the real offices (or load them with
    ``relief-pwa import-org``). Communities and villages come from the bureau's file.
    """
    from relief_pwa.core.enums import AreaType

    units = [NewOrgUnit(CITY_CODE, CITY_NAME, OrgLevel.CITY, None, AreaType.URBAN)]
    for district in DISTRICTS:
        units.append(
            NewOrgUnit(district.code, district.name, OrgLevel.DISTRICT, CITY_CODE, district.area_type_default)
        )
        for street in district.streets:
            area = AreaType.RURAL if street.kind == "town" else district.area_type_default
            units.append(NewOrgUnit(street.code, street.name, OrgLevel.STREET, district.code, area))
    return units


async def needs_admin() -> bool:
    """True while no city account exists (init will ask for the first one's password)."""
    return not await Staff.exists().where(Staff.role.is_in(list(roles_with(Capability.STAFF_MANAGE))))


@dataclass(frozen=True)
class InitResult:
    units_created: int
    calendar_days_added: int
    admin_created: bool

    @property
    def changed(self) -> bool:
        return bool(self.units_created or self.calendar_days_added or self.admin_created)


async def do_load_shipped(*, now: datetime) -> tuple[int, int]:
    """Add the shipped org network and holiday calendar where missing (never undoes an edit).

    Returns the org units and calendar days added. ``init`` and the demo both start here.
    """
    async with write_transaction(Staff._meta.db):
        units = await do_create_org_units(SYSTEM_ACTOR, shipped_network(), now=now)
        units += await do_load_shipped_departments(SYSTEM_ACTOR, CITY_CODE, now=now)
        days = await do_set_calendar_days(SYSTEM_ACTOR, shipped_calendar(), now=now, keep_existing=True)
    return units, days


async def do_init(admin_username: str, password: str | None, *, now: datetime) -> InitResult:
    """Load what ships with the project and create the first city account, in one transaction.

    ``password`` is only needed (and checked against the password policy) while
    no city account exists.
    """
    async with write_transaction(Staff._meta.db):
        units, days = await do_load_shipped(now=now)
        admin = False
        if await needs_admin():
            if not password:
                raise DomainError(N_("The first account needs a password."), field="password")
            check_new_password(password, username=admin_username)
            await do_create_staff(
                SYSTEM_ACTOR,
                username=admin_username,
                display_name=admin_username,
                password=password,
                role=Role.CITY.value,
                org_code=CITY_CODE,
                now=now,
            )
            admin = True
    return InitResult(units, days, admin)
