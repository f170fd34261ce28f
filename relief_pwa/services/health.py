"""Liveness and readiness.

Liveness (``/healthz``) is answered by the process alone: it touches no table,
so a load balancer's polling never queues behind database work. Readiness
(``/readyz``) asks the database one ``SELECT 1`` and, until it has once seen
them all, whether every shipped migration has been applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from relief_pwa.tables import OrgUnit


@dataclass(frozen=True)
class Readiness:
    ready: bool
    database: str  # the engine type, e.g. "sqlite" or "postgres"
    pending_migrations: int
    problem: str = ""  # the exception's class name, never its text (it may carry a URL)


@cache
def shipped_migration_ids() -> frozenset[str]:
    from piccolo.apps.migrations.commands.base import BaseMigrationManager

    from relief_pwa.piccolo_app import APP_CONFIG

    manager = BaseMigrationManager()
    modules = manager.get_migration_modules(str(APP_CONFIG.migrations_folder_path))
    return frozenset(manager.get_migration_ids(modules))


# Migrations are never unapplied under a running process: once all are seen, stop asking.
_all_applied: list[bool] = [False]


async def check_ready() -> Readiness:
    """The database answers, and the schema is the one this code expects."""
    from piccolo.apps.migrations.tables import Migration

    engine = str(OrgUnit._meta.db.engine_type)
    try:
        await OrgUnit.raw("SELECT 1")
        pending = 0
        if not _all_applied[0]:
            ran = set(await Migration.get_migrations_which_ran(app_name="relief"))
            pending = len(shipped_migration_ids() - ran)
            _all_applied[0] = pending == 0
    except Exception as exc:  # any failure means "not ready"; the class name says which
        return Readiness(False, engine, 0, type(exc).__name__)
    return Readiness(pending == 0, engine, pending, "" if pending == 0 else "migrations pending")


def forget_readiness() -> None:
    """Ask about migrations again on the next check (after a migration, in tests)."""
    _all_applied[0] = False
