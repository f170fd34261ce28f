"""Lighter index writes: drop indexes no query can seek.

A full re-score writes one index_record per household and updates every
household's current index. index_record.org_path is only ever matched with a
prefix LIKE (which neither engine seeks through a plain b-tree index),
index_record.as_of is never filtered on, and household.current_index is
never sorted or filtered in SQL — yet each index cost every bulk write time.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Date, Varchar

ID = "2026-11-27T16:11:01:701796"
VERSION = "1.38.0"
DESCRIPTION = "lighter index_record writes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    manager.alter_column(
        table_class_name="IndexRecord",
        tablename="index_record",
        column_name="org_path",
        db_column_name="org_path",
        params={"index": False},
        old_params={"index": True},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    manager.alter_column(
        table_class_name="IndexRecord",
        tablename="index_record",
        column_name="as_of",
        db_column_name="as_of",
        params={"index": False},
        old_params={"index": True},
        column_class=Date,
        old_column_class=Date,
        schema=None,
    )

    async def drop_current_index():
        from relief_pwa.piccolo_conf import DB

        await DB.run_ddl("DROP INDEX IF EXISTS ix_household_current_index")

    manager.add_raw(drop_current_index)

    return manager
