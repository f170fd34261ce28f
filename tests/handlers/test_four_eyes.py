"""Four eyes on decisions through HTTP, the city's switch, and refusals shown to htmx requests.

(Plans and payment batches: tests/handlers/test_plans_pages.py.)
"""

from __future__ import annotations

import json
from datetime import timedelta

from relief_pwa.core.enums import AppState
from relief_pwa.services.applications import do_transition
from relief_pwa.services.publicity import do_close_due_notices, do_start_publicity
from relief_pwa.tables import Application, AuditEvent
from tests.factories import make_intake, member
from tests.helpers import found


async def _ready_for_approval(world, intake_by: str) -> int:
    result = await make_intake(world, username=intake_by, members=[member("周五")])
    station = world.actor("station")
    await do_transition(station, result.application_id, "start_investigation", now=world.now)
    await do_transition(
        station, result.application_id, "find_eligible", reason="人均收入低于标准", now=world.now
    )
    await do_start_publicity(station, result.application_id, now=world.now)
    await do_close_due_notices(world.now + timedelta(days=8))
    return int(result.application_id)


async def test_who_took_the_intake_cannot_approve_it(world, make_client):
    application_id = await _ready_for_approval(world, intake_by="center")
    taker, colleague = make_client(), make_client()
    await taker.login("center")
    await taker.get(f"/approvals/{application_id}")
    form = {"decision": "approve", "reason": "经审核符合条件"}
    refused = await taker.post_form(f"/approvals/{application_id}", form)
    assert refused.status_code == 403
    assert "四眼" in refused.text and "受理" in refused.text
    application = found(await Application.objects().where(Application.id == application_id).first())
    assert application.state == AppState.READY_FOR_APPROVAL

    await colleague.login("center_2")
    await colleague.get(f"/approvals/{application_id}")
    response = await colleague.post_form(f"/approvals/{application_id}", form)
    assert response.status_code == 303
    application = found(await Application.objects().where(Application.id == application_id).first())
    assert application.state == AppState.APPROVED


async def test_the_city_switches_four_eyes_off_and_on_through_its_page(world, make_client):
    application_id = await _ready_for_approval(world, intake_by="center")
    city, center, supervisor = make_client(), make_client(), make_client()
    await city.login("city")
    page = await city.get("/admin/four-eyes")
    assert page.status_code == 200 and 'action="/admin/four-eyes"' in page.text
    await supervisor.login("supervisor")
    seen = await supervisor.get("/admin/four-eyes")
    assert seen.status_code == 200 and 'action="/admin/four-eyes"' not in seen.text
    assert (await city.post_form("/admin/four-eyes", {"enabled": "off"})).status_code == 303
    await center.login("center")
    await center.get(f"/approvals/{application_id}")
    response = await center.post_form(
        f"/approvals/{application_id}", {"decision": "approve", "reason": "经审核符合条件"}
    )
    assert response.status_code == 303
    await city.get("/admin/four-eyes")
    assert (await city.post_form("/admin/four-eyes", {"enabled": "on"})).status_code == 303
    changes = await AuditEvent.select(AuditEvent.after).where(AuditEvent.action == "setting.update")
    assert [json.loads(row["after"]) for row in changes] == [{"four_eyes": "off"}, {"four_eyes": "on"}]


async def test_a_refused_htmx_request_shows_its_message_in_the_alert_area(world, client):
    await client.login("supervisor")
    token = await client.ensure_csrf()
    response = await client.post(
        "/bot/console",
        data={"text": "/start", "_csrf_token": token},
        headers={"hx-request": "true", "hx-target": "console", "x-csrftoken": token},
    )
    assert response.status_code == 403
    assert response.headers["hx-retarget"] == "#alerts"
    assert response.headers["hx-reswap"] == "innerHTML"
    assert 'role="alert"' in response.text and "<html" not in response.text
    page = await client.get("/cases")
    assert 'id="alerts"' in page.text


async def test_a_refused_page_says_why_and_what_it_is(world, client):
    await client.login("liaison")
    response = await client.get("/ranking")
    assert response.status_code == 403
    assert "<html" in response.text
    hidden = await client.get("/households/987654321")
    assert hidden.status_code == 404
