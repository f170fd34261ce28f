"""Fill application.found_on and payment_line.provider; index paid lines for the dashboards.

found_on: the local (Beijing) day of the first finding event in the audit trail.
provider: the provider of the resource the line's plan line draws on.
The index lets SQLite sum paid lines by area, fund and provider in index order
(no sort of every line); PostgreSQL uses it for the status and area filter.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-27T16:48:11:000000"
VERSION = "1.38.0"
DESCRIPTION = "fill application found_on and payment_line provider"

_FIRST_FINDING = (
    "SELECT MIN(e.at) FROM audit_event e WHERE e.entity_type = 'application' "
    "AND e.entity_id = application.id "
    "AND e.action IN ('application.find_eligible', 'application.find_ineligible')"
)
_PROVIDER = "SELECT r.provider FROM plan_line l JOIN resource r ON r.id = l.resource WHERE l.id = payment_line.plan_line"
PAID_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_payment_line_paid "
    "ON payment_line (status, org_path, fund, provider, paid_at, amount_fen)"
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def fill():
        from relief_pwa.piccolo_conf import DB

        if DB.engine_type == "postgres":
            day = f"(({_FIRST_FINDING}) AT TIME ZONE 'Asia/Shanghai')::date"
        else:
            day = f"date(({_FIRST_FINDING}), '+8 hours')"
        await DB.run_ddl(f"UPDATE application SET found_on = {day} WHERE found_on IS NULL")
        await DB.run_ddl(f"UPDATE payment_line SET provider = ({_PROVIDER}) WHERE provider IS NULL")
        await DB.run_ddl(PAID_INDEX)

    manager.add_raw(fill)
    return manager
