"""Changing the org network with its history kept: rename, re-parent, merge, deactivate.

Every row in a jurisdiction carries the materialised ``org_path`` of its unit,
so moving a unit rewrites the prefix of that path on the rows that move with
it: the households (and everything recorded about them), the staff, and the
open work (scheduled visits, running 公示, open objections, new
pre-applications, active resources). Records of what happened where stay
where they happened: the audit trail (hash-chained), payments and batches,
hand-overs, published lists, done visits, ended 公示, answered objections.

The state a unit leaves behind is kept as an ``OrgUnitVersion`` (name and
path, valid until the day of the change), so reports of past periods show
the unit under the name it had then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from relief_pwa.core.enums import AppState, OrgLevel
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability
from relief_pwa.db import advisory_xact_lock, write_transaction
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.org import org_changed, org_path_for
from relief_pwa.tables import Application, OrgUnit, OrgUnitVersion, Staff

_PARENT_LEVEL = {
    OrgLevel.DISTRICT: OrgLevel.CITY,
    OrgLevel.STREET: OrgLevel.DISTRICT,
    OrgLevel.COMMUNITY: OrgLevel.STREET,
}
_OPEN_STATES = tuple(
    s.value for s in AppState if s not in {AppState.REJECTED, AppState.EXITED, AppState.WITHDRAWN}
)

# Tables whose rows move with their unit, and the condition for "still open" (None: always move).
MOVING_ROWS: tuple[tuple[str, str | None], ...] = (
    ("household", None),
    ("member", None),
    ("money_item", None),
    ("application", None),
    ("index_record", None),
    ("shock", None),
    ("aid_record", None),
    ("verification", None),
    ("eligibility_opinion", None),
    ("household_card", None),
    ("photo", None),
    ("near_relative_filing", None),
    ("plan", None),
    ("plan_line", None),
    ("sample_item", None),
    ("staff", None),
    ("visit", "status = 'scheduled'"),
    ("public_notice", "status = 'running'"),
    ("objection", "status IN ('received', 'investigating')"),
    ("pre_application", "status IN ('new', 'taken')"),
    ("resource", "active = {true}"),
)


@dataclass(frozen=True)
class MoveReport:
    rows_moved: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows_moved.values())


def _check_name(name: str) -> str:
    clean = " ".join(name.split())[:100]
    if not clean:
        raise DomainError(N_("Enter a name."), field="name")
    if any(ch in clean for ch in "<>"):
        raise DomainError(N_("The characters < and > are not allowed."), field="name")
    return clean


async def _unit(actor: Actor, unit_id: int) -> dict[str, Any]:
    row = await OrgUnit.select().where(OrgUnit.id == unit_id).first() if 0 < unit_id < 2**63 else None
    if row is None or not str(row["path"]).startswith(actor.org_path):
        raise NotFoundOrForbidden()
    return row


async def _unit_by_code(actor: Actor, code: str, field: str) -> dict[str, Any]:
    row = await OrgUnit.select().where(OrgUnit.code == code.strip()).first()
    if row is None or not str(row["path"]).startswith(actor.org_path):
        raise DomainError(N_("Unknown org unit code."), field=field)
    if not row["active"]:
        raise DomainError(N_("That unit is no longer active."), field=field)
    return row


async def _valid_from(unit_id: int) -> date:
    """The day the unit's current state began: the end of its latest version (or the beginning)."""
    rows = await OrgUnitVersion.select(OrgUnitVersion.valid_to).where(OrgUnitVersion.org_unit == unit_id)
    ends = [_day(r["valid_to"]) for r in rows if r["valid_to"] is not None]
    return max(ends) if ends else date(1900, 1, 1)


