"""Static files under content-hashed names.

Every file in ``static/`` is also served as ``name.<hash>.ext`` (the first 12 hex
digits of its SHA-256): pages link the hashed name, which never changes meaning,
so it is cached for a year (``immutable``). The plain name still answers (icons
named in the web manifest, old pages) but must be revalidated. The service
worker is served with its cache named by a digest of all the hashes and its
app shell listed by hashed name, so a new release replaces exactly the files
that changed.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from relief_pwa.settings import REPO_ROOT

STATIC_DIR = REPO_ROOT / "static"
SERVICE_WORKER = STATIC_DIR / "sw.js"
YEAR = 365 * 24 * 3600
IMMUTABLE = {"cache-control": f"public, max-age={YEAR}, immutable"}
REVALIDATE = {"cache-control": "no-cache"}
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".webmanifest": "application/manifest+json",
    ".ico": "image/x-icon",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# Served elsewhere or not at all: the service worker lives at /sw.js (its scope
# is the whole app) and the checksum list is for scripts/check-vendor.
_NOT_SERVED = {"sw.js", "vendor/SHA256SUMS"}


def hashed_name(path: str, content: bytes) -> str:
    """``css/app.css`` → ``css/app.<12 hex>.css`` (the hash goes before the last suffix)."""
    digest = hashlib.sha256(content).hexdigest()[:12]
    folder, _, name = path.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    hashed = f"{stem}.{digest}.{suffix}" if dot and stem else f"{name}.{digest}"
    return f"{folder}/{hashed}" if folder else hashed


@dataclass(frozen=True)
class AssetManifest:
    urls: dict[str, str]  # "css/app.css" → "/static/css/app.<hash>.css"
    by_hashed: dict[str, Path]  # "css/app.<hash>.css" → file
    digest: str  # of every hash: names the service worker's cache


_cache: tuple[tuple[tuple[str, int, int], ...], AssetManifest] | None = None


def _files() -> list[tuple[str, Path]]:
    found = []
    for file in sorted(STATIC_DIR.rglob("*")):
        relative = file.relative_to(STATIC_DIR).as_posix()
        if file.is_file() and relative not in _NOT_SERVED and not relative.startswith("."):
            found.append((relative, file))
    return found


_RESCAN_SECONDS = 1.0
_scanned_at = float("-inf")


def manifest() -> AssetManifest:
    """The current names; recomputed only when a file under static/ changed.

    The directory is looked at most once a second: a page asks for several
    names, and walking static/ for each took a fifth of a list page's time."""
    global _cache, _scanned_at
    moment = time.monotonic()
    if _cache is not None and moment - _scanned_at < _RESCAN_SECONDS:
        return _cache[1]
    _scanned_at = moment
    files = _files()
    key = tuple((name, file.stat().st_mtime_ns, file.stat().st_size) for name, file in files)
    if _cache is not None and _cache[0] == key:
        return _cache[1]
    urls: dict[str, str] = {}
    by_hashed: dict[str, Path] = {}
    for name, file in files:
        hashed = hashed_name(name, file.read_bytes())
        urls[name] = f"/static/{hashed}"
        by_hashed[hashed] = file
    digest = hashlib.sha256(json.dumps(urls, sort_keys=True).encode()).hexdigest()[:12]
    built = AssetManifest(urls, by_hashed, digest)
    _cache = (key, built)
    return built


def static_url(path: str) -> str:
    """The hashed address of a file under static/ (the plain one if it is unknown)."""
    path = path.removeprefix("/static/").lstrip("/")
    return manifest().urls.get(path, f"/static/{path}")


def _media_type(file: Path) -> str:
    suffix = file.suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"


# No session on static files: a year-long public response must never carry a
# renewed session cookie that a shared cache could hand to someone else.
STATIC_OPT = {"skip_session": True, "exclude_from_csrf": True, "public": True}


@get("/static/{file_path:path}", name="static", include_in_schema=False, opt=STATIC_OPT)
async def static_file(file_path: FromPath[str]) -> Response[bytes]:
    path = file_path.lstrip("/")
    current = manifest()
    hashed = current.by_hashed.get(path)
    if hashed is not None:
        return Response(hashed.read_bytes(), media_type=_media_type(hashed), headers=IMMUTABLE)
    if path in current.urls:  # the plain name of a known file
        file = STATIC_DIR / path
        return Response(file.read_bytes(), media_type=_media_type(file), headers=REVALIDATE)
    raise NotFoundException()


_SHELL_URL = re.compile(r'"/static/([^"]+)"')
_CACHE_NAME = re.compile(r'var STATIC_CACHE = "[^"]*";')


def service_worker_source() -> bytes:
    """static/sw.js with its app shell by hashed name and its cache named by their digest."""
    current = manifest()
    source = SERVICE_WORKER.read_text(encoding="utf-8")
    source = _CACHE_NAME.sub(f'var STATIC_CACHE = "relief-static-{current.digest}";', source, count=1)
    source = _SHELL_URL.sub(lambda m: json.dumps(static_url(m.group(1))), source)
    return source.encode("utf-8")


@get(
    ["/apple-touch-icon.png", "/apple-touch-icon-precomposed.png"],
    name="apple_touch_icon",
    include_in_schema=False,
    opt=STATIC_OPT,
)
async def apple_touch_icon(request: Request[Any, Any, Any]) -> Response[bytes]:
    """iOS asks the site root for its home-screen icon."""
    file = STATIC_DIR / "icons" / "apple-touch-icon-180.png"
    return Response(
        file.read_bytes(), media_type="image/png", headers={"cache-control": "public, max-age=86400"}
    )


ROUTES: list[Any] = [static_file, apple_touch_icon]
