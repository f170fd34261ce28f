"""PostgreSQL: the job queue's tables (pgqueuer; docs/scale.md).

The web processes queue background work and ``relief-pwa worker`` takes it,
so the queue's tables must exist as soon as the app runs. pgqueuer creates
them itself (``Queries.install``); each worker brings them up to its version
at start (``Queries.upgrade``). SQLite runs its jobs in the app: nothing to do.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T05:40:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "job queue tables (PostgreSQL)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def run():
        from relief_pwa.piccolo_conf import DB

        if DB.engine_type == "postgres":
            from relief_pwa.services.queue import install_schema

            await install_schema()

    async def run_backwards():
        from relief_pwa.piccolo_conf import DB

        if DB.engine_type == "postgres":
            from pgqueuer import AsyncpgDriver, Queries

            connection = await DB.get_new_connection()
            try:
                await Queries(AsyncpgDriver(connection)).uninstall()
            finally:
                await connection.close()

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
