"""Stored ranks keep each household's key, not a rank number; partition sizes in a tally.

A rank number stored with every row had to change for every household between a
moving household's old and new place (docs/scale.md, "Stored ranks"). The rows now
keep only the key; the ranking page counts the rows before a page, and
``household_rank_tally`` keeps each (scope, category)'s size. The rows and the
tallies are then filled afresh.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Varchar
from piccolo.table import Table

ID = "2026-12-06T18:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "stored ranks: keys only, partition sizes in household_rank_tally"


class HouseholdRankTally(Table, tablename="household_rank_tally"):
    scope = Varchar(length=80)
    category = Varchar(length=24, default="")
    size = Integer()


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def keys_not_ranks():
        from relief_pwa.piccolo_conf import DB

        await DB.run_ddl("DROP INDEX IF EXISTS household_rank_by_rank")
        await DB.run_ddl("ALTER TABLE household_rank DROP COLUMN rank")
        await HouseholdRankTally.create_table(if_not_exists=True)
        await DB.run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS household_rank_tally_partition"
            " ON household_rank_tally (scope, category)"
        )

    async def fill_ranks():
        from relief_pwa.db import write_transaction
        from relief_pwa.piccolo_conf import DB
        from relief_pwa.services.rank_store import rebuild_all

        if DB.current_transaction.get() is not None:  # the migration's own transaction
            await rebuild_all()
            return
        async with write_transaction(DB):
            await rebuild_all()

    manager.add_raw(keys_not_ranks)
    manager.add_raw(fill_ranks)
    return manager
