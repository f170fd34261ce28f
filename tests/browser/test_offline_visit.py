"""A liaison records a home visit on a phone while offline; it syncs when the
connection returns, and a resend of the same record stays one record."""

from __future__ import annotations

from typing import Any

import pytest

from tests.adapters import imagefactory
from tests.browser.conftest import PHONE, LiveServer
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.browser


def _login(page: Any, username: str, next_path: str) -> None:
    page.goto(f"/login?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"**{next_path}")


def _sign(page: Any) -> None:
    canvas = page.locator("[data-signature-canvas]")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] / 2)
    page.mouse.down()
    for step in range(1, 30):
        page.mouse.move(
            box["x"] + 20 + step * (box["width"] - 40) / 30,
            box["y"] + box["height"] / 2 + (15 if step % 2 else -15),
        )
    page.mouse.up()


def test_offline_home_visit_with_photo_syncs_once(live_server: LiveServer, phone: Any) -> None:
    info = live_server.info
    visit_id = info["visit_id"]
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    _login(page, "liaison", "/visits")

    # Today's visits, at a phone's width, with the household's file number.
    assert info["file_no"] in page.locator("main").inner_text()
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.click(f"a[href='/visits/{visit_id}']")
    page.wait_for_url(f"**/visits/{visit_id}")
    page.wait_for_selector("[data-signature-pad]:not([hidden])")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # The connection drops; the liaison records the visit anyway.
    phone.set_offline(True)
    page.fill("textarea[name=findings]", "家中两口人，丈夫打零工，妻子无业，屋内陈设简陋。")
    page.select_option("select[name=second_investigator]", str(info["investigator_id"]))
    page.fill(f"input[name=verified-{info['wages_item_id']}]", "900")
    page.set_input_files(
        "input[name=photos]",
        files=[
            {
                "name": "IMG_0001.jpg",
                "mimeType": "image/jpeg",
                "buffer": imagefactory.phone_jpeg(1200, 800),
            }
        ],
    )
    _sign(page)
    page.click("[data-submit]")

    pending = page.locator("[data-outbox-list] li.is-pending")
    pending.wait_for()
    assert info["file_no"] in pending.inner_text()
    assert page.locator("[data-outbox-user]").is_visible()  # the page always shows what waits
    assert live_server.query("SELECT status FROM visit WHERE id = ?", visit_id) == [("scheduled",)]
    stored = page.evaluate(
        "ReliefOutbox.all().then(r => r.map(x => [x.client_uuid, x.fields, x.files.length]))"
    )
    assert len(stored) == 1 and stored[0][2] == 2  # the photo and the signature wait on the phone
    client_uuid, fields = stored[0][0], stored[0][1]
    assert ["gps_lat", "36.661389"] in fields  # the phone's position, allowed in this context

    # Back online: the outbox sends it and the page moves on to the recorded visit.
    with page.expect_navigation(url=f"**/visits/{visit_id}", wait_until="load", timeout=30_000):
        phone.set_offline(False)
    page.locator("[data-outbox-sent-list] li.is-sent").first.wait_for()
    assert page.locator("[data-outbox-list] li").count() == 0  # sent is no longer "waiting to be sent"
    rows = live_server.query(
        "SELECT status, client_uuid, version, signature_key FROM visit WHERE id = ?", visit_id
    )
    assert len(rows) == 1
    status, stored_uuid, version, signature_key = rows[0]
    assert (status, stored_uuid, version) == ("done", client_uuid, 2) and signature_key
    photos = live_server.query(
        "SELECT purpose, width, height FROM photo WHERE visit = ? ORDER BY id", visit_id
    )
    assert [p[0] for p in photos] == ["signature", "evidence"]
    assert max(photos[1][1:]) <= 1600
    assert live_server.query("SELECT verified_fen FROM money_item WHERE id = ?", info["wages_item_id"]) == [
        (90000,)
    ]
    assert list(live_server.media.rglob("*.jpg"))

    # The same record is put in the outbox again and sent (from the visit list, where no form
    # waits for it): still one record, nothing added.
    page.goto("/visits")
    result = page.evaluate(
        """([uuid, fields]) => ReliefOutbox.put({client_uuid: uuid, url: "/visits/record", title: "resend",
             fields: fields, files: [], status: "pending", message: "", created_at: Date.now()})
           .then(() => ReliefOutbox.flush()).then(() => ReliefOutbox.all()).then(r => r.length)""",
        [client_uuid, fields],
    )
    assert result == 0
    assert live_server.query("SELECT count(*) FROM visit WHERE client_uuid IS NOT NULL") == [(1,)]
    assert live_server.query("SELECT count(*) FROM photo") == [(2,)]
    assert live_server.query("SELECT version FROM visit WHERE id = ?", visit_id) == [(2,)]

    page.goto(f"/visits/{visit_id}")  # kept pages this record changed were fetched again after the send
    page.wait_for_timeout(500)
    # Offline again: the visit list and the household's file are read from the phone;
    # a page that was never kept shows the offline page instead of the browser's error.
    phone.set_offline(True)
    page.goto(f"/households/{info['household_id']}")
    assert info["file_no"] in page.locator("main").inner_text()
    page.goto(f"/households/{info['household_id']}/ledger")
    assert "900.00" in page.locator("main").inner_text()
    # A walk-in (unscheduled) visit can be started offline too, as a new record each time.
    page.goto(f"/households/{info['household_id']}/visits/record")
    page.wait_for_selector("#visit-form[data-walk-in]")
    first_uuid = page.input_value("input[name=client_uuid]")
    page.reload()
    page.wait_for_selector("#visit-form[data-walk-in]")
    assert page.input_value("input[name=client_uuid]") != first_uuid
    page.goto("/cases?page=7")
    assert page.locator("[data-outbox-panel]").count() == 1
    phone.set_offline(False)
    assert errors == []
