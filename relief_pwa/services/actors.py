"""Who is acting: a staff member with a role and a jurisdiction (org subtree)."""

from __future__ import annotations

from dataclasses import dataclass

from relief_pwa.core import permissions
from relief_pwa.core.errors import PermissionDenied
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability


@dataclass(frozen=True)
class Actor:
    staff_id: int | None
    username: str
    display_name: str
    role: str
    org_unit_id: int | None
    org_path: str  # jurisdiction: every row whose org_path starts with this
    org_name: str = ""
    # Staff of a relief department: its kind (core.enums.DepartmentKind) and the
    # department unit's own path (what it owns in the pool); "" for everyone else.
    department_kind: str = ""
    unit_path: str = ""

    @property
    def label(self) -> str:
        return f"{self.display_name} ({self.username})"

    @property
    def is_system(self) -> bool:
        return self.staff_id is None

    @property
    def read_only(self) -> bool:
        """Supervision: sees everything in scope, changes nothing."""
        return permissions.is_read_only(self.role)

    def can(self, capability: Capability) -> bool:
        return permissions.can(self.role, capability)

    @property
    def owner_path(self) -> str:
        """Where what this actor creates in the resource pool belongs (a department's own unit)."""
        return self.unit_path or self.org_path

    def can_see(self, org_path: str) -> bool:
        return org_path.startswith(self.org_path)


SYSTEM_ACTOR = Actor(
    staff_id=None,
    username="system",
    display_name="系统",
    role=permissions.SYSTEM_ROLE,
    org_unit_id=None,
    org_path="",
)


def require(actor: Actor, capability: Capability) -> None:
    """Refuse (403) unless the actor's role holds ``capability``."""
    if not actor.can(capability):
        if capability in permissions.READ_ONLY:
            raise PermissionDenied(N_("Your role may not see this page."))
        raise PermissionDenied(N_("Your role may not take this action."))
