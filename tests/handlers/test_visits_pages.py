"""Field-work pages: my visits, scheduling, the visit record (form and outbox),
photo uploads with hostile files, the ledger, the opinion, cards and the PWA routes."""

from __future__ import annotations

import gzip
import io
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from PIL import Image

from relief_pwa.adapters.photos import MIB
from relief_pwa.core.permissions import Capability, can
from relief_pwa.services.audit import verify_chain
from relief_pwa.services.cards import do_issue_card
from relief_pwa.services.photos import UPLOAD_LIMIT_BYTES, local_photo_store
from relief_pwa.tables import Application, AuditEvent, EligibilityOpinion, Photo, Visit
from tests.adapters import imagefactory
from tests.services.fieldwork_support import (
    household_with_items,
    items_of,
    new_uuid,
    schedule,
    seed_standards,
    signature_png,
)

OUTBOX = {"x-outbox": "1", "accept": "application/json"}
HTMX = {"hx-request": "true"}


async def _token(client: Any) -> str:
    page = await client.get("/visits")
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:300]
    return match.group(1)


def _record_form(
    world: Any, visit_id: int, items: dict[str, dict[str, Any]], **overrides: str
) -> dict[str, str]:
    form = {
        "client_uuid": new_uuid(),
        "visit_id": str(visit_id),
        "base_version": "1",
        "findings": "家中两口人，屋内陈设简陋。",
        "second_investigator": str(world.actor("investigator").staff_id),
        "gps_lat": "36.661389",
        "gps_lon": "117.016667",
        f"verified-{items['wages']['id']}": "900",
        f"note-{items['wages']['id']}": "工资条",
    }
    form.update(overrides)
    return form


async def _stored_files() -> int:
    return sum(1 for path in local_photo_store().root.rglob("*.jpg"))


async def test_my_visits_page_lists_today_and_overdue(world: Any, client: Any, now: datetime) -> None:
    result = await household_with_items(world)
    await schedule(world, result.household_id)
    await client.login("liaison")
    page = await client.get("/visits")
    assert page.status_code == 200
    assert result.file_no in page.text and "data-outbox-panel" in page.text
    assert f"/households/{result.household_id}/ledger" in page.text  # kept for offline reading
    await client.login("liaison_b")
    assert result.file_no not in (await client.get("/visits")).text


async def test_schedule_form_round_trip(world: Any, client: Any, now: datetime) -> None:
    result = await household_with_items(world)
    await client.login("station")
    form = await client.get(f"/households/{result.household_id}/visits/schedule")
    assert form.status_code == 200
    bad = await client.post_form(
        f"/households/{result.household_id}/visits/schedule",
        {"kind": "home", "scheduled_for": "2020-01-01", "assigned_to": str(world.actor("liaison").staff_id)},
    )
    assert bad.status_code == 422 and "field-error" in bad.text
    ok = await client.post_form(
        f"/households/{result.household_id}/visits/schedule",
        {
            "kind": "neighbour",
            "scheduled_for": (now.date() + timedelta(days=1)).isoformat(),
            "assigned_to": str(world.actor("liaison").staff_id),
            "time_window": "9:00–11:00",
        },
    )
    assert ok.status_code == 303
    assert await Visit.count() == 1
    outsider = await client.get("/households/999999/visits/schedule")
    assert outsider.status_code == 404


