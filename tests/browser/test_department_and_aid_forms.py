"""Forms only posted by HTTP tests before, now clicked in Chromium on a 390×844 phone: the
department's answers to a referral (accept, ask for more, decide), a life event filed and
approved, 先行救助, the assessment weights and a review visit's decision. Each page fits the
screen and logs no console error; the database shows what the click did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from relief_pwa.clock import local_date
from tests.browser.conftest import LiveServer
from tests.browser.test_role_flows import Phone
from tests.factories import new_id_number

pytestmark = pytest.mark.browser


DUPLICATE_IDS = """() => {
  const ids = Array.from(document.querySelectorAll('[id]'), el => el.id);
  return ids.filter((id, i) => ids.indexOf(id) !== i);
}"""


def _as(me: Phone, username: str, path: str) -> None:
    """Another person on the same phone: the last one's session is gone."""
    me.page.context.clear_cookies()
    me.login(username, path)


def _referral(server: LiveServer, referral_id: int) -> tuple[Any, ...]:
    (row,) = server.query(
        "SELECT status, decision, granted_fen, info_request FROM referral WHERE id = ?", referral_id
    )
    return row


def test_the_department_accepts_asks_for_more_and_decides_a_referral(
    live_server: LiveServer, phone: Any
) -> None:
    household = live_server.info["recipient_household_id"]
    me = Phone(phone, live_server)
    me.login("station", f"/households/{household}/refer")
    me.choose("#f-category", "education")
    me.type("#f-request", "孩子上学学费困难，申请教育救助。")
    me.submit("main form button[type=submit]")
    ((referral_id,),) = live_server.query("SELECT id FROM referral WHERE household = ?", household)

    _as(me, "department", f"/referrals/{referral_id}")
    # Four answer forms on one page: each label names its own field.
    assert me.page.evaluate(DUPLICATE_IDS) == []
    me.submit("form[action$='/accept'] button[type=submit]")
    assert _referral(live_server, referral_id)[0] == "accepted"
    me.type("#f-question", "请提供学生的在读证明。")
    me.submit("form[action$='/request-info'] button[type=submit]")
    assert _referral(live_server, referral_id)[::3] == ("info_requested", "请提供学生的在读证明。")

    _as(me, "station", f"/referrals/{referral_id}")
    me.type("#f-answer", "在读证明已由学校出具，随档上传。")
    me.submit("form[action$='/supply-info'] button[type=submit]")
    assert _referral(live_server, referral_id)[0] == "pending"

    _as(me, "department", f"/referrals/{referral_id}")
    me.choose("#f-decision", "granted")
    me.type("form[action$='/decide'] #f-reason", "符合教育救助条件，发放助学金。")
    me.type("#f-amount", "500")
    me.submit("form[action$='/decide'] button[type=submit]")
    assert _referral(live_server, referral_id)[:3] == ("decided", "granted", 50_000)
    assert live_server.query(
        "SELECT value_fen, source FROM aid_record WHERE reference = ?", f"referral:{referral_id}"
    ) == [(50_000, "department")]

    # The centre's dashboard with its referral counters, and the overdue list it links to.
    _as(me, "center", "/analytics")
    assert me.page.locator("#referrals-open .figure-n").inner_text() == "0"  # decided: closed
    me.submit("#referrals-overdue a")
    assert me.page.url.endswith("/referrals/overdue?org=370102")


