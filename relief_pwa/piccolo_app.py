"""The single Piccolo app of the project; migrations live in the top-level ``migrations/``."""

from __future__ import annotations

from piccolo.conf.apps import AppConfig, table_finder

from relief_pwa.settings import REPO_ROOT

APP_CONFIG = AppConfig(
    app_name="relief",
    migrations_folder_path=str(REPO_ROOT / "migrations"),
    table_classes=table_finder(modules=["relief_pwa.tables"], exclude_imported=True),
    migration_dependencies=[],
    commands=[],
)
