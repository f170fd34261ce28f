"""This round's forms, clicked in Chromium on a 390×844 phone: suspend and reinstate from
the household file, apply for another form of aid, refer to a relief department; and the
new pages fit the screen (no sideways scrolling), with no console error."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveServer
from tests.browser.test_role_flows import Phone

pytestmark = pytest.mark.browser


def _state(server: LiveServer, household_id: int) -> list[tuple[Any, ...]]:
    return server.query(
        "SELECT state FROM application WHERE household = ? AND category = 'dibao'", household_id
    )


def _lifecycle_action(me: Phone, action: str, reason: str) -> None:
    form = f"form[action$='/lifecycle/{action}']"
    if not me.page.locator(f"details:has({form})").first.evaluate("d => d.open"):
        me.tap(f"details:has({form}) > summary")
    me.type(f"{form} textarea[name=reason]", reason)
    with me.page.expect_response(lambda r: r.url.endswith(f"/lifecycle/{action}")):
        me.tap(f"{form} button[type=submit]")  # htmx swaps the section in place
    me.page.wait_for_load_state("networkidle")
    me.check()


def test_the_centre_suspends_and_reinstates_from_the_household_file(
    live_server: LiveServer, phone: Any
) -> None:
    household = live_server.info["recipient_household_id"]
    me = Phone(phone, live_server)
    me.login("center", f"/households/{household}")
    me.page.wait_for_selector(
        "form[action$='/lifecycle/suspend']", state="attached"
    )  # loaded in place by htmx
    me.check()
    # A reason of blanks passes the phone's own check; the server's refusal (422) shows in
    # the section, under the field, and nothing changes.
    me.tap("details:has(form[action$='/lifecycle/suspend']) > summary")
    me.type("form[action$='/lifecycle/suspend'] textarea[name=reason]", "     ")
    with me.page.expect_response(lambda r: r.url.endswith("/lifecycle/suspend")) as answer:
        me.tap("form[action$='/lifecycle/suspend'] button[type=submit]")
    assert answer.value.status == 422
    me.page.wait_for_selector("#lifecycle .field-error")  # the failed form comes back open
    assert _state(live_server, household) == [("active",)]
    me.errors = [e for e in me.errors if "422" not in e]  # Chromium logs every 4xx load
    me.check()
    _lifecycle_action(me, "suspend", "联系不上申请人，暂停发放待核实。")
    assert _state(live_server, household) == [("suspended",)]
    _lifecycle_action(me, "reinstate", "已入户核实，情况属实，恢复发放。")
    assert _state(live_server, household) == [("active",)], me.page.locator("#lifecycle").inner_text()[:600]


def test_the_station_adds_an_application_and_refers_to_a_department(
    live_server: LiveServer, phone: Any
) -> None:
    household = live_server.info["recipient_household_id"]
    me = Phone(phone, live_server)
    me.login("station", f"/households/{household}/applications/new")
    me.choose("#f-category", "medical")
    me.type("#f-description", "户主住院治疗，自付医疗费用较高。")
    me.submit("main form button[type=submit]")
    assert live_server.query(
        "SELECT category FROM application WHERE household = ? ORDER BY id", household
    ) == [("dibao",), ("medical",)]

    me.visit(f"/households/{household}/refer")
    me.choose("#f-category", "education")
    me.type("#f-request", "孩子上学学费困难，申请教育救助。")
    me.submit("main form button[type=submit]")
    assert live_server.query("SELECT status FROM referral WHERE household = ?", household) == [("pending",)]


@pytest.mark.parametrize(
    ("username", "paths"),
    [
        (
            "center",
            [
                "/life-events",
                "/referrals/overdue",
                "/reviews/recertification",
                "/deadlines",
                "/system/scheduler",
                "/assessment",
                "/assessment/report",
                "/datacheck",
                "/privacy/subject-export",
                "/households/{household}/lifecycle",
                "/households/{household}/life-events",
                "/households/{household}/emergency",
            ],
        ),
        ("city", ["/assessment/weights"]),
        ("department", ["/referrals"]),
    ],
)
def test_new_pages_fit_the_phone(
    live_server: LiveServer, phone: Any, username: str, paths: list[str]
) -> None:
    household = live_server.info["recipient_household_id"]
    me = Phone(phone, live_server)
    first, *rest = [path.format(household=household) for path in paths]
    me.login(username, first)
    for path in rest:
        me.visit(path)
