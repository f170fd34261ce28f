from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T04:03:51:000000"
VERSION = "1.38.0"
DESCRIPTION = "facts over time: existing rows valid from their file's creation; indexes by household"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def backfill():
        from relief_pwa.piccolo_conf import DB

        # Existing versions start with their household's file (the first application's
        # received date, else the file's creation day); rows already inactive ended on
        # the household's last update, the best date the old schema kept.
        if DB.engine_type == "sqlite":
            created, updated = "SUBSTR(h.created_at, 1, 10)", "SUBSTR(h.updated_at, 1, 10)"
        else:
            created, updated = "CAST(h.created_at AS DATE)", "CAST(h.updated_at AS DATE)"
        for table in ("member", "money_item"):
            await DB.run_ddl(
                f"UPDATE {table} SET valid_from = COALESCE("
                "(SELECT MIN(a.received_on) FROM application a WHERE a.household = "
                f"{table}.household), (SELECT {created} FROM household h"
                f" WHERE h.id = {table}.household)) WHERE valid_from IS NULL"
            )
            await DB.run_ddl(
                f"UPDATE {table} SET valid_to = (SELECT {updated} FROM household h"
                f" WHERE h.id = {table}.household) WHERE active = FALSE AND valid_to IS NULL"
            )
            await DB.run_ddl(
                f"CREATE INDEX IF NOT EXISTS {table}_household_validity ON {table} (household, valid_to)"
            )
        await DB.run_ddl("UPDATE member SET lineage = id WHERE lineage = 0")

    manager.add_raw(backfill)
    return manager
