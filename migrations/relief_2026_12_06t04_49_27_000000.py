"""Indexes for stored ranks and the case list's keyset, the cache version rows, and the first numbering.

Composite indexes are raw DDL (the table definitions declare single columns only).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T04:49:27:000000"
VERSION = "1.38.0"
DESCRIPTION = "stored rank and case list indexes; cache version rows; first ranks"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def composite_indexes():
        from relief_pwa.piccolo_conf import DB

        # The ranking page reads by rank; the recompute finds a key's place (docs/scale.md).
        await DB.run_ddl(
            "CREATE INDEX IF NOT EXISTS household_rank_by_rank ON household_rank (scope, category, rank)"
        )
        await DB.run_ddl(
            "CREATE INDEX IF NOT EXISTS household_rank_by_key ON household_rank"
            " (scope, category, neg_centi, first_applied, file_no, household)"
        )
        # The case list pages newest first by (received_on, id) with a keyset.
        await DB.run_ddl("CREATE INDEX IF NOT EXISTS application_newest ON application (received_on, id)")
        await DB.run_ddl(
            "CREATE INDEX IF NOT EXISTS application_scope_newest ON application (org_path, received_on, id)"
        )
        if DB.engine_type == "postgres":
            # A jurisdiction is a prefix match (org_path LIKE 'a/b/%'): PostgreSQL uses a btree
            # for LIKE only with pattern operators outside the C collation.
            for table in ("application", "household"):
                await DB.run_ddl(
                    f"CREATE INDEX IF NOT EXISTS {table}_org_path_prefix"
                    f" ON {table} (org_path varchar_pattern_ops)"
                )
        for name in ("org_tree",):
            await DB.run_ddl(
                f"INSERT INTO cache_version (name, version) VALUES ('{name}', 1)"
                " ON CONFLICT (name) DO NOTHING"
            )

    manager.add_raw(composite_indexes)

    # The first numbering moved to migration 2026-12-06T18:40:00, which gives the table its
    # final shape first: this one would run today's rank_store against yesterday's table.
    return manager
