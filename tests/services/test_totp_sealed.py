"""Staff second-factor secrets are sealed like identifiers: never base32 in the database, still
checked at login, re-sealed by key rotation, and sealed by the migration for existing rows."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
from datetime import timedelta
from pathlib import Path

from piccolo.querystring import QueryString

from relief_pwa.adapters import crypto
from relief_pwa.core import totp
from relief_pwa.db import write_transaction
from relief_pwa.piccolo_conf import DB
from relief_pwa.services import identifiers
from relief_pwa.services.auth import LoginPolicy, check_second_factor, do_enrol_totp, new_totp_secret
from relief_pwa.services.key_rotation import count_outdated, rotate_keys
from relief_pwa.settings import get_settings
from relief_pwa.tables import Staff
from tests.helpers import found
from tests.services.test_identifiers import _database_bytes

MIGRATION = Path(__file__).resolve().parents[2] / "migrations" / "relief_2026_12_06t04_04_19_000000.py"


async def _stored(staff_id: int) -> str:
    row = found(await Staff.select(Staff.totp_sealed).where(Staff.id == staff_id).first())
    return str(row["totp_sealed"])


async def test_an_enrolled_secret_is_stored_sealed_and_still_checked(world, monkeypatch) -> None:
    actor = world.actor("center")
    assert actor.staff_id is not None
    secret = new_totp_secret()
    await do_enrol_totp(
        actor, secret_b32=secret, code=totp.totp(totp.b32decode(secret), world.now.timestamp()), now=world.now
    )
    stored = await _stored(actor.staff_id)
    assert stored.startswith("s1.") and secret not in stored
    assert identifiers.opened_totp(stored) == secret
    assert crypto.sealed_key_id(stored) == identifiers.ring().current_id
    # Nowhere in the database file (or a PostgreSQL dump) in plain base32.
    if DB.engine_type == "sqlite":
        await DB.run_ddl("PRAGMA wal_checkpoint(FULL)")
    blobs = await asyncio.to_thread(_database_bytes, DB.engine_type)
    assert blobs and all(secret.encode() not in blob for blob in blobs)

    later = world.now + timedelta(seconds=60)
    code = totp.totp(totp.b32decode(secret), later.timestamp())
    checked = await check_second_factor(
        actor.staff_id, code, client="127.0.0.1", now=later, policy=LoginPolicy()
    )
    assert checked.staff_id == actor.staff_id

    # Key rotation re-seals it; the login still works under the new key.
    settings = get_settings()
    rotated = dataclasses.replace(
        settings, data_keys=f"{crypto.new_data_key_line('t9')},{settings.data_keys}"
    )
    monkeypatch.setattr("relief_pwa.services.identifiers.get_settings", lambda: rotated)
    assert await count_outdated() >= 1
    await rotate_keys(now=later)
    resealed = await _stored(actor.staff_id)
    assert resealed.startswith("s1.t9.") and identifiers.opened_totp(resealed) == secret
    after = later + timedelta(seconds=60)
    code = totp.totp(totp.b32decode(secret), after.timestamp())
    assert (
        await check_second_factor(actor.staff_id, code, client="127.0.0.1", now=after, policy=LoginPolicy())
    ).staff_id == actor.staff_id


async def test_the_migration_seals_plain_secrets_already_stored(world) -> None:
    actor = world.actor("station")
    secret = new_totp_secret()
    # The plain column as it was before the migration, for the length of this test.
    await DB.run_ddl("ALTER TABLE staff ADD COLUMN totp_secret VARCHAR(64) NOT NULL DEFAULT ''")
    try:
        async with write_transaction(DB):
            await DB.run_querystring(
                QueryString("UPDATE staff SET totp_secret = {} WHERE id = {}", secret, actor.staff_id)
            )
        spec = importlib.util.spec_from_file_location("seal_totp_migration", MIGRATION)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        manager = await module.forwards()
        for step in manager.raw:
            await step()
        await step()  # run twice: a secret already sealed is left alone
    finally:
        await DB.run_ddl("ALTER TABLE staff DROP COLUMN totp_secret")
    assert actor.staff_id is not None
    stored = await _stored(actor.staff_id)
    assert stored.startswith("s1.") and identifiers.opened_totp(stored) == secret
    others = await Staff.select(Staff.totp_sealed).where(Staff.id != actor.staff_id)
    assert all(row["totp_sealed"] == "" for row in others)
