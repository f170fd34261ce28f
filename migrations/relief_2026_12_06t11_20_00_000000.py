"""64-bit keys for the two tables that grow without bound: index records and audit events.

A province (about 1.5 million households) writes an index record per changed
household per day and several audit events per action: past 2^31 rows within
a few years, where a PostgreSQL SERIAL stops. The tables keep Piccolo's implicit
``id`` (so the migration history's schema is unchanged); on PostgreSQL the column
and its sequence become bigint (a rewrite of each table, once). SQLite's integer
keys are 64-bit already (docs/scale.md, "A province").
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T11:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "64-bit keys for index records and audit events (PostgreSQL)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def widen_keys():
        from relief_pwa.piccolo_conf import DB

        if DB.engine_type != "postgres":
            return
        for table in ("index_record", "audit_event"):
            await DB.run_ddl(f"ALTER TABLE {table} ALTER COLUMN id TYPE bigint")
            await DB.run_ddl(
                "DO $$ BEGIN EXECUTE format('ALTER SEQUENCE %s AS bigint',"
                f" pg_get_serial_sequence('{table}', 'id')); END $$"
            )

    manager.add_raw(widen_keys)
    return manager
