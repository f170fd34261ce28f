"""The reverse proxy of docs/scale.md: deploy/nginx/relief.conf in front of two app processes.

The shipped config is rendered into a temporary prefix with free ports, and a
real nginx serves it in front of two ``relief-pwa serve`` processes sharing
the test database. Skipped without nginx, and without PostgreSQL (two app
processes share one database only there).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from relief_pwa.settings import REPO_ROOT
from relief_pwa.tables import LoginAttempt
from tests.conftest import Client
from tests.processes_support import drain, free_port, stop_all, wait_ready

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
CONFIG = REPO_ROOT / "deploy" / "nginx" / "relief.conf"
CLIENT_ADDRESS = "127.0.0.2"  # the "browser": any loopback address other than the proxy's own

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed"),
    pytest.mark.skipif(
        not os.environ.get("RELIEF_TEST_DATABASE_URL", "").startswith("postgres"),
        reason="two app processes share one database only on PostgreSQL (SQLite runs one process)",
    ),
]


def render(config: str, *, listen: int, upstreams: list[int], static_root: Path) -> str:
    """The shipped config with this run's ports and paths; fails loudly if a placeholder moved."""
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{listen};",
        "server 127.0.0.1:8001 ": f"server 127.0.0.1:{upstreams[0]} ",
        "server 127.0.0.1:8002 ": f"server 127.0.0.1:{upstreams[1]} ",
        "/srv/relief/static-root": str(static_root),
        "/srv/relief/current": str(REPO_ROOT),
    }
    for old, new in replacements.items():
        assert old in config, f"deploy/nginx/relief.conf no longer contains {old!r}"
        config = config.replace(old, new)
    return config


def main_config(prefix: Path, site: Path) -> str:
    # Run as root (a container), the workers would switch to `nobody`, which cannot read a 0700 temp dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in kinds)
    return (
        f"{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
        f"events {{ worker_connections 256; }}\n"
        f"http {{\n    access_log off;\n{temp}\n    include {site};\n}}\n"
    )


@dataclass
class Proxy:
    url: str
    apps: list[str]


