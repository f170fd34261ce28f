"""Sessions through HTTP: fixation, hashed keys, no rows for anonymous visitors,
timeouts and purge (with the app's FixedClock), revocation on disable and
password change, session-bound CSRF, trusted proxies, login timing."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest_asyncio

from relief_pwa.app import create_app
from relief_pwa.settings import load_settings
from relief_pwa.tables import LoginAttempt, Staff, WebSession
from tests.conftest import Client


def session_cookie(client: httpx.AsyncClient) -> str:
    return client.cookies.get("relief_session") or ""


async def staff_id(username: str) -> int:
    row = await Staff.select(Staff.id).where(Staff.username == username).first()
    assert row is not None
    return int(row["id"])


async def as_browser(app: Any, cookie: str) -> httpx.Response:
    """A request from another browser that presents ``cookie`` as its session."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        other.cookies.set("relief_session", cookie)
        return await other.get("/cases")


# --- anonymous visitors and fixation -----------------------------------------------


async def test_three_hundred_anonymous_gets_add_no_session_row(client, world):
    for i in range(100):
        for path in ("/login", f"/q/unknown-token-{i}", "/cases"):
            client.cookies.clear()
            response = await client.get(path)
            assert response.status_code in {200, 303, 429}
            assert "relief_session" not in response.headers.get("set-cookie", "")
    assert await WebSession.count() == 0
    # The login form's CSRF token lives in a signed cookie and works without any session row.
    await client.login("station")
    assert await WebSession.count() == 1


async def test_a_planted_session_cookie_is_never_valid_after_login(client, world, app):
    for planted in ("x" * 4000, "A" * 43, "not a token"):
        client.cookies.clear()
        client.cookies.set("relief_session", planted, domain="testserver.local")
        assert (await client.get("/login")).status_code == 200
        await client.login("station")
        issued = session_cookie(client)
        assert issued and issued != planted
        assert (await as_browser(app, planted)).status_code == 303
        assert (await as_browser(app, issued)).status_code == 200


async def test_the_session_id_changes_at_login_and_logout(client, world, app):
    await client.login("station")
    first = session_cookie(client)
    await client.login("station")  # logging in again while logged in
    second = session_cookie(client)
    assert first != second
    assert (await as_browser(app, first)).status_code == 303
    await client.get("/cases")
    response = await client.post_form("/logout", {})
    assert response.status_code == 303
    assert session_cookie(client) == ""
    assert (await as_browser(app, second)).status_code == 303
    assert await WebSession.count() == 0


async def test_only_the_hash_of_the_session_token_is_stored(client, world):
    await client.login("station")
    token = session_cookie(client)
    rows = await WebSession.select(WebSession.key, WebSession.staff_id)
    assert len(rows) == 1
    assert rows[0]["key"] == hashlib.sha256(token.encode()).hexdigest() != token
    assert rows[0]["staff_id"] == await staff_id("station")


# --- timeouts, sliding, purge --------------------------------------------------------


async def last_seen() -> Any:
    row = await WebSession.select(WebSession.last_seen_at).first()
    assert row is not None
    return row["last_seen_at"]


async def test_a_read_writes_the_session_row_at_most_once_in_five_minutes(client, world, clock):
    await client.login("station")
    seen = await last_seen()
    for _ in range(4):
        clock.advance(timedelta(minutes=1))
        assert (await client.get("/cases")).status_code == 200
    assert await last_seen() == seen  # four reads within the touch interval: no write
    clock.advance(timedelta(minutes=1, seconds=1))
    assert (await client.get("/cases")).status_code == 200
    assert await last_seen() > seen


async def test_idle_timeout_slides_with_use(client, world, clock):
    await client.login("station")
    clock.advance(timedelta(minutes=29))
    assert (await client.get("/cases")).status_code == 200
    clock.advance(timedelta(minutes=29))
    assert (await client.get("/cases")).status_code == 200
    clock.advance(timedelta(minutes=31))
    response = await client.get("/cases")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_absolute_timeout_ends_even_a_busy_session(client, world, clock):
    await client.login("station")
    for _ in range(35):  # 11 h 40 min of steady use
        clock.advance(timedelta(minutes=20))
        assert (await client.get("/cases")).status_code == 200
    clock.advance(timedelta(minutes=21))
    assert (await client.get("/cases")).status_code == 303


