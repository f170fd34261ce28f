"""Seal every identifier already stored in plain text (ID numbers, phones, one-card accounts).

Each value is sealed under the current data key with its blind index
(services/identifiers.py); the plain-text columns are dropped by the next
migration. Runs in batches; a database without rows does nothing.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T01:58:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "seal plain-text identifiers"

BATCH = 2000
# table, id column, [(plain column, sealed column, index column or None, kind)]
FIELDS = (
    (
        "household",
        [
            ("head_id_number", "head_id_sealed", "head_id_index", "id_number"),
            ("phone", "phone_sealed", "phone_index", "phone"),
            ("onecard_account", "account_sealed", "account_index", "account"),
        ],
    ),
    (
        "member",
        [
            ("id_number", "id_sealed", "id_index", "id_number"),
            ("phone", "phone_sealed", "phone_index", "phone"),
        ],
    ),
    ("staff", [("phone", "phone_sealed", "phone_index", "phone")]),
    ("objection", [("contact_phone", "contact_phone_sealed", None, "phone")]),
    ("pre_application", [("phone", "phone_sealed", "phone_index", "phone")]),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def run():
        from piccolo.querystring import QueryString

        from relief_pwa.piccolo_conf import DB
        from relief_pwa.services.identifiers import sealed

        for table, fields in FIELDS:
            plain = ", ".join(f[0] for f in fields)
            last_id = 0
            while True:
                rows = await DB.run_querystring(
                    QueryString(
                        f"SELECT id, {plain} FROM {table} WHERE id > {{}} ORDER BY id LIMIT {BATCH}", last_id
                    )
                )
                if not rows:
                    break
                for row in rows:
                    assignments, values = [], []
                    for column, sealed_column, index_column, kind in fields:
                        text, index = sealed(kind, str(row[column] or ""))
                        values.append(text)
                        assignments.append(f"{sealed_column} = {{}}")
                        if index_column:
                            values.append(index)
                            assignments.append(f"{index_column} = {{}}")
                    values.append(row["id"])
                    await DB.run_querystring(
                        QueryString(f"UPDATE {table} SET {', '.join(assignments)} WHERE id = {{}}", *values)
                    )
                last_id = rows[-1]["id"]

    manager.add_raw(run)
    return manager
