"""Drop index_record.snapshot: its contents now live in index_snapshot (previous migration)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-27T16:58:22:000000"
VERSION = "1.38.0"
DESCRIPTION = "drop index_record snapshot"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    manager.drop_column(
        table_class_name="IndexRecord",
        tablename="index_record",
        column_name="snapshot",
        db_column_name="snapshot",
        schema=None,
    )

    return manager
