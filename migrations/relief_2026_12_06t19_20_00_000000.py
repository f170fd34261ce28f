"""PostgreSQL: a street's and a community's newest applications, walked in order.

A station's case list asked for the 26 newest applications under its street's path
prefix: the prefix index finds them, but not in date order, so every application of
the street was read and sorted (docs/scale.md, "Case list: keyset pages, bounded
counts"). These indexes lead with the street's (third path segment) or community's
(fourth) code and continue in (received_on, id): the page walks 26 entries whatever
the street's size.
SQLite keeps walking its range of the scope index.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T19:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "PostgreSQL: street and community indexes of applications, newest first"

INDEXES = (("application_street_newest", 3), ("application_community_newest", 4))


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def unit_indexes():
        from relief_pwa.piccolo_conf import DB

        if DB.engine_type != "postgres":
            return
        for name, level in INDEXES:
            await DB.run_ddl(
                f"CREATE INDEX IF NOT EXISTS {name} ON application"
                f" (split_part(org_path, '/', {level}), received_on, id)"
            )

    manager.add_raw(unit_indexes)
    return manager
