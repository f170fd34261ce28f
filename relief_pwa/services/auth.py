"""Staff accounts, password checks with throttling, and the session store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from relief_pwa.core.enums import Role
from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.permissions import ROLE_LEVELS, Capability
from relief_pwa.db import write_transaction
from relief_pwa.services.actors import Actor, require
from relief_pwa.services.audit import record_event
from relief_pwa.tables import LoginAttempt, OrgUnit, Staff, WebSession

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _password_ok(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    window: timedelta


class LoginThrottled(DomainError):
    pass


def actor_from_rows(staff: dict[str, object], org_name: str) -> Actor:
    return Actor(
        staff_id=int(staff["id"]),  # type: ignore[call-overload]
        username=str(staff["username"]),
        display_name=str(staff["display_name"]),
        role=str(staff["role"]),
        org_unit_id=int(staff["org_unit"]),  # type: ignore[call-overload]
        org_path=str(staff["org_path"]),
        org_name=org_name,
    )


async def load_actor(staff_id: int) -> Actor | None:
    """The actor for a logged-in session, or None when the account is gone or disabled."""
    staff = await Staff.select().where((Staff.id == staff_id) & (Staff.active.eq(True))).first()
    if staff is None:
        return None
    org = await OrgUnit.select(OrgUnit.name).where(OrgUnit.id == staff["org_unit"]).first()
    return actor_from_rows(staff, org["name"] if org else "")


async def check_login(
    username: str, password: str, *, client: str, now: datetime, policy: LoginPolicy
) -> Actor:
    """Verify a password, refusing early when the username or client failed too often."""
    username = username.strip()[:40]
    since = now - policy.window
    recent = LoginAttempt.at > since
    by_user = await LoginAttempt.count().where(recent & (LoginAttempt.username == username))
    by_client = await LoginAttempt.count().where(recent & (LoginAttempt.client == client[:64]))
    if by_user >= policy.max_failures or by_client >= policy.max_failures * 4:
        raise LoginThrottled(
            N_("Too many failed attempts. Please wait {minutes} minutes and try again."),
            minutes=int(policy.window.total_seconds() // 60),
        )
    staff = await Staff.select().where((Staff.username == username) & (Staff.active.eq(True))).first()
    if staff is None or not _password_ok(staff["password_hash"], password):
        async with write_transaction(LoginAttempt._meta.db):
            await LoginAttempt.insert(LoginAttempt(username=username, client=client[:64], at=now))
        raise DomainError(N_("Wrong username or password."))
    async with write_transaction(LoginAttempt._meta.db):
        await LoginAttempt.delete().where(LoginAttempt.username == username)
    org = await OrgUnit.select(OrgUnit.name).where(OrgUnit.id == staff["org_unit"]).first()
    return actor_from_rows(staff, org["name"] if org else "")


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
    if len(password) < 8 and actor.staff_id is not None:
        raise DomainError(N_("Password: at least 8 characters."), field="password")
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
            org_path=org["path"],
            created_at=now,
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


# --- server-side sessions -------------------------------------------------


async def session_get(key: str, now: datetime) -> str | None:
    row = await WebSession.select(WebSession.data, WebSession.expires_at).where(WebSession.key == key).first()
    if row is None or row["expires_at"] <= now:
        return None
    return str(row["data"])


async def session_set(key: str, data: str, expires_at: datetime) -> None:
    async with write_transaction(WebSession._meta.db):
        await WebSession.insert(WebSession(key=key, data=data, expires_at=expires_at)).on_conflict(
            target=WebSession.key,
            action="DO UPDATE",
            values=[WebSession.data, WebSession.expires_at],
        )


async def session_delete(key: str) -> None:
    async with write_transaction(WebSession._meta.db):
        await WebSession.delete().where(WebSession.key == key)


async def session_delete_expired(now: datetime) -> None:
    async with write_transaction(WebSession._meta.db):
        await WebSession.delete().where(WebSession.expires_at <= now)


async def session_expires_at(key: str) -> datetime | None:
    row = await WebSession.select(WebSession.expires_at).where(WebSession.key == key).first()
    return row["expires_at"] if row else None


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
            Staff.org_unit.name,
            Staff.org_unit.code,
        )
        .where(Staff.org_path.like(f"{actor.org_path}%"))
        .order_by(Staff.org_path)
        .order_by(Staff.username)
    )


async def do_set_staff_active(actor: Actor, staff_id: int, active: bool, *, now: datetime) -> None:
    """Disable or re-enable an account; a disabled account's sessions stop working at once."""
    require(actor, Capability.STAFF_MANAGE)
    staff = await Staff.select().where(Staff.id == staff_id).first()
    if staff is None or not str(staff["org_path"]).startswith(actor.org_path):
        from relief_pwa.core.errors import NotFoundOrForbidden

        raise NotFoundOrForbidden()
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
