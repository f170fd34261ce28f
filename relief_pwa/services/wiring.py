"""Import every module that subscribes to hooks, so listeners are registered
before the first request or command. Each feature adds its listener module here."""

from __future__ import annotations

import importlib

LISTENER_MODULES: tuple[str, ...] = (
    "relief_pwa.services.scoring",  # relief index recomputes on every household change
    "relief_pwa.services.public_boards",  # 公示 notices follow the workflow; board caches drop
    "relief_pwa.services.followups",  # follow-up alerts on visit.done; reviews on application.activate
    "relief_pwa.services.bot",  # a Telegram bind token for every new application (receipt QR)
    "relief_pwa.services.notices",  # Telegram notices queued in the outbox with their events
)


def register_listeners() -> None:
    for name in LISTENER_MODULES:
        importlib.import_module(name)
