"""The main navigation: which areas each role sees."""

from __future__ import annotations

from dataclasses import dataclass

from relief_pwa.core.enums import Role
from relief_pwa.core.i18n import N_

R = Role


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str  # English message id
    roles: frozenset[str]


NAV: tuple[NavItem, ...] = (
    NavItem("/cases", N_("Cases"), frozenset(Role)),
    NavItem("/intake", N_("New application"), frozenset({R.LIAISON, R.STATION, R.CENTER})),
    NavItem("/visits", N_("My visits"), frozenset({R.LIAISON, R.INVESTIGATOR, R.STATION})),
    NavItem("/ranking", N_("Ranking"), frozenset({R.STATION, R.CENTER, R.CITY, R.SUPERVISOR})),
    NavItem("/notices", N_("Public notices"), frozenset({R.STATION, R.CENTER, R.SUPERVISOR})),
    NavItem("/resources", N_("Resources and plans"), frozenset({R.CENTER, R.CITY, R.SUPERVISOR})),
    NavItem("/funds", N_("Funds and payments"), frozenset({R.CENTER, R.CITY, R.SUPERVISOR})),
    NavItem("/handover", N_("Hand-over"), frozenset({R.LIAISON, R.STATION, R.CENTER})),
    NavItem(
        "/followups", N_("Follow-ups"), frozenset({R.LIAISON, R.STATION, R.CENTER, R.CITY, R.SUPERVISOR})
    ),
    NavItem("/objections", N_("Objections"), frozenset({R.STATION, R.CENTER, R.CITY, R.SUPERVISOR})),
    NavItem("/analytics", N_("Analysis"), frozenset({R.STATION, R.CENTER, R.CITY, R.SUPERVISOR})),
    NavItem("/supervision", N_("Supervision"), frozenset({R.CITY, R.SUPERVISOR})),
    NavItem("/policies", N_("Published policies"), frozenset({R.CITY, R.SUPERVISOR})),
    NavItem("/scoring/models", N_("Scoring models"), frozenset({R.CITY, R.SUPERVISOR})),
    NavItem("/admin/staff", N_("Staff and offices"), frozenset({R.CITY, R.SUPERVISOR})),
    NavItem("/caseload/import", N_("Bring in the caseload"), frozenset({R.CITY})),
    NavItem("/bot/console", N_("Bot console"), frozenset(Role)),
)


def nav_for(role: str) -> list[NavItem]:
    return [item for item in NAV if role in item.roles]
