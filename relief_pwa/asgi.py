"""The ASGI entry point for uvicorn: ``relief_pwa.asgi:app``."""

from relief_pwa.app import create_app

app = create_app()
