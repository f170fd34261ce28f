"""Who may do what: the one permission policy (docs/permissions.md).

Capabilities name what can be done; ``GRANTS`` says which role holds which.
Every check in services, handlers, templates and the bot asks ``can()``;
nothing else in the code base compares roles (an architecture test enforces it).

Jurisdiction (which rows an actor sees) is separate: ``access_*`` functions
check the org path. Four-eyes rules (``FourEyes``) say which two steps of one
piece of work must be taken by different people.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from relief_pwa.core.enums import OrgLevel, Role
from relief_pwa.core.i18n import N_

# Actions taken by the system itself (clock jobs, public objections, imports).
SYSTEM_ROLE = "system"
# The applicant behind a Telegram chat bound to their own application.
APPLICANT_ROLE = "applicant"


class Capability(StrEnum):
    # case work
    CASES_READ = "cases.read"
    INTAKE_CREATE = "intake.create"
    INTAKE_AT_WINDOW = "intake.at_window"  # the service-window channel (not a liaison's home visit)
    HOUSEHOLD_EDIT = "household.edit"
    VISIT_RECORD = "visit.record"  # schedule and record visits, upload photo evidence
    CARD_ISSUE = "card.issue"
    HANDOVER = "handover.use"
    BOT_LINK_ISSUE = "bot.link_issue"
    BOT_TASKS_READ = "bot.tasks_read"
    PREAPPLICATION_HANDLE = "preapplication.handle"
    INDEX_FACTS_RECORD = "index.facts_record"  # shocks and outside aid
    INDEX_RECOMPUTE = "index.recompute"
    RANKING_READ = "ranking.read"
    NEAR_RELATIVE_FILE = "near_relative.file"
    # data checks with other agencies (docs/datacheck.md)
    DATACHECKS_READ = "datacheck.read"  # the check report and exclusion warnings
    DATACHECK_REQUEST = "datacheck.request"  # requests, opinion without a report, reviews
    DATACHECK_AUTHORISE = "datacheck.authorise"  # record or revoke the applicant's authorisation
    DATACHECK_EXCHANGE = "datacheck.exchange"  # export batch files, import results
    # life events (change requests): request, read the queue, approve (station / centre)
    LIFE_EVENT_REQUEST = "life_event.request"
    LIFE_EVENTS_READ = "life_event.read"
    LIFE_EVENT_APPROVE = "life_event.approve"  # births, deaths, joining, leaving, head change
    LIFE_EVENT_APPROVE_MAJOR = "life_event.approve_major"  # moves, splits, merges, ending a household
    # application workflow (one capability per transition of core.workflow)
    APP_START_INVESTIGATION = "application.start_investigation"
    APP_FIND_ELIGIBLE = "application.find_eligible"
    APP_FIND_INELIGIBLE = "application.find_ineligible"
    APP_REOPEN_INVESTIGATION = "application.reopen_investigation"
    APP_START_PUBLICITY = "application.start_publicity"
    APP_OBJECT = "application.object"
    APP_START_REPUBLICITY = "application.start_republicity"
    APP_END_PUBLICITY = "application.end_publicity"
    APP_APPROVE = "application.approve"
    APP_REJECT = "application.reject"
    APP_ACTIVATE = "application.activate"
    APP_START_REVIEW = "application.start_review"
    APP_COMPLETE_REVIEW = "application.complete_review"
    APP_EXIT = "application.exit"
    APP_WITHDRAW = "application.withdraw"
    APP_REOPEN = "application.reopen"  # appeal (复议) after a rejection
    APP_SUSPEND = "application.suspend"
    APP_REINSTATE = "application.reinstate"
    # sunshine: 公示, decisions, objections
    NOTICES_READ = "notices.read"
    APPROVALS_READ = "approvals.read"
    OBJECTIONS_READ = "objections.read"
    OBJECTION_HANDLE = "objection.handle"
    # resources, plans, funds, payments
    RESOURCES_READ = "resources.read"
    RESOURCES_MANAGE = "resources.manage"
    PLAN_READ = "plan.read"
    PLAN_DRAFT = "plan.draft"
    PLAN_APPROVE = "plan.approve"
    FUNDS_READ = "funds.read"
    FUNDS_MANAGE = "funds.manage"
    BATCH_CREATE = "batch.create"
    BATCH_EXPORT = "batch.export"
    BATCH_RECONCILE = "batch.reconcile"
    # follow-ups and reviews
    FOLLOWUPS_READ = "followups.read"
    FOLLOWUP_ALERTS_READ = "followup.alerts_read"
    FOLLOWUP_ALERT_RESOLVE = "followup.alert_resolve"
    REVIEWS_SCHEDULE = "reviews.schedule"
    RECERTIFICATION_READ = "reviews.recertification_read"  # the annual re-certification list
    # several forms of aid per household, and 先行救助
    APPLICATION_ADD = "household.add_application"  # apply for another form of aid from the household file
    EMERGENCY_GRANT = "emergency.grant"  # grant temporary relief at once, up to the rule's limit
    DEADLINE_ALERTS_READ = "deadline.alerts_read"  # overdue reviews and investigations in one's area
    SCHEDULER_READ = "scheduler.read"  # the runs of the daily time-driven tasks
    # relief departments and referrals between them (docs/departments.md)
    DEPARTMENT_HOUSEHOLDS_READ = "department.households_read"  # the households qualifying for its relief
    DEPARTMENT_AID_RECORD = "department.aid_record"  # record the relief a department gives
    DEPARTMENTS_MANAGE = "departments.manage"  # departments and their API tokens (the city)
    REFERRAL_CREATE = "referral.create"  # refer a request to the department that owns it
    REFERRAL_READ = "referral.read"
    REFERRAL_ANSWER = "referral.answer"  # accept, ask for more, decide or refer on (the department)
    REFERRALS_OVERDUE_READ = "referral.overdue_read"  # escalated referrals (the centre)
    # analysis
    ANALYTICS_READ = "analytics.read"
    SAMPLE_DRAW = "sample.draw"
    SAMPLE_FINDING_RECORD = "sample.finding_record"
    ASSESSMENT_READ = "assessment.read"  # the quarterly assessment of districts and streets, its report
    ASSESSMENT_WEIGHTS_MANAGE = "assessment.weights_manage"  # the city sets the indicators' weights
    # supervision
    AUDIT_READ = "audit.read"
    # personal data: export everything held on one person, at their request (docs/retention.md)
    SUBJECT_EXPORT = "personal_data.subject_export"
    # administration
    STAFF_READ = "staff.read"
    STAFF_MANAGE = "staff.manage"
    ORG_MANAGE = "org.manage"
    CASELOAD_IMPORT = "caseload.import"  # bring in (and export) the existing recipients' roster
    STANDARDS_READ = "standards.read"  # standards, rules, the holiday calendar
    STANDARDS_MANAGE = "standards.manage"
    SETTINGS_MANAGE = "settings.manage"  # follow-up delay, ledger threshold
    POLICIES_READ = "policies.read"
    POLICIES_EDIT = "policies.edit"
    SCORING_MODELS_READ = "scoring_models.read"
    SCORING_MODELS_EDIT = "scoring_models.edit"
    BOT_CONSOLE = "bot.console"  # see the console page
    BOT_CONSOLE_SEND = "bot.console_send"  # chat with the bot through it (writes the chat state)


C = Capability

# The read capabilities: all a supervisor holds (is_read_only tells such a role).
READ_ONLY: frozenset[Capability] = frozenset(
    {
        C.CASES_READ,
        C.BOT_TASKS_READ,
        C.LIFE_EVENTS_READ,
        C.DATACHECKS_READ,
        C.RANKING_READ,
        C.NOTICES_READ,
        C.APPROVALS_READ,
        C.OBJECTIONS_READ,
        C.RESOURCES_READ,
        C.PLAN_READ,
        C.FUNDS_READ,
        C.FOLLOWUPS_READ,
        C.FOLLOWUP_ALERTS_READ,
        C.RECERTIFICATION_READ,
        C.ANALYTICS_READ,
        C.ASSESSMENT_READ,
        C.AUDIT_READ,
        C.STAFF_READ,
        C.STANDARDS_READ,
        C.POLICIES_READ,
        C.SCORING_MODELS_READ,
        C.BOT_CONSOLE,
        C.DEADLINE_ALERTS_READ,
        C.SCHEDULER_READ,
        C.REFERRAL_READ,
        C.REFERRALS_OVERDUE_READ,
    }
)

_FIELD = {
    C.CASES_READ,
    C.HOUSEHOLD_EDIT,
    C.VISIT_RECORD,
    C.CARD_ISSUE,
    C.BOT_LINK_ISSUE,
    C.BOT_TASKS_READ,
    C.PREAPPLICATION_HANDLE,
    C.INDEX_FACTS_RECORD,
    C.NEAR_RELATIVE_FILE,
    C.SAMPLE_FINDING_RECORD,
    C.APP_START_INVESTIGATION,
    C.APP_START_REVIEW,
    C.BOT_CONSOLE,
    C.BOT_CONSOLE_SEND,
    C.DEADLINE_ALERTS_READ,
    C.DATACHECKS_READ,
}

# What the district centre and the city bureau both do: resources, plans, funds and
# payments, follow-ups and reviews, analysis and re-verification samples.
_MONEY_AND_FOLLOW_UP = {
    C.RESOURCES_READ,
    C.RESOURCES_MANAGE,
    C.PLAN_READ,
    C.PLAN_DRAFT,
    C.PLAN_APPROVE,
    C.FUNDS_READ,
    C.FUNDS_MANAGE,
    C.BATCH_CREATE,
    C.BATCH_EXPORT,
    C.BATCH_RECONCILE,
    C.FOLLOWUPS_READ,
    C.FOLLOWUP_ALERTS_READ,
    C.FOLLOWUP_ALERT_RESOLVE,
    C.REVIEWS_SCHEDULE,
    C.RECERTIFICATION_READ,
    C.ANALYTICS_READ,
    C.SAMPLE_DRAW,
    C.SAMPLE_FINDING_RECORD,
    C.DEADLINE_ALERTS_READ,
    C.SCHEDULER_READ,
}

# Answering a resident's request for the data held on them: the district centre and the city bureau.
_PERSONAL_DATA_DUTIES = {C.SUBJECT_EXPORT}

GRANTS: dict[str, frozenset[Capability]] = {
    Role.LIAISON: frozenset(
        _FIELD
        | {
            C.INTAKE_CREATE,
            C.APPLICATION_ADD,
            C.HANDOVER,
            C.FOLLOWUPS_READ,
            C.APP_WITHDRAW,
            C.LIFE_EVENT_REQUEST,
            C.LIFE_EVENTS_READ,
            C.REFERRAL_CREATE,
            C.REFERRAL_READ,
            C.DATACHECK_AUTHORISE,  # the signed form is taken at the door
        }
    ),
    Role.INVESTIGATOR: frozenset(_FIELD),
    Role.STATION: frozenset(
        _FIELD
        | {
            C.INTAKE_CREATE,
            C.INTAKE_AT_WINDOW,
            C.APPLICATION_ADD,
            C.EMERGENCY_GRANT,
            C.HANDOVER,
            C.INDEX_RECOMPUTE,
            C.RANKING_READ,
            C.APP_FIND_ELIGIBLE,
            C.APP_FIND_INELIGIBLE,
            C.APP_REOPEN_INVESTIGATION,
            C.APP_START_PUBLICITY,
            C.APP_OBJECT,
            C.APP_START_REPUBLICITY,
            C.APP_COMPLETE_REVIEW,
            C.APP_WITHDRAW,
            C.APP_SUSPEND,
            C.NOTICES_READ,
            C.APPROVALS_READ,
            C.OBJECTIONS_READ,
            C.OBJECTION_HANDLE,
            C.FOLLOWUPS_READ,
            C.REVIEWS_SCHEDULE,
            C.RECERTIFICATION_READ,
            C.ANALYTICS_READ,
            C.SAMPLE_DRAW,
            C.LIFE_EVENT_REQUEST,
            C.LIFE_EVENTS_READ,
            C.LIFE_EVENT_APPROVE,
            C.REFERRAL_CREATE,
            C.REFERRAL_READ,
            C.DATACHECK_REQUEST,
            C.DATACHECK_AUTHORISE,
        }
    ),
    Role.CENTER: frozenset(
        _MONEY_AND_FOLLOW_UP
        | _PERSONAL_DATA_DUTIES
        | {
            C.ASSESSMENT_READ,
            C.CASES_READ,
            C.INTAKE_CREATE,
            C.INTAKE_AT_WINDOW,
            C.APPLICATION_ADD,
            C.EMERGENCY_GRANT,
            C.HOUSEHOLD_EDIT,
            C.CARD_ISSUE,
            C.HANDOVER,
            C.BOT_LINK_ISSUE,
            C.BOT_TASKS_READ,
            C.INDEX_FACTS_RECORD,
            C.INDEX_RECOMPUTE,
            C.RANKING_READ,
            C.NEAR_RELATIVE_FILE,
            C.APP_APPROVE,
            C.APP_REJECT,
            C.APP_ACTIVATE,
            C.APP_EXIT,
            C.APP_WITHDRAW,
            C.APP_SUSPEND,
            C.APP_REINSTATE,
            C.APP_REOPEN,
            C.NOTICES_READ,
            C.APPROVALS_READ,
            C.OBJECTIONS_READ,
            C.OBJECTION_HANDLE,
            C.BOT_CONSOLE,
            C.BOT_CONSOLE_SEND,
            C.LIFE_EVENT_REQUEST,
            C.LIFE_EVENTS_READ,
            C.LIFE_EVENT_APPROVE,
            C.LIFE_EVENT_APPROVE_MAJOR,
            C.REFERRAL_CREATE,
            C.REFERRAL_READ,
            C.REFERRALS_OVERDUE_READ,
            C.DATACHECKS_READ,
            C.DATACHECK_REQUEST,
            C.DATACHECK_AUTHORISE,
            C.DATACHECK_EXCHANGE,
        }
    ),
    Role.CITY: frozenset(
        _MONEY_AND_FOLLOW_UP
        | _PERSONAL_DATA_DUTIES
        | {
            C.ASSESSMENT_READ,
            C.ASSESSMENT_WEIGHTS_MANAGE,
            C.CASES_READ,
            C.DATACHECKS_READ,
            C.DATACHECK_EXCHANGE,  # the city's check centre exchanges files for the whole city
            C.BOT_TASKS_READ,
            C.LIFE_EVENTS_READ,
            C.INDEX_RECOMPUTE,
            C.RANKING_READ,
            C.NOTICES_READ,
            C.APPROVALS_READ,
            C.OBJECTIONS_READ,
            C.OBJECTION_HANDLE,
            C.AUDIT_READ,
            C.STAFF_READ,
            C.STAFF_MANAGE,
            C.ORG_MANAGE,
            C.CASELOAD_IMPORT,
            C.STANDARDS_READ,
            C.STANDARDS_MANAGE,
            C.SETTINGS_MANAGE,
            C.POLICIES_READ,
            C.POLICIES_EDIT,
            C.SCORING_MODELS_READ,
            C.SCORING_MODELS_EDIT,
            C.BOT_CONSOLE,
            C.BOT_CONSOLE_SEND,
            C.DEPARTMENTS_MANAGE,
            C.REFERRAL_READ,
            C.REFERRALS_OVERDUE_READ,
        }
    ),
    # A relief department: the households its relief is for (a field-level view, never the
    # full file), the relief it gives, its own resources in the pool, and referrals to it.
    Role.DEPARTMENT: frozenset(
        {
            C.DEPARTMENT_HOUSEHOLDS_READ,
            C.DEPARTMENT_AID_RECORD,
            C.REFERRAL_READ,
            C.REFERRAL_ANSWER,
            C.RESOURCES_READ,
            C.RESOURCES_MANAGE,
        }
    ),
    # Supervision (纪检监察/财政/审计) reads everything in scope and changes nothing.
    Role.SUPERVISOR: READ_ONLY,
    # The system's own jobs: the clock ends 公示, objections reopen cases, set-up creates units.
    SYSTEM_ROLE: frozenset(
        {
            C.APP_OBJECT,
            C.APP_END_PUBLICITY,
            C.APP_ACTIVATE,
            C.APP_START_REVIEW,
            C.APP_EXIT,  # the end of a 渐退 window
            C.APP_WITHDRAW,
            C.STAFF_MANAGE,
            C.ORG_MANAGE,
            C.CASELOAD_IMPORT,
            C.DATACHECK_EXCHANGE,  # the batch files from the command line
            C.STANDARDS_MANAGE,
            C.BOT_LINK_ISSUE,
            C.INDEX_RECOMPUTE,
            C.DEPARTMENTS_MANAGE,
        }
    ),
    # An applicant may withdraw their own application from a bound chat (the bot checks the binding).
    APPLICANT_ROLE: frozenset({C.APP_WITHDRAW}),
}


def can(role: str, capability: Capability | str) -> bool:
    """Whether ``role`` holds ``capability``."""
    return capability in GRANTS.get(role, frozenset())


def roles_with(capability: Capability) -> tuple[str, ...]:
    """The staff roles holding a capability, e.g. whom a visit may be assigned to."""
    return tuple(role.value for role in Role if capability in GRANTS[role])


# Who is sent to a household, nearest first: the community's liaison, then the
# station's investigator, then the station itself (the roles that record visits).
FIELD_ROLES_NEAREST_FIRST: tuple[str, ...] = (Role.LIAISON.value, Role.INVESTIGATOR.value, Role.STATION.value)

# Roles whose work lists show only what is assigned to them (a liaison's own visits).
_OWN_ASSIGNMENTS_ONLY: frozenset[str] = frozenset({Role.LIAISON})


def field_rank(role: str) -> int:
    """Position of a field role in ``FIELD_ROLES_NEAREST_FIRST`` (others last)."""
    order = FIELD_ROLES_NEAREST_FIRST
    return order.index(role) if role in order else len(order)


def works_own_assignments_only(role: str) -> bool:
    return role in _OWN_ASSIGNMENTS_ONLY


def is_read_only(role: str) -> bool:
    """A role that may change nothing at all (supervision)."""
    return role in GRANTS and GRANTS[role] <= READ_ONLY


def transition_capability(action: str) -> Capability:
    """The capability that allows one workflow transition."""
    return Capability(f"application.{action}")


# --- where each role works --------------------------------------------------------

ROLE_LEVELS: dict[str, frozenset[str]] = {
    Role.LIAISON: frozenset({OrgLevel.COMMUNITY}),
    Role.INVESTIGATOR: frozenset({OrgLevel.STREET}),
    Role.STATION: frozenset({OrgLevel.STREET}),
    Role.CENTER: frozenset({OrgLevel.DISTRICT}),
    Role.CITY: frozenset({OrgLevel.CITY}),
    Role.SUPERVISOR: frozenset({OrgLevel.CITY, OrgLevel.DISTRICT}),
    Role.DEPARTMENT: frozenset({OrgLevel.DEPARTMENT}),
}

# Accounts that hold money or the whole city: a second factor is required in production.
SECOND_FACTOR_REQUIRED: frozenset[str] = frozenset({Role.CENTER, Role.CITY, Role.SUPERVISOR})


def second_factor_required(role: str, *, production: bool) -> bool:
    return production and role in SECOND_FACTOR_REQUIRED


# --- four eyes --------------------------------------------------------------------


@dataclass(frozen=True)
class FourEyesRule:
    code: str
    message: str  # English message id, shown when the rule refuses


class FourEyes:
    """Pairs of steps that must be taken by two different people."""

    PLAN_APPROVE = FourEyesRule(
        "plan_approve", N_("You drafted this plan; another colleague must approve it (four eyes).")
    )
    BATCH_EXPORT = FourEyesRule(
        "batch_export", N_("You created this payment batch; another colleague must export it (four eyes).")
    )
    BATCH_RECONCILE = FourEyesRule(
        "batch_reconcile",
        N_("You exported this payment batch; another colleague must reconcile it (four eyes)."),
    )
    APPLICATION_DECIDE = FourEyesRule(
        "application_decide",
        N_(
            "You took this application's intake or gave its station opinion; "
            "another colleague must approve it (four eyes)."
        ),
    )


FOUR_EYES_RULES: tuple[FourEyesRule, ...] = (
    FourEyes.PLAN_APPROVE,
    FourEyes.BATCH_EXPORT,
    FourEyes.BATCH_RECONCILE,
    FourEyes.APPLICATION_DECIDE,
)


def four_eyes_breach(actor_staff_id: int | None, earlier_staff_ids: Iterable[int | None]) -> bool:
    """Whether the actor took one of the earlier steps themselves (the system never counts)."""
    return actor_staff_id is not None and actor_staff_id in {i for i in earlier_staff_ids if i is not None}
