"""Index records keep their inputs by digest; the inputs are stored once in index_snapshot.

A full re-score (a new model, or the same one again) used to write ~1 KB of
identical facts per household every time. The next migration moves the
existing snapshots over; the one after drops the old column.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-27T16:58:20:741079"
VERSION = "1.38.0"
DESCRIPTION = "index snapshots stored once per content"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    manager.add_table(
        class_name="IndexSnapshot",
        tablename="index_snapshot",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="IndexSnapshot",
        tablename="index_snapshot",
        column_name="digest",
        db_column_name="digest",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 32,
            "default": "",
            "null": False,
            "primary_key": True,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="IndexSnapshot",
        tablename="index_snapshot",
        column_name="body",
        db_column_name="body",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="IndexRecord",
        tablename="index_record",
        column_name="snapshot_digest",
        db_column_name="snapshot_digest",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 32,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
