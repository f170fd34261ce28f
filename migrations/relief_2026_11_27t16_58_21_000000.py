"""Move every index record's snapshot into index_snapshot, keyed by its digest.

Digest: BLAKE2b-128 of the UTF-8 body, in hex (as relief_pwa.services.scoring
computes it). Runs in batches of ids; identical bodies are stored once.
"""

import hashlib

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.querystring import QueryString

ID = "2026-11-27T16:58:21:000000"
VERSION = "1.38.0"
DESCRIPTION = "move index snapshots to index_snapshot"
BATCH = 500


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def move_snapshots():
        from relief_pwa.piccolo_conf import DB

        last_id = 0
        while True:
            rows = await DB.run_querystring(
                QueryString(
                    "SELECT id, snapshot FROM index_record WHERE id > {} ORDER BY id LIMIT {}", last_id, BATCH
                )
            )
            if not rows:
                return
            digests = {}
            for row in rows:
                body = row["snapshot"] or ""
                digests[int(row["id"])] = (hashlib.blake2b(body.encode(), digest_size=16).hexdigest(), body)
            bodies = {digest: body for digest, body in digests.values()}
            await DB.run_querystring(
                QueryString(
                    "INSERT INTO index_snapshot (digest, body) VALUES "
                    + ", ".join("({}, {})" for _ in bodies)
                    + " ON CONFLICT DO NOTHING",
                    *[value for pair in bodies.items() for value in pair],
                )
            )
            # ids are integers and digests hex: safe to spell out
            cases = " ".join(
                f"WHEN {record_id} THEN '{digest}'" for record_id, (digest, _) in digests.items()
            )
            ids = ", ".join(str(record_id) for record_id in digests)
            await DB.run_ddl(
                f"UPDATE index_record SET snapshot_digest = CASE id {cases} END WHERE id IN ({ids})"
            )
            last_id = max(digests)

    manager.add_raw(move_snapshots)
    return manager