@pytest.fixture()
async def proxy(world: Any) -> AsyncIterator[Proxy]:
    assert NGINX is not None
    prefix = Path(tempfile.mkdtemp(prefix="relief-nginx-"))
    static_root = prefix / "static-root"
    collected = subprocess.run(  # noqa: ASYNC221  (a second, before anything is started)
        [sys.executable, str(REPO_ROOT / "deploy" / "nginx" / "collect_static.py"), str(static_root)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "new static files" in collected.stdout
    env = {
        **os.environ,
        # The app believes X-Forwarded-For from the proxy's address only.
        "RELIEF_TRUSTED_PROXIES": "127.0.0.1",
        "RELIEF_SCHEDULER_INTERVAL_SECONDS": "0",
        "RELIEF_COMPRESS_PAGES": "false",  # as deployed behind nginx: nginx compresses
        "PYTHONUNBUFFERED": "1",
    }
    ports = [free_port(), free_port()]
    processes: list[asyncio.subprocess.Process] = []
    readers: list[asyncio.Task[None]] = []
    nginx: subprocess.Popen[bytes] | None = None
    try:
        for port in ports:
            app = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "relief_pwa", "serve", "--host", "127.0.0.1", "--port", str(port),
                env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            processes.append(app)
            readers.append(asyncio.create_task(drain(app.stderr)))
        listen = free_port()
        site = prefix / "relief.conf"
        site.write_text(render(CONFIG.read_text(), listen=listen, upstreams=ports, static_root=static_root))
        main = prefix / "nginx.conf"
        main.write_text(main_config(prefix, site))
        command = [NGINX, "-p", str(prefix), "-c", str(main), "-e", str(prefix / "error.log")]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True)  # noqa: ASYNC221
        assert checked.returncode == 0, checked.stderr
        nginx = subprocess.Popen([*command, "-g", "daemon off;"])  # noqa: ASYNC220
        apps = [f"http://127.0.0.1:{port}" for port in ports]
        await asyncio.gather(*(wait_ready(url, app) for url, app in zip(apps, processes, strict=True)))
        url = f"http://127.0.0.1:{listen}"
        await wait_ready(url, processes[0])
        yield Proxy(url, apps)
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(20)
        await stop_all(processes, readers)
        shutil.rmtree(prefix, ignore_errors=True)


def _browser(base_url: str) -> Client:
    """A browser on its own loopback address, so the proxy's address and the client's differ."""
    transport = httpx.AsyncHTTPTransport(local_address=CLIENT_ADDRESS)
    return Client(base_url=base_url, transport=transport, follow_redirects=False)


async def test_pages_and_a_session_through_the_proxy_are_valid_on_either_process(proxy: Proxy) -> None:
    async with _browser(proxy.url) as browser:
        page = await browser.get("/login")
        assert page.status_code == 200 and 'name="username"' in page.text
        assert page.headers["content-encoding"] == "gzip"  # compressed by nginx
        plain = await browser.get(f"{proxy.apps[0]}/login", headers={"accept-encoding": "gzip"})
        assert "content-encoding" not in plain.headers  # not by the app (RELIEF_COMPRESS_PAGES=false)
        await browser.login("city")
        # The session cookie was set through the proxy; each process alone accepts it.
        for app in proxy.apps:
            direct = await browser.get(f"{app}/cases")
            assert direct.status_code == 200, (app, direct.status_code, direct.headers.get("location"))
        # And through the proxy, whichever process answers (round robin over both).
        for _ in range(4):
            assert (await browser.get("/cases")).status_code == 200
        await browser.post_form("/logout", {})
        for app in proxy.apps:
            after = await browser.get(f"{app}/cases")
            assert after.status_code in {302, 303} and "/login" in after.headers["location"]


async def test_static_files_come_from_nginx_with_long_cache_headers(proxy: Proxy) -> None:
    async with _browser(proxy.url) as browser:
        page = await browser.get("/login")
        css = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page.text)
        manifest = re.search(r'href="(/static/manifest\.[0-9a-f]{12}\.webmanifest)"', page.text)
        assert css and manifest, "the page links hashed static names"
        styles = await browser.get(css.group(1), headers={"accept-encoding": "gzip"})
        assert styles.status_code == 200
        assert styles.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert styles.headers["content-type"].startswith("text/css")
        assert styles.headers["content-encoding"] == "gzip"
        # nginx's static module answers (with validators); the app's handler sends neither.
        assert "last-modified" in styles.headers and "etag" in styles.headers
        assert styles.content == (REPO_ROOT / "static" / "css" / "app.css").read_bytes()
        web_manifest = await browser.get(manifest.group(1))
        assert web_manifest.headers["content-type"].startswith("application/manifest+json")
        assert "immutable" in web_manifest.headers["cache-control"]
        # A plain name falls through to the app, which has it revalidated.
        plain = await browser.get("/static/css/app.css")
        assert plain.status_code == 200 and plain.headers["cache-control"] == "no-cache"
        assert "last-modified" not in plain.headers
        # The service worker comes from the app, never cached, allowed to control the whole site.
        worker = await browser.get("/sw.js")
        assert worker.status_code == 200 and "javascript" in worker.headers["content-type"]
        assert worker.headers["cache-control"] == "no-cache"
        assert worker.headers["service-worker-allowed"] == "/"
        assert "relief-static-" in worker.text


async def test_an_oversized_upload_is_refused_with_a_readable_page(proxy: Proxy) -> None:
    async with _browser(proxy.url) as browser:
        too_big = await browser.post(
            "/login", content=b"x" * (3 * 1024 * 1024), headers={"content-type": "application/octet-stream"}
        )
        assert too_big.status_code == 413
        assert too_big.headers["content-type"].startswith("text/html")
        assert "上传的文件太大" in too_big.text and "too large" in too_big.text
        # A photo upload of the same size is within its own limit: it reaches the app (which
        # answers for itself: no session here), not nginx's refusal.
        binary = {"content-type": "application/octet-stream"}
        photo = await browser.post("/visits/record", content=b"x" * (3 * 1024 * 1024), headers=binary)
        assert photo.status_code != 413
        too_many_photos = await browser.post(
            "/visits/record", content=b"x" * (17 * 1024 * 1024), headers=binary
        )
        assert too_many_photos.status_code == 413


async def test_the_app_sees_the_forwarded_client_address_and_ignores_a_forged_one(proxy: Proxy) -> None:
    async with _browser(proxy.url) as browser:
        await browser.get("/login")
        refused = await browser.post_form(
            "/login",
            {"username": "city", "password": "not-the-password", "next": "/"},
            headers={"x-forwarded-for": "203.0.113.9"},  # the browser's own claim: not believed
        )
        assert refused.status_code == 400
    rows = await LoginAttempt.select(LoginAttempt.client).where(LoginAttempt.username == "city")
    assert [r["client"] for r in rows] == [CLIENT_ADDRESS]
