"""The org network (city → district → street → community) as read by pages and the bot."""

from __future__ import annotations

from dataclasses import dataclass

from relief_pwa.core.enums import OrgLevel
from relief_pwa.core.errors import NotFoundOrForbidden
from relief_pwa.services.actors import Actor
from relief_pwa.services.refcache import VersionedCache, bump
from relief_pwa.tables import OrgUnit

ORG_CACHE = "org_tree"


@dataclass(frozen=True)
class OrgNode:
    id: int
    code: str
    name: str
    level: str
    path: str
    area_type: str
    parent_id: int | None


def _node(row: dict[str, object]) -> OrgNode:
    return OrgNode(
        id=int(row["id"]),  # type: ignore[call-overload]
        code=str(row["code"]),
        name=str(row["name"]),
        level=str(row["level"]),
        path=str(row["path"]),
        area_type=str(row["area_type"]),
        parent_id=row["parent"],  # type: ignore[arg-type]
    )


def org_path_for(parent_path: str, code: str) -> str:
    return f"{parent_path}{code}/"


async def list_children(parent_id: int | None) -> list[OrgNode]:
    query = (
        OrgUnit.select()
        .where(OrgUnit.active.eq(True) & (OrgUnit.department_kind == ""))
        .order_by(OrgUnit.code)
    )
    query = query.where(OrgUnit.parent.is_null() if parent_id is None else OrgUnit.parent == parent_id)
    return [_node(r) for r in await query]


async def list_communities_for(actor: Actor) -> tuple[OrgNode, ...]:
    """Active communities within the actor's jurisdiction, for the intake form's picker."""
    return await list_units_in_scope(actor, OrgLevel.COMMUNITY)


_in_scope: dict[tuple[str, str], tuple[tuple[OrgNode, ...], tuple[OrgNode, ...]]] = {}


async def list_units_in_scope(actor: Actor, level: str) -> tuple[OrgNode, ...]:
    """Active units of one level within the actor's jurisdiction (pickers and filters), from the cache.

    The same tuple is returned while the tree is unchanged (a city's list of streets is
    filtered from the whole tree once, not on every page that offers the picker)."""
    tree = await org_tree()
    key = (actor.org_path, level)
    cached = _in_scope.get(key)
    if cached is not None and cached[0] is tree:
        return cached[1]
    found = tuple(
        sorted(
            (n for n in tree if n.level == level and n.path.startswith(actor.org_path)), key=lambda n: n.code
        )
    )
    if len(_in_scope) > 1_000:
        _in_scope.clear()
    _in_scope[key] = (tree, found)
    return found


async def get_unit(unit_id: int) -> OrgNode | None:
    if not 0 < unit_id < 2**63:
        return None
    row = await OrgUnit.select().where(OrgUnit.id == unit_id).first()
    return _node(row) if row else None


async def get_unit_by_code(code: str) -> OrgNode | None:
    row = await OrgUnit.select().where(OrgUnit.code == code).first()
    return _node(row) if row else None


async def ancestors(path: str) -> list[OrgNode]:
    """The units on a path, from the city down (for breadcrumbs and numbering)."""
    codes = [part for part in path.split("/") if part]
    rows = await OrgUnit.select().where(OrgUnit.code.is_in(codes)) if codes else []
    by_code = {r["code"]: _node(r) for r in rows}
    return [by_code[c] for c in codes if c in by_code]


async def access_community(actor: Actor, community_id: int) -> OrgNode:
    """An active community within the actor's jurisdiction (a merged or closed one takes no intake)."""
    node = await get_unit(community_id)
    if node is None or node.level != OrgLevel.COMMUNITY or not node.path.startswith(actor.org_path):
        raise NotFoundOrForbidden()
    row = await OrgUnit.select(OrgUnit.active).where(OrgUnit.id == community_id).first()
    if row is None or not row["active"]:
        raise NotFoundOrForbidden()
    return node


async def _load_tree() -> tuple[OrgNode, ...]:
    rows = await OrgUnit.select().where(OrgUnit.active.eq(True)).order_by(OrgUnit.path)
    return tuple(_node(r) for r in rows)


_tree = VersionedCache(ORG_CACHE, _load_tree)


async def org_tree() -> tuple[OrgNode, ...]:
    """Every active unit, in path order, from the per-process cache (services/refcache.py)."""
    return await _tree.get()


async def unit_in_tree(code: str) -> OrgNode | None:
    """An active unit by code, from the cache."""
    for node in await org_tree():
        if node.code == code:
            return node
    return None


_by_id: list[tuple[tuple[OrgNode, ...], dict[int, OrgNode]]] = []


async def unit_by_id(unit_id: int) -> OrgNode | None:
    """An active unit by id, from the cache (an index of the tree, built once per tree)."""
    tree = await org_tree()
    if not _by_id or _by_id[0][0] is not tree:
        _by_id[:] = [(tree, {node.id: node for node in tree})]
    return _by_id[0][1].get(unit_id)


async def org_changed() -> None:
    """Call inside any write transaction that adds, renames, moves or closes units."""
    await bump(ORG_CACHE)
