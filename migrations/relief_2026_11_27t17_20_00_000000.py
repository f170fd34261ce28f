"""An index for the dashboards' decisions by month (approvals, rejections, exits).

The audit trail's single-column indexes make SQLite either look up every
application event (entity_type) or every row of those actions to read its time
and area; this one answers the query from the index alone.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-27T17:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit index for decisions by month"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def create_index():
        from relief_pwa.piccolo_conf import DB

        await DB.run_ddl(
            "CREATE INDEX IF NOT EXISTS ix_audit_event_decisions "
            "ON audit_event (action, at, org_path, entity_type, entity_id)"
        )

    manager.add_raw(create_index)
    return manager
