"""Piccolo tables, and nothing else: no behaviour lives here.

Conventions (STACK_NOTES.md): money is ``BigInt`` fen; timestamps are
timezone-aware; every row in a jurisdiction carries ``org_path`` (the
materialised path of its org unit, e.g. ``370100/370102/370102001/``) so a
jurisdiction filter is an indexed prefix match; case foreign keys RESTRICT
deletes; ids that come from outside (Telegram) are ``BigInt``.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    OnDelete,
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


class OrgUnit(Table, tablename="org_unit"):
    """City, district/county, street/town or community/village, with its service office."""

    code = Varchar(length=12, unique=True)
    name = Varchar(length=100)
    level = Varchar(length=12, choices=OrgLevel, index=True)
    parent = ForeignKey("self", null=True, on_delete=OnDelete.restrict)
    path = Varchar(length=80, unique=True)
    area_type = Varchar(length=8, choices=AreaType, default=AreaType.URBAN)
    office_name = Varchar(length=120, default="")
    office_address = Varchar(length=200, default="")
    hotline = Varchar(length=40, default="")
    supervision_hotline = Varchar(length=40, default="")
    active = Boolean(default=True)


class Staff(Table, tablename="staff"):
    username = Varchar(length=40, unique=True)
    display_name = Varchar(length=60)
    password_hash = Varchar(length=200)
    role = Varchar(length=16, choices=Role, index=True)
    org_unit = ForeignKey(OrgUnit, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    phone = Varchar(length=20, default="")
    language = Varchar(length=8, default="")
    active = Boolean(default=True)
    created_at = Timestamptz()


class WebSession(Table, tablename="web_session"):
    """Server-side session store: sessions survive a restart and can be revoked."""

    key = Varchar(length=100, unique=True)
    data = Text()
    expires_at = Timestamptz(index=True)


class LoginAttempt(Table, tablename="login_attempt"):
    """Failed logins, for throttling by username and by client address."""

    username = Varchar(length=40, index=True)
    client = Varchar(length=64, index=True)
    at = Timestamptz(index=True)


class Counter(Table, tablename="counter"):
    """Named counters for file and application numbers (atomic increment)."""

    name = Varchar(length=60, unique=True)
    value = BigInt(default=0)


class Household(Table, tablename="household"):
    """The electronic household file (电子档案)."""

    file_no = Varchar(length=24, unique=True)
    org_unit = ForeignKey(OrgUnit, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    address = Varchar(length=200)
    area_type = Varchar(length=8, choices=AreaType)
    housing = Varchar(length=16, choices=Housing)
    head_name = Varchar(length=60, index=True)
    head_id_number = Varchar(length=18, index=True)
    phone = Varchar(length=20, index=True, default="")
    onecard_account = Varchar(length=32, default="", index=True)
    is_open = Boolean(default=True, index=True)
    current_index = Numeric(digits=(5, 2), null=True, default=None)
    index_provisional = Boolean(default=False)
    index_computed_at = Timestamptz(null=True, default=None)
    version = Integer(default=1)
    created_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Member(Table, tablename="member"):
    household = ForeignKey(Household, on_delete=OnDelete.restrict)
    org_path = Varchar(length=80, index=True)
    name = Varchar(length=60, index=True)
    id_number = Varchar(length=18, index=True)
    sex = Varchar(length=8, choices=Sex)
    birth_date = Date()
    relation = Varchar(length=16, choices=Relation)
    disability_grade = Integer(null=True, default=None)
    illness = Varchar(length=12, choices=Illness, default=Illness.NONE)
    work_capacity = Varchar(length=12, choices=WorkCapacity)
    schooling = Varchar(length=16, choices=Schooling)
    phone = Varchar(length=20, default="")
    active = Boolean(default=True)


class MoneyItem(Table, tablename="money_item"):
    """A declared income item (monthly), asset (stock value) or rigid expense (12 months).

    ``verified_fen`` and its source are filled by verification visits: the
    declared-vs-verified ledger is these rows side by side.
    """

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
    active = Boolean(default=True)


class Application(Table, tablename="application"):
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
    reason = Text(default="")
    submitted_by = ForeignKey(Staff, null=True, on_delete=OnDelete.restrict)
    version = Integer(default=1)
    created_at = Timestamptz()


class AuditEvent(Table, tablename="audit_event"):
    """Append-only, hash-chained record of every state change."""

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