def test_a_birth_is_filed_by_the_liaison_and_approved_by_the_station(
    live_server: LiveServer, phone: Any
) -> None:
    household = live_server.info["recipient_household_id"]
    born = local_date(datetime.now(UTC)) - timedelta(days=3)
    me = Phone(phone, live_server)
    me.login("liaison", f"/households/{household}/life-events")
    parts = "fieldset[data-for-kinds]"
    assert me.page.locator(f"{parts}:visible").count() == 4  # nothing chosen: every part shows
    me.choose("#f-kind", "birth")
    # Only the new member's part shows; its needed fields are required (the browser asks for
    # them before sending), the hidden parts are disabled and not sent.
    assert me.page.locator(f"{parts}:visible").count() == 1
    assert me.page.locator("fieldset[data-for-kinds='birth join']").is_visible()
    assert me.page.eval_on_selector("#f-name", "e => e.required && e.validity.valueMissing")
    assert not me.page.eval_on_selector("#f-member_id", "e => e.required || !e.matches(':disabled')")
    assert (
        me.page.evaluate("getComputedStyle(document.querySelector('label[for=f-name]'), '::after').content")
        == '" *"'
    )
    me.type("#f-effective_on", born.isoformat())
    me.type("#f-note", "出生医学证明已核验。")
    me.type("#f-name", "王小宝")
    me.type("#f-id_number", new_id_number(born=born))
    me.choose("#f-relation", "child")
    me.choose("#f-work_capacity", "none")
    me.choose("#f-schooling", "none")
    me.submit("main form button[type=submit]")
    ((request_id, status),) = live_server.query(
        "SELECT id, status FROM change_request WHERE household = ? AND kind = 'birth'", household
    )
    assert status == "pending"

    _as(me, "station", "/life-events")
    me.submit(f"a[href='/life-events/{request_id}']")
    me.submit("form[action$='/decide'] button[value=approve]")
    assert live_server.query("SELECT status FROM change_request WHERE id = ?", request_id) == [("approved",)]
    assert live_server.query(
        "SELECT COUNT(*) FROM member WHERE household = ? AND name = '王小宝' AND active", household
    ) == [(1,)]


def test_the_station_grants_temporary_relief_first(live_server: LiveServer, phone: Any) -> None:
    household = live_server.info["recipient_household_id"]
    me = Phone(phone, live_server)
    me.login("station", f"/households/{household}/emergency")
    me.type("#f-amount", "800")
    me.type("#f-reason", "房屋失火，急需生活救助。")
    me.submit("main form button[type=submit]")
    assert live_server.query(
        "SELECT g.amount_fen, a.category FROM emergency_grant g JOIN application a ON a.id = g.application "
        "WHERE g.household = ?",
        household,
    ) == [(80_000, "temporary")]


def test_the_city_changes_an_assessment_weight(live_server: LiveServer, phone: Any) -> None:
    me = Phone(phone, live_server)
    me.login("city", "/assessment/weights")
    key = me.page.locator("#f-key option").nth(1).get_attribute("value")
    assert key
    me.choose("#f-key", key)
    me.type("#f-weight", "30")
    me.type("#f-note", "市局考核办法（2026）")
    me.submit("main form button[type=submit]")
    assert live_server.query("SELECT key, weight, note FROM assessment_weight") == [
        (key, 30, "市局考核办法（2026）")
    ]


def test_the_station_decides_a_recorded_review(live_server: LiveServer, phone: Any) -> None:
    household = live_server.info["recipient_household_id"]
    ((visit,),) = live_server.query(
        "SELECT id FROM visit WHERE household = ? AND kind = 'review' AND status = 'scheduled'", household
    )
    # The liaison's recording of the visit is clicked through elsewhere (test_offline_visit.py);
    # here it is only marked done, which is all the decision asks of it.
    live_server.query(
        "UPDATE visit SET status = 'done', done_at = ?, findings = '入户复核' WHERE id = ?",
        datetime.now(UTC).isoformat(sep=" "),
        visit,
    )
    me = Phone(phone, live_server)
    me.login("station", f"/visits/{visit}")
    form = "#review-decision form[action$='/review-decision']"
    me.tap(f"{form} input[name=decision][value=continue]")
    me.type(f"{form} input[name=reason]", "入户复核，家庭情况无变化。")
    me.submit(f"{form} button[type=submit]")
    assert live_server.query("SELECT decision, reason FROM review_decision WHERE visit = ?", visit) == [
        ("continue", "入户复核，家庭情况无变化。")
    ]
    assert me.page.locator("#review-decision").is_visible()
