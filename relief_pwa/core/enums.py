"""Closed vocabularies shared by core, tables, services and pages.

Values are stable ASCII codes stored in the database; labels are English
message ids translated at the edge (Chinese by default).
"""

from __future__ import annotations

from enum import StrEnum

from relief_pwa.core.i18n import N_


class LabelledEnum(StrEnum):
    """A StrEnum whose members know their (untranslated) label."""

    @property
    def label(self) -> str:
        return _LABELS.get((type(self), self.value), self.value)


class Role(LabelledEnum):
    LIAISON = "liaison"
    INVESTIGATOR = "investigator"
    STATION = "station"
    CENTER = "center"
    CITY = "city"
    SUPERVISOR = "supervisor"
    DEPARTMENT = "department"  # staff of a relief department (education bureau, Red Cross, …)


class OrgLevel(LabelledEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    DEPARTMENT = "department"  # a relief department attached to the city or a district


class DepartmentKind(LabelledEnum):
    """The relief departments that work on the same system (部门联动, docs/departments.md)."""

    MEDICAL_INSURANCE = "medical_insurance"  # 医保局
    EDUCATION = "education"  # 教育局
    HOUSING = "housing"  # 住建局
    EMPLOYMENT = "employment"  # 人社局
    LEGAL_AID = "legal_aid"  # 司法局 法律援助
    DISABLED_FEDERATION = "disabled_federation"  # 残联
    TRADE_UNION = "trade_union"  # 总工会
    CHARITY_FEDERATION = "charity_federation"  # 慈善总会
    RED_CROSS = "red_cross"  # 红十字会


class ReferralStatus(LabelledEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    INFO_REQUESTED = "info_requested"
    DECIDED = "decided"
    REFERRED_ON = "referred_on"
    ESCALATED = "escalated"


class AreaType(LabelledEnum):
    URBAN = "urban"
    RURAL = "rural"


class Category(LabelledEnum):
    """The eight national relief categories plus two monitoring classes."""

    DIBAO = "dibao"  # 最低生活保障
    TEKUN = "tekun"  # 特困人员供养
    DISASTER = "disaster"  # 受灾人员救助
    MEDICAL = "medical"  # 医疗救助
    EDUCATION = "education"  # 教育救助
    HOUSING = "housing"  # 住房救助
    EMPLOYMENT = "employment"  # 就业救助
    TEMPORARY = "temporary"  # 临时救助
    DIBAO_EDGE = "dibao_edge"  # 低保边缘
    RIGID_EXPENSE = "rigid_expense"  # 刚性支出困难


class Channel(LabelledEnum):
    WINDOW = "window"
    LIAISON = "liaison"
    BOT = "bot"


class AppState(LabelledEnum):
    """Application lifecycle (DESIGN §3)."""

    RECEIVED = "received"
    INVESTIGATING = "investigating"
    VERIFIED_ELIGIBLE = "verified_eligible"
    VERIFIED_INELIGIBLE = "verified_ineligible"
    PUBLICIZED = "publicized"
    REINVESTIGATING = "reinvestigating"
    REPUBLICIZED = "republicized"
    READY_FOR_APPROVAL = "ready_for_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    ACTIVE = "active"
    UNDER_REVIEW = "under_review"
    SUSPENDED = "suspended"  # payments stopped pending a decision; reinstate or exit
    EXITED = "exited"
    WITHDRAWN = "withdrawn"


OPEN_STATES: frozenset[AppState] = frozenset(
    s for s in AppState if s not in {AppState.REJECTED, AppState.EXITED, AppState.WITHDRAWN}
)

# States in which the household receives the application's aid (docs/lifecycle.md).
RECIPIENT_STATES: frozenset[AppState] = frozenset({AppState.ACTIVE, AppState.UNDER_REVIEW})


class ExitReason(LabelledEnum):
    """Why assistance ends (应退尽退): the reasons the rules name."""

    INCOME_ABOVE_STANDARD = "income_above_standard"
    MOVED_AWAY = "moved_away"
    DEATH = "death"
    REFUSED_COOPERATION = "refused_cooperation"
    FOUND_INELIGIBLE = "found_ineligible"


class Sex(LabelledEnum):
    MALE = "male"
    FEMALE = "female"


class Relation(LabelledEnum):
    HEAD = "head"
    SPOUSE = "spouse"
    CHILD = "child"
    PARENT = "parent"
    GRANDCHILD = "grandchild"
    GRANDPARENT = "grandparent"
    SIBLING = "sibling"
    OTHER = "other"


class WorkCapacity(LabelledEnum):
    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


class Schooling(LabelledEnum):
    NONE = "none"
    PRESCHOOL = "preschool"
    PRIMARY = "primary"
    JUNIOR = "junior"
    SENIOR = "senior"
    VOCATIONAL = "vocational"
    UNIVERSITY = "university"
    NOT_IN_SCHOOL = "not_in_school"


class Illness(LabelledEnum):
    NONE = "none"
    CHRONIC = "chronic"
    SERIOUS = "serious"


class Housing(LabelledEnum):
    OWNED_ADEQUATE = "owned_adequate"
    RENTED = "rented"
    RENTED_HEAVY = "rented_heavy"
    UNSAFE = "unsafe"
    NONE = "none"


class IncomeKind(LabelledEnum):
    WAGES = "wages"
    BUSINESS = "business"
    FARMING = "farming"
    PENSION = "pension"
    PROPERTY = "property"
    TRANSFER = "transfer"
    OTHER = "other"


class AssetKind(LabelledEnum):
    DEPOSITS = "deposits"
    SECURITIES = "securities"
    VEHICLE = "vehicle"
    REAL_ESTATE = "real_estate"
    BUSINESS_ASSETS = "business_assets"
    OTHER = "other"


class ExpenseKind(LabelledEnum):
    MEDICAL = "medical"
    EDUCATION = "education"


class ShockKind(LabelledEnum):
    NONE = "none"
    DISASTER = "disaster"
    ACCIDENT = "accident"
    SUDDEN_ILLNESS = "sudden_illness"


# Labels by (enum, value): enum members of different types can share a value
# ("other" is a relation, an income and an asset; "liaison" a role and a channel)
# and StrEnum members equal to the same string are one dict key, so a plain
# member-keyed dict kept only the last label ("Other assets" for a relation).
_LABEL_LIST: tuple[tuple[LabelledEnum, str], ...] = (
    (Role.LIAISON, N_("Community liaison")),
    (Role.INVESTIGATOR, N_("Investigator")),
    (Role.STATION, N_("Service station staff")),
    (Role.CENTER, N_("Service centre staff")),
    (Role.CITY, N_("City bureau administrator")),
    (Role.SUPERVISOR, N_("Supervisor")),
    (Role.DEPARTMENT, N_("Relief department staff")),
    (OrgLevel.CITY, N_("City")),
    (OrgLevel.DISTRICT, N_("District / county")),
    (OrgLevel.STREET, N_("Street / town")),
    (OrgLevel.COMMUNITY, N_("Community / village")),
    (OrgLevel.DEPARTMENT, N_("Relief department")),
    (DepartmentKind.MEDICAL_INSURANCE, N_("Medical insurance bureau")),
    (DepartmentKind.EDUCATION, N_("Education bureau")),
    (DepartmentKind.HOUSING, N_("Housing bureau")),
    (DepartmentKind.EMPLOYMENT, N_("Human resources and employment bureau")),
    (DepartmentKind.LEGAL_AID, N_("Justice bureau (legal aid)")),
    (DepartmentKind.DISABLED_FEDERATION, N_("Disabled persons' federation")),
    (DepartmentKind.TRADE_UNION, N_("Trade union")),
    (DepartmentKind.CHARITY_FEDERATION, N_("Charity federation")),
    (DepartmentKind.RED_CROSS, N_("Red Cross")),
    (ReferralStatus.PENDING, N_("Waiting for the department")),
    (ReferralStatus.ACCEPTED, N_("Accepted by the department")),
    (ReferralStatus.INFO_REQUESTED, N_("More information requested")),
    (ReferralStatus.DECIDED, N_("Decided")),
    (ReferralStatus.REFERRED_ON, N_("Referred on to another department")),
    (ReferralStatus.ESCALATED, N_("Overdue: escalated to the centre")),
    (AreaType.URBAN, N_("Urban")),
    (AreaType.RURAL, N_("Rural")),
    (Category.DIBAO, N_("Minimum living allowance (dibao)")),
    (Category.TEKUN, N_("Extreme-poverty support")),
    (Category.DISASTER, N_("Disaster relief")),
    (Category.MEDICAL, N_("Medical assistance")),
    (Category.EDUCATION, N_("Education assistance")),
    (Category.HOUSING, N_("Housing assistance")),
    (Category.EMPLOYMENT, N_("Employment assistance")),
    (Category.TEMPORARY, N_("Temporary assistance")),
    (Category.DIBAO_EDGE, N_("Near-dibao (edge) household")),
    (Category.RIGID_EXPENSE, N_("Rigid-expense hardship")),
    (Channel.WINDOW, N_("Service window")),
    (Channel.LIAISON, N_("Liaison home visit")),
    (Channel.BOT, N_("Telegram pre-application")),
    (AppState.RECEIVED, N_("Received")),
    (AppState.INVESTIGATING, N_("Under investigation")),
    (AppState.VERIFIED_ELIGIBLE, N_("Verified: eligible")),
    (AppState.VERIFIED_INELIGIBLE, N_("Verified: ineligible")),
    (AppState.PUBLICIZED, N_("Public notice running")),
    (AppState.REINVESTIGATING, N_("Re-investigation after objection")),
    (AppState.REPUBLICIZED, N_("Repeated public notice running")),
    (AppState.READY_FOR_APPROVAL, N_("Ready for approval")),
    (AppState.APPROVED, N_("Approved")),
    (AppState.REJECTED, N_("Rejected")),
    (AppState.ACTIVE, N_("Active recipient")),
    (AppState.UNDER_REVIEW, N_("Periodic review")),
    (AppState.SUSPENDED, N_("Suspended")),
    (AppState.EXITED, N_("Exited")),
    (AppState.WITHDRAWN, N_("Withdrawn")),
    (ExitReason.INCOME_ABOVE_STANDARD, N_("Income above the standard at review")),
    (ExitReason.MOVED_AWAY, N_("Moved away")),
    (ExitReason.DEATH, N_("Death")),
    (ExitReason.REFUSED_COOPERATION, N_("Refused to cooperate with verification")),
    (ExitReason.FOUND_INELIGIBLE, N_("Found ineligible")),
    (Sex.MALE, N_("Male")),
    (Sex.FEMALE, N_("Female")),
    (Relation.HEAD, N_("Head of household")),
    (Relation.SPOUSE, N_("Spouse")),
    (Relation.CHILD, N_("Child")),
    (Relation.PARENT, N_("Parent")),
    (Relation.GRANDCHILD, N_("Grandchild")),
    (Relation.GRANDPARENT, N_("Grandparent")),
    (Relation.SIBLING, N_("Sibling")),
    (Relation.OTHER, N_("Other relative")),
    (WorkCapacity.FULL, N_("Able to work")),
    (WorkCapacity.PARTIAL, N_("Partly able to work")),
    (WorkCapacity.NONE, N_("Unable to work")),
    (Schooling.NONE, N_("No schooling")),
    (Schooling.PRESCHOOL, N_("Preschool")),
    (Schooling.PRIMARY, N_("Primary school")),
    (Schooling.JUNIOR, N_("Junior secondary")),
    (Schooling.SENIOR, N_("Senior secondary")),
    (Schooling.VOCATIONAL, N_("Vocational school")),
    (Schooling.UNIVERSITY, N_("University")),
    (Schooling.NOT_IN_SCHOOL, N_("Not in school")),
    (Illness.NONE, N_("No serious illness")),
    (Illness.CHRONIC, N_("Chronic illness")),
    (Illness.SERIOUS, N_("Serious illness")),
    (Housing.OWNED_ADEQUATE, N_("Own home, adequate")),
    (Housing.RENTED, N_("Rented, affordable")),
    (Housing.RENTED_HEAVY, N_("Rented, heavy burden")),
    (Housing.UNSAFE, N_("Unsafe housing")),
    (Housing.NONE, N_("No housing")),
    (IncomeKind.WAGES, N_("Wages")),
    (IncomeKind.BUSINESS, N_("Business income")),
    (IncomeKind.FARMING, N_("Farming income")),
    (IncomeKind.PENSION, N_("Pension")),
    (IncomeKind.PROPERTY, N_("Property income")),
    (IncomeKind.TRANSFER, N_("Transfers and support")),
    (IncomeKind.OTHER, N_("Other income")),
    (AssetKind.DEPOSITS, N_("Bank deposits")),
    (AssetKind.SECURITIES, N_("Securities")),
    (AssetKind.VEHICLE, N_("Vehicle")),
    (AssetKind.REAL_ESTATE, N_("Real estate")),
    (AssetKind.BUSINESS_ASSETS, N_("Business assets")),
    (AssetKind.OTHER, N_("Other assets")),
    (ExpenseKind.MEDICAL, N_("Medical expenses")),
    (ExpenseKind.EDUCATION, N_("Education expenses")),
    (ShockKind.NONE, N_("None")),
    (ShockKind.DISASTER, N_("Natural disaster")),
    (ShockKind.ACCIDENT, N_("Accident")),
    (ShockKind.SUDDEN_ILLNESS, N_("Sudden illness")),
)
_LABELS: dict[tuple[type, str], str] = {(type(member), member.value): text for member, text in _LABEL_LIST}
