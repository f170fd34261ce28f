from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T01:58:20:039692"
VERSION = "1.38.0"
DESCRIPTION = "sealed identifiers: drop the plain-text columns"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def drop_indexes():
        # SQLite refuses to drop an indexed column; raw steps run before the drops.
        from relief_pwa.piccolo_conf import DB

        for name in (
            "household_head_id_number",
            "household_phone",
            "household_onecard_account",
            "member_id_number",
        ):
            await DB.run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(drop_indexes)

    manager.drop_column(
        table_class_name="Household",
        tablename="household",
        column_name="head_id_number",
        db_column_name="head_id_number",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Household",
        tablename="household",
        column_name="onecard_account",
        db_column_name="onecard_account",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Household",
        tablename="household",
        column_name="phone",
        db_column_name="phone",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Member",
        tablename="member",
        column_name="id_number",
        db_column_name="id_number",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Member",
        tablename="member",
        column_name="phone",
        db_column_name="phone",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Objection",
        tablename="objection",
        column_name="contact_phone",
        db_column_name="contact_phone",
        schema=None,
    )

    manager.drop_column(
        table_class_name="PreApplication",
        tablename="pre_application",
        column_name="phone",
        db_column_name="phone",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Staff",
        tablename="staff",
        column_name="phone",
        db_column_name="phone",
        schema=None,
    )

    return manager
