"""Login, logout, CSRF, throttling, sessions that survive a restart."""

from __future__ import annotations

from datetime import timedelta

import httpx

from relief_pwa.app import create_app
from relief_pwa.settings import load_settings
from relief_pwa.tables import LoginAttempt


async def test_healthz_answers_once_the_database_does(client, db):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_pages_need_a_login(client, world):
    response = await client.get("/cases?q=x")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fcases%3Fq%3Dx"


async def test_login_and_logout(client, world):
    await client.login("station")
    page = await client.get("/cases")
    assert page.status_code == 200 and "station" in page.text
    response = await client.post_form("/logout", {})
    assert response.status_code == 303
    assert (await client.get("/cases")).status_code == 303


async def test_wrong_password_rerenders_with_the_username_kept(client, world):
    await client.ensure_csrf()
    response = await client.post_form("/login", {"username": "station", "password": "nope", "next": "/cases"})
    assert response.status_code == 400
    assert 'value="station"' in response.text
    assert "用户名或密码错误" in response.text or "Wrong username or password" in response.text


async def test_post_without_csrf_token_is_refused(client, world):
    await client.get("/login")
    response = await client.post("/login", data={"username": "station", "password": "sunshine-test"})
    assert response.status_code == 403
    assert await LoginAttempt.count() == 0


async def test_login_is_throttled_after_repeated_failures(client, world, make_client, clock):
    for _ in range(5):
        response = await client.post_form("/login", {"username": "center", "password": "bad", "next": "/"})
        assert response.status_code == 400
    # The next attempt must wait (2 s after five failures); even the right password is not heard yet.
    response = await client.post_form(
        "/login", {"username": "center", "password": "sunshine-test", "next": "/"}
    )
    assert response.status_code == 400
    assert "2" in response.text and ("秒" in response.text or "seconds" in response.text)
    # Another account from the same address is unaffected.
    other = await client.post_form(
        "/login", {"username": "station", "password": "sunshine-test", "next": "/"}
    )
    assert other.status_code == 303
    # Once the delay is over, the right password works, even from another address.
    clock.advance(timedelta(seconds=3))
    elsewhere = make_client("10.1.2.3")
    await elsewhere.login("center")
    assert (await elsewhere.get("/cases")).status_code == 200


async def test_open_redirects_after_login_are_refused(client, world):
    await client.ensure_csrf()
    response = await client.post_form(
        "/login", {"username": "station", "password": "sunshine-test", "next": "//evil.example/x"}
    )
    assert response.headers["location"] == "/cases"


async def test_session_survives_an_app_restart(client, world, clock):
    await client.login("station")
    cookies = client.cookies
    restarted = create_app(load_settings(), clock)
    # Litestar's precise ASGI signature is not assignable to httpx's loose _ASGIApp alias.
    transport = httpx.ASGITransport(app=restarted)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", cookies=cookies
    ) as second:
        response = await second.get("/cases")
    assert response.status_code == 200


async def test_security_headers_are_set(client, world):
    response = await client.get("/login")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


async def test_chinese_by_default_english_on_request(client, world):
    page = await client.get("/login")
    assert 'lang="zh-CN"' in page.text and "登录" in page.text
    switched = await client.get("/lang/en?next=/login")
    assert switched.status_code == 303
    page = await client.get("/login")
    assert 'lang="en"' in page.text and "Staff login" in page.text
