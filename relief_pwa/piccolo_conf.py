"""Piccolo's configuration: the engine named by the settings, one app."""

from __future__ import annotations

from piccolo.conf.apps import AppRegistry

from relief_pwa.db import make_engine
from relief_pwa.settings import get_settings

_settings = get_settings()

DB = make_engine(
    _settings.database_url, _settings.sqlite_max_connections, replica_url=_settings.database_replica_url
)

APP_REGISTRY = AppRegistry(apps=["relief_pwa.piccolo_app"])
