"""One settings object, read from the environment once.

Every knob of the running system is here; nothing else reads ``os.environ``.
Demo mode (the default) works on a fresh machine with no configuration:
SQLite and photos under ``./var/`` and a generated development secret key.
Production mode refuses to start without a real secret key and refuses demo data.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from relief_pwa.adapters.crypto import new_data_key_line, new_index_key
from relief_pwa.core.retention import RetentionConfigError, parse_overrides

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(RuntimeError):
    """The environment describes a configuration that must not start."""


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"RELIEF_{name}", default).strip()


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name, "1" if default else "0").lower()
    return raw in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"RELIEF_{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"RELIEF_{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise SettingsError(f"RELIEF_{name} must be positive")
    return value


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Build with :func:`load_settings`, not by hand."""

    mode: str  # "demo" or "production"
    var_dir: Path
    database_url: str  # "sqlite:///abs/path.db" or "postgresql://..."
    secret_key: str
    media_dir: Path
    default_language: str = "zh_Hans"
    sqlite_max_connections: int = 4
    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 12 * 3600
    session_touch_seconds: int = 5 * 60
    cookie_secure: bool = False
    login_max_failures: int = 5
    login_window_seconds: int = 24 * 3600
    login_base_delay_seconds: int = 2
    login_max_delay_seconds: int = 15 * 60
    login_address_max_failures: int = 20
    login_address_window_seconds: int = 15 * 60
    trusted_proxies: tuple[str, ...] = ()
    # Where the public reaches this app (QR codes on cards and posters, the bot's
    # webhook). Empty: each page uses the address it was requested at.
    public_base_url: str = ""
    bot_token: str = ""
    bot_webhook_secret: str = ""
    bot_api_base_url: str = "https://api.telegram.org/bot"
    bot_username: str = "SunshineReliefBot"
    bot_mode: str = "webhook"  # "webhook" or "polling" (local development)
    bot_rate_global_per_second: float = 30.0
    bot_rate_per_chat_seconds: float = 1.0
    # SMS to applicants without a bound chat (docs/sms.md); off while the URL is empty.
    sms_gateway_url: str = ""
    sms_gateway_key: str = ""
    sms_sender_id: str = "阳光救助"
    sms_webhook_secret: str = ""
    sms_rate_per_second: float = 20.0
    sms_timeout_seconds: float = 10.0
    read_burst_per_hour: int = 200  # household files opened by one account in an hour before it is flagged
    # Keys kept outside the database: identifiers at rest (adapters/crypto.py: data keys
    # "id:base64,..." with the current first, the blind-index key), the audit chain's HMAC key
    # and the backup encryption key.
    data_keys: str = ""
    blind_index_key: str = ""
    audit_key: str = ""
    backup_key: str = ""
    audit_checkpoint_file: Path = Path("audit-checkpoints.jsonl")
    hsts: bool = False
    # Gzip pages in the app (phones over slow networks). Behind nginx, off: nginx compresses
    # in C in its own processes, and the app's one core per process serves more pages.
    compress_pages: bool = True
    import_max_rows: int = 300_000  # caseload import: rows read from one file, all sheets
    import_max_bytes: int = 64 * 1024 * 1024  # caseload import: largest file accepted
    # Retention periods changed from the defaults of core/retention.py ("photos=1095,..."; docs/retention.md).
    retention_days: dict[str, int] = field(default_factory=dict)
    # A streaming replica for heavy read-only pages (docs/scale.md); empty: the primary serves all.
    database_replica_url: str = ""
    replica_after_write_seconds: int = 10  # a writer reads from the primary this long after a write
    # Where photos live: empty for media_dir/photos, or "s3://bucket/prefix" (docs/scale.md).
    photo_store: str = ""
    s3_endpoint_url: str = ""  # empty: AWS itself; e.g. https://minio.example:9000
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    # The in-app scheduler of daily work (services/scheduler.py) looks for due tasks this
    # often; 0 turns it off (run `relief-pwa tick` from cron or a systemd timer instead).
    scheduler_interval_seconds: int = 600
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path:
        if not self.is_sqlite:
            raise SettingsError("not an SQLite database URL")
        return Path(self.database_url.removeprefix("sqlite:///"))

    @property
    def is_demo(self) -> bool:
        return self.mode == "demo"

    @property
    def is_production(self) -> bool:
        return self.mode == "production"

    @property
    def audit_key_bytes(self) -> bytes:
        return self.audit_key.encode("utf-8")


