"""Litestar's Store interface over the database session table (survives restarts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from litestar.stores.base import Store

from relief_pwa.services import auth


def _now() -> datetime:
    # Session expiry is infrastructure, not case logic: wall-clock time is right here.
    return datetime.now(UTC)


def _expiry(expires_in: int | timedelta | None) -> datetime:
    if expires_in is None:
        return _now() + timedelta(days=1)
    if isinstance(expires_in, int):
        expires_in = timedelta(seconds=expires_in)
    return _now() + expires_in


class DatabaseSessionStore(Store):
    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        await auth.session_set(key, text, _expiry(expires_in))

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        data = await auth.session_get(key, _now())
        if data is None:
            return None
        if renew_for is not None:
            await auth.session_set(key, data, _expiry(renew_for))
        return data.encode("latin-1")

    async def delete(self, key: str) -> None:
        await auth.session_delete(key)

    async def delete_all(self) -> None:
        await auth.session_delete_expired(datetime.max.replace(tzinfo=UTC))

    async def exists(self, key: str) -> bool:
        return await auth.session_get(key, _now()) is not None

    async def expires_in(self, key: str) -> int | None:
        expires_at = await auth.session_expires_at(key)
        if expires_at is None:
            return None
        return max(0, int((expires_at - _now()).total_seconds()))
