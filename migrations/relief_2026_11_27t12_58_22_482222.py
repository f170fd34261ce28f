"""Indexes on the household foreign keys the relief index reads per household.

Raw DDL (CREATE INDEX IF NOT EXISTS works on SQLite and PostgreSQL) so the
table definitions stay untouched: without these, recomputing one household's
index scans the whole member, money-item and application tables.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-27T12:58:22:482222"
VERSION = "1.38.0"
DESCRIPTION = "household foreign-key indexes for the relief index"

INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_member_household ON member (household)",
    "CREATE INDEX IF NOT EXISTS ix_money_item_household ON money_item (household)",
    "CREATE INDEX IF NOT EXISTS ix_application_household ON application (household)",
    "CREATE INDEX IF NOT EXISTS ix_shock_household ON shock (household)",
    "CREATE INDEX IF NOT EXISTS ix_aid_record_household ON aid_record (household, received_on)",
    "CREATE INDEX IF NOT EXISTS ix_index_record_household ON index_record (household, computed_at)",
    "CREATE INDEX IF NOT EXISTS ix_household_current_index ON household (current_index)",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def run():
        from relief_pwa.piccolo_conf import DB

        for statement in INDEXES:
            await DB.run_ddl(statement)

    manager.add_raw(run)

    return manager
