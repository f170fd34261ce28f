"""Re-sealing identifiers under the current data key (``relief-pwa keys rotate``).

Put the new key first in ``RELIEF_DATA_KEYS`` (keep the old ones after it),
restart, then rotate: every sealed value not yet under the current key is
opened with its own key and sealed again, in batches of one transaction
each. Interrupted, it resumes where it stopped (it only picks values that
still name another key); when it reports nothing left, the old keys can be
removed from the ring. Blind indexes do not change: they use their own key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from piccolo.querystring import QueryString

from relief_pwa.adapters import crypto
from relief_pwa.db import write_transaction
from relief_pwa.services import identifiers
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.audit import record_event
from relief_pwa.tables import Household

# table → [(sealed column, kind)]
SEALED_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "household": [
        ("head_id_sealed", identifiers.ID_NUMBER),
        ("phone_sealed", identifiers.PHONE),
        ("account_sealed", identifiers.ACCOUNT),
    ],
    "household_contact": [("phone_sealed", identifiers.PHONE), ("account_sealed", identifiers.ACCOUNT)],
    "member": [("id_sealed", identifiers.ID_NUMBER), ("phone_sealed", identifiers.PHONE)],
    "staff": [("phone_sealed", identifiers.PHONE), ("totp_sealed", identifiers.TOTP)],
    "objection": [("contact_phone_sealed", identifiers.PHONE)],
    "pre_application": [("phone_sealed", identifiers.PHONE)],
    "outbox_message": [("phone_sealed", identifiers.PHONE)],  # an SMS row's destination
}


@dataclass(frozen=True)
class RotationResult:
    key_id: str
    resealed: int
    remaining: int


def _outdated(column: str, current_prefix: str) -> str:
    return f"({column} <> '' AND {column} NOT LIKE '{current_prefix}%')"


async def count_outdated() -> int:
    """How many sealed values are not under the current key."""
    engine = Household._meta.db
    prefix = f"{crypto.PREFIX}.{identifiers.ring().current_id}."
    total = 0
    for table, columns in SEALED_COLUMNS.items():
        for column, _kind in columns:
            rows = await engine.run_querystring(
                # Table and column names come from SEALED_COLUMNS, never from input.
                QueryString(f"SELECT COUNT(*) AS n FROM {table} WHERE {_outdated(column, prefix)}")  # noqa: S608
            )
            total += int(rows[0]["n"])
    return total


async def rotate_keys(
    *, now: datetime, batch: int = 1000, progress: Callable[[str, int], None] | None = None
) -> RotationResult:
    """Re-seal every value not under the current key; one transaction per batch."""
    engine = Household._meta.db
    ring = identifiers.ring()
    prefix = f"{crypto.PREFIX}.{ring.current_id}."
    resealed = 0
    for table, columns in SEALED_COLUMNS.items():
        names = ", ".join(column for column, _kind in columns)
        any_outdated = " OR ".join(_outdated(column, prefix) for column, _kind in columns)
        last_id = 0
        while True:
            rows = await engine.run_querystring(
                QueryString(
                    f"SELECT id, {names} FROM {table} "  # noqa: S608 - names from SEALED_COLUMNS
                    f"WHERE id > {{}} AND ({any_outdated}) ORDER BY id LIMIT {{}}",
                    last_id,
                    batch,
                )
            )
            if not rows:
                break
            async with write_transaction(engine):
                for row in rows:
                    values = [
                        crypto.seal(ring, kind, crypto.unseal(ring, kind, row[column]))
                        if row[column] and not row[column].startswith(prefix)
                        else row[column]
                        for column, kind in columns
                    ]
                    assignments = ", ".join(f"{column} = {{}}" for column, _kind in columns)
                    await engine.run_querystring(
                        QueryString(
                            f"UPDATE {table} SET {assignments} WHERE id = {{}}",  # noqa: S608 - constant names
                            *values,
                            row["id"],
                        )
                    )
            resealed += len(rows)
            last_id = int(rows[-1]["id"])
            if progress:
                progress(table, resealed)
    remaining = await count_outdated()
    async with write_transaction(engine):
        await record_event(
            SYSTEM_ACTOR,
            "keys.rotate",
            "key_ring",
            0,
            org_path="",
            now=now,
            after={"key_id": ring.current_id, "rows_resealed": resealed, "remaining": remaining},
        )
    return RotationResult(ring.current_id, resealed, remaining)