async def test_expired_sessions_are_purged_at_login_not_by_reads(world, make_client, clock):
    old = make_client()
    await old.login("station")
    clock.advance(timedelta(hours=13))
    assert (await old.get("/cases")).status_code == 303
    assert await WebSession.count() == 1  # a read deletes nothing
    await make_client().login("center")
    assert await WebSession.count() == 1  # the expired row went with the next login
    assert (await WebSession.select(WebSession.staff_id).first() or {})["staff_id"] == await staff_id(
        "center"
    )


# --- revocation ----------------------------------------------------------------------


async def test_disabling_an_account_ends_its_sessions_for_good(world, make_client):
    station, admin = make_client(), make_client()
    await station.login("station")
    await admin.login("city")
    await admin.get("/admin/staff")
    sid = await staff_id("station")
    response = await admin.post_form(f"/admin/staff/{sid}/active", {"active": "0"})
    assert response.status_code == 303
    assert await WebSession.count().where(WebSession.staff_id == sid) == 0
    assert (await station.get("/cases")).status_code == 303
    await admin.get("/admin/staff")
    await admin.post_form(f"/admin/staff/{sid}/active", {"active": "1"})
    assert (await station.get("/cases")).status_code == 303  # re-enabling brings no session back


async def test_changing_the_password_ends_the_other_sessions(world, make_client):
    here, there = make_client(), make_client()
    await here.login("station")
    await there.login("station")
    before = session_cookie(here)
    await here.get("/account/password")
    response = await here.post_form(
        "/account/password",
        {
            "current": "sunshine-test",
            "password": "a-much-better-passphrase",
            "confirm": "a-much-better-passphrase",
        },
    )
    assert response.status_code == 303, response.text[:300]
    assert session_cookie(here) != before  # a new id for this browser
    assert (await here.get("/account")).status_code == 200
    assert (await there.get("/cases")).status_code == 303
    fresh = make_client()
    await fresh.login("station", "a-much-better-passphrase")


async def test_password_change_applies_the_password_policy(client, world):
    await client.login("station")
    await client.get("/account/password")
    response = await client.post_form(
        "/account/password", {"current": "sunshine-test", "password": "short", "confirm": "short"}
    )
    assert response.status_code == 422
    wrong = await client.post_form(
        "/account/password",
        {
            "current": "not-my-password",
            "password": "a-much-better-passphrase",
            "confirm": "a-much-better-passphrase",
        },
    )
    assert wrong.status_code == 422


# --- CSRF ------------------------------------------------------------------------------


async def test_the_csrf_token_of_one_session_is_refused_in_another(world, make_client):
    alice, bob = make_client(), make_client()
    await alice.login("station")
    await bob.login("station")
    await alice.get("/account")
    await bob.get("/account")
    assert alice.csrf and bob.csrf and alice.csrf != bob.csrf
    stolen = await bob.post("/account/sessions", data={"_csrf_token": alice.csrf})
    assert stolen.status_code == 403
    by_header = await bob.post("/account/sessions", headers={"x-csrftoken": alice.csrf})
    assert by_header.status_code == 403
    own = await bob.post("/account/sessions", headers={"x-csrftoken": bob.csrf})
    assert own.status_code == 303


async def test_a_flash_message_writes_no_session_row(client, world):
    await client.login("station")
    await client.get("/account")
    await client.post_form("/account/sessions", {})
    before = await WebSession.select().order_by(WebSession.id)
    page = await client.get("/account")
    assert "flash" in page.text
    assert await WebSession.select().order_by(WebSession.id) == before
    assert "flash-success" not in (await client.get("/account")).text  # shown once


# --- client addresses ----------------------------------------------------------------


