"""Seal every staff TOTP secret stored in plain base32 (the next migration drops that column).

Each secret is sealed under the current data key as kind ``totp``
(services/identifiers.py); a database without enrolled staff does nothing.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T04:04:19:000000"
VERSION = "1.38.0"
DESCRIPTION = "seal staff TOTP secrets"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def run():
        from piccolo.querystring import QueryString

        from relief_pwa.piccolo_conf import DB
        from relief_pwa.services.identifiers import sealed_totp

        rows = await DB.run_querystring(
            QueryString("SELECT id, totp_secret FROM staff WHERE totp_secret <> '' AND totp_sealed = ''")
        )
        for row in rows:
            await DB.run_querystring(
                QueryString(
                    "UPDATE staff SET totp_sealed = {} WHERE id = {}",
                    sealed_totp(row["totp_secret"]),
                    row["id"],
                )
            )

    manager.add_raw(run)
    return manager
