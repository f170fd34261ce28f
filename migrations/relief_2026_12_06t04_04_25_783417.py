from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T04:04:25:783417"
VERSION = "1.38.0"
DESCRIPTION = "sealed TOTP secret: drop the plain column"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    manager.drop_column(
        table_class_name="Staff",
        tablename="staff",
        column_name="totp_secret",
        db_column_name="totp_secret",
        schema=None,
    )

    return manager