async def test_a_forged_forwarded_for_from_an_unlisted_peer_changes_nothing(client, world):
    for i in range(3):
        await client.post_form(
            "/login",
            {"username": "center", "password": "bad", "next": "/"},
            headers={"x-forwarded-for": f"203.0.113.{i}"},
        )
    clients = {r["client"] for r in await LoginAttempt.select(LoginAttempt.client)}
    assert clients == {"127.0.0.1"}


@pytest_asyncio.fixture()
async def proxied(db: Any, clock: Any) -> Any:
    settings = dataclasses.replace(load_settings(), trusted_proxies=("127.0.0.0/8",))
    app = create_app(settings, clock)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))  # type: ignore[arg-type]
    async with Client(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_a_listed_proxy_names_the_client(proxied, world):
    await proxied.post_form(
        "/login",
        {"username": "center", "password": "bad", "next": "/"},
        headers={"x-forwarded-for": "198.51.100.7, 203.0.113.9, 127.0.0.2"},
    )
    clients = {r["client"] for r in await LoginAttempt.select(LoginAttempt.client)}
    assert clients == {"203.0.113.9"}  # the right-most address that is not a trusted proxy


# --- login timing ------------------------------------------------------------------------


async def test_unknown_and_known_users_cost_one_equal_hash(world, clock, monkeypatch):
    """An unknown username must cost what a wrong password costs: exactly one argon2
    verification with the same parameters. Counted, not timed: a shared machine's
    noise is larger than the difference a timing test could see."""
    from relief_pwa.services import auth

    verified: list[str] = []
    original = auth.password_ok

    def counting_password_ok(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return original(password_hash, password)

    monkeypatch.setattr(auth, "password_ok", counting_password_ok)
    settings = dataclasses.replace(load_settings(), login_max_failures=1000, login_address_max_failures=1000)
    app = create_app(settings, clock)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))  # type: ignore[arg-type]
    async with Client(transport=transport, base_url="http://testserver") as c:
        await c.ensure_csrf()

        async def hashes_for(username: str) -> list[str]:
            verified.clear()
            response = await c.post_form(
                "/login", {"username": username, "password": "wrong-password", "next": "/"}
            )
            assert response.status_code == 400
            assert re.search("用户名或密码错误|Wrong username or password", response.text)
            return list(verified)

        known = await hashes_for("station")
        unknown = await hashes_for("nobody")
        unknown_again = await hashes_for("nobody-else")

    def cost(password_hash: str) -> str:
        # "$argon2id$v=19$m=65536,t=3,p=4$salt$hash": everything before the salt sets the cost
        return "$".join(password_hash.split("$")[:4])

    assert len(known) == len(unknown) == len(unknown_again) == 1
    assert cost(unknown[0]) == cost(known[0]) == cost(auth.hash_password("x"))
    assert unknown[0] != known[0]


async def test_forged_flash_and_login_step_cookies_are_ignored(client, world):
    client.cookies.set(
        "relief_flash", "W1swLFt7Im1lc3NhZ2UiOiJwd25lZCJ9XV1d.forged", domain="testserver.local"
    )
    page = await client.get("/login")
    assert "pwned" not in page.text
    # A second-factor step needs a signed "password checked" cookie; a forged one leads back to /login.
    client.cookies.set("relief_login", "eyJzdGFmZiI6MX0.forged", domain="testserver.local", path="/login")
    assert (await client.get("/login/2fa")).headers["location"] == "/login"


async def test_a_busy_office_address_slows_down_but_never_locks_out(client, world, clock):
    """Many failures from one NAT'd address (different accounts) bring short, capped delays only."""
    for i in range(20):
        response = await client.post_form("/login", {"username": f"typo{i}", "password": "bad", "next": "/"})
        assert response.status_code == 400
    refused = await client.post_form(
        "/login", {"username": "station", "password": "sunshine-test", "next": "/"}
    )
    assert refused.status_code == 400  # the address waits 2 s
    clock.advance(timedelta(seconds=3))
    await client.login("station")
    for i in range(15):
        clock.advance(timedelta(minutes=1))
        await client.post_form("/login", {"username": f"other{i}", "password": "bad", "next": "/"})
    clock.advance(timedelta(minutes=16))  # the address window has passed: its failures are forgotten
    await client.login("center")
