"""Mask identifiers in audit payloads written before redaction, and key the chain.

Earlier events were hashed with plain SHA-256 and some carried full ID
numbers and phone numbers. This migration first verifies the stored chain as
it was written; only when it is intact does it mask the payloads, re-hash every
event under the audit key (HMAC) and publish a signed ``reanchor`` checkpoint
(in the ``audit_checkpoint`` table and in the checkpoint file outside the
database) that keeps the old head hash. A chain that does not verify is left
untouched and the migration stops, naming the first broken event: rewriting
it would launder the tampering. See docs/audit-trail.md.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T01:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "mask identifiers in audit payloads and key the chain (re-anchor)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="relief", description=DESCRIPTION)

    async def reanchor():
        from datetime import UTC, datetime

        from relief_pwa.services.audit import reanchor_redacted

        result = await reanchor_redacted(now=datetime.now(UTC))
        if result.refused:
            raise RuntimeError(
                "the audit chain does not verify, so its payloads were not masked and it was not re-keyed: "
                + result.refused
            )

    manager.add_raw(reanchor)
    return manager
