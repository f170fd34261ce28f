"""Import every module that subscribes to hooks, so listeners are registered
before the first request or command. Each feature adds its listener module here."""

from __future__ import annotations

import importlib

LISTENER_MODULES: tuple[str, ...] = ()


def register_listeners() -> None:
    for name in LISTENER_MODULES:
        importlib.import_module(name)
