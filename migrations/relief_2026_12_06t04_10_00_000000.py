"""PostgreSQL: leave half of each household page free, so a re-score's update is HOT.

A full re-score rewrites every open household's current index. Those columns
carry no index, so PostgreSQL can update each row in place on its page
(a HOT update) and skip the table's eight indexes, but only when the page has
room for the new version: at the default fill factor the 52,000-row update
took 3.5 s, at 50 it takes 0.5 s (docs/scale.md). New pages follow the setting
at once; existing pages as rows move, or at once after ``VACUUM FULL household``
in a maintenance window. SQLite has no such setting: nothing to do there.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T04:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "household fill factor for HOT re-score updates"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def run():
        from relief_pwa.piccolo_conf import DB

        if DB.engine_type == "postgres":
            await DB.run_ddl("ALTER TABLE household SET (fillfactor = 50)")

    async def run_backwards():
        from relief_pwa.piccolo_conf import DB

        if DB.engine_type == "postgres":
            await DB.run_ddl("ALTER TABLE household RESET (fillfactor)")

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
