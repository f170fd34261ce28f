"""Open an entitlement period for every application already paying (active or under
review), from the month it was decided, so payments continue unchanged after the
upgrade (docs/lifecycle.md). Runs after the table exists; a second run adds nothing."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T05:10:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "entitlement periods of current recipients"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def backfill():
        from datetime import date, datetime, timezone

        from piccolo.querystring import QueryString

        from relief_pwa.piccolo_conf import DB

        rows = await DB.run_querystring(
            QueryString(
                "SELECT id, household, org_path, category, decided_on, received_on FROM application "
                "WHERE state IN ('active', 'under_review') AND id NOT IN (SELECT application FROM entitlement)"
            )
        )
        now = datetime.now(timezone.utc)
        for row in rows:
            day = row["decided_on"] or row["received_on"]
            if isinstance(day, str):
                day = date.fromisoformat(day[:10])
            await DB.run_querystring(
                QueryString(
                    "INSERT INTO entitlement (application, household, org_path, category, from_month, "
                    "to_month, opened_on, closed_on, opened_by, closed_by, open_reason, close_reason, "
                    "exit_reason, created_at) VALUES ({}, {}, {}, {}, {}, NULL, {}, NULL, 'migration', '', '', "
                    "'', '', {})",
                    row["id"],
                    row["household"],
                    row["org_path"],
                    row["category"],
                    f"{day.year:04d}-{day.month:02d}",
                    day,
                    now,
                )
            )

    manager.add_raw(backfill)
    return manager