async def test_recording_through_the_page_and_through_the_outbox(
    world: Any, client: Any, now: datetime
) -> None:
    result = await household_with_items(world)
    visit_id = await schedule(world, result.household_id)
    items = await items_of(result.household_id)
    await client.login("liaison")
    page = await client.get(f"/visits/{visit_id}")
    assert page.status_code == 200 and 'name="client_uuid"' in page.text and "data-signature-pad" in page.text
    token = await _token(client)

    # Without the signature the record is refused with the reason, nothing stored.
    form = _record_form(world, visit_id, items)
    refused = await client.post(
        "/visits/record",
        data={**form, "_csrf_token": token},
        files={"photos": ("IMG_1.jpg", imagefactory.phone_jpeg(), "image/jpeg")},
    )
    assert refused.status_code == 422 and "signature" in refused.text
    assert await Photo.count() == 0

    files = [
        ("signature", ("signature.png", signature_png(), "image/png")),
        ("photos", ("IMG_1.jpg", imagefactory.phone_jpeg(), "image/jpeg")),
    ]
    sent = await client.post(
        "/visits/record", data=form, files=files, headers={**OUTBOX, "x-csrftoken": token}
    )
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body == {
        "status": "ok",
        "visit_id": visit_id,
        "version": 2,
        "duplicate": False,
        "url": f"/visits/{visit_id}",
        "household_id": result.household_id,
    }
    again = await client.post(
        "/visits/record", data=form, files=files, headers={**OUTBOX, "x-csrftoken": token}
    )
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert await Visit.count() == 1 and await Photo.count() == 2

    shown = await client.get(f"/visits/{visit_id}")
    assert "36.661389" in shown.text and "家中两口人" in shown.text

    # An edit made on the outdated version 1 comes back as a conflict showing both versions.
    stale = {**form, "findings": "离线时写的另一版本"}
    conflict = await client.post("/visits/record", data=stale, headers={**OUTBOX, "x-csrftoken": token})
    assert conflict.status_code == 409
    assert (
        "data-conflict" in conflict.text
        and "离线时写的另一版本" in conflict.text
        and "家中两口人" in conflict.text
    )
    assert 'data-current-version="2"' in conflict.text and "<html" not in conflict.text
    page_conflict = await client.post("/visits/record", data={**stale, "_csrf_token": token})
    assert page_conflict.status_code == 409 and "<html" in page_conflict.text
    assert 'name="base_version" value="2"' in page_conflict.text

    # The outbox gets machine-readable refusals.
    invalid = await client.post(
        "/visits/record", data={**form, "client_uuid": "nope"}, headers={**OUTBOX, "x-csrftoken": token}
    )
    assert invalid.status_code == 422 and invalid.json()["status"] == "invalid"
    bad_amount = await client.post(
        "/visits/record",
        data={**form, f"verified-{items['wages']['id']}": "-5"},
        headers={**OUTBOX, "x-csrftoken": token},
    )
    assert bad_amount.status_code == 422
    assert (await verify_chain()).ok


async def test_the_record_route_needs_a_login_and_the_csrf_token(
    world: Any, client: Any, now: datetime
) -> None:
    result = await household_with_items(world)
    visit_id = await schedule(world, result.household_id)
    items = await items_of(result.household_id)
    anonymous = await client.post("/visits/record", data=_record_form(world, visit_id, items), headers=OUTBOX)
    assert anonymous.status_code in {401, 403}
    await client.login("liaison")
    no_token = await client.post("/visits/record", data=_record_form(world, visit_id, items), headers=OUTBOX)
    assert no_token.status_code == 403
    assert await Visit.select(Visit.status).first() == {"status": "scheduled"}


HOSTILE = [
    ("truncated.jpg", imagefactory.truncated_jpeg, "damaged or incomplete"),
    ("bomb.png", imagefactory.png_bomb, "too many pixels"),
    ("IMG_0001.jpg", lambda: imagefactory.text_named_jpg()[1], "not a photo"),
    ("evil.svg", imagefactory.svg_with_script, "SVG"),
    ("anim.gif", imagefactory.gif, "GIF"),
    ("big.jpg", lambda: imagefactory.oversized_upload(15 * MIB + 10), "too large"),
]


