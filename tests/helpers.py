"""Small typed helpers for tests."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def found(value: T | None) -> T:
    """The value of a lookup that the test expects to have found something.

    Narrows ``X | None`` (``.first()``, ``.get()``, ``re.search`` …) for the type
    checker, and fails the test right there if it found nothing.
    """
    assert value is not None
    return value


def production_keys() -> dict[str, str]:
    """The keys production refuses to start without (kept outside the database), for subprocess tests."""
    from relief_pwa.adapters.crypto import new_data_key_line, new_index_key

    return {
        "RELIEF_SECRET_KEY": "k" * 40,
        "RELIEF_DATA_KEYS": new_data_key_line("k1"),
        "RELIEF_BLIND_INDEX_KEY": new_index_key(),
        "RELIEF_AUDIT_KEY": "a" * 64,
        "RELIEF_BACKUP_KEY": "b" * 44,
    }


async def deliver_outbox(app: Any) -> int:
    """Deliver every outbox message due now, as the app's outbox worker would.

    A bare ASGI test client runs no lifespan, so no worker sends in the background, and a
    page (a GET) never sends in its place: a test that expects a message delivered says so.
    """
    from relief_pwa.bot.app import runtime_of

    runtime = await runtime_of(app.state)
    delivered = 0
    while claimed := await runtime.worker.run_once():
        delivered += claimed
    return delivered
