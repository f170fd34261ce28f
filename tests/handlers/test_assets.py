"""Static files: content-hashed names cached for a year, the service worker's
cache named by those hashes, and the home-screen icon where iOS looks for it."""

from __future__ import annotations

import re

from relief_pwa.handlers.assets import hashed_name, manifest


def test_a_hashed_name_changes_with_the_content_only():
    assert re.fullmatch(r"css/app\.[0-9a-f]{12}\.css", hashed_name("css/app.css", b"a{}"))
    assert hashed_name("css/app.css", b"a{}") == hashed_name("css/app.css", b"a{}")
    assert hashed_name("css/app.css", b"a{}") != hashed_name("css/app.css", b"b{}")
    assert hashed_name("vendor/htmx-2.0.11.min.js", b"x").startswith("vendor/htmx-2.0.11.min.")


async def test_pages_link_hashed_static_files_cached_for_a_year(client):
    page = await client.get("/login")
    links = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    assert links and all(re.search(r"\.[0-9a-f]{12}\.\w+$", link) for link in links), links
    for link in links:
        response = await client.get(link)
        assert response.status_code == 200, link
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "set-cookie" not in response.headers
    plain = await client.get("/static/js/app.js")  # the plain name answers, revalidated
    assert plain.status_code == 200 and plain.headers["cache-control"] == "no-cache"
    stale = await client.get("/static/js/app.000000000000.js")
    assert stale.status_code == 404
    assert (await client.get("/static/../relief_pwa/settings.py")).status_code == 404
    assert (await client.get("/static/sw.js")).status_code == 404  # lives at /sw.js only


async def test_the_service_worker_cache_is_named_by_the_hashes_and_lists_hashed_files(client):
    worker = await client.get("/sw.js")
    assert worker.status_code == 200
    current = manifest()
    assert f'var STATIC_CACHE = "relief-static-{current.digest}";' in worker.text
    assert "relief-static-v1" not in worker.text
    shell = re.findall(r'"(/static/[^"]+)"', worker.text)
    assert shell and set(shell) <= set(current.urls.values())
    for url in shell:
        assert (await client.get(url)).status_code == 200


async def test_the_apple_touch_icon_is_served(client):
    page = await client.get("/login")
    icon = re.search(r'rel="apple-touch-icon" href="([^"]+)"', page.text)
    assert icon and (await client.get(icon.group(1))).status_code == 200
    root = await client.get("/apple-touch-icon.png")
    assert root.status_code == 200 and root.headers["content-type"] == "image/png"
    assert root.content.startswith(b"\x89PNG")
