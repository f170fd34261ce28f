"""Piccolo tables, and nothing else: no behaviour lives here.

Conventions (STACK_NOTES.md): money is ``BigInt`` fen; timestamps are
timezone-aware; every row in a jurisdiction carries ``org_path`` (the
materialised path of its org unit, e.g. ``370100/370102/370102001/``) so a
jurisdiction filter is an indexed prefix match; case foreign keys RESTRICT
deletes; ids that come from outside (Telegram) are ``BigInt``.
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    Bytea,
    Date,
    DoublePrecision,
    ForeignKey,
    Integer,
    Numeric,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from relief_pwa.core.enums import (
    AppState,
    AreaType,
    Category,
    Channel,
    Housing,
    Illness,
    OrgLevel,
    Relation,
    Role,
    Schooling,
    Sex,
    WorkCapacity,
)


def _foreign_key_own_names(self: ForeignKey[Any]) -> list[str]:
    return list(object.__getattribute__(self, "__dict__"))


# Piccolo's ForeignKey.__getattribute__ asks ``name not in dir(self)`` on every public
# attribute access, to resolve lazy table references (this schema has none: every
# reference is a class), and dir() of a column sorts its whole class tree's names: a tenth
# of a page's time went to building joins (docs/scale.md, "Cheaper requests"). The
# instance's own names answer that question alike for direct references: a name missing
# from them only makes Piccolo look at the reference, see it is not lazy, and go on.
ForeignKey.__dir__ = _foreign_key_own_names  # type: ignore[method-assign,assignment]


class OrgUnit(Table, tablename="org_unit"):
    """City, district/county, street/town or community/village, with its service office."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    code = Varchar(length=12, unique=True)
    name = Varchar(length=100)
    level = Varchar(length=12, choices=OrgLevel, index=True)
    parent: ForeignKey[OrgUnit] = ForeignKey("self", null=True, on_delete=OnDelete.restrict)
    path = Varchar(length=80, unique=True)
    area_type = Varchar(length=8, choices=AreaType, default=AreaType.URBAN)
    office_name = Varchar(length=120, default="")
    office_address = Varchar(length=200, default="")
    hotline = Varchar(length=40, default="")
    supervision_hotline = Varchar(length=40, default="")
    active = Boolean(default=True)
    # A relief department (core.enums.DepartmentKind) when ``level`` is "department", else "".
    department_kind = Varchar(length=24, default="", index=True)


