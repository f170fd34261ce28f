"""Vendored files and shipped static assets are exactly what we expect.

The suite fails if a vendored file is altered, added without a checksum, or if
the web app manifest points at icons that are missing or mis-sized.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from relief_pwa.core.enums import AppState

REPO_ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = REPO_ROOT / "static" / "vendor"
CHECKSUM_FILE = VENDOR_DIR / "SHA256SUMS"
MANIFEST_FILE = REPO_ROOT / "static" / "manifest.webmanifest"
STYLESHEET = REPO_ROOT / "static" / "css" / "app.css"

# Pinned independently of SHA256SUMS so that editing both together still fails.
HTMX_FILE_NAME = "htmx-2.0.11.min.js"
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
HTMX_SIZE_BYTES = 52_182


def _read_checksums() -> dict[str, str]:
    """Parse SHA256SUMS (``sha256sum`` format) into {file name: hex digest}."""
    checksums: dict[str, str] = {}
    for line in CHECKSUM_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        digest, name = line.split(maxsplit=1)
        checksums[name.lstrip("*")] = digest.lower()
    return checksums


def _sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_checksum_file_lists_htmx_with_pinned_digest() -> None:
    assert _read_checksums().get(HTMX_FILE_NAME) == HTMX_SHA256


@pytest.mark.parametrize("file_name", sorted(_read_checksums()))
def test_vendored_file_matches_its_checksum(file_name: str) -> None:
    vendored = VENDOR_DIR / file_name
    assert vendored.is_file(), f"{file_name} is listed in SHA256SUMS but missing"
    assert _sha256_of(vendored) == _read_checksums()[file_name], (
        f"{file_name} was altered; re-vendor it, do not edit it by hand"
    )


def test_every_vendored_file_has_a_checksum() -> None:
    on_disk = {
        path.name for path in VENDOR_DIR.iterdir() if path.is_file() and path.name != CHECKSUM_FILE.name
    }
    assert on_disk - set(_read_checksums()) == set()


def test_htmx_is_the_pinned_release() -> None:
    htmx = VENDOR_DIR / HTMX_FILE_NAME
    assert htmx.stat().st_size == HTMX_SIZE_BYTES
    assert _sha256_of(htmx) == HTMX_SHA256
    assert b'version:"2.0.11"' in htmx.read_bytes()


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils")
def test_check_vendor_script_rejects_an_altered_file(tmp_path: Path) -> None:
    # Run the real script on a copy of the tree so the repo is never touched.
    (tmp_path / "scripts").mkdir()
    shutil.copy2(REPO_ROOT / "scripts" / "check-vendor", tmp_path / "scripts")
    shutil.copytree(VENDOR_DIR, tmp_path / "static" / "vendor")
    script = ["bash", str(tmp_path / "scripts" / "check-vendor")]

    intact = subprocess.run(script, capture_output=True, text=True, check=False)
    assert intact.returncode == 0, intact.stderr

    with (tmp_path / "static" / "vendor" / HTMX_FILE_NAME).open("ab") as handle:
        handle.write(b"\n/* tampered */\n")
    altered = subprocess.run(script, capture_output=True, text=True, check=False)
    assert altered.returncode != 0
    assert "FAILED" in altered.stderr


def _png_size(path: Path) -> tuple[int, int]:
    """Read width and height from a PNG header without decoding the image."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_manifest_is_installable() -> None:
    manifest = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))
    assert manifest["start_url"] == "/"
    assert manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["lang"] == "zh-CN"
    declared_sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= declared_sizes
    assert any("maskable" in icon.get("purpose", "") for icon in manifest["icons"])


def test_manifest_icons_exist_with_declared_sizes() -> None:
    manifest = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))
    for icon in manifest["icons"]:
        icon_path = REPO_ROOT / "static" / icon["src"].removeprefix("/static/")
        assert icon_path.is_file(), f"manifest icon {icon['src']} is missing"
        width, height = _png_size(icon_path)
        assert f"{width}x{height}" == icon["sizes"], icon["src"]


@pytest.mark.parametrize(
    ("file_name", "side"),
    [("apple-touch-icon-180.png", 180), ("favicon-32.png", 32)],
)
def test_page_icons_exist_with_expected_sizes(file_name: str, side: int) -> None:
    assert _png_size(REPO_ROOT / "static" / "icons" / file_name) == (side, side)


def test_favicon_is_an_ico_file() -> None:
    favicon = (REPO_ROOT / "static" / "icons" / "favicon.ico").read_bytes()
    # ICONDIR header: reserved 0, type 1 (icon), at least one image.
    assert favicon[:4] == b"\x00\x00\x01\x00"
    assert int.from_bytes(favicon[4:6], "little") >= 1


def test_stylesheet_stays_compact_and_self_hosted() -> None:
    css = STYLESHEET.read_text(encoding="utf-8")
    # One stylesheet for every page: a phone on a poor connection loads it once (gzip ~ a quarter).
    assert len(css.encode("utf-8")) < 28 * 1024
    # Intranet deployments have no CDN: nothing may be fetched from elsewhere.
    assert "@import" not in css
    assert re.search(r"url\(\s*['\"]?(https?:)?//", css) is None


@pytest.mark.parametrize("state", list(AppState), ids=lambda state: state.value)
def test_every_application_state_has_a_badge_style(state: AppState) -> None:
    css = STYLESHEET.read_text(encoding="utf-8")
    assert re.search(rf"\.badge-{state.value}\b(?![-\w])", css), state.value