@pytest.mark.parametrize(("name", "make", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_hostile_uploads_are_refused_with_a_clear_message_and_nothing_stored(
    world: Any, client: Any, now: datetime, name: str, make: Any, message: str
) -> None:
    result = await household_with_items(world)
    visit_id = await schedule(world, result.household_id)
    await client.login("liaison")
    client.cookies.set("lang", "en")  # the messages are checked in English
    token = await _token(client)
    files_before = await _stored_files()
    response = await client.post(
        f"/visits/{visit_id}/photos",
        data={"_csrf_token": token},
        files={"photo": (name, make(), "image/jpeg")},
        headers=HTMX,
    )
    assert response.status_code == 422
    assert message.lower() in response.text.lower()
    assert await Photo.count() == 0 and await _stored_files() == files_before
    assert await AuditEvent.count().where(AuditEvent.action == "photo.add") == 0


async def test_an_upload_over_the_route_limit_is_413(world: Any, client: Any, now: datetime) -> None:
    result = await household_with_items(world)
    visit_id = await schedule(world, result.household_id)
    await client.login("liaison")
    token = await _token(client)
    response = await client.post(
        f"/visits/{visit_id}/photos",
        data={"_csrf_token": token},
        files={"photo": ("huge.jpg", imagefactory.oversized_upload(UPLOAD_LIMIT_BYTES), "image/jpeg")},
        headers={"x-csrftoken": token},
    )
    assert response.status_code == 413
    assert await Photo.count() == 0
    # Other routes keep the small default limit.
    other = await client.post(
        f"/households/{result.household_id}/near-relatives",
        data={"relative_name": "x" * (3 * 1024 * 1024)},
        headers={"x-csrftoken": token},
    )
    assert other.status_code == 413


async def test_phone_jpeg_is_stored_clean_and_served_only_to_staff_of_the_area(
    world: Any, client: Any, make_client: Any, now: datetime
) -> None:
    result = await household_with_items(world)
    visit_id = await schedule(world, result.household_id)
    await client.login("liaison")
    token = await _token(client)
    upload = await client.post(
        f"/visits/{visit_id}/photos",
        data={"_csrf_token": token, "caption": "厨房"},
        files={"photo": ("IMG_2.jpg", imagefactory.phone_jpeg(), "image/jpeg")},
        headers=OUTBOX,
    )
    assert upload.status_code == 201, upload.text
    photo_id = upload.json()["photo_id"]
    retry = await client.post(
        f"/visits/{visit_id}/photos",
        data={"_csrf_token": token},
        files={"photo": ("IMG_2.jpg", imagefactory.phone_jpeg(), "image/jpeg")},
        headers=OUTBOX,
    )
    assert retry.status_code == 200 and retry.json() == {
        "status": "ok",
        "photo_id": photo_id,
        "created": False,
    }

    served = await client.get(f"/photos/{photo_id}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    image = Image.open(io.BytesIO(served.content))
    assert image.size == (200, 400)  # EXIF orientation 6 applied
    assert not image.getexif() and "icc_profile" not in image.info and b"secret" not in served.content
    top = image.convert("RGB").getpixel((100, 50))
    assert isinstance(top, tuple) and top[0] > 150  # the red half is on top
    row = await Photo.select().where(Photo.id == photo_id).first()
    assert row is not None and abs(float(row["gps_lat"]) - imagefactory.JINAN_LAT) < 1e-4  # staff-only field
    thumb = await client.get(f"/photos/{photo_id}/thumb")
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(thumb.content)).size) <= 320

    heic = await client.post(
        f"/visits/{visit_id}/photos",
        data={"_csrf_token": token},
        files={"photo": ("IMG_3.HEIC", imagefactory.heic(), "image/heic")},
        headers=OUTBOX,
    )
    assert heic.status_code == 201

    other = make_client()
    await other.login("station_b")
    assert (await other.get(f"/photos/{photo_id}")).status_code == 404
    anonymous = make_client()
    assert (await anonymous.get(f"/photos/{photo_id}")).status_code in {302, 303}


async def test_ledger_page_flags_discrepancies(world: Any, client: Any, now: datetime) -> None:
    result = await household_with_items(world)
    items = await items_of(result.household_id)
    await client.login("liaison")
    token = await _token(client)
    sent = await client.post(
        "/visits/record",
        data={
            "client_uuid": new_uuid(),
            "household_id": str(result.household_id),
            "kind": "data_check",
            "findings": "社保系统显示有工资收入",
            f"verified-{items['wages']['id']}": "1,500",
        },
        headers={**OUTBOX, "x-csrftoken": token},
    )
    assert sent.status_code == 200, sent.text
    page = await client.get(f"/households/{result.household_id}/ledger")
    assert page.status_code == 200 and "is-flagged" in page.text and "1,500.00" in page.text
    fragment = await client.get(f"/households/{result.household_id}/ledger", headers=HTMX)
    assert "<html" not in fragment.text and 'id="ledger"' in fragment.text
    household = await client.get(f"/households/{result.household_id}")
    assert f"/households/{result.household_id}/ledger" in household.text
    await client.login("city")
    assert (await client.post_form("/settings/discrepancy", {"threshold": "0"})).status_code == 422
    assert (await client.post_form("/settings/discrepancy", {"threshold": "50"})).status_code == 303
    await client.login("station")
    assert (await client.post_form("/settings/discrepancy", {"threshold": "30"})).status_code == 403


async def test_opinion_page_and_decision(world: Any, client: Any, now: datetime) -> None:
    await seed_standards(world)
    result = await household_with_items(world)
    await client.login("station")
    page = await client.get(f"/applications/{result.application_id}/opinion")
    assert page.status_code == 200 and "income_below_standard" not in page.text
    started = await client.post_form(f"/applications/{result.application_id}/start-investigation", {})
    assert started.status_code == 303
    page = await client.get(f"/applications/{result.application_id}/opinion")
    assert "821" in page.text and 'name="decision"' in page.text
    fragment = await client.get(f"/applications/{result.application_id}/opinion?supporter=none", headers=HTMX)
    assert 'id="means-test"' in fragment.text and "<html" not in fragment.text
    missing = await client.post_form(
        f"/applications/{result.application_id}/opinion", {"decision": "eligible", "reasons": ""}
    )
    assert missing.status_code == 422
    without_checks = await client.post_form(
        f"/applications/{result.application_id}/opinion",
        {"decision": "eligible", "reasons": "人均收入低于标准，财产符合规定", "supporter": "none"},
    )
    assert without_checks.status_code == 422 and 'name="check_waiver"' in without_checks.text
    done = await client.post_form(
        f"/applications/{result.application_id}/opinion",
        {
            "decision": "eligible",
            "reasons": "人均收入低于标准，财产符合规定",
            "supporter": "none",
            "check_waiver": "核对结果尚未返回，走访已核实",
        },
    )
    assert done.status_code == 303
    state = await Application.select(Application.state).where(Application.id == result.application_id).first()
    assert state == {"state": "verified_eligible"} and await EligibilityOpinion.count() == 1
    await client.login("liaison")
    refused = await client.post_form(
        f"/applications/{result.application_id}/opinion",
        {"decision": "ineligible", "reasons": "联络员不能决定"},
    )
    assert refused.status_code == 403


async def test_card_png_decodes_to_the_landing_url_and_the_landing_leaks_nothing(
    world: Any, client: Any, make_client: Any, now: datetime
) -> None:
    import zxingcpp

    result = await household_with_items(world)
    await client.login("liaison")
    assert (await client.get(f"/households/{result.household_id}/card.png")).status_code == 404
    issued = await client.post_form(f"/households/{result.household_id}/card/issue", {})
    assert issued.status_code == 303
    first_page = await client.get(f"/households/{result.household_id}/card")
    # a first card, not a re-issue
    assert "家庭救助卡已发放" in first_page.text and "已补发新卡" not in first_page.text
    card_page = await client.get(f"/households/{result.household_id}/card")
    assert "print-card" in card_page.text and "<svg" in card_page.text and "张*" in card_page.text
    png = await client.get(f"/households/{result.household_id}/card.png")
    assert png.headers["content-type"] == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert len(decoded) == 1
    url = decoded[0].text
    match = re.fullmatch(r"https?://[^/]+/q/([A-Za-z0-9_-]{32,})", url)
    assert match, url
    token = match.group(1)
    assert result.file_no not in url

    staff = await client.get(f"/q/{token}")
    assert staff.status_code == 303 and staff.headers["location"] == f"/households/{result.household_id}"

    def neutral(text: str, used: str) -> str:
        return text.replace(used, "TOKEN").replace(re.sub(r"[^A-Za-z0-9]", "", used), "TOKEN")

    anonymous = make_client()
    pages = {}
    for label, used in [("valid", token), ("unknown", "A" * 32)]:
        response = await anonymous.get(f"/q/{used}")
        assert (
            response.status_code == 200 and result.file_no not in response.text and "张" not in response.text
        )
        pages[label] = re.sub(r'value="[^"]+"', "", neutral(response.text, used))
    assert pages["valid"] == pages["unknown"]
    other = make_client()
    await other.login("station_b")
    assert (await other.get(f"/q/{token}")).status_code == 200

    revoked = await client.post_form(f"/households/{result.household_id}/card/revoke", {"reason": "卡片遗失"})
    assert revoked.status_code == 303
    after = await client.get(f"/q/{token}")
    assert after.status_code == 200 and result.file_no not in after.text


async def test_scan_page_and_file_number_fallback(world: Any, client: Any, now: datetime) -> None:
    result = await household_with_items(world)
    await do_issue_card(world.actor("liaison"), result.household_id, now=now)
    await client.login("investigator")
    page = await client.get("/scan")
    assert page.status_code == 200 and 'capture="environment"' in page.text and "data-scanner" in page.text
    found = await client.get(f"/scan?file_no={result.file_no}")
    assert found.status_code == 303 and found.headers["location"] == f"/households/{result.household_id}"
    missing = await client.get("/scan?file_no=370102-H999999")
    assert missing.status_code == 404 and "field-error" in missing.text


async def test_pwa_routes_and_compression(world: Any, client: Any) -> None:
    worker = await client.get("/sw.js")
    assert worker.status_code == 200
    assert worker.headers["service-worker-allowed"] == "/"
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "relief-pages-v1" in worker.text
    offline = await client.get("/offline")
    assert offline.status_code == 200 and "data-outbox-panel" in offline.text
    raw = await client.get("/static/vendor/htmx-2.0.11.min.js", headers={"accept-encoding": "gzip"})
    assert raw.headers.get("content-encoding") == "gzip"
    manifest = await client.get("/static/manifest.webmanifest")
    assert manifest.status_code == 200
    assert gzip.compress(b"x")  # the module is used by the benchmark too


async def test_every_fieldwork_page_renders_for_every_role(
    world: Any, make_client: Any, now: datetime
) -> None:
    result = await household_with_items(world)
    visit_id = await schedule(world, result.household_id)
    for username in ("liaison", "investigator", "station", "center", "city", "supervisor"):
        browser = make_client()
        await browser.login(username)
        role = world.actor(username).role
        for url, needs in (
            ("/visits", Capability.VISIT_RECORD),
            (f"/visits/{visit_id}", Capability.CASES_READ),
            (f"/households/{result.household_id}/visits", Capability.CASES_READ),
            (f"/households/{result.household_id}/ledger", Capability.CASES_READ),
            (f"/households/{result.household_id}/card", Capability.CASES_READ),
            (f"/households/{result.household_id}/visits/record?kind=letter", Capability.VISIT_RECORD),
            ("/scan", Capability.CASES_READ),
            ("/settings/discrepancy", Capability.CASES_READ),
            (f"/applications/{result.application_id}/opinion", Capability.CASES_READ),
        ):
            response = await browser.get(url)
            expected = 200 if can(role, needs) else 403
            assert response.status_code == expected, (username, url, response.text[:400])


async def test_pages_go_plain_when_the_proxy_compresses(
    db: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RELIEF_COMPRESS_PAGES=false (behind nginx, which gzips): the app sends a page as it
    is, even to a browser that accepts gzip; by default it compresses."""
    import httpx

    from relief_pwa.app import create_app
    from relief_pwa.settings import load_settings

    for setting, encoding in (("true", "gzip"), ("false", None)):
        monkeypatch.setenv("RELIEF_COMPRESS_PAGES", setting)
        app: Any = create_app(load_settings(), clock)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
            page = await browser.get("/login", headers={"accept-encoding": "gzip"})
        assert page.status_code == 200 and 'name="username"' in page.text
        assert page.headers.get("content-encoding") == encoding, setting
