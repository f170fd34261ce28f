"""Local assistance standards (低保/特困 标准) as data: per district, urban/rural, effective date."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from piccolo.columns import Column

from relief_pwa.core.enums import AreaType, OrgLevel
from relief_pwa.core.facts import Standard, jinan_demo_standards
from relief_pwa.core.permissions import Capability
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.tables import OrgUnit, ReliefStandard


def standard_from_row(row: dict[str, object]) -> Standard:
    return Standard(
        district_code=str(row["district_code"]),
        area_type=AreaType(str(row["area_type"])),
        effective_from=row["effective_from"],  # type: ignore[arg-type]
        dibao_monthly_fen=int(row["dibao_monthly_fen"]),  # type: ignore[call-overload]
        tekun_monthly_fen=int(row["tekun_monthly_fen"]),  # type: ignore[call-overload]
        asset_limit_months=int(row["asset_limit_months"]),  # type: ignore[call-overload]
    )


async def load_standards(district_code: str | None = None) -> list[Standard]:
    """Every standard row (of one district, if given)."""
    query = ReliefStandard.select()
    if district_code is not None:
        query = query.where(ReliefStandard.district_code == district_code)
    return [standard_from_row(row) for row in await query]


async def _city_path() -> str:
    row = await OrgUnit.select(OrgUnit.path).where(OrgUnit.level == OrgLevel.CITY).first()
    return str(row["path"]) if row else ""


async def do_seed_standards(
    actor: Actor, *, now: datetime, standards: Iterable[Standard] | None = None
) -> int:
    """Store standards that are not there yet (idempotent); audited one event per row.

    Without ``standards``, Jinan's published city-wide figures are applied to
    every district-level org unit (the demo and test set-up).

    Returns:
        How many rows were added.
    """
    require(actor, Capability.STANDARDS_MANAGE)
    engine = ReliefStandard._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, "relief-standards")
        if standards is None:
            districts = await OrgUnit.select(OrgUnit.code).where(OrgUnit.level == OrgLevel.DISTRICT)
            standards = jinan_demo_standards(sorted(r["code"] for r in districts))
        existing = {
            (r["district_code"], r["area_type"], r["effective_from"])
            for r in await ReliefStandard.select(
                ReliefStandard.district_code, ReliefStandard.area_type, ReliefStandard.effective_from
            )
        }
        city_path = await _city_path()
        added = 0
        for standard in standards:
            key = (standard.district_code, standard.area_type.value, standard.effective_from)
            if key in existing:
                continue
            existing.add(key)
            row = ReliefStandard(
                district_code=standard.district_code,
                area_type=standard.area_type,
                effective_from=standard.effective_from,
                dibao_monthly_fen=standard.dibao_monthly_fen,
                tekun_monthly_fen=standard.tekun_monthly_fen,
                asset_limit_months=standard.asset_limit_months,
            )
            await row.save()
            await record_event(
                actor,
                "standard.create",
                "relief_standard",
                row.id,
                org_path=city_path,
                now=now,
                after=standard.to_dict(),
            )
            added += 1
    return added


async def do_set_standard(actor: Actor, standard: Standard, *, now: datetime) -> int:
    """Enter a standard for a district and area type from a date on (city staff), audited.

    A row for the same district, area type and date is replaced (before/after
    in the audit trail); months before ``effective_from`` keep the standard
    that was in force then.
    """
    from relief_pwa.core.errors import DomainError
    from relief_pwa.core.i18n import N_

    require(actor, Capability.STANDARDS_MANAGE)
    if not 0 < standard.dibao_monthly_fen < 100_000_00 or not 0 < standard.tekun_monthly_fen < 100_000_00:
        raise DomainError(N_("Enter a monthly amount in yuan above zero."), field="dibao")
    engine = ReliefStandard._meta.db
    async with write_transaction(engine):
        await advisory_xact_lock(engine, "relief-standards")
        district = (
            await OrgUnit.select(OrgUnit.id)
            .where((OrgUnit.code == standard.district_code) & (OrgUnit.level == OrgLevel.DISTRICT))
            .first()
        )
        if district is None:
            raise DomainError(N_("Unknown org unit code."), field="district_code")
        existing = (
            await ReliefStandard.select()
            .where(
                (ReliefStandard.district_code == standard.district_code)
                & (ReliefStandard.area_type == standard.area_type.value)
                & (ReliefStandard.effective_from == standard.effective_from)
            )
            .first()
        )
        before = standard_from_row(existing).to_dict() if existing else None
        values: dict[Column | str, Any] = {
            ReliefStandard.dibao_monthly_fen: standard.dibao_monthly_fen,
            ReliefStandard.tekun_monthly_fen: standard.tekun_monthly_fen,
            ReliefStandard.asset_limit_months: standard.asset_limit_months,
        }
        if existing is not None:
            await ReliefStandard.update(values).where(ReliefStandard.id == existing["id"])
            row_id = int(existing["id"])
        else:
            row = ReliefStandard(
                district_code=standard.district_code,
                area_type=standard.area_type,
                effective_from=standard.effective_from,
                dibao_monthly_fen=standard.dibao_monthly_fen,
                tekun_monthly_fen=standard.tekun_monthly_fen,
                asset_limit_months=standard.asset_limit_months,
            )
            await row.save()
            row_id = int(row.id)
        await record_event(
            actor,
            "standard.set",
            "relief_standard",
            row_id,
            org_path=await _city_path(),
            now=now,
            before=before,
            after=standard.to_dict(),
        )
    return row_id


async def list_standard_rows() -> list[dict[str, object]]:
    """Every standard, by district, area type and newest date first (the standards page)."""
    return list(
        await ReliefStandard.select()
        .order_by(ReliefStandard.district_code)
        .order_by(ReliefStandard.area_type)
        .order_by(ReliefStandard.effective_from, ascending=False)
    )
