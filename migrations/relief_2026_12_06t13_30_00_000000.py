"""Indexes for the monthly payment run and for following entitlements, per household.

Without them each window of the monthly run (docs/scale.md, "Monthly batch at
scale") read every entitlement period to find its households' periods, and every
suspension or exit read every payment line to find the household's unsent ones:
work that grew with the square of the caseload.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T13:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes for the monthly payment run (entitlement and payment line lookups)"

INDEXES = (
    ("entitlement_household", "entitlement", "household, from_month"),
    ("entitlement_application", "entitlement", "application, from_month"),
    ("payment_line_month_plan_line", "payment_line", "month, plan_line"),
    ("payment_line_household", "payment_line", "household, month"),
    ("payment_line_batch", "payment_line", "batch"),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def payment_run_indexes():
        from relief_pwa.piccolo_conf import DB

        for name, table, columns in INDEXES:
            await DB.run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")

    manager.add_raw(payment_run_indexes)
    return manager
