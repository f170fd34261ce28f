"""Who is acting: a staff member with a role and a jurisdiction (org subtree)."""

from __future__ import annotations

from dataclasses import dataclass

from relief_pwa.core.enums import Role
from relief_pwa.core.errors import PermissionDenied
from relief_pwa.core.i18n import N_


@dataclass(frozen=True)
class Actor:
    staff_id: int | None
    username: str
    display_name: str
    role: str
    org_unit_id: int | None
    org_path: str  # jurisdiction: every row whose org_path starts with this
    org_name: str = ""

    @property
    def label(self) -> str:
        return f"{self.display_name} ({self.username})"

    @property
    def is_supervisor(self) -> bool:
        return self.role == Role.SUPERVISOR

    def can_see(self, org_path: str) -> bool:
        return org_path.startswith(self.org_path)


SYSTEM_ACTOR = Actor(
    staff_id=None,
    username="system",
    display_name="系统",
    role="system",
    org_unit_id=None,
    org_path="",
)


def require_role(actor: Actor, *roles: str) -> None:
    """Refuse unless the actor has one of ``roles``; supervisors never write."""
    if actor.role == Role.SUPERVISOR or actor.role not in roles:
        raise PermissionDenied(N_("Your role may not take this action."))


def require_reader(actor: Actor, *roles: str) -> None:
    """Refuse unless the actor has one of ``roles`` (supervisors may read where listed)."""
    if actor.role not in roles:
        raise PermissionDenied(N_("Your role may not see this page."))
