"""Indexes for the case list's filters: state and category searched, newest first, in one index walk.

Without them a filtered list reads every application of the state (or category)
and sorts them before taking a page (docs/scale.md, "Case list").
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T10:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "case list filter indexes (state, category, newest first)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def filter_indexes():
        from relief_pwa.piccolo_conf import DB

        for name, columns in (
            ("application_state_newest", "state, received_on, id"),
            ("application_category_newest", "category, received_on, id"),
            ("application_state_category_newest", "state, category, received_on, id"),
        ):
            await DB.run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON application ({columns})")

    manager.add_raw(filter_indexes)
    return manager