def _env_networks(name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or CIDR networks, validated and normalised."""
    networks = []
    for part in _env(name).split(","):
        if not part.strip():
            continue
        try:
            networks.append(str(ipaddress.ip_network(part.strip(), strict=False)))
        except ValueError as exc:
            raise SettingsError(f"RELIEF_{name}: {part.strip()!r} is not an IP address or network") from exc
    return tuple(networks)


def _demo_secret(var_dir: Path) -> str:
    """A development key generated once and kept under var/ so sessions survive restarts."""
    key_file = var_dir / "dev-secret-key"
    if key_file.exists():
        return key_file.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _generated_key(var_dir: Path, name: str, make: Callable[[], str]) -> str:
    """A key generated once into ``var/<name>`` (demo mode only), readable by the owner alone."""
    key_file = var_dir / name
    if key_file.exists():
        return key_file.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = make()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def _key_setting(name: str, *, mode: str, var_dir: Path, demo_file: str, make: Callable[[], str]) -> str:
    """A key from ``RELIEF_<name>`` or the file named by ``RELIEF_<name>_FILE``; generated in demo mode."""
    key = _env(name)
    key_file = _env(f"{name}_FILE")
    if not key and key_file:
        try:
            key = Path(key_file).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"RELIEF_{name}_FILE cannot be read: {exc}") from exc
    if key:
        if mode == "production" and len(key) < 32:
            raise SettingsError(f"RELIEF_{name} must be at least 32 characters")
        return key
    if mode == "production":
        raise SettingsError(
            f"production mode needs RELIEF_{name} or RELIEF_{name}_FILE (kept outside the database)"
        )
    return _generated_key(var_dir, demo_file, make)


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def load_settings() -> Settings:
    """Read the environment (``RELIEF_*`` variables) into a validated Settings."""
    mode = _env("MODE", "demo").lower()
    if mode not in {"demo", "production"}:
        raise SettingsError(f"RELIEF_MODE must be 'demo' or 'production', got {mode!r}")
    var_dir = Path(_env("VAR_DIR", str(REPO_ROOT / "var"))).resolve()
    database_url = _env("DATABASE_URL") or f"sqlite:///{var_dir / 'relief.sqlite3'}"
    if database_url.startswith("sqlite:///"):
        # Absolute paths only: a relative path silently follows the working directory.
        database_url = f"sqlite:///{Path(database_url.removeprefix('sqlite:///')).resolve()}"
    elif not database_url.startswith(("postgresql://", "postgres://")):
        raise SettingsError("RELIEF_DATABASE_URL must start with sqlite:/// or postgresql://")
    secret_key = _env("SECRET_KEY")
    if mode == "production":
        if len(secret_key) < 32:
            raise SettingsError("production mode needs RELIEF_SECRET_KEY of at least 32 characters")
    elif not secret_key:
        secret_key = _demo_secret(var_dir)
    replica_url = _env("DATABASE_REPLICA_URL")
    if replica_url and not (
        replica_url.startswith(("postgresql://", "postgres://"))
        and database_url.startswith(("postgresql://", "postgres://"))
    ):
        raise SettingsError(
            "RELIEF_DATABASE_REPLICA_URL needs PostgreSQL for both the primary and the replica"
        )
    photo_store = _env("PHOTO_STORE")
    if photo_store and not (photo_store.startswith("s3://") and len(photo_store) > len("s3://")):
        raise SettingsError("RELIEF_PHOTO_STORE must be empty (local disk) or s3://bucket/prefix")
    s3_secret = _env("S3_SECRET_ACCESS_KEY")
    if not s3_secret and _env("S3_SECRET_ACCESS_KEY_FILE"):
        try:
            s3_secret = Path(_env("S3_SECRET_ACCESS_KEY_FILE")).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"RELIEF_S3_SECRET_ACCESS_KEY_FILE cannot be read: {exc}") from exc
    sms_url = _env("SMS_GATEWAY_URL")
    if sms_url and not sms_url.startswith(("https://", "http://")):
        raise SettingsError("RELIEF_SMS_GATEWAY_URL must be an http(s) URL")
    sms_key = _secret_or_file("SMS_GATEWAY_KEY")
    if sms_url and not sms_key:
        raise SettingsError("RELIEF_SMS_GATEWAY_URL needs RELIEF_SMS_GATEWAY_KEY (or _FILE)")
    language = _env("LANGUAGE", "zh_Hans")
    if language not in {"zh_Hans", "en"}:
        raise SettingsError("RELIEF_LANGUAGE must be zh_Hans or en")
    return Settings(
        mode=mode,
        var_dir=var_dir,
        database_url=database_url,
        secret_key=secret_key,
        media_dir=Path(_env("MEDIA_DIR", str(var_dir / "media"))).resolve(),
        default_language=language,
        sqlite_max_connections=_env_int("SQLITE_MAX_CONNECTIONS", 4),
        session_idle_seconds=_env_int("SESSION_IDLE_SECONDS", 30 * 60),
        session_absolute_seconds=_env_int("SESSION_ABSOLUTE_SECONDS", 12 * 3600),
        session_touch_seconds=_env_int("SESSION_TOUCH_SECONDS", 5 * 60),
        cookie_secure=_env_bool("COOKIE_SECURE", mode == "production"),
        login_max_failures=_env_int("LOGIN_MAX_FAILURES", 5),
        login_window_seconds=_env_int("LOGIN_WINDOW_SECONDS", 24 * 3600),
        login_base_delay_seconds=_env_int("LOGIN_BASE_DELAY_SECONDS", 2),
        login_max_delay_seconds=_env_int("LOGIN_MAX_DELAY_SECONDS", 15 * 60),
        login_address_max_failures=_env_int("LOGIN_ADDRESS_MAX_FAILURES", 20),
        login_address_window_seconds=_env_int("LOGIN_ADDRESS_WINDOW_SECONDS", 15 * 60),
        trusted_proxies=_env_networks("TRUSTED_PROXIES"),
        public_base_url=_env("PUBLIC_BASE_URL").rstrip("/"),
        bot_token=_env("BOT_TOKEN"),
        bot_webhook_secret=_env("BOT_WEBHOOK_SECRET"),
        bot_api_base_url=_env("BOT_API_BASE_URL", "https://api.telegram.org/bot"),
        bot_username=_env("BOT_USERNAME", "SunshineReliefBot"),
        bot_mode=_env("BOT_MODE", "webhook"),
        bot_rate_global_per_second=_env_float("BOT_RATE_PER_SECOND", 30.0),
        bot_rate_per_chat_seconds=_env_float("BOT_RATE_PER_CHAT_SECONDS", 1.0),
        read_burst_per_hour=_env_int("READ_BURST_PER_HOUR", 200),
        data_keys=_key_setting(
            "DATA_KEYS",
            mode=mode,
            var_dir=var_dir,
            demo_file="data-keys",
            make=lambda: new_data_key_line("k1"),
        ),
        blind_index_key=_key_setting(
            "BLIND_INDEX_KEY", mode=mode, var_dir=var_dir, demo_file="blind-index-key", make=new_index_key
        ),
        audit_key=_key_setting(
            "AUDIT_KEY", mode=mode, var_dir=var_dir, demo_file="audit-key", make=lambda: secrets.token_hex(32)
        ),
        backup_key=_key_setting(
            "BACKUP_KEY", mode=mode, var_dir=var_dir, demo_file="backup-key", make=_fernet_key
        ),
        audit_checkpoint_file=Path(
            _env("AUDIT_CHECKPOINT_FILE", str(var_dir / "audit-checkpoints.jsonl"))
        ).resolve(),
        hsts=_env_bool("HSTS", mode == "production"),
        compress_pages=_env_bool("COMPRESS_PAGES", True),
        import_max_rows=_env_int("IMPORT_MAX_ROWS", 300_000),
        import_max_bytes=_env_int("IMPORT_MAX_BYTES", 64 * 1024 * 1024),
        retention_days=_retention_days(),
        database_replica_url=replica_url,
        replica_after_write_seconds=_env_int("REPLICA_AFTER_WRITE_SECONDS", 10),
        photo_store=photo_store,
        s3_endpoint_url=_env("S3_ENDPOINT_URL"),
        s3_region=_env("S3_REGION"),
        s3_access_key_id=_env("S3_ACCESS_KEY_ID"),
        s3_secret_access_key=s3_secret,
        scheduler_interval_seconds=_scheduler_interval(),
        sms_gateway_url=sms_url,
        sms_gateway_key=sms_key,
        sms_sender_id=_env("SMS_SENDER_ID", "阳光救助"),
        sms_webhook_secret=_secret_or_file("SMS_WEBHOOK_SECRET"),
        sms_rate_per_second=_env_float("SMS_RATE_PER_SECOND", 20.0),
        sms_timeout_seconds=_env_float("SMS_TIMEOUT_SECONDS", 10.0),
    )


def _secret_or_file(name: str) -> str:
    """``RELIEF_<name>``, or the contents of the file named by ``RELIEF_<name>_FILE``."""
    value = _env(name)
    if not value and _env(f"{name}_FILE"):
        try:
            value = Path(_env(f"{name}_FILE")).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"RELIEF_{name}_FILE cannot be read: {exc}") from exc
    return value


def _retention_days() -> dict[str, int]:
    try:
        return parse_overrides(_env("RETENTION_DAYS"))
    except RetentionConfigError as exc:
        raise SettingsError(f"RELIEF_RETENTION_DAYS: {exc}") from exc


def _scheduler_interval() -> int:
    seconds = _env_int("SCHEDULER_INTERVAL_SECONDS", 600)
    if seconds < 0:
        raise SettingsError("RELIEF_SCHEDULER_INTERVAL_SECONDS must be 0 (off) or a number of seconds")
    return seconds


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
