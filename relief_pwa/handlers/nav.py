"""The main navigation: each area is shown to whoever holds its capability."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import Capability, can
from relief_pwa.i18n import DEFAULT_LANGUAGE, translations

C = Capability


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str  # English message id
    capability: Capability


NAV: tuple[NavItem, ...] = (
    NavItem("/cases", N_("Cases"), C.CASES_READ),
    NavItem("/department", N_("Households for our relief"), C.DEPARTMENT_HOUSEHOLDS_READ),
    NavItem("/referrals", N_("Referrals"), C.REFERRAL_READ),
    NavItem("/intake", N_("New application"), C.INTAKE_CREATE),
    NavItem("/visits", N_("My visits"), C.VISIT_RECORD),
    NavItem("/ranking", N_("Ranking"), C.RANKING_READ),
    NavItem("/notices", N_("Public notices"), C.NOTICES_READ),
    NavItem("/resources", N_("Resources and plans"), C.RESOURCES_READ),
    NavItem("/funds", N_("Funds and payments"), C.FUNDS_READ),
    NavItem("/handover", N_("Hand-over"), C.HANDOVER),
    NavItem("/followups", N_("Follow-ups"), C.FOLLOWUPS_READ),
    NavItem("/life-events", N_("Life events"), C.LIFE_EVENTS_READ),
    NavItem("/datacheck", N_("Data checks"), C.DATACHECK_EXCHANGE),
    NavItem("/deadlines", N_("Overdue"), C.DEADLINE_ALERTS_READ),
    NavItem("/referrals/overdue", N_("Overdue referrals"), C.REFERRALS_OVERDUE_READ),
    NavItem("/objections", N_("Objections"), C.OBJECTIONS_READ),
    NavItem("/analytics", N_("Analysis"), C.ANALYTICS_READ),
    NavItem("/assessment", N_("Assessment"), C.ASSESSMENT_READ),
    NavItem("/supervision", N_("Supervision"), C.AUDIT_READ),
    NavItem("/privacy/subject-export", N_("Personal data requests"), C.SUBJECT_EXPORT),
    NavItem("/policies", N_("Published policies"), C.POLICIES_READ),
    NavItem("/scoring/models", N_("Scoring models"), C.SCORING_MODELS_READ),
    NavItem("/admin/staff", N_("Staff and offices"), C.STAFF_READ),
    NavItem("/admin/departments", N_("Relief departments"), C.DEPARTMENTS_MANAGE),
    NavItem("/admin/standards", N_("Standards and rules"), C.STANDARDS_READ),
    NavItem("/caseload/import", N_("Bring in the caseload"), C.CASELOAD_IMPORT),
    NavItem("/bot/console", N_("Bot console"), C.BOT_CONSOLE),
    NavItem("/system/scheduler", N_("Scheduled work"), C.SCHEDULER_READ),
)


@lru_cache(maxsize=32)
def nav_for(role: str, language: str = DEFAULT_LANGUAGE) -> tuple[NavItem, ...]:
    """The areas a role may open, labels in ``language`` (asked on every page: computed once
    per role and language)."""
    catalog = translations(language)
    return tuple(
        NavItem(item.href, catalog.gettext(item.label), item.capability)
        for item in NAV
        if can(role, item.capability)
    )
