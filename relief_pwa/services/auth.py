"""Staff accounts and their lifecycle: logins with progressive delays, the
second factor, password changes and resets, and the server-side sessions.

Sessions: the browser holds a random 32-byte token; the table holds only its
SHA-256. A session belongs to one logged-in staff member (anonymous visitors
have none), ends after ``idle`` without use or ``absolute`` after login, and
is deleted with every other session of its account when the password changes
or the account is disabled.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from relief_pwa.core import totp
from relief_pwa.core.enums import Role
from relief_pwa.core.errors import DomainError, NotFoundOrForbidden
from relief_pwa.core.i18n import N_
from relief_pwa.core.passwords import DEMO_PASSWORDS
from relief_pwa.core.permissions import ROLE_LEVELS, Capability, second_factor_required
from relief_pwa.db import one_connection, write_transaction
from relief_pwa.services import identifiers
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.services.passwords import check_new_password
from relief_pwa.tables import LoginAttempt, OrgUnit, RecoveryCode, Staff, WebSession

_hasher = PasswordHasher()
_dummy_hash: list[str] = []

RECOVERY_CODES = 10
TOTP_ISSUER = "Sunshine Relief"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_ok(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _verify_or_dummy(password_hash: str | None, password: str) -> bool:
    """Always one argon2 verification: an unknown username takes as long as a wrong password."""
    if password_hash is None:
        if not _dummy_hash:
            _dummy_hash.append(hash_password(secrets.token_urlsafe(16)))
        password_ok(_dummy_hash[0], password)
        return False
    return password_ok(password_hash, password)


def is_demo_password(password: str) -> bool:
    return password in DEMO_PASSWORDS


@dataclass(frozen=True)
class LoginPolicy:
    """Progressive delays: per account (any address) and per client address."""

    max_failures: int = 5
    window: timedelta = timedelta(hours=24)
    base_delay: int = 2
    max_delay: int = 900
    address_max_failures: int = 20
    address_window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: Any) -> LoginPolicy:
        return cls(
            max_failures=settings.login_max_failures,
            window=timedelta(seconds=settings.login_window_seconds),
            base_delay=settings.login_base_delay_seconds,
            max_delay=settings.login_max_delay_seconds,
            address_max_failures=settings.login_address_max_failures,
            address_window=timedelta(seconds=settings.login_address_window_seconds),
        )


class LoginThrottled(DomainError):
    pass


def actor_from_rows(staff: dict[str, object], org: dict[str, object] | None) -> Actor:
    org = org or {}
    kind = str(org.get("department_kind") or "")
    return Actor(
        staff_id=int(staff["id"]),  # type: ignore[call-overload]
        username=str(staff["username"]),
        display_name=str(staff["display_name"]),
        role=str(staff["role"]),
        org_unit_id=int(staff["org_unit"]),  # type: ignore[call-overload]
        org_path=str(staff["org_path"]),
        org_name=str(org.get("name") or ""),
        department_kind=kind,
        unit_path=str(org.get("path") or "") if kind else "",
    )


async def load_actor(staff_id: int) -> Actor | None:
    """The actor for a logged-in session, or None when the account is gone or disabled."""
    staff = await Staff.select().where((Staff.id == staff_id) & (Staff.active.eq(True))).first()
    if staff is None:
        return None
    org = (
        await OrgUnit.select(OrgUnit.name, OrgUnit.path, OrgUnit.department_kind)
        .where(OrgUnit.id == staff["org_unit"])
        .first()
    )
    return actor_from_rows(staff, org)


# --- login ------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _failures(where: Any, since: datetime) -> tuple[int, datetime | None]:
    rows = await LoginAttempt.select(LoginAttempt.at).where(where & (LoginAttempt.at > since))
    if not rows:
        return 0, None
    return len(rows), max(_aware(r["at"]) for r in rows)


async def login_wait_seconds(username: str, client: str, *, now: datetime, policy: LoginPolicy) -> int:
    """Seconds until the next attempt for this username (from anywhere) or address is heard."""
    by_user, last_user = await _failures(LoginAttempt.username == username, now - policy.window)
    by_client, last_client = await _failures(LoginAttempt.client == client[:64], now - policy.address_window)
    wait = 0.0
    for count, last, free in (
        (by_user, last_user, policy.max_failures),
        (by_client, last_client, policy.address_max_failures),
    ):
        delay = totp.login_delay_seconds(count, free=free, base=policy.base_delay, cap=policy.max_delay)
        if delay and last is not None:
            wait = max(wait, (last + timedelta(seconds=delay) - now).total_seconds())
    return int(-(-wait // 1)) if wait > 0 else 0


async def _refuse_while_waiting(username: str, client: str, now: datetime, policy: LoginPolicy) -> None:
    wait = await login_wait_seconds(username, client, now=now, policy=policy)
    if wait > 0:
        raise LoginThrottled(
            N_("Too many failed attempts. Please wait {seconds} seconds and try again."), seconds=wait
        )


async def _record_failure(username: str, client: str, now: datetime) -> None:
    async with write_transaction(LoginAttempt._meta.db):
        await LoginAttempt.insert(LoginAttempt(username=username, client=client[:64], at=now))


async def _forget_failures(username: str) -> None:
    async with write_transaction(LoginAttempt._meta.db):
        await LoginAttempt.delete().where(LoginAttempt.username == username)


@dataclass(frozen=True)
class PasswordChecked:
    """A right password: the login completes now, or after the second factor."""

    actor: Actor
    needs_second_factor: bool


async def check_login(
    username: str, password: str, *, client: str, now: datetime, policy: LoginPolicy
) -> PasswordChecked:
    """Verify a password; refuse early (without checking it) while a delay is running.

    Unknown, disabled and known accounts take the same path: one argon2
    verification and one recorded failure, so neither the answer nor its time
    tells whether an account exists.
    """
    username = username.strip()[:40]
    await _refuse_while_waiting(username, client, now, policy)
    staff = await Staff.select().where(Staff.username == username).first()
    ok = _verify_or_dummy(staff["password_hash"] if staff else None, password)
    if staff is None or not ok or not staff["active"]:
        await _record_failure(username, client, now)
        raise DomainError(N_("Wrong username or password."))
    needs_second_factor = bool(staff["totp_sealed"])
    if not needs_second_factor:
        await _forget_failures(username)
    org = (
        await OrgUnit.select(OrgUnit.name, OrgUnit.path, OrgUnit.department_kind)
        .where(OrgUnit.id == staff["org_unit"])
        .first()
    )
    return PasswordChecked(actor_from_rows(staff, org), needs_second_factor)


async def check_second_factor(
    staff_id: int, code: str, *, client: str, now: datetime, policy: LoginPolicy
) -> Actor:
    """The second step of a login: a current TOTP code (each used once) or an unused recovery code.

    Failures count against the account like wrong passwords (same delays).
    """
    staff = await Staff.select().where((Staff.id == staff_id) & (Staff.active.eq(True))).first()
    if staff is None or not staff["totp_sealed"]:
        raise DomainError(N_("Please log in again."))
    username = str(staff["username"])
    await _refuse_while_waiting(username, client, now, policy)
    org = (
        await OrgUnit.select(OrgUnit.name, OrgUnit.path, OrgUnit.department_kind)
        .where(OrgUnit.id == staff["org_unit"])
        .first()
    )
    actor = actor_from_rows(staff, org)
    step = totp.verify_totp(
        totp.b32decode(identifiers.opened_totp(staff["totp_sealed"])),
        code,
        now.timestamp(),
        last_step=int(staff["totp_last_step"]),
    )
    if step is not None:
        async with write_transaction(Staff._meta.db):
            # Only a later step wins: two requests with one code cannot both pass.
            await Staff.update({Staff.totp_last_step: step}).where(
                (Staff.id == staff_id) & (Staff.totp_last_step < step)
            )
        await _forget_failures(username)
        return actor
    code_hash = totp.recovery_code_hash(code)
    if len(totp.normalise_recovery_code(code)) == 12:
        async with write_transaction(RecoveryCode._meta.db):
            row = (
                await RecoveryCode.select(RecoveryCode.id)
                .where(
                    (RecoveryCode.staff_id == staff_id)
                    & (RecoveryCode.code_hash == code_hash)
                    & RecoveryCode.used_at.is_null()
                )
                .first()
            )
            if row is not None:
                await RecoveryCode.update({RecoveryCode.used_at: now}).where(RecoveryCode.id == row["id"])
                left = await RecoveryCode.count().where(
                    (RecoveryCode.staff_id == staff_id) & RecoveryCode.used_at.is_null()
                )
                await record_event(
                    actor,
                    "staff.recovery_code_use",
                    "staff",
                    staff_id,
                    org_path=actor.org_path,
                    now=now,
                    after={"codes_left": left},
                )
        if row is not None:
            await _forget_failures(username)
            return actor
    await _record_failure(username, client, now)
    raise DomainError(N_("Wrong or expired code."), field="code")


async def jurisdiction_of(org: dict[str, Any]) -> str:
    """The org path a staff member of ``org`` sees: the unit's subtree, or for a relief
    department the area it serves (its parent, the city or a district)."""
    if not org.get("department_kind") or org.get("parent") is None:
        return str(org["path"])
    parent = await OrgUnit.select(OrgUnit.path).where(OrgUnit.id == org["parent"]).first()
    return str(parent["path"]) if parent else str(org["path"])


async def do_create_staff(
    actor: Actor,
    *,
    username: str,
    display_name: str,
    password: str,
    role: str,
    org_code: str,
    now: datetime,
) -> int:
    """Create a staff account in an org unit suited to the role (city administrators only)."""
    require(actor, Capability.STAFF_MANAGE)
    if role not in {r.value for r in Role}:
        raise DomainError(N_("Unknown role."), field="role")
    if not (3 <= len(username) <= 40) or not username.replace("_", "").replace(".", "").isalnum():
        raise DomainError(N_("Username: 3–40 letters, digits, '.' or '_'."), field="username")
    check_new_password(password, username=username)
    org = await OrgUnit.select().where(OrgUnit.code == org_code).first()
    if org is None or not org["path"].startswith(actor.org_path) or not org["active"]:
        raise DomainError(N_("Unknown org unit code."), field="org_code")
    if org["level"] not in ROLE_LEVELS[role]:
        raise DomainError(N_("This role does not work at that level of the org network."), field="org_code")
    async with write_transaction(Staff._meta.db):
        if await Staff.exists().where(Staff.username == username):
            raise DomainError(N_("This username is taken."), field="username")
        staff = Staff(
            username=username,
            display_name=display_name.strip()[:60] or username,
            password_hash=hash_password(password),
            role=role,
            org_unit=org["id"],
            org_path=await jurisdiction_of(org),
            created_at=now,
            demo_password=is_demo_password(password),
        )
        await staff.save()
        await record_event(
            actor,
            "staff.create",
            "staff",
            staff.id,
            org_path=org["path"],
            now=now,
            after={"username": username, "role": role, "org": org_code},
        )
    return int(staff.id)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    role: str
    org_code: str


async def do_create_demo_staff(
    actor: Actor, accounts: list[DemoAccount], *, password: str, now: datetime
) -> int:
    """Create the demo's accounts, all with one documented demo password (hashed once).

    Only a password from the demo list is accepted, and every account is marked
    ``demo_password``: production refuses to start while one is active, so this
    path can never leave a weak password unnoticed in service. Accounts that
    exist already are kept. Returns how many were created.
    """
    require(actor, Capability.STAFF_MANAGE)
    if not is_demo_password(password):
        raise DomainError(N_("Only a demo password may be given to demo accounts."), field="password")
    orgs = {r["code"]: r for r in await OrgUnit.select()}
    password_hash = hash_password(password)
    created = 0
    async with write_transaction(Staff._meta.db):
        taken = {r["username"] for r in await Staff.select(Staff.username)}
        for account in accounts:
            if account.username in taken:
                continue
            org = orgs.get(account.org_code)
            if org is None or not org["path"].startswith(actor.org_path):
                raise DomainError(N_("Unknown org unit code."), field="org_code")
            if org["level"] not in ROLE_LEVELS[account.role]:
                raise DomainError(
                    N_("This role does not work at that level of the org network."), field="org_code"
                )
            staff = Staff(
                username=account.username,
                display_name=account.display_name,
                password_hash=password_hash,
                role=account.role,
                org_unit=org["id"],
                org_path=await jurisdiction_of(org),
                created_at=now,
                demo_password=True,
            )
            await staff.save()
            taken.add(account.username)
            created += 1
            await record_event(
                actor,
                "staff.create",
                "staff",
                staff.id,
                org_path=org["path"],
                now=now,
                after={"username": account.username, "role": account.role, "org": account.org_code},
            )
    return created


# --- server-side sessions -------------------------------------------------


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    touch: timedelta = timedelta(minutes=5)  # the row's last use is written at most this often

    @classmethod
    def from_settings(cls, settings: Any) -> SessionPolicy:
        return cls(
            idle=timedelta(seconds=settings.session_idle_seconds),
            absolute=timedelta(seconds=settings.session_absolute_seconds),
            touch=timedelta(seconds=min(settings.session_touch_seconds, settings.session_idle_seconds // 4)),
        )

    def deadline(self, created_at: datetime, last_seen_at: datetime) -> datetime:
        return min(last_seen_at + self.idle, created_at + self.absolute)


def new_session_token() -> str:
    """32 random bytes for the cookie; only their hash is stored."""
    return secrets.token_urlsafe(32)


def session_key_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True)
class LoadedSession:
    key_hash: str
    actor: Actor
    created_at: datetime
    last_seen_at: datetime
    must_change_password: bool
    totp_enrolled: bool
    data: dict[str, Any] = field(default_factory=dict)

    def needs_touch(self, now: datetime, policy: SessionPolicy) -> bool:
        return now - self.last_seen_at >= policy.touch

    def second_factor_missing(self, *, production: bool) -> bool:
        return not self.totp_enrolled and second_factor_required(self.actor.role, production=production)


# The session, its staff member and the member's office in one statement: every request
# of a logged-in user runs it, so it is one round trip rather than three (docs/scale.md).
_LOAD_SESSION_SQL = (
    "SELECT s.data, s.created_at, s.last_seen_at, st.id, st.username, st.display_name, st.role,"
    " st.org_unit, st.org_path, st.must_change_password, st.totp_sealed,"
    " o.name AS org_name, o.path AS org_unit_path, o.department_kind"
    " FROM web_session s JOIN staff st ON st.id = s.staff_id AND st.active = {}"
    " LEFT JOIN org_unit o ON o.id = st.org_unit"
    " WHERE s.key = {}"
)


async def load_session(key_hash: str, *, now: datetime, policy: SessionPolicy) -> LoadedSession | None:
    """The live session with this key hash and its (active) staff member; reads only."""
    async with one_connection(WebSession._meta.db, keyed=True):  # every request: by the key
        rows = await WebSession.raw(_LOAD_SESSION_SQL, True, key_hash)
    if not rows:
        return None
    row = rows[0]
    created_at, last_seen_at = _aware(_timestamp(row["created_at"])), _aware(_timestamp(row["last_seen_at"]))
    if policy.deadline(created_at, last_seen_at) <= now:
        return None
    org = {"name": row["org_name"], "path": row["org_unit_path"], "department_kind": row["department_kind"]}
    try:
        data = json.loads(row["data"] or "{}")
    except ValueError:
        data = {}
    return LoadedSession(
        key_hash=key_hash,
        actor=actor_from_rows(row, org),
        created_at=created_at,
        last_seen_at=last_seen_at,
        must_change_password=bool(row["must_change_password"]),
        totp_enrolled=bool(row["totp_sealed"]),
        data=data if isinstance(data, dict) else {},
    )


def _timestamp(value: datetime | str) -> datetime:
    """A timestamp from a raw statement (SQLite may hand back its text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


async def do_start_session(
    staff_id: int, *, now: datetime, policy: SessionPolicy, data: dict[str, Any] | None = None
) -> str:
    """A new session for a staff member who just logged in; expired sessions are purged first."""
    token = new_session_token()
    async with write_transaction(WebSession._meta.db):
        await WebSession.delete().where(WebSession.expires_at <= now)
        await WebSession.insert(
            WebSession(
                key=session_key_hash(token),
                data=json.dumps(data or {}),
                expires_at=policy.deadline(now, now),
                staff_id=staff_id,
                created_at=now,
                last_seen_at=now,
            )
        )
    return token


async def do_touch_session(session: LoadedSession, *, now: datetime, policy: SessionPolicy) -> None:
    """Slide the idle deadline (called at most once per ``policy.touch``, after the response)."""
    async with write_transaction(WebSession._meta.db):
        await WebSession.update(
            {WebSession.last_seen_at: now, WebSession.expires_at: policy.deadline(session.created_at, now)}
        ).where(WebSession.key == session.key_hash)


async def do_rotate_session(key_hash: str, *, now: datetime, policy: SessionPolicy) -> str | None:
    """A new id for the same session (after a change of privilege); the old id stops working."""
    token = new_session_token()
    async with write_transaction(WebSession._meta.db):
        row = (
            await WebSession.select(WebSession.id, WebSession.created_at)
            .where(WebSession.key == key_hash)
            .first()
        )
        if row is None:
            return None
        await WebSession.update(
            {
                WebSession.key: session_key_hash(token),
                WebSession.last_seen_at: now,
                WebSession.expires_at: policy.deadline(_aware(row["created_at"]), now),
            }
        ).where(WebSession.id == row["id"])
    return token


async def do_end_session(key_hash: str) -> None:
    async with write_transaction(WebSession._meta.db):
        await WebSession.delete().where(WebSession.key == key_hash)


async def do_purge_sessions(now: datetime) -> int:
    """Delete expired sessions and forgotten login failures (the periodic task and every login)."""
    async with write_transaction(WebSession._meta.db):
        expired = await WebSession.count().where(WebSession.expires_at <= now)
        await WebSession.delete().where(WebSession.expires_at <= now)
        await LoginAttempt.delete().where(LoginAttempt.at < now - timedelta(days=30))
    return int(expired)


async def _end_sessions_of(staff_id: int, *, keep: str = "") -> int:
    """Delete a staff member's sessions (inside the caller's transaction), except ``keep``."""
    where: Any = WebSession.staff_id == staff_id
    if keep:
        where = where & (WebSession.key != keep)
    count = await WebSession.count().where(where)
    await WebSession.delete().where(where)
    return int(count)


async def do_end_other_sessions(actor: Actor, *, keep: str, now: datetime) -> int:
    """ "Log out everywhere else": the staff member's other sessions end."""
    assert actor.staff_id is not None
    async with write_transaction(WebSession._meta.db):
        count = await _end_sessions_of(actor.staff_id, keep=keep)
        await record_event(
            actor,
            "staff.sessions_revoke",
            "staff",
            actor.staff_id,
            org_path=actor.org_path,
            now=now,
            after={"sessions_ended": count, "reason": "user"},
        )
    return count


async def count_sessions(staff_id: int, *, now: datetime) -> int:
    return int(
        await WebSession.count().where((WebSession.staff_id == staff_id) & (WebSession.expires_at > now))
    )


# --- passwords ----------------------------------------------------------------------


async def do_change_password(actor: Actor, *, current: str, new: str, confirm: str, now: datetime) -> None:
    """The staff member changes their own password; every session of the account ends
    (the handler starts a fresh one for this browser)."""
    assert actor.staff_id is not None
    staff = await Staff.select(Staff.password_hash).where(Staff.id == actor.staff_id).first()
    if staff is None or not password_ok(staff["password_hash"], current):
        raise DomainError(N_("The current password is wrong."), field="current")
    check_new_password(new, username=actor.username)
    if new != confirm:
        raise DomainError(N_("The two new passwords differ."), field="confirm")
    if new == current:
        raise DomainError(N_("Choose a password different from the current one."), field="password")
    async with write_transaction(Staff._meta.db):
        await Staff.update(
            {
                Staff.password_hash: hash_password(new),
                Staff.must_change_password: False,
                Staff.demo_password: is_demo_password(new),
            }
        ).where(Staff.id == actor.staff_id)
        ended = await _end_sessions_of(actor.staff_id)
        await record_event(
            actor,
            "staff.password_change",
            "staff",
            actor.staff_id,
            org_path=actor.org_path,
            now=now,
            after={"sessions_ended": ended},
        )


def temporary_password() -> str:
    """A one-time password an administrator hands over (60 bits, groups of four)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


async def _staff_in_scope(actor: Actor, staff_id: int) -> dict[str, Any]:
    staff = await Staff.select().where(Staff.id == staff_id).first()
    if staff is None or not str(staff["org_path"]).startswith(actor.org_path):
        raise NotFoundOrForbidden()
    return staff


async def do_reset_password(
    actor: Actor, staff_id: int, *, password: str, now: datetime, remove_second_factor: bool = False
) -> str:
    """An administrator sets a temporary password (typed, or generated when empty).

    The account must choose its own at the next login; its sessions end now.
    ``remove_second_factor`` also turns off a lost authenticator and its recovery
    codes (where a second factor is required, the account enrols again at login).
    Returns the temporary password, to be shown once.
    """
    require(actor, Capability.STAFF_MANAGE)
    staff = await _staff_in_scope(actor, staff_id)
    if staff["id"] == actor.staff_id:
        raise DomainError(N_("Change your own password on your account page."))
    generated = not password
    password = password or temporary_password()
    check_new_password(password, username=str(staff["username"]))
    async with write_transaction(Staff._meta.db):
        await Staff.update(
            {
                Staff.password_hash: hash_password(password),
                Staff.must_change_password: True,
                Staff.demo_password: is_demo_password(password),
            }
        ).where(Staff.id == staff_id)
        ended = await _end_sessions_of(staff_id)
        await record_event(
            actor,
            "staff.password_reset",
            "staff",
            staff_id,
            org_path=str(staff["org_path"]),
            now=now,
            after={"must_change_password": True, "generated": generated, "sessions_ended": ended},
        )
        if remove_second_factor and staff["totp_sealed"]:
            await Staff.update({Staff.totp_sealed: "", Staff.totp_last_step: 0}).where(Staff.id == staff_id)
            await RecoveryCode.delete().where(RecoveryCode.staff_id == staff_id)
            await record_event(
                actor,
                "staff.2fa_disable",
                "staff",
                staff_id,
                org_path=str(staff["org_path"]),
                now=now,
                after={"reason": "reset by an administrator"},
            )
    return password


# --- the second factor ----------------------------------------------------------------


def new_totp_secret() -> str:
    return totp.b32encode(secrets.token_bytes(20))


def enrolment_signature(secret_key: str, staff_id: int, secret_b32: str) -> str:
    """Binds a proposed TOTP secret (carried in the enrolment form) to one account."""
    message = f"totp-enrol|{staff_id}|{secret_b32}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def totp_uri(actor: Actor, secret_b32: str) -> str:
    return totp.otpauth_uri(secret_b32, account=actor.username, issuer=TOTP_ISSUER)


def _recovery_code() -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(12))
    return "-".join(raw[i : i + 4] for i in range(0, 12, 4))


async def do_enrol_totp(actor: Actor, *, secret_b32: str, code: str, now: datetime) -> list[str]:
    """Turn the second factor on once a code from the app proves the secret was stored.

    Returns 10 new single-use recovery codes (shown once; stored hashed).
    """
    assert actor.staff_id is not None
    try:
        secret = totp.b32decode(secret_b32)
    except ValueError:
        raise DomainError(N_("Please start the set-up again."), field="code") from None
    step = totp.verify_totp(secret, code, now.timestamp())
    if step is None:
        raise DomainError(N_("Wrong or expired code."), field="code")
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    async with write_transaction(Staff._meta.db):
        await Staff.update(
            {Staff.totp_sealed: identifiers.sealed_totp(secret_b32), Staff.totp_last_step: step}
        ).where(Staff.id == actor.staff_id)
        await RecoveryCode.delete().where(RecoveryCode.staff_id == actor.staff_id)
        await RecoveryCode.insert(
            *[
                RecoveryCode(staff_id=actor.staff_id, code_hash=totp.recovery_code_hash(c), created_at=now)
                for c in codes
            ]
        )
        await record_event(
            actor,
            "staff.2fa_enrol",
            "staff",
            actor.staff_id,
            org_path=actor.org_path,
            now=now,
            after={"recovery_codes": len(codes)},
        )
    return codes


async def do_disable_totp(actor: Actor, *, password: str, production: bool, now: datetime) -> None:
    """Turn the second factor off (asks for the password; refused where it is required)."""
    assert actor.staff_id is not None
    if second_factor_required(actor.role, production=production):
        raise DomainError(N_("Your role must keep a second factor."))
    staff = await Staff.select(Staff.password_hash).where(Staff.id == actor.staff_id).first()
    if staff is None or not password_ok(staff["password_hash"], password):
        raise DomainError(N_("The current password is wrong."), field="current")
    async with write_transaction(Staff._meta.db):
        await Staff.update({Staff.totp_sealed: "", Staff.totp_last_step: 0}).where(Staff.id == actor.staff_id)
        await RecoveryCode.delete().where(RecoveryCode.staff_id == actor.staff_id)
        await record_event(
            actor, "staff.2fa_disable", "staff", actor.staff_id, org_path=actor.org_path, now=now
        )


@dataclass(frozen=True)
class AccountView:
    totp_enrolled: bool
    recovery_codes_left: int
    sessions: int
    must_change_password: bool


async def get_account(actor: Actor, *, now: datetime) -> AccountView:
    assert actor.staff_id is not None
    staff = (
        await Staff.select(Staff.totp_sealed, Staff.must_change_password)
        .where(Staff.id == actor.staff_id)
        .first()
    )
    left = await RecoveryCode.count().where(
        (RecoveryCode.staff_id == actor.staff_id) & RecoveryCode.used_at.is_null()
    )
    return AccountView(
        totp_enrolled=bool(staff and staff["totp_sealed"]),
        recovery_codes_left=int(left),
        sessions=await count_sessions(actor.staff_id, now=now),
        must_change_password=bool(staff and staff["must_change_password"]),
    )


# --- production start-up ------------------------------------------------------------


async def accounts_with_demo_passwords() -> list[str]:
    """Active accounts whose password is a demo password (production refuses to start).

    Every path that sets a password records ``demo_password``; accounts from
    before that column (NULL) are checked once here with argon2 and the answer
    stored, so later start-ups cost one indexed query, not one argon2 per account.
    """
    unknown = await Staff.select(Staff.id, Staff.password_hash).where(Staff.demo_password.is_null())
    for row in unknown:
        flagged = any(password_ok(row["password_hash"], p) for p in DEMO_PASSWORDS)
        async with write_transaction(Staff._meta.db):
            await Staff.update({Staff.demo_password: flagged}).where(Staff.id == row["id"])
    rows = (
        await Staff.select(Staff.username)
        .where(Staff.demo_password.eq(True) & Staff.active.eq(True))
        .order_by(Staff.username)
    )
    return [str(r["username"]) for r in rows]


async def list_staff(actor: Actor) -> list[dict[str, object]]:
    """Staff accounts within the actor's jurisdiction (city administrators and supervisors)."""
    require(actor, Capability.STAFF_READ)
    return await (
        Staff.select(
            Staff.id,
            Staff.username,
            Staff.display_name,
            Staff.role,
            Staff.active,
            Staff.must_change_password,
            Staff.org_unit.name,
            Staff.org_unit.code,
        )
        .where(Staff.org_path.like(f"{actor.org_path}%"))
        .order_by(Staff.org_path)
        .order_by(Staff.username)
    )


async def do_set_staff_active(actor: Actor, staff_id: int, active: bool, *, now: datetime) -> None:
    """Disable or re-enable an account; disabling deletes its sessions (re-enabling brings none back)."""
    require(actor, Capability.STAFF_MANAGE)
    staff = await _staff_in_scope(actor, staff_id)
    if staff["id"] == actor.staff_id:
        raise DomainError(N_("You cannot disable your own account."))
    async with write_transaction(Staff._meta.db):
        await Staff.update({Staff.active: active}).where(Staff.id == staff_id)
        await record_event(
            actor,
            "staff.enable" if active else "staff.disable",
            "staff",
            staff_id,
            org_path=str(staff["org_path"]),
            now=now,
            before={"active": staff["active"]},
            after={"active": active},
        )
        if not active:
            ended = await _end_sessions_of(staff_id)
            await record_event(
                actor,
                "staff.sessions_revoke",
                "staff",
                staff_id,
                org_path=str(staff["org_path"]),
                now=now,
                after={"sessions_ended": ended, "reason": "disabled"},
            )
