"""Logs carry no bot token and no personal data; personal pages are never cached; files are private."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import stat
from pathlib import Path
from typing import Any

import httpx

from relief_pwa.filesafety import secure_files
from relief_pwa.logsafety import install_log_redaction
from relief_pwa.settings import load_settings

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_the_bot_token_and_identifiers_never_reach_a_log(caplog: Any) -> None:
    install_log_redaction(TOKEN)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot%s/send", TOKEN)
        logging.getLogger("httpx").warning("HTTP Request: POST https://api.telegram.org/bot%s/getMe", TOKEN)
        logging.getLogger("telegram.ext").error("failed for %s", f"https://x.test/bot{TOKEN}/x")
        logging.getLogger("relief_pwa.test").warning("applicant 370102198001011234 phone 13812345678")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in text and "AAHdqTcv" not in text
    assert "370102198001011234" not in text and "13812345678" not in text
    assert "370102********1234" in text
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


async def test_access_log_names_the_route_template_not_the_path(client: Any, caplog: Any) -> None:
    with caplog.at_level(logging.INFO, logger="relief_pwa.access"):
        await client.get("/q/SECRET-CARD-TOKEN-123?code=ZZZ-TRACKING")
        await client.get("/public/objections/status?code=TRACK-ME-99")
        await client.get("/q/" + "9" * 300)  # refused by the bounds check: logged with its real status
    lines = [r.getMessage() for r in caplog.records if r.name == "relief_pwa.access"]
    assert any("/q/{token}" in line for line in lines), lines
    assert lines[-1].startswith("GET /q/{token} 404"), lines
    assert not any("SECRET-CARD" in line or "TRACK" in line for line in lines)


async def test_personal_pages_and_files_are_not_cached(world: Any, client: Any) -> None:
    await client.login("city")
    assert (await client.get("/cases")).headers["cache-control"] == "no-store"
    assert (await client.get("/households/1")).headers["cache-control"] == "no-store"
    assert (await client.get("/nope-not-a-page")).headers["cache-control"] == "no-store"
    static = await client.get("/static/css/app.css")
    assert "no-store" not in static.headers.get("cache-control", "")
    assert "strict-transport-security" not in (await client.get("/healthz")).headers


async def test_hsts_in_production(db: Any, clock: Any) -> None:
    from relief_pwa.app import create_app

    app = create_app(dataclasses.replace(load_settings(), hsts=True), clock)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_database_and_media_are_owner_only(tmp_path: Path, monkeypatch: Any) -> None:
    var = tmp_path / "var"
    (var / "media" / "ab").mkdir(parents=True)
    (var / "media" / "ab" / "photo.jpg").write_bytes(b"x")
    (var / "media" / "ab" / "photo.jpg").chmod(0o644)
    (var / "media").chmod(0o755)
    old = var / "relief.sqlite3"
    old.write_bytes(b"")
    old.chmod(0o644)
    monkeypatch.setenv("RELIEF_VAR_DIR", str(var))
    monkeypatch.setenv("RELIEF_MEDIA_DIR", str(var / "media"))
    monkeypatch.setenv("RELIEF_DATABASE_URL", f"sqlite:///{old}")
    settings = load_settings()
    secure_files(settings)

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(old) == 0o600 and mode(var) == 0o700
    assert mode(var / "media") == 0o700 and mode(var / "media" / "ab" / "photo.jpg") == 0o600
    fresh = var / "new.sqlite3"
    connection = sqlite3.connect(fresh)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE t (x)")
    connection.commit()
    assert mode(fresh) == 0o600 and mode(var / "new.sqlite3-wal") == 0o600
    connection.close()
