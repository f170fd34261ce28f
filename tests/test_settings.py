from __future__ import annotations

import subprocess
import sys

import pytest

from relief_pwa.adapters.crypto import new_data_key_line, new_index_key
from relief_pwa.settings import SettingsError, load_settings

# Keys that production needs outside the database (identifiers at rest).
IDENTIFIER_KEYS = {"RELIEF_DATA_KEYS": new_data_key_line("k1"), "RELIEF_BLIND_INDEX_KEY": new_index_key()}


def test_demo_mode_generates_and_keeps_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("RELIEF_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("RELIEF_SECRET_KEY", raising=False)
    monkeypatch.delenv("RELIEF_DATABASE_URL", raising=False)
    monkeypatch.delenv("RELIEF_MEDIA_DIR", raising=False)
    first = load_settings()
    second = load_settings()
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key  # sessions survive a restart
    assert (tmp_path / "dev-secret-key").read_text() == first.secret_key
    assert first.database_url == f"sqlite:///{tmp_path / 'relief.sqlite3'}"
    assert first.media_dir == tmp_path / "media"


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("RELIEF_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("RELIEF_MODE", "production")
    for name, value in IDENTIFIER_KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RELIEF_SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match="RELIEF_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("RELIEF_SECRET_KEY", "short")
    with pytest.raises(SettingsError):
        load_settings()
    monkeypatch.setenv("RELIEF_SECRET_KEY", "k" * 40)
    monkeypatch.delenv("RELIEF_AUDIT_KEY", raising=False)
    monkeypatch.setenv("RELIEF_BACKUP_KEY", "b" * 40)
    with pytest.raises(SettingsError, match="RELIEF_AUDIT_KEY"):
        load_settings()  # the audit chain's key must come from outside the database
    key_file = tmp_path / "audit.key"
    key_file.write_text("a" * 64)
    monkeypatch.setenv("RELIEF_AUDIT_KEY_FILE", str(key_file))
    settings = load_settings()
    assert settings.cookie_secure is True and settings.hsts is True
    assert settings.audit_key == "a" * 64
    assert not (tmp_path / "dev-secret-key").exists()
    assert not (tmp_path / "audit-key").exists()


def test_demo_mode_generates_owner_only_audit_and_backup_keys(monkeypatch, tmp_path):
    monkeypatch.setenv("RELIEF_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("RELIEF_AUDIT_KEY", raising=False)
    monkeypatch.delenv("RELIEF_BACKUP_KEY", raising=False)
    first, second = load_settings(), load_settings()
    assert first.audit_key == second.audit_key and len(first.audit_key) == 64
    assert first.backup_key == second.backup_key
    assert (tmp_path / "audit-key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "backup-key").stat().st_mode & 0o777 == 0o600


def test_postgresql_url_is_taken_and_nonsense_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("RELIEF_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("RELIEF_DATABASE_URL", "postgresql://u:p@127.0.0.1:5432/relief")
    assert load_settings().database_url.startswith("postgresql://")
    assert not load_settings().is_sqlite
    monkeypatch.setenv("RELIEF_DATABASE_URL", "mysql://x")
    with pytest.raises(SettingsError):
        load_settings()


def test_production_refuses_demo_data(tmp_path):
    env = {
        "RELIEF_MODE": "production",
        "RELIEF_SECRET_KEY": "k" * 40,
        "RELIEF_AUDIT_KEY": "a" * 40,
        "RELIEF_BACKUP_KEY": "b" * 40,
        "RELIEF_VAR_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        **IDENTIFIER_KEYS,
    }
    result = subprocess.run(
        [sys.executable, "-m", "relief_pwa", "seed-demo"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "refusing to load demo data" in (result.stderr + result.stdout)


def test_production_refuses_to_start_without_identifier_keys(monkeypatch, tmp_path):
    monkeypatch.setenv("RELIEF_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("RELIEF_MODE", "production")
    monkeypatch.setenv("RELIEF_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("RELIEF_AUDIT_KEY", "a" * 64)
    monkeypatch.setenv("RELIEF_BACKUP_KEY", "b" * 44)
    monkeypatch.delenv("RELIEF_DATA_KEYS", raising=False)
    monkeypatch.setenv("RELIEF_BLIND_INDEX_KEY", IDENTIFIER_KEYS["RELIEF_BLIND_INDEX_KEY"])
    with pytest.raises(SettingsError, match="RELIEF_DATA_KEYS"):
        load_settings()
    key_file = tmp_path / "data-keys"
    key_file.write_text(IDENTIFIER_KEYS["RELIEF_DATA_KEYS"])
    monkeypatch.setenv("RELIEF_DATA_KEYS_FILE", str(key_file))
    assert load_settings().data_keys == IDENTIFIER_KEYS["RELIEF_DATA_KEYS"]


def test_replica_and_photo_store_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("RELIEF_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("RELIEF_DATABASE_URL", raising=False)
    monkeypatch.setenv("RELIEF_DATABASE_REPLICA_URL", "postgresql://u:p@replica:5432/relief")
    with pytest.raises(SettingsError, match="REPLICA"):  # a replica of SQLite does not exist
        load_settings()
    monkeypatch.setenv("RELIEF_DATABASE_URL", "postgresql://u:p@primary:5432/relief")
    assert load_settings().database_replica_url == "postgresql://u:p@replica:5432/relief"
    monkeypatch.setenv("RELIEF_PHOTO_STORE", "/srv/photos")
    with pytest.raises(SettingsError, match="PHOTO_STORE"):
        load_settings()
    secret_file = tmp_path / "s3-secret"
    secret_file.write_text("s3cr3t\n")
    monkeypatch.setenv("RELIEF_PHOTO_STORE", "s3://relief-photos/jinan")
    monkeypatch.setenv("RELIEF_S3_ENDPOINT_URL", "https://minio.internal:9000")
    monkeypatch.setenv("RELIEF_S3_SECRET_ACCESS_KEY_FILE", str(secret_file))
    settings = load_settings()
    assert (settings.photo_store, settings.s3_endpoint_url) == (
        "s3://relief-photos/jinan",
        "https://minio.internal:9000",
    )
    assert settings.s3_secret_access_key == "s3cr3t"


def test_sms_gateway_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("RELIEF_VAR_DIR", str(tmp_path))
    assert load_settings().sms_gateway_url == ""  # SMS off by default
    monkeypatch.setenv("RELIEF_SMS_GATEWAY_URL", "https://sms.example.test/v1/messages")
    with pytest.raises(SettingsError, match="RELIEF_SMS_GATEWAY_KEY"):
        load_settings()
    key_file = tmp_path / "sms-key"
    key_file.write_text("from-a-file\n")
    monkeypatch.setenv("RELIEF_SMS_GATEWAY_KEY_FILE", str(key_file))
    monkeypatch.setenv("RELIEF_SMS_WEBHOOK_SECRET", "shared")
    monkeypatch.setenv("RELIEF_SMS_SENDER_ID", "济南民政")
    settings = load_settings()
    assert (settings.sms_gateway_key, settings.sms_webhook_secret, settings.sms_sender_id) == (
        "from-a-file",
        "shared",
        "济南民政",
    )
    monkeypatch.setenv("RELIEF_SMS_GATEWAY_URL", "ftp://sms.example.test")
    with pytest.raises(SettingsError, match="http"):
        load_settings()