class Staff(Table, tablename="staff"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    username = Varchar(length=40, unique=True)
    display_name = Varchar(length=60)
    password_hash = Varchar(length=200)
    role = Varchar(length=16, choices=Role, index=True)
    org_unit = ForeignKey(OrgUnit, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    phone_sealed = Text(default="")
    phone_index = Varchar(length=32, default="", index=True)
    language = Varchar(length=8, default="")
    active = Boolean(default=True)
    created_at = Timestamptz()
    # Set by an administrator's reset: every page leads to the password form until it is changed.
    must_change_password = Boolean(default=False)
    # RFC 6238 second factor: the base32 secret sealed like the identifiers ("" = not enrolled;
    # services/identifiers.py, kind "totp") and the last time step accepted.
    totp_sealed = Text(default="")
    totp_last_step = BigInt(default=0)
    # Whether the password is one of the demo passwords (None: not known yet, checked at
    # production start-up); set whenever a password is set, so start-up needs no argon2 per account.
    demo_password = Boolean(null=True, default=None)


class WebSession(Table, tablename="web_session"):
    """Server-side session store: sessions survive a restart and can be revoked."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    key = Varchar(length=100, unique=True)  # SHA-256 (hex) of the cookie's token, never the token
    data = Text()
    expires_at = Timestamptz(index=True)  # min(idle deadline, absolute deadline): what the purge deletes
    staff_id = Integer(default=0, index=True)  # sessions exist for logged-in staff only
    created_at = Timestamptz()
    last_seen_at = Timestamptz()


class LoginAttempt(Table, tablename="login_attempt"):
    """Failed logins, for throttling by username and by client address."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    username = Varchar(length=40, index=True)
    client = Varchar(length=64, index=True)
    at = Timestamptz(index=True)


class Counter(Table, tablename="counter"):
    """Named counters for file and application numbers (atomic increment)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    name = Varchar(length=60, unique=True)
    value = BigInt(default=0)


class Household(Table, tablename="household"):
    """The electronic household file (电子档案)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    file_no = Varchar(length=24, unique=True)
    org_unit = ForeignKey(OrgUnit, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    address = Varchar(length=200)
    area_type = Varchar(length=8, choices=AreaType)
    housing = Varchar(length=16, choices=Housing)
    head_name = Varchar(length=60, index=True)
    # Identifiers sealed (AES-GCM) with a keyed blind index for exact search (services/identifiers.py).
    head_id_sealed = Text(default="")
    head_id_index = Varchar(length=32, default="", index=True)
    phone_sealed = Text(default="")
    phone_index = Varchar(length=32, default="", index=True)
    account_sealed = Text(default="")
    account_index = Varchar(length=32, default="", index=True)
    is_open = Boolean(default=True, index=True)
    current_index = Numeric(digits=(5, 2), null=True, default=None)
    index_provisional = Boolean(default=False)
    index_computed_at = Timestamptz(null=True, default=None)
    # Computed from the snapshot index_digest under model index_model_version (those of the
    # latest index record), the current index holds on every day from index_holds_from until
    # the day before index_holds_until (core.scoring.points_hold_until): a re-score on such a
    # day that finds the same snapshot need not compute it, nor read the record.
    index_digest = Varchar(length=32, null=True, default=None)
    index_model_version = Varchar(length=40, null=True, default=None)
    index_holds_from = Date(null=True, default=None)
    index_holds_until = Date(null=True, default=None)
    version = Integer(default=1)
    created_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    onecard_bank = Varchar(length=60, default="")  # the bank of the one-card account
    # Set when the retention run anonymised the closed file (docs/retention.md); never cleared.
    anonymised_at = Timestamptz(null=True, default=None)


class Member(Table, tablename="member"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    name = Varchar(length=60, index=True)
    id_sealed = Text(default="")
    id_index = Varchar(length=32, default="", index=True)
    sex = Varchar(length=8, choices=Sex)
    birth_date = Date()
    relation = Varchar(length=16, choices=Relation)
    disability_grade = Integer(null=True, default=None)
    illness = Varchar(length=12, choices=Illness, default=Illness.NONE)
    work_capacity = Varchar(length=12, choices=WorkCapacity)
    schooling = Varchar(length=16, choices=Schooling)
    phone_sealed = Text(default="")
    phone_index = Varchar(length=32, default="", index=True)
    # "Valid now", maintained alongside the validity interval for the many readers of the present.
    active = Boolean(default=True)
    # Effective dating (docs/facts-over-time.md): [valid_from, valid_to); None = open-ended.
    # An edit closes this version and inserts the next; ``lineage`` is the id of the
    # person's first version (0: this row is the first), so versions of one person group.
    valid_from = Date(null=True, default=None)
    valid_to = Date(null=True, default=None)
    source = Varchar(length=16, default="declared")
    lineage = Integer(default=0, index=True)
    end_reason = Varchar(length=16, default="")  # death | left | moved | superseded | …


class MoneyItem(Table, tablename="money_item"):
    """A declared income item (monthly), asset (stock value) or rigid expense (12 months).

    ``verified_fen`` and its source are filled by verification visits: the
    declared-vs-verified ledger is these rows side by side.
    """

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    section = Varchar(length=8, index=True)  # income | asset | expense
    kind = Varchar(length=20)
    member = ForeignKey(Member, null=True, on_delete=OnDelete.restrict)
    description = Varchar(length=200, default="")
    declared_fen = BigInt()
    verified_fen = BigInt(null=True, default=None)
    verified_source = Varchar(length=20, default="")
    verified_note = Varchar(length=300, default="")
    verified_at = Timestamptz(null=True, default=None)
    active = Boolean(default=True)  # "valid now", kept in step with valid_to
    valid_from = Date(null=True, default=None)  # None: since the file was opened
    valid_to = Date(null=True, default=None)  # exclusive; None: still valid
    source = Varchar(length=16, default="declared")


class HouseholdVersion(Table, tablename="household_version"):
    """The household-level facts (where it lives, housing) with their validity.

    Written from the first change on: a household without versions is read
    from its ``household`` row for every date.
    """

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    household = ForeignKey(Household, on_delete=OnDelete.restrict, index=True)
    org_path = Varchar(length=80, index=True)
    org_unit = Integer()
    address = Varchar(length=200)
    area_type = Varchar(length=8, choices=AreaType)
    housing = Varchar(length=16, choices=Housing)
    valid_from = Date(null=True, default=None)  # None: since the file was opened
    valid_to = Date(null=True, default=None)  # exclusive; None: still current
    source = Varchar(length=16, default="declared")
    recorded_at = Timestamptz()


class HouseholdContact(Table, tablename="household_contact"):
    """The household's phone and one-card account with their validity (docs/facts-over-time.md).

    Sealed like the household row's (no blind index: nothing searches the past). Written from
    the first change on: a household without versions is read from its ``household`` row for
    every date. Payments go to the account valid at the end of their month.
    """

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    household = ForeignKey(Household, on_delete=OnDelete.restrict, index=True)
    phone_sealed = Text(default="")
    account_sealed = Text(default="")
    valid_from = Date(null=True, default=None)  # None: since the file was opened
    valid_to = Date(null=True, default=None)  # exclusive; None: still current
    source = Varchar(length=16, default="declared")
    recorded_at = Timestamptz()


class ChangeRequest(Table, tablename="change_request"):
    """A life event (move, death, birth, join, leave, head change, split, merge) awaiting approval."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    household = ForeignKey(Household, on_delete=OnDelete.restrict, index=True)
    org_path = Varchar(length=80, index=True)  # the household's jurisdiction when requested
    to_org_path = Varchar(length=80, default="", index=True)  # a move's destination
    kind = Varchar(length=12, index=True)
    payload = Text(default="{}")  # JSON: the kind's fields (no identifiers in clear)
    effective_on = Date()
    status = Varchar(length=10, index=True)  # pending | approved | refused
    note = Text(default="")
    requested_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    requested_at = Timestamptz()
    decided_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    decided_at = Timestamptz(null=True, default=None)
    decision_reason = Text(default="")
    result = Text(default="")  # JSON: what applying it did (new household id, exits, …)
    version = Integer(default=1)


class Application(Table, tablename="application"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    number = Varchar(length=32, unique=True)
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    category = Varchar(length=16, choices=Category, index=True)
    channel = Varchar(length=12, choices=Channel)
    state = Varchar(length=24, choices=AppState, index=True)
    description = Text(default="")
    missing_materials = JSON(default=[])
    received_on = Date(index=True)
    state_changed_at = Timestamptz()
    decided_on = Date(null=True, default=None)
    # Local day of the station's first finding (eligible or ineligible): the end of the
    # investigation, kept here so timeliness is counted without searching the audit trail.
    found_on = Date(null=True, default=None)
    reason = Text(default="")
    submitted_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    version = Integer(default=1)
    created_at = Timestamptz()


class AuditEvent(Table, tablename="audit_event"):
    """Append-only, hash-chained record of every state change."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    seq = BigInt(unique=True)
    at = Timestamptz(index=True)
    actor = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    actor_label = Varchar(length=80)
    action = Varchar(length=60, index=True)
    entity_type = Varchar(length=40, index=True)
    entity_id = BigInt(index=True)
    household_id = BigInt(null=True, default=None, index=True)
    org_path = Varchar(length=80, index=True)
    before = Text(default="")
    after = Text(default="")
    prev_hash = Varchar(length=64)
    hash = Varchar(length=64, unique=True)


class SystemSetting(Table, tablename="system_setting"):
    """Tunable values that staff may change at run time (e.g. discrepancy threshold)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    key = Varchar(length=60, unique=True)
    value = Text()
    updated_at = Timestamptz()


# --- relief index (scoring and ranking) -----------------------------------


class ReliefStandard(Table, tablename="relief_standard"):
    """Local monthly standards per district and urban/rural, with effective dates."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    district_code = Varchar(length=6, index=True)
    area_type = Varchar(length=8, choices=AreaType)
    effective_from = Date()
    dibao_monthly_fen = BigInt()
    tekun_monthly_fen = BigInt()
    asset_limit_months = Integer(default=24)


class ScoringModel(Table, tablename="scoring_model"):
    """A versioned scoring model: draft → active → retired; never edited once active."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    version = Varchar(length=40, unique=True)
    effective_from = Date()
    definition = Text()  # JSON of core.scoring.model_to_dict
    description = Text(default="")
    status = Varchar(length=12, index=True)  # draft | active | retired
    created_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    activated_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    activated_at = Timestamptz(null=True, default=None)


class IndexSnapshot(Table, tablename="index_snapshot"):
    """The inputs an index was computed from (JSON: facts + standard), by content digest."""

    digest = Varchar(length=32, primary_key=True)  # BLAKE2b-128 of the body, hex
    body = Text()


class IndexRecord(Table, tablename="index_record"):
    """Every computed index with the inputs it was computed from (reproducible)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    # No index on org_path or as_of: prefix LIKE cannot seek them and nothing filters
    # by as_of, while every bulk re-score would pay to maintain them.
    org_path = Varchar(length=80)
    computed_at = Timestamptz(index=True)
    as_of = Date()
    model_version = Varchar(length=40)
    total = Numeric(digits=(5, 2))
    provisional = Boolean(default=False)
    trigger = Varchar(length=60)
    # The inputs (facts + standard) are stored once per distinct content in
    # index_snapshot: re-scoring a city under a new model, or again with nothing
    # changed, writes no new copy of ~1 KB per household.
    snapshot_digest = Varchar(length=32)
    breakdown = Text()  # JSON: core.scoring.IndexBreakdown.to_dict
    # ",dibao,medical," — categories of the open applications at computation time
    # (empty: no open application), so "the ranking as of date D" can filter by category.
    categories = Varchar(length=200, default="")


class Shock(Table, tablename="shock"):
    """A sudden shock to a household (disaster, accident, sudden illness)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    kind = Varchar(length=20)
    occurred_on = Date()
    note = Varchar(length=300, default="")
    recorded_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    recorded_at = Timestamptz()


class AidRecord(Table, tablename="aid_record"):
    """Aid a household received: from payments, hand-overs, or recorded from outside."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    value_fen = BigInt()
    received_on = Date(index=True)
    source = Varchar(length=40)  # payment | handover | external
    reference = Varchar(length=60, null=True, default=None, unique=True)  # e.g. "payment:<line_id>"
    note = Varchar(length=300, default="")
    recorded_at = Timestamptz()


class Job(Table, tablename="job"):
    """A background job with visible progress (e.g. rescoring every household)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    kind = Varchar(length=40, index=True)
    status = Varchar(length=12, index=True)  # queued | running | done | failed
    params = Text(default="")
    progress_done = Integer(default=0)
    progress_total = Integer(default=0)
    error = Text(default="")
    created_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)


# --- field work: visits, ledger, photos, household cards -------------------


class Visit(Table, tablename="visit"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    application = ForeignKey(Application, null=True, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    # home | neighbour | letter | data_check | follow_up | review | reverify
    kind = Varchar(length=20, index=True)
    scheduled_for = Date(index=True)
    time_window = Varchar(length=40, default="")
    assigned_to = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    second_investigator = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    status = Varchar(length=12, index=True)  # scheduled | done | cancelled
    findings = Text(default="")
    outcome = Varchar(length=20, default="")  # follow-ups: full | partial | none | problem
    signature_key = Varchar(length=64, default="")
    gps_lat = Numeric(digits=(9, 6), null=True, default=None)
    gps_lon = Numeric(digits=(9, 6), null=True, default=None)
    plan_line_id = BigInt(null=True, default=None, index=True)
    client_uuid = Varchar(length=40, null=True, default=None, unique=True)
    version = Integer(default=1)
    done_at = Timestamptz(null=True, default=None)
    created_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()


class Photo(Table, tablename="photo"):
    """Photo evidence: stored once by content hash; rows link it to a household/visit."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    visit = ForeignKey(Visit, null=True, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    sha256 = Varchar(length=64, index=True)
    purpose = Varchar(length=20, default="evidence")  # evidence | signature | handover
    width = Integer()
    height = Integer()
    gps_lat = Numeric(digits=(9, 6), null=True, default=None)
    gps_lon = Numeric(digits=(9, 6), null=True, default=None)
    taken_at = Varchar(length=30, default="")
    caption = Varchar(length=200, default="")
    uploaded_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    uploaded_at = Timestamptz()


class Verification(Table, tablename="verification"):
    """One verified value of a declared item (the ledger's history)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    money_item = ForeignKey(MoneyItem, on_delete=OnDelete.restrict)
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    visit = ForeignKey(Visit, null=True, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    verified_fen = BigInt()
    source = Varchar(length=20)  # home_visit | neighbour | letter | data_check
    note = Varchar(length=300, default="")
    recorded_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    recorded_at = Timestamptz()


class EligibilityOpinion(Table, tablename="eligibility_opinion"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    application = ForeignKey(Application, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    means_test = Text()  # JSON of core.eligibility result
    decision = Varchar(length=12)  # eligible | ineligible
    reasons = Text()
    decided_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    decided_at = Timestamptz()


class HouseholdCard(Table, tablename="household_card"):
    """A QR card: an opaque random token, revocable and re-issuable."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    token = Varchar(length=64, unique=True)
    issued_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    issued_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


# --- one pool of resources: providers, funds, plans, payments ---------------


class Provider(Table, tablename="provider"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    name = Varchar(length=120)
    kind = Varchar(length=20)  # government | enterprise | social_org | individual
    contact = Varchar(length=120, default="")
    org_path = Varchar(length=80, index=True)
    active = Boolean(default=True)
    created_at = Timestamptz()


class Fund(Table, tablename="fund"):
    """A ring-fenced ledger (special account). ``available_fen`` never goes below zero."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    code = Varchar(length=30, unique=True)
    name = Varchar(length=120)
    provider = ForeignKey(Provider, null=True, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    available_fen = BigInt(default=0)
    reserved_fen = BigInt(default=0)
    paid_fen = BigInt(default=0)
    created_at = Timestamptz()


class FundEntry(Table, tablename="fund_entry"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    fund = ForeignKey(Fund, on_delete=OnDelete.restrict)
    kind = Varchar(length=20)  # income | reserve | release | pay | refund
    amount_fen = BigInt()
    reference = Varchar(length=80, default="")
    note = Varchar(length=300, default="")
    recorded_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    recorded_at = Timestamptz()


class Resource(Table, tablename="resource"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    provider = ForeignKey(Provider, on_delete=OnDelete.restrict)
    fund = ForeignKey(Fund, null=True, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    name = Varchar(length=120)
    kind = Varchar(length=12)  # cash | in_kind | service
    need = Varchar(length=30)
    unit = Varchar(length=16)  # per_person | per_household
    unit_amount_fen = BigInt(default=0)
    unit_quantity = Integer(default=0)
    periodicity = Varchar(length=12)  # one_off | monthly
    months = Integer(default=1)
    budget_total_fen = BigInt(null=True, default=None)
    budget_reserved_fen = BigInt(default=0)
    quantity_total = Integer(null=True, default=None)
    quantity_reserved = Integer(default=0)
    rule = Text(default="{}")  # JSON: categories, min_index, area_prefixes
    statutory = Varchar(length=20, default="")
    priority = Integer(default=100)
    period_start = Date(null=True, default=None)
    period_end = Date(null=True, default=None)
    active = Boolean(default=True)
    created_at = Timestamptz()


class Donation(Table, tablename="donation"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    provider = ForeignKey(Provider, on_delete=OnDelete.restrict)
    fund = ForeignKey(Fund, null=True, on_delete=OnDelete.restrict)
    resource = ForeignKey(Resource, null=True, on_delete=OnDelete.restrict)
    amount_fen = BigInt(default=0)
    quantity = Integer(default=0)
    received_on = Date()
    note = Varchar(length=300, default="")
    recorded_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    recorded_at = Timestamptz()


class Plan(Table, tablename="plan"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    application = ForeignKey(Application, null=True, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    status = Varchar(length=12, index=True)  # draft | approved | cancelled
    note = Text(default="")
    created_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    approved_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    approved_at = Timestamptz(null=True, default=None)
    version = Integer(default=1)


class PlanLine(Table, tablename="plan_line"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    plan = ForeignKey(Plan, on_delete=OnDelete.restrict)
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    resource = ForeignKey(Resource, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    amount_fen = BigInt(default=0)  # per month for monthly items
    quantity = Integer(default=0)
    months = Integer(default=1)
    start_month = Varchar(length=7, default="")  # YYYY-MM
    reason = Text(default="")
    status = Varchar(length=12, index=True)  # draft | approved | implemented | cancelled
    implemented_at = Timestamptz(null=True, default=None)


class Entitlement(Table, tablename="entitlement"):
    """A period in which an application's aid is paid: months ``[from_month, to_month)``
    (``to_month`` null = open). Opened by activation or reinstatement, closed by
    suspension or exit (docs/lifecycle.md); payment lines exist only inside one."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    application = ForeignKey(Application, on_delete=OnDelete.restrict)
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    category = Varchar(length=16, choices=Category)
    from_month = Varchar(length=7, index=True)  # YYYY-MM, first month paid
    to_month = Varchar(length=7, null=True, default=None, index=True)  # first month no longer paid
    opened_on = Date()
    closed_on = Date(null=True, default=None)
    opened_by = Varchar(length=24)  # the workflow action: activate | reinstate | import | granted_first
    closed_by = Varchar(length=24, default="")  # suspend | exit
    open_reason = Text(default="")
    close_reason = Text(default="")
    exit_reason = Varchar(length=24, default="")
    created_at = Timestamptz()


class DisbursementBatch(Table, tablename="disbursement_batch"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    batch_no = Varchar(length=30, unique=True)
    fund = ForeignKey(Fund, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    month = Varchar(length=7, default="")
    status = Varchar(length=12, index=True)  # draft | exported | reconciled | cancelled (emptied)
    line_count = Integer(default=0)
    total_fen = BigInt(default=0)
    created_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    exported_at = Timestamptz(null=True, default=None)
    reconciled_at = Timestamptz(null=True, default=None)
    # Who first exported the bank file: the four-eyes rule keeps them from reconciling it.
    exported_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)


class PaymentLine(Table, tablename="payment_line"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    line_id = Varchar(length=40, unique=True)
    plan_line = ForeignKey(PlanLine, on_delete=OnDelete.restrict)
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    fund = ForeignKey(Fund, on_delete=OnDelete.restrict)
    # The resource's provider (fixed once the resource exists), kept on the line so the
    # dashboards sum payments by provider without joining plan lines and resources.
    provider = ForeignKey(Provider, null=True, default=None, on_delete=OnDelete.restrict)
    batch = ForeignKey(DisbursementBatch, null=True, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    month = Varchar(length=7, index=True)
    amount_fen = BigInt()
    # queued | batched | paid | failed | withdrawn (the month is no longer entitled; reason kept)
    status = Varchar(length=12, index=True)
    failure_reason = Varchar(length=200, default="")
    attempt = Integer(default=1)
    paid_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class Payment(Table, tablename="payment"):
    """One row per (plan line, month) actually paid: the unique key makes a double
    payment impossible in the database, whatever the code does."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    pay_key = Varchar(length=60, unique=True)  # "<plan_line_id>:<YYYY-MM>"
    payment_line = ForeignKey(PaymentLine, on_delete=OnDelete.restrict)
    amount_fen = BigInt()
    paid_at = Timestamptz()


class Handover(Table, tablename="handover"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    plan_line = ForeignKey(PlanLine, on_delete=OnDelete.restrict)
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    quantity = Integer(default=1)
    method = Varchar(length=12)  # qr | file_no
    photo = ForeignKey(Photo, null=True, on_delete=OnDelete.restrict)
    confirmed_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    confirmed_at = Timestamptz()


# --- sunshine: disclosure, objections, supervision ------------------------


class PolicyPage(Table, tablename="policy_page"):
    """Published policies and procedures; every edit is a new version."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    slug = Varchar(length=60, index=True)
    version = Integer()
    title = Varchar(length=200)
    body = Text()
    published_at = Timestamptz()
    published_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)


class PublicNotice(Table, tablename="public_notice"):
    """One 公示 of one application: the masked facts as published, and its window."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    application = ForeignKey(Application, on_delete=OnDelete.restrict)
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    notice_round = Integer(default=1)  # 1 = first 公示, 2+ = re-公示 after objection
    # grant: the 公示 before a decision; termination: the 终止公示 after an exit (docs/lifecycle.md)
    kind = Varchar(length=12, default="grant")
    starts_on = Date(index=True)
    ends_on = Date(index=True)
    status = Varchar(length=12, index=True)  # running | ended | interrupted
    masked_name = Varchar(length=60)
    category = Varchar(length=16)
    household_size = Integer()
    proposed_amount_fen = BigInt(default=0)
    started_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()


class Objection(Table, tablename="objection"):
    """An objection (异议) or complaint (举报) from anyone, anonymous allowed."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    tracking_code = Varchar(length=20, unique=True)
    kind = Varchar(length=12)  # objection | complaint
    notice = ForeignKey(PublicNotice, null=True, on_delete=OnDelete.restrict)
    application = ForeignKey(Application, null=True, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    about = Varchar(length=200, default="")
    body = Text()
    contact_name = Varchar(length=60, default="")
    contact_phone_sealed = Text(default="")
    channel = Varchar(length=12, default="web")  # web | board | bot
    status = Varchar(length=16, index=True)  # received | investigating | answered | closed
    deadline = Date()
    investigation = Text(default="")
    answer = Text(default="")
    handled_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    received_at = Timestamptz()
    answered_at = Timestamptz(null=True, default=None)
    anonymised_at = Timestamptz(null=True, default=None)  # retention (docs/retention.md)


class PublishedList(Table, tablename="published_list"):
    """A digest of a list as published on a board, so a printout can be checked."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    org_path = Varchar(length=80, index=True)
    kind = Varchar(length=16)  # notice | recipients
    digest = Varchar(length=64, index=True)
    item_count = Integer()
    content = Text()
    published_at = Timestamptz()


class NearRelativeFiling(Table, tablename="near_relative_filing"):
    """近亲属备案: an applicant household related to relief staff or cadres."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    staff = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    relative_name = Varchar(length=60)
    relation = Varchar(length=40)
    note = Varchar(length=300, default="")
    recorded_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    recorded_at = Timestamptz()


# --- the bot front door ----------------------------------------------------


class BotChat(Table, tablename="bot_chat"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    chat_id = BigInt(unique=True)
    language = Varchar(length=8, default="zh_Hans")
    blocked = Boolean(default=False)
    created_at = Timestamptz()


class BindToken(Table, tablename="bind_token"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    token = Varchar(length=64, unique=True)
    application = ForeignKey(Application, on_delete=OnDelete.restrict)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    used_by_chat = BigInt(null=True, default=None)


class BotBinding(Table, tablename="bot_binding"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    chat_id = BigInt(index=True)
    application = ForeignKey(Application, on_delete=OnDelete.restrict)
    active = Boolean(default=True)
    bound_at = Timestamptz()
    unbound_at = Timestamptz(null=True, default=None)


class PreApplication(Table, tablename="pre_application"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    chat_id = BigInt(index=True)
    community = ForeignKey(OrgUnit, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    name = Varchar(length=60)
    phone_sealed = Text(default="")
    phone_index = Varchar(length=32, default="", index=True)
    category = Varchar(length=16)
    description = Text(default="")
    status = Varchar(length=12, index=True)  # new | taken | closed
    application = ForeignKey(Application, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    anonymised_at = Timestamptz(null=True, default=None)  # retention (docs/retention.md)


class OutboxMessage(Table, tablename="outbox_message"):
    """Transactional outbox: written with the event, sent by a worker, never twice."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    chat_id = BigInt(index=True)  # a Telegram chat, or an SMS row's lane (core/sms.py: one per phone)
    kind = Varchar(length=30)
    text = Text()
    dedupe_key = Varchar(length=120, unique=True)
    # pending | sending | sent | failed | blocked | opted_out | unreachable (no channel: docs/sms.md)
    status = Varchar(length=12, index=True)
    channel = Varchar(length=8, default="telegram")  # telegram | sms | none
    phone_sealed = Text(default="")  # an SMS row's destination (sealed like every phone)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(index=True)
    last_error = Varchar(length=300, default="")
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)


class SmsOptOut(Table, tablename="sms_opt_out"):
    """Phones that replied "退订": no SMS until they reply "订阅" (docs/sms.md)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    phone_index = Varchar(length=32, unique=True)
    opted_out = Boolean(default=True)
    changed_at = Timestamptz()


# --- analytics: targeting monitor -----------------------------------------


class ReverificationSample(Table, tablename="reverification_sample"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    org_path = Varchar(length=80, index=True)
    seed = BigInt()
    size_active = Integer()
    size_rejected = Integer()
    drawn_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    drawn_at = Timestamptz()


class SampleItem(Table, tablename="sample_item"):
    id: Serial  # declared for type checkers; Piccolo adds the primary key
    sample = ForeignKey(ReverificationSample, on_delete=OnDelete.restrict)
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    sample_group = Varchar(length=12)  # active | rejected
    visit = ForeignKey(Visit, null=True, on_delete=OnDelete.restrict)
    finding = Varchar(length=12, default="")  # eligible | ineligible


class AccessLogEntry(Table, tablename="access_log"):
    """Reads of personal data (files, ledgers, photos, cards, ID searches, exports).

    Separate from the audit chain, which records changes. Written in batches
    off the request path (services/access_log.py).
    """

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    at = Timestamptz(index=True)
    staff = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict, index=True)
    actor_label = Varchar(length=80)
    action = Varchar(length=30, index=True)
    entity_type = Varchar(length=30)
    entity_id = BigInt(null=True, default=None)
    household_id = BigInt(null=True, default=None, index=True)
    org_path = Varchar(length=80, index=True)
    purpose = Varchar(length=200, default="")
    detail = Varchar(length=200, default="")


# --- going live: rules as data, the holiday calendar, org unit history ------


class RuleValue(Table, tablename="rule_value"):
    """A tunable rule (deadline in working days, 公示 length, review interval, 渐退 window)
    with the date it applies from; the newest row not after a day is the one in force."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    key = Varchar(length=40, index=True)
    value = Integer()
    effective_from = Date()
    note = Text(default="")
    created_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()


class CalendarDay(Table, tablename="calendar_day"):
    """A public holiday (休) or an adjusted working weekend day (调休 班) of the official calendar."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    day = Date(unique=True)
    kind = Varchar(length=8)  # holiday | workday
    name = Varchar(length=60, default="")
    updated_at = Timestamptz()


class OrgUnitVersion(Table, tablename="org_unit_version"):
    """What a unit was called and where it hung between two dates (old reports show old names)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    org_unit = ForeignKey(OrgUnit, on_delete=OnDelete.restrict)
    code = Varchar(length=12, index=True)
    name = Varchar(length=100)
    path = Varchar(length=80, index=True)
    valid_from = Date()
    valid_to = Date(null=True, default=None)  # exclusive; None: still current
    change = Varchar(length=12, default="")  # rename | reparent | merge | deactivate
    merged_into = ForeignKey(OrgUnit, null=True, on_delete=OnDelete.restrict)


class RecoveryCode(Table, tablename="recovery_code"):
    """Single-use second-factor recovery codes, stored as SHA-256 hashes."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    staff_id = Integer(index=True)
    code_hash = Varchar(length=64, index=True)
    created_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


# --- hardening: audit checkpoints, bot updates seen -----------------------


class AuditCheckpoint(Table, tablename="audit_checkpoint"):
    """A published head of the audit chain (also appended to a file outside the database)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    seq = BigInt(index=True)
    head_hash = Varchar(length=64)
    at = Timestamptz(index=True)
    kind = Varchar(length=12, default="checkpoint")  # checkpoint | reanchor
    note = Text(default="")
    old_head_hash = Varchar(length=64, default="")
    mac = Varchar(length=64)


class BotUpdateSeen(Table, tablename="bot_update_seen"):
    """Telegram update ids already processed: a redelivered update is dropped."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    update_id = BigInt(unique=True)
    received_at = Timestamptz(index=True)


# --- reviews that decide, 先行救助 (docs/reviews-and-aid.md) ------------------


class ReviewDecision(Table, tablename="review_decision"):
    """What a periodic review (复核) decided: continue, adjust the amount, exit, or 渐退."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    visit = ForeignKey(Visit, null=True, on_delete=OnDelete.restrict)  # unique per visit (enforced in code)
    application = ForeignKey(Application, on_delete=OnDelete.restrict)
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    decision = Varchar(length=16, index=True)  # continue | adjust | exit | gradual_exit
    exit_reason = Varchar(length=24, default="")
    reason = Text(default="")
    old_amount_fen = BigInt(default=0)
    new_amount_fen = BigInt(default=0)
    plan = ForeignKey(Plan, null=True, on_delete=OnDelete.restrict)  # the re-drafted plan of an adjustment
    taper_until = Varchar(length=7, default="", index=True)  # YYYY-MM: last month of a 渐退 window
    taper_finished_at = Timestamptz(null=True, default=None)
    decided_on = Date(index=True)
    decided_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    decided_at = Timestamptz()


class EmergencyGrant(Table, tablename="emergency_grant"):
    """Temporary relief granted first (先行救助); the 公示 and the full review follow."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    application = ForeignKey(Application, on_delete=OnDelete.restrict)
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    plan_line = ForeignKey(PlanLine, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    amount_fen = BigInt()
    granted_on = Date()
    reason = Text(default="")
    client_token = Varchar(length=40, null=True, default=None, unique=True)  # a retried form grants once
    granted_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    granted_at = Timestamptz()


# --- work that happens on time (services/scheduler.py) -----------------------


class ScheduledRun(Table, tablename="scheduled_run"):
    """One daily task on one local day: done once; a failure is retried at the next tick."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    run_key = Varchar(length=90, unique=True)  # "<task>@<YYYY-MM-DD>"
    task = Varchar(length=60, index=True)
    day = Date(index=True)
    status = Varchar(length=12, index=True)  # running | done | failed
    attempts = Integer(default=0)
    done_count = Integer(default=0)  # how much the task did
    error = Text(default="")
    started_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    duration_ms = Integer(default=0)


class SchedulerLease(Table, tablename="scheduler_lease"):
    """Named locks on SQLite (services/locks.py: the tick, a retention run): whoever holds an
    unexpired lease of a name holds its lock (PostgreSQL uses an advisory lock instead)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    name = Varchar(length=40, unique=True)
    holder = Varchar(length=40, default="")
    expires_epoch = BigInt(default=0)  # wall-clock seconds: a lease is about real time, not the case clock


class DeadlineAlert(Table, tablename="deadline_alert"):
    """A review or investigation found overdue, raised once per deadline for the station and
    liaison of its community; cleared when the work is done (dashboards count the open ones)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    alert_key = Varchar(length=80, unique=True)  # "<kind>:<entity id>@<due day>"
    kind = Varchar(length=20, index=True)  # review | investigation
    entity_type = Varchar(length=20)  # visit | application
    entity_id = BigInt(index=True)
    household_id = BigInt(index=True)
    org_path = Varchar(length=80, index=True)
    due_on = Date()
    raised_on = Date(index=True)
    cleared_on = Date(null=True, default=None, index=True)


# --- the quarterly assessment (docs/assessment.md) ------------------------------------


class AssessmentWeight(Table, tablename="assessment_weight"):
    """The weight the city gives one assessment indicator from a date on (like a rule value)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    key = Varchar(length=40, index=True)
    weight = Integer()
    effective_from = Date()
    note = Text(default="")
    created_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()


# --- relief departments and referrals (docs/departments.md) ---------------------------------


class Referral(Table, tablename="referral"):
    """A request taken at one window and referred to the department that owns it."""

    id: Serial

    household = ForeignKey(Household, on_delete=OnDelete.restrict, index=True)
    application = ForeignKey(Application, null=True, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)  # the household's
    from_unit = ForeignKey(OrgUnit, on_delete=OnDelete.restrict)
    to_unit = ForeignKey(OrgUnit, on_delete=OnDelete.restrict, index=True)  # the department
    category = Varchar(length=16, choices=Category)
    status = Varchar(length=16, index=True)  # core.enums.ReferralStatus
    due_on = Date(index=True)  # the working-day deadline for the department's decision
    request = Text(default="")  # what the applicant asks for
    info_request = Text(default="")  # what the department asked the referrer for
    created_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    answered_at = Timestamptz(null=True, default=None)  # first accept, question or decision
    decided_at = Timestamptz(null=True, default=None)
    decision = Varchar(length=10, default="")  # granted | refused | ""
    reason = Text(default="")
    granted_fen = BigInt(default=0)
    aid_record = Integer(null=True, default=None)  # the AidRecord of granted relief
    referred_from = Integer(null=True, default=None)  # the referral this one was referred on from
    escalated_at = Timestamptz(null=True, default=None)
    escalated_to = ForeignKey(OrgUnit, null=True, on_delete=OnDelete.restrict)  # the centre told
    version = Integer(default=1)


class DepartmentToken(Table, tablename="department_token"):
    """A read-only API token of one department; only its SHA-256 is stored."""

    id: Serial

    org_unit = ForeignKey(OrgUnit, on_delete=OnDelete.restrict, index=True)
    staff = ForeignKey(Staff, on_delete=OnDelete.restrict)  # the department's API account
    token_hash = Varchar(length=64, unique=True)
    label = Varchar(length=100, default="")
    created_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


class SendSlot(Table, tablename="send_slot"):
    """The next free send slot of a shared rate (e.g. Telegram's global 30 messages a
    second), in the database server's epoch seconds: every outbox sender of every process
    reserves its slot here with one atomic UPDATE (PostgreSQL; SQLite paces in process)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    name = Varchar(length=40, unique=True)
    next_at = DoublePrecision(default=0.0)


class ChatSendSlot(Table, tablename="chat_send_slot"):
    """The earliest moment a chat may receive its next message (Telegram's 1 message a
    second per chat), shared by every sender like :class:`SendSlot`."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    chat_id = BigInt(unique=True)
    next_at = DoublePrecision(default=0.0, index=True)


class RateCounter(Table, tablename="rate_counter"):
    """Public rate limits shared by every app process (PostgreSQL): hits of one limit and
    client address in the current fixed window, counted with atomic upserts."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    bucket = Varchar(length=120, unique=True)  # "<limit>:<client address>"
    window_start = BigInt(default=0)  # epoch seconds, a multiple of the window length
    hits = Integer(default=0)


class JobFile(Table, tablename="job_file"):
    """A file a background job produced (a caseload import's validation report), kept in the
    database on PostgreSQL so the web process of any machine can serve what a worker wrote."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key

    job = ForeignKey(Job, on_delete=OnDelete.cascade, index=True)
    name = Varchar(length=120)
    data = Bytea()


class HouseholdRank(Table, tablename="household_rank"):
    """A household's key in the ranking of one scope (docs/scale.md, "Stored ranks").

    One row per (scope, category) the household ranks in: every org path above
    and at its community, with category "" (all) and each category it has a
    ranked application in. Maintained by the recompute and the bulk rescores
    (services/rank_store.py); the ranking page walks the key index and counts
    the rows before a page for its ranks.
    """

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    scope = Varchar(length=80)
    category = Varchar(length=24, default="")
    household = Integer(index=True)
    neg_centi = Integer()  # −index in hundredths: the first part of the order
    first_applied = Varchar(length=10)  # ISO date of the first application
    file_no = Varchar(length=24)


class HouseholdRankTally(Table, tablename="household_rank_tally"):
    """How many households rank in one (scope, category): the ranking page's total and
    page count in one look-up, kept by services/rank_store.py with the rows it counts."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    scope = Varchar(length=80)
    category = Varchar(length=24, default="")
    size = Integer()


class CacheVersion(Table, tablename="cache_version"):
    """One row per process cache of reference data: bumped in the transaction that
    changes the data, read by every process at most once a second (services/refcache.py)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    name = Varchar(length=40, unique=True)
    version = BigInt(default=0)


# --- data checks with other agencies (docs/datacheck.md) --------------------------------------------


class DataCheckConsent(Table, tablename="datacheck_consent"):
    """The applicant's authorisation for data checks, recorded with its date and who recorded it;
    per application, or for the household (``application`` empty: the periodic re-checks)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    household = ForeignKey(Household, on_delete=OnDelete.restrict, index=True)
    application = ForeignKey(Application, null=True, on_delete=OnDelete.restrict, index=True)
    org_path = Varchar(length=80, index=True)
    authorised = Boolean(default=True)  # False once revoked
    authorised_on = Date()
    recorded_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    recorded_at = Timestamptz()
    signed_by = ForeignKey(Member, null=True, on_delete=OnDelete.restrict)  # the member who signed
    agencies = Varchar(length=400, default="")  # the agencies it covers, comma-separated; "" = all
    document_ref = Varchar(length=200, default="")  # where the signed form's photo or scan is kept
    revoked_at = Timestamptz(null=True, default=None)
    revoked_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    revoke_reason = Text(default="")


class DataCheckBatch(Table, tablename="datacheck_batch"):
    """One file sent to one agency; its results come back as one file, whole or not at all."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    agency = Varchar(length=32, index=True)
    org_path = Varchar(length=80, index=True)  # the exporting centre's jurisdiction
    persons = Integer(default=0)
    status = Varchar(length=12, default="exported")  # exported | answered
    exported_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    exported_at = Timestamptz()
    answered_at = Timestamptz(null=True, default=None)


class DataCheckRequest(Table, tablename="datacheck_request"):
    """One person asked of one agency, for an application or a recipient re-check; answered when
    the result arrives (the result columns)."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    household = ForeignKey(Household, on_delete=OnDelete.restrict, index=True)
    application = ForeignKey(Application, null=True, on_delete=OnDelete.restrict, index=True)
    member = ForeignKey(Member, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    agency = Varchar(length=32, index=True)
    purpose = Varchar(length=12, default="application")  # application | recheck
    batch = ForeignKey(DataCheckBatch, null=True, on_delete=OnDelete.restrict, index=True)
    requested_at = Timestamptz()
    answered_at = Timestamptz(null=True, default=None)
    found = Boolean(null=True, default=None)
    found_count = Integer(null=True, default=None)
    amount_fen = BigInt(null=True, default=None)
    detail = Varchar(length=200, default="")
    changed = Boolean(default=False)  # a re-check result that differs from the file: for review
    reviewed_at = Timestamptz(null=True, default=None)


class DataCheckWarning(Table, tablename="datacheck_warning"):
    """An exclusion warning raised by a rule on a data-check result, with its numbers."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    household = ForeignKey(Household, on_delete=OnDelete.restrict, index=True)
    application = ForeignKey(Application, null=True, on_delete=OnDelete.restrict, index=True)
    request = ForeignKey(DataCheckRequest, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    code = Varchar(length=30)
    numbers = Text(default="{}")  # JSON: what the rule compared
    raised_at = Timestamptz()


class DataCheckWaiver(Table, tablename="datacheck_waiver"):
    """Why an opinion was given without a complete data-check report."""

    id: Serial  # declared for type checkers; Piccolo adds the primary key
    application = ForeignKey(Application, on_delete=OnDelete.restrict, index=True)
    org_path = Varchar(length=80, index=True)
    reason = Text()
    recorded_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    recorded_at = Timestamptz()