def _day(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


async def _close_version(unit: dict[str, Any], on: date, change: str, merged_into: int | None = None) -> None:
    """Keep the unit's state up to ``on`` (exclusive) as a version."""
    valid_from = await _valid_from(int(unit["id"]))
    if valid_from >= on:
        # A second change on the same day: the first change's version already ends today.
        return
    await OrgUnitVersion(
        org_unit=unit["id"],
        code=unit["code"],
        name=unit["name"],
        path=unit["path"],
        valid_from=valid_from,
        valid_to=on,
        change=change,
        merged_into=merged_into,
    ).save()


async def _rewrite_paths(old: str, new: str) -> dict[str, int]:
    """Move the rows of ``MOVING_ROWS`` under ``old`` to ``new`` (a prefix rewrite)."""
    engine = OrgUnit._meta.db
    pg = engine.engine_type == "postgres"
    true = "TRUE" if pg else "1"
    moved: dict[str, int] = {}
    for table, condition in MOVING_ROWS:
        where = "org_path LIKE {}"
        if condition:
            where += " AND " + condition.replace("{true}", true)
        # Table names and conditions come from MOVING_ROWS above, never from input.
        count_sql = f"SELECT COUNT(*) AS n FROM {table} WHERE {where}"  # noqa: S608
        count_rows = await OrgUnit.raw(count_sql, f"{old}%")
        count = int(count_rows[0]["n"]) if count_rows else 0
        if not count:
            continue
        update_sql = f"UPDATE {table} SET org_path = {{}} || substr(org_path, {len(old) + 1}) WHERE {where}"  # noqa: S608
        await OrgUnit.raw(update_sql, new, f"{old}%")
        moved[table] = count
    return moved


async def _rewrite_unit_paths(old: str, new: str, on: date, *, skip_id: int | None = None) -> None:
    """Rewrite ``path`` of the units under ``old`` (keeping a version of each moved unit)."""
    rows = await OrgUnit.select().where(OrgUnit.path.like(f"{old}%"))
    for row in rows:
        if row["id"] == skip_id or row["path"] == old:
            continue
        await _close_version(row, on, "reparent")
        await OrgUnit.update({OrgUnit.path: new + str(row["path"])[len(old) :]}).where(
            OrgUnit.id == row["id"]
        )


def _forget_cached_boards() -> None:
    """Public boards are cached by unit: a changed network must not show the old one."""
    from relief_pwa.services import public_boards

    public_boards.clear_cache()


def _effective(on: date | None, now: datetime) -> date:
    from relief_pwa.clock import local_date

    return on or local_date(now)


async def do_rename_unit(
    actor: Actor, unit_id: int, name: str, *, now: datetime, on: date | None = None
) -> None:
    """Give a unit a new name from ``on`` (today in Beijing) on; reports before then keep the old one."""
    require(actor, Capability.ORG_MANAGE)
    clean = _check_name(name)
    day = _effective(on, now)
    async with write_transaction(OrgUnit._meta.db):
        await org_changed()  # the org cache of every process reloads
        await advisory_xact_lock(OrgUnit._meta.db, "relief-org")
        unit = await _unit(actor, unit_id)
        if not unit["active"]:
            raise DomainError(N_("That unit is no longer active."), field="name")
        if unit["name"] == clean:
            return
        await _close_version(unit, day, "rename")
        await OrgUnit.update({OrgUnit.name: clean}).where(OrgUnit.id == unit["id"])
        await record_event(
            actor,
            "org.rename",
            "org_unit",
            int(unit["id"]),
            org_path=str(unit["path"]),
            now=now,
            before={"name": unit["name"]},
            after={"name": clean, "from": day.isoformat()},
        )
    _forget_cached_boards()


async def do_reparent_unit(
    actor: Actor, unit_id: int, parent_code: str, *, now: datetime, on: date | None = None
) -> MoveReport:
    """Hang a unit (and everything under it) below another parent of the right level."""
    require(actor, Capability.ORG_MANAGE)
    day = _effective(on, now)
    async with write_transaction(OrgUnit._meta.db):
        await org_changed()  # the org cache of every process reloads
        await advisory_xact_lock(OrgUnit._meta.db, "relief-org")
        unit = await _unit(actor, unit_id)
        level = OrgLevel(unit["level"])
        if level == OrgLevel.CITY:
            raise DomainError(N_("A city has no parent unit."), field="parent_code")
        if level not in _PARENT_LEVEL:  # relief departments are managed on their own page
            raise DomainError(N_("The parent unit is missing or at the wrong level."), field="parent_code")
        parent = await _unit_by_code(actor, parent_code, "parent_code")
        if OrgLevel(parent["level"]) != _PARENT_LEVEL[level]:
            raise DomainError(N_("The parent unit is missing or at the wrong level."), field="parent_code")
        if parent["id"] == unit["parent"]:
            return MoveReport({})
        old, new = str(unit["path"]), org_path_for(str(parent["path"]), str(unit["code"]))
        await _close_version(unit, day, "reparent")
        await _rewrite_unit_paths(old, new, day)
        await OrgUnit.update({OrgUnit.parent: parent["id"], OrgUnit.path: new}).where(
            OrgUnit.id == unit["id"]
        )
        moved = await _rewrite_paths(old, new)
        await record_event(
            actor,
            "org.reparent",
            "org_unit",
            int(unit["id"]),
            org_path=new,
            now=now,
            before={"parent": unit["parent"], "path": old},
            after={"parent": parent["id"], "path": new, "from": day.isoformat(), "moved": moved},
        )
    _forget_cached_boards()
    return MoveReport(moved)


async def do_merge_units(
    actor: Actor,
    source_id: int,
    target_code: str,
    *,
    now: datetime,
    new_name: str = "",
    on: date | None = None,
) -> MoveReport:
    """Merge a unit into another of the same level: its households, staff, open work and
    units below move to the target; the source is deactivated (kept for history).
    ``new_name`` renames the target as part of the merger."""
    require(actor, Capability.ORG_MANAGE)
    day = _effective(on, now)
    clean = _check_name(new_name) if new_name.strip() else ""
    async with write_transaction(OrgUnit._meta.db):
        await org_changed()  # the org cache of every process reloads
        await advisory_xact_lock(OrgUnit._meta.db, "relief-org")
        source = await _unit(actor, source_id)
        target = await _unit_by_code(actor, target_code, "target_code")
        if not source["active"]:
            raise DomainError(N_("That unit is no longer active."), field="target_code")
        if target["id"] == source["id"] or target["level"] != source["level"]:
            raise DomainError(N_("Merge into another unit of the same level."), field="target_code")
        if source["level"] == OrgLevel.CITY:
            raise DomainError(N_("Merge into another unit of the same level."), field="target_code")
        old, new = str(source["path"]), str(target["path"])
        await _close_version(source, day, "merge", merged_into=int(target["id"]))
        if clean and clean != target["name"]:
            await _close_version(target, day, "rename")
            await OrgUnit.update({OrgUnit.name: clean}).where(OrgUnit.id == target["id"])
        # Units below the source hang below the target from now on.
        await _rewrite_unit_paths(old, new, day, skip_id=int(source["id"]))
        await OrgUnit.update({OrgUnit.parent: target["id"]}).where(OrgUnit.parent == source["id"])
        moved = await _rewrite_paths(old, new)
        await Staff.update({Staff.org_unit: target["id"]}).where(Staff.org_unit == source["id"])
        await OrgUnit.update({OrgUnit.active: False}).where(OrgUnit.id == source["id"])
        await record_event(
            actor,
            "org.merge",
            "org_unit",
            int(source["id"]),
            org_path=new,
            now=now,
            before={"code": source["code"], "name": source["name"], "path": old},
            after={
                "into": target["code"],
                "name": clean or target["name"],
                "from": day.isoformat(),
                "moved": moved,
            },
        )
    _forget_cached_boards()
    return MoveReport(moved)


async def do_deactivate_unit(actor: Actor, unit_id: int, *, now: datetime, on: date | None = None) -> None:
    """Close a unit that holds nothing any more (merge or move its households and staff first)."""
    require(actor, Capability.ORG_MANAGE)
    day = _effective(on, now)
    async with write_transaction(OrgUnit._meta.db):
        await org_changed()  # the org cache of every process reloads
        await advisory_xact_lock(OrgUnit._meta.db, "relief-org")
        unit = await _unit(actor, unit_id)
        if not unit["active"]:
            return
        path = str(unit["path"])
        if unit["level"] == OrgLevel.CITY:
            raise DomainError(N_("The city cannot be deactivated."), field="unit")
        if await OrgUnit.exists().where(
            OrgUnit.path.like(f"{path}%") & (OrgUnit.id != unit["id"]) & OrgUnit.active.eq(True)
        ):
            raise DomainError(N_("Units below are still active: merge or move them first."), field="unit")
        if await Staff.exists().where(Staff.org_path.like(f"{path}%") & Staff.active.eq(True)):
            raise DomainError(N_("Active staff still belong here: move them first."), field="unit")
        if await Application.exists().where(
            Application.org_path.like(f"{path}%") & Application.state.is_in(list(_OPEN_STATES))
        ):
            raise DomainError(N_("Open cases are still here: merge the unit instead."), field="unit")
        await _close_version(unit, day, "deactivate")
        await OrgUnit.update({OrgUnit.active: False}).where(OrgUnit.id == unit["id"])
        await record_event(
            actor,
            "org.deactivate",
            "org_unit",
            int(unit["id"]),
            org_path=path,
            now=now,
            before={"active": True},
            after={"active": False, "from": day.isoformat()},
        )
    _forget_cached_boards()


# --- reading the network as it was ------------------------------------------------------


@dataclass(frozen=True)
class PastUnit:
    id: int
    code: str
    name: str
    level: str
    path: str


async def units_below_during(parent_path: str, start: date, end: date) -> list[PastUnit]:
    """The units one level below ``parent_path`` that existed between ``start`` and ``end``
    (inclusive), each under the name and path it had at the end of that stretch (or when
    it was retired). Current units keep their current path (their rows moved with them)."""
    depth = parent_path.count("/") + 1
    current = await OrgUnit.select().where(
        OrgUnit.path.like(f"{parent_path}%") & OrgUnit.active.eq(True) & (OrgUnit.department_kind == "")
    )  # relief departments hang below a district but are not part of its area
    versions = await OrgUnitVersion.select().where(OrgUnitVersion.path.like(f"{parent_path}%"))
    by_unit: dict[int, list[dict[str, Any]]] = {}
    for v in versions:
        by_unit.setdefault(int(v["org_unit"]), []).append(v)
    result: dict[int, PastUnit] = {}
    for row in current:
        if str(row["path"]).count("/") != depth:
            continue
        name = str(row["name"])
        for v in by_unit.get(int(row["id"]), []):
            if _day(v["valid_from"]) <= end < _day(v["valid_to"]):
                name = str(v["name"])  # the name it had then
        result[int(row["id"])] = PastUnit(
            int(row["id"]), str(row["code"]), name, str(row["level"]), str(row["path"])
        )
    for unit_id, rows in by_unit.items():
        if unit_id in result:
            continue
        during = [
            v
            for v in rows
            if str(v["path"]).count("/") == depth
            and _day(v["valid_to"]) > start
            and _day(v["valid_from"]) <= end
        ]
        if not during:
            continue
        last = max(during, key=lambda v: _day(v["valid_to"]))
        unit_row = await OrgUnit.select(OrgUnit.level).where(OrgUnit.id == unit_id).first()
        level = str(unit_row["level"]) if unit_row else ""
        result[unit_id] = PastUnit(unit_id, str(last["code"]), str(last["name"]), level, str(last["path"]))
    return sorted(result.values(), key=lambda u: u.code)
