"""Identifiers at rest: sealed, found by blind index, shown masked, revealed with a purpose,
re-sealed under a new key, and never present in plain text in the database file."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from relief_pwa.adapters import crypto
from relief_pwa.core.errors import DomainError
from relief_pwa.piccolo_conf import DB
from relief_pwa.services import identifiers
from relief_pwa.services.access_log import flush_access_log
from relief_pwa.services.households import reveal_identifiers
from relief_pwa.services.key_rotation import count_outdated, rotate_keys
from relief_pwa.settings import get_settings
from relief_pwa.tables import AccessLogEntry, Household, Member
from tests.factories import make_intake, member
from tests.helpers import found

RING = crypto.key_ring(crypto.new_data_key_line("a1"), "i" * 40)


def test_sealing_round_trips_and_binds_the_kind() -> None:
    token = crypto.seal(RING, "id_number", "370102197005170011")
    assert token.startswith("s1.a1.") and "370102197005170011" not in token
    assert crypto.unseal(RING, "id_number", token) == "370102197005170011"
    # The same value seals differently each time (random nonce) but indexes the same.
    assert crypto.seal(RING, "id_number", "370102197005170011") != token
    assert crypto.blind_index(RING, "phone", "13912345678") == crypto.blind_index(
        RING, "phone", "13912345678"
    )
    # A value moved to another kind of column, or edited, fails its check.
    with pytest.raises(crypto.KeyError_):
        crypto.unseal(RING, "phone", token)
    with pytest.raises(crypto.KeyError_):
        crypto.unseal(RING, "id_number", token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    assert crypto.seal(RING, "phone", "") == "" and crypto.blind_index(RING, "phone", "") == ""


def test_the_blind_index_is_keyed() -> None:
    other = crypto.key_ring(crypto.new_data_key_line("a1"), "j" * 40)
    assert crypto.blind_index(RING, "phone", "13912345678") != crypto.blind_index(
        other, "phone", "13912345678"
    )
    assert crypto.blind_index(RING, "phone", "13912345678") != crypto.blind_index(
        RING, "account", "13912345678"
    )


def test_a_ring_reads_values_sealed_under_its_older_keys() -> None:
    old = crypto.key_ring(crypto.new_data_key_line("k1"), "i" * 40)
    token = crypto.seal(old, "account", "6217000011112222333")
    new_line = crypto.new_data_key_line("k2")
    old_line = f"k1:{__import__('base64').urlsafe_b64encode(old.key('k1')).decode()}"
    rotated = crypto.key_ring(f"{new_line},{old_line}", "i" * 40)
    assert rotated.current_id == "k2"
    assert crypto.unseal(rotated, "account", token) == "6217000011112222333"
    assert crypto.sealed_key_id(crypto.seal(rotated, "account", "1")) == "k2"
    with pytest.raises(crypto.KeyError_):
        crypto.parse_data_keys("k1:short")


async def test_search_and_duplicates_work_on_sealed_numbers_and_pages_mask_them(world, client):
    head_id = "370102197005170011"
    result = await make_intake(world, members=[member("周明", id_number=head_id)], phone="13911112222")
    row = found(await Member.select().where(Member.household == result.household_id).first())
    assert row["id_sealed"].startswith("s1.") and row["id_index"] == identifiers.index_of(
        "id_number", head_id
    )
    # A second open household with the same person is refused by blind index.
    from relief_pwa.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        await make_intake(world, members=[member("周明", id_number=head_id.lower())])
    await client.login("station")
    found_page = await client.get("/cases", params={"q": head_id})
    assert "周明" in found_page.text
    by_phone = await client.get("/cases", params={"q": "13911112222"})
    assert "周明" in by_phone.text
    file_page = await client.get(f"/households/{result.household_id}")
    assert head_id not in file_page.text and "13911112222" not in file_page.text
    assert identifiers.masked("id_number", row["id_sealed"]) in file_page.text


async def test_full_numbers_are_shown_only_for_a_stated_purpose_and_logged(world, client):
    result = await make_intake(
        world, members=[member("吴刚", id_number="370102198001010015")], phone="13922223333"
    )
    with pytest.raises(DomainError):
        await reveal_identifiers(
            world.actor("station"), result.household_id, purpose="curious", now=world.now
        )
    await client.login("station")
    ask = await client.get(f"/households/{result.household_id}/identifiers")
    assert ask.status_code == 200 and "370102198001010015" not in ask.text and 'name="purpose"' in ask.text
    shown = await client.get(f"/households/{result.household_id}/identifiers", params={"purpose": "contact"})
    assert "370102198001010015" in shown.text and "13922223333" in shown.text
    assert shown.headers["cache-control"] == "no-store"
    await flush_access_log()
    entry = found(await AccessLogEntry.objects().where(AccessLogEntry.action == "identifiers.reveal").first())
    assert entry.purpose == "contact" and entry.household_id == result.household_id
    other = await client.get("/households/987654/identifiers", params={"purpose": "contact"})
    assert other.status_code == 404


async def test_rotation_reseals_every_value_under_the_new_key_and_resumes(world, monkeypatch):
    made = [await make_intake(world, members=[member(f"郑{i}")], phone=f"1390000{i:04d}") for i in range(5)]
    settings = get_settings()
    new_line = crypto.new_data_key_line("k9")
    rotated = dataclasses.replace(settings, data_keys=f"{new_line},{settings.data_keys}")
    monkeypatch.setattr("relief_pwa.services.identifiers.get_settings", lambda: rotated)
    before = await count_outdated()
    assert before >= 5 * 3  # household id, phone, member id (at least) per household
    first = await rotate_keys(now=world.now, batch=2)
    assert first.remaining == 0 and first.key_id == "k9"
    assert await count_outdated() == 0
    for result in made:
        household = found(await Household.objects().where(Household.id == result.household_id).first())
        assert household.phone_sealed.startswith("s1.k9.")
        assert identifiers.opened("phone", household.phone_sealed).startswith("1390000")
    # Nothing left to do: a second run re-seals nothing.
    assert (await rotate_keys(now=world.now)).resealed == 0


SEEDED = ("37010219660101001X", "13933334444", "6217000099998888777")


def _database_bytes(engine_type: str) -> list[bytes]:
    """Everything the database holds: the SQLite files (with WAL), or a PostgreSQL data dump."""
    settings = get_settings()
    if engine_type == "sqlite":
        folder, name = settings.sqlite_path.parent, settings.sqlite_path.name
        return [path.read_bytes() for path in folder.glob(name + "*") if path.is_file()]
    found_dump = shutil.which("pg_dump") or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))), None
    )
    if found_dump is None:
        pytest.skip("no pg_dump to read the PostgreSQL database with")
    dump = subprocess.run(
        [str(found_dump), "--data-only", settings.database_url],
        capture_output=True,
        check=True,
        env=dict(os.environ),
    )
    return [dump.stdout]


async def test_no_identifier_is_stored_in_plain_text(world, tmp_path: Path):
    await make_intake(
        world,
        members=[member("冯七", id_number=SEEDED[0], phone=SEEDED[1])],
        phone=SEEDED[1],
        onecard_account=SEEDED[2],
    )
    if DB.engine_type == "sqlite":
        await DB.run_ddl("PRAGMA wal_checkpoint(FULL)")
    blobs = await asyncio.to_thread(_database_bytes, DB.engine_type)
    assert blobs and any(b"household" in blob or len(blob) > 4096 for blob in blobs)
    for value in SEEDED:
        for blob in blobs:
            assert value.encode() not in blob, value
