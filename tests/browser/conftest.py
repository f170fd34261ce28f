"""Browser tests: a real uvicorn server (own SQLite + media) and Debian's Chromium
driven by Playwright at a phone viewport."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("RELIEF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: Any = {"width": 390, "height": 844}  # playwright ViewportSize


@dataclass
class LiveServer:
    url: str
    database: Path
    media: Path
    info: dict[str, Any]

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.database) as connection:
            return list(connection.execute(sql, args))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture()
def live_server() -> Iterator[LiveServer]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium binary at {CHROMIUM} (set RELIEF_CHROMIUM; CI installs Debian's chromium)")
    root = Path(tempfile.mkdtemp(prefix="relief-browser-"))
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RELIEF_")},
        "RELIEF_VAR_DIR": str(root),
        "RELIEF_MEDIA_DIR": str(root / "media"),
        "RELIEF_DATABASE_URL": f"sqlite:///{root / 'browser.sqlite3'}",
        "RELIEF_MODE": "demo",
        "RELIEF_SECRET_KEY": "browser-test-secret-" + "y" * 40,
        "RELIEF_BOT_TOKEN": "",
        "PICCOLO_CONF": "relief_pwa.piccolo_conf",
    }
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.browser.server", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        line = ""
        while process.stdout and not line.startswith("{"):
            line = process.stdout.readline()
            if not line:  # the server died before it listened
                process.wait(timeout=10)
                raise RuntimeError(
                    f"browser test server did not start:\n{(root / 'server.log').read_text()[-3000:]}"
                )
        yield LiveServer(
            f"http://127.0.0.1:{port}", root / "browser.sqlite3", root / "media", json.loads(line)
        )
    finally:
        log.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture()
def phone(live_server: LiveServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(
            base_url=live_server.url,
            viewport=PHONE,
            device_scale_factor=3,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            geolocation={"latitude": 36.661389, "longitude": 117.016667},
            permissions=["geolocation"],
            service_workers="allow",
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()
            browser.close()
