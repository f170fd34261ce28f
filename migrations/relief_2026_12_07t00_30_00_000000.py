"""How long a household's current index holds with the same facts (core.scoring.points_hold_until).

A re-score on a day inside the range that finds the same snapshot (digest) under
the same model knows the result without computing it (docs/scale.md, "A new
day"). Existing households start without a range: their next scoring sets it.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Date, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T00:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "household: the snapshot and model of its current index, and the days it holds"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)
    columns = (
        ("index_digest", Varchar, {"length": 32}),
        ("index_model_version", Varchar, {"length": 40}),
        ("index_holds_from", Date, {}),
        ("index_holds_until", Date, {}),
    )
    for column, column_class, extra in columns:
        manager.add_column(
            table_class_name="Household",
            tablename="household",
            column_name=column,
            db_column_name=column,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params={
                **extra,
                "default": None,
                "null": True,
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
