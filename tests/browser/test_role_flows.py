"""Each role's main job, clicked through (never posted) in Chromium on a 390×844
phone: every page on the way fits the screen (no sideways scrolling), logs no
console error and asks no other host for anything."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from tests.adapters import imagefactory
from tests.browser.conftest import PHONE, LiveServer
from tests.factories import TEST_PASSWORD, new_id_number

pytestmark = pytest.mark.browser

FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
# Controls a thumb must hit: buttons, fields and button-styled links, at least 44 px
# (a check box or radio counts by the label around it).
SMALL_CONTROLS = """() => Array.from(document.querySelectorAll(
    'main button, main .btn, main input:not([type=hidden]), main select, main textarea'))
  .map(el => (el.type === 'checkbox' || el.type === 'radio') && el.closest('label')
    ? el.closest('label') : el)
  .filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && (r.height < 44 || r.width < 44);
  })
  .map(el => el.outerHTML.slice(0, 80))"""


class Phone:
    """One page with the checks every step needs, counting the taps it takes."""

    def __init__(self, context: Any, server: LiveServer) -> None:
        self.page = context.new_page()
        self.server = server
        self.taps = 0
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"{self.page.url}: {e}"))
        self.page.on("request", self._request)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"{self.page.url}: {message.text}")

    def _request(self, request: Any) -> None:
        url = request.url
        if not url.startswith((self.server.url, "data:", "blob:")):
            self.foreign.append(url)

    def check(self) -> None:
        """The page as it stands now: fits the phone, no error, nothing from elsewhere."""
        self.page.wait_for_load_state("load")
        width = self.page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert self.page.evaluate(FITS), f"{self.page.url} is {width[0]} px wide on a {width[1]} px screen"
        assert self.errors == [], (
            self.errors,
            self.page.locator(".flash-error, .field-error").all_inner_texts(),
        )
        assert self.foreign == [], self.foreign

    def tap(self, selector: str) -> None:
        self.taps += 1
        self.page.locator(selector).first.click()

    def submit(self, selector: str) -> None:
        """Tap a button that sends its form, and wait for the page that answers."""
        with self.page.expect_navigation(wait_until="load"):
            self.tap(selector)
        self.check()

    def type(self, selector: str, text: str) -> None:
        self.taps += 1
        self.page.locator(selector).first.fill(text)

    def choose(self, selector: str, value: str) -> None:
        self.taps += 1
        self.page.locator(selector).first.select_option(value)

    def login(self, username: str, next_path: str = "/") -> None:
        self.page.goto(f"/login?next={next_path}")
        self.check()
        self.page.fill("#f-username", username)
        self.page.fill("#f-password", TEST_PASSWORD)
        self.page.click("main form button[type=submit]")
        self.page.wait_for_url(f"**{next_path}")
        self.check()

    def visit(self, path: str) -> None:
        self.page.goto(path)
        self.check()


def _sign(page: Any) -> None:
    canvas = page.locator("[data-signature-canvas]")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] / 2)
    page.mouse.down()
    for step in range(1, 20):
        page.mouse.move(
            box["x"] + 20 + step * (box["width"] - 40) / 20, box["y"] + box["height"] / 2 + 10 * (-1) ** step
        )
    page.mouse.up()


def test_liaison_takes_an_application_visits_with_a_photo_and_issues_the_card(
    live_server: LiveServer, phone: Any
) -> None:
    me = Phone(phone, live_server)
    me.login("liaison")
    assert me.page.locator("h1").inner_text().startswith("今日工作")
    me.tap("a.btn-big[href='/intake']")
    me.page.wait_for_url("**/intake")
    me.check()
    me.type("#f-address", "解放路18号2单元101室")
    me.choose("#f-housing", "rented")
    me.type("#f-phone", "13912345678")
    me.choose("#f-category", "dibao")
    assert me.page.locator("#f-members-0-name").is_hidden()  # three short steps on a phone
    me.tap("[data-step-next]")
    me.type("#f-members-0-name", "周明亮")
    me.type("#f-members-0-id_number", new_id_number(born=date(1988, 3, 9)))  # not one of the server's
    me.choose("#f-members-0-relation", "head")
    me.page.locator("#idcheck-0 p").wait_for()  # checked while the rest is filled
    assert me.page.locator("#idcheck-0 .id-ok").count() == 1, me.page.inner_html("#idcheck-0")
    me.choose("#f-members-0-work_capacity", "partial")
    me.choose("#f-members-0-schooling", "not_in_school")
    me.tap("[data-step-next]")
    me.choose("#f-items-0-section", "income")
    # the kind list now offers income kinds only
    assert me.page.locator("#f-items-0-kind optgroup[data-section=asset]").get_attribute("hidden") is not None
    me.choose("#f-items-0-kind", "wages")
    me.choose("#f-items-0-member", "0")
    me.type("#f-items-0-amount", "650")
    # everything typed so far is kept on the phone: a reload loses nothing
    me.page.reload()
    me.page.locator("[data-intake-form]").wait_for()
    assert me.page.locator("text=已恢复").count() == 1
    assert me.page.input_value("#f-members-0-name") == "周明亮"
    assert me.page.input_value("#f-items-0-amount") == "650"
    me.tap("[data-step-next]")
    me.tap("[data-step-next]")
    me.tap("main form.intake button[value=save]")
    me.page.wait_for_url("**/receipt")
    me.check()
    receipt = me.page.locator("main").inner_text()
    assert "周*" in receipt or "周明亮" in receipt
    assert me.page.locator("img.bot-qr").count() == 1
    kept = "Object.keys(localStorage).filter(k => k.startsWith('relief-intake-draft'))"
    assert me.page.evaluate(kept) == []  # saved: the draft kept on the phone is gone

    me.tap("main a.btn[href^='/households/']")
    me.page.wait_for_url(re.compile(r"/households/\d+$"))
    me.check()
    household_path = me.page.url.removeprefix(live_server.url)
    me.tap(f"a[href='{household_path}/visits']")
    me.check()
    me.tap("main form[action$='/visits/record'] button")
    me.page.wait_for_selector("#visit-form[data-walk-in] [data-signature-pad]:not([hidden])")
    me.check()
    me.type("textarea[name=findings]", "独居，打零工为生，屋内简陋，与申报一致。")
    me.choose("select[name=second_investigator]", str(live_server.info["investigator_id"]))
    me.taps += 1
    me.page.set_input_files(
        "input[name=photos]",
        files=[
            {"name": "IMG_0002.jpg", "mimeType": "image/jpeg", "buffer": imagefactory.phone_jpeg(1200, 900)}
        ],
    )
    me.taps += 1
    _sign(me.page)
    with me.page.expect_navigation(url=re.compile(r"/visits/\d+$"), timeout=30_000):
        me.tap("[data-submit]")
    me.check()
    assert live_server.query("SELECT count(*) FROM visit WHERE status = 'done'") == [(1,)]
    assert live_server.query("SELECT count(*) FROM photo WHERE purpose = 'evidence'") == [(1,)]

    me.visit(household_path)
    me.tap(f"a[href='{household_path}/card']")
    me.check()
    me.tap("main form[action$='/card/issue'] button")
    me.page.wait_for_selector(".household-card svg")
    me.check()
    assert "已补发" not in me.page.locator("main").inner_text()
    png = me.page.request.get(me.page.locator("a[href$='/card.png']").get_attribute("href") or "")
    assert png.ok and png.headers["content-type"] == "image/png"
    assert me.taps - 2 <= 30, me.taps  # the core job, one-handed (less the two taps after the reload)


def test_station_records_an_opinion_and_starts_the_public_notice(live_server: LiveServer, phone: Any) -> None:
    info = live_server.info
    me = Phone(phone, live_server)
    me.login("station", f"/applications/{info['investigating_id']}/opinion")
    me.tap("input[name=decision][value=eligible]")
    me.type("#f-reasons", "人均收入低于当地低保标准，财产符合规定。")
    me.type("#f-check-waiver", "核对结果尚未返回，走访已核实。")
    me.submit("main form[action$='/opinion'] button[type=submit]")
    assert live_server.query("SELECT state FROM application WHERE id = ?", info["investigating_id"]) == [
        ("verified_eligible",)
    ]

    me.visit("/notices")
    me.tap(f"#app-{info['eligible_id']}")
    me.type(f"input[name=amount-{info['eligible_id']}]", "560")
    me.submit("main form[action='/notices/start'] button[type=submit]")
    assert live_server.query("SELECT state FROM application WHERE id = ?", info["eligible_id"]) == [
        ("publicized",)
    ]


def test_centre_approves_plans_and_exports_a_one_card_batch(live_server: LiveServer, phone: Any) -> None:
    info = live_server.info
    me = Phone(phone, live_server)
    me.login("center", "/approvals")
    me.tap(f"a[href='/approvals/{info['deciding_id']}']")
    me.check()
    me.type("#f-reason", "经审核，家庭人均收入低于标准，公示无异议。")
    me.submit("main button[name=decision][value=approve]")
    me.visit(f"/approvals/{info['deciding_id']}/letter")
    letter = me.page.locator("main").inner_text()
    assert "580.00" in letter  # the amount of the 公示, per month

    me.visit("/plans/draft")
    me.submit("main form[method=post][action='/plans/draft'] button[type=submit]")
    plan_id = live_server.query("SELECT id FROM plan ORDER BY id LIMIT 1")[0][0]
    # Four eyes: a colleague of the centre approves the plan this clerk drafted, on her own phone.
    phone.clear_cookies()
    colleague = Phone(phone, live_server)
    colleague.login("center_2", f"/plans/{plan_id}")
    colleague.submit(f"main form[action='/plans/{plan_id}/approve'] button")
    assert live_server.query("SELECT status FROM plan WHERE id = ?", plan_id) == [("approved",)]
    phone.clear_cookies()
    me = Phone(phone, live_server)
    me.login("center", "/batches")

    me.visit("/batches")
    # Both month fields carry a working pattern: the browser lets the forms through.
    assert me.page.locator("input[name=month]").first.get_attribute("pattern") == "[0-9]{4}-[0-9]{2}"
    me.submit("main form[action='/batches/generate'] button[type=submit]")
    me.submit("main form[action='/batches'] button[type=submit]")
    assert re.search(r"/batches/\d+$", me.page.url), me.page.url
    batch_url = me.page.url
    # The clerk who made the batch may not export it (four eyes): her colleague does.
    phone.clear_cookies()
    me = Phone(phone, live_server)
    me.login("center_2", batch_url.split(live_server.url, 1)[-1])
    with me.page.expect_download() as download:
        me.tap("main button[name=format][value=csv]")
    assert download.value.suggested_filename.endswith(".csv")
    assert live_server.query("SELECT status FROM disbursement_batch") == [("exported",)]


def test_a_resident_objects_from_the_notice_board(live_server: LiveServer, phone: Any) -> None:
    me = Phone(phone, live_server)
    me.visit("/board/370102001001")
    board = me.page.locator("main").inner_text()
    assert "李*" in board and "610.00" in board  # masked name and the proposed amount, on screen
    me.tap("main a[href*='/public/objections/new?notice=']")
    me.check()
    me.type("#f-body", "据我了解，该户家中有一辆新购置的小轿车，请核实。")
    me.submit("main form button[type=submit]")
    assert live_server.query("SELECT count(*) FROM objection") == [(1,)]
    # The tracking code on the confirmation page leads to the report's status.
    code = me.page.locator(".tracking-code strong").inner_text().strip()
    assert live_server.query("SELECT tracking_code FROM objection") == [(code,)]
    me.tap("main a[href^='/public/objections/status?code=']")
    me.page.wait_for_url("**/public/objections/status?code=*")
    me.check()
    assert code in me.page.locator("main").inner_text()
    me.visit("/board/370102001001/poster")  # the printable poster fits a phone too
    assert me.page.locator(".print-a4-poster svg, .print-a4-poster img").count() >= 1


def test_the_supervisor_reads_the_audit_trail(live_server: LiveServer, phone: Any) -> None:
    me = Phone(phone, live_server)
    me.login("supervisor", "/supervision")
    me.tap("a[href='/supervision/audit']")
    me.page.wait_for_url("**/supervision/audit")
    me.check()
    me.type("#f-action", "application.")
    me.tap("main form button[type=submit]")  # htmx swaps the results in place
    me.page.wait_for_url(re.compile(r"action=application\."))
    me.check()
    assert me.page.locator("table.audit-log tbody tr").count() > 3


def test_the_bot_console_shows_the_newest_reply_and_its_poll_keeps_the_place(
    live_server: LiveServer, phone: Any
) -> None:
    me = Phone(phone, live_server)
    me.login("station", "/bot/console")

    def console_answer(method: str) -> Any:
        return lambda r: r.url.endswith("/bot/console") and r.request.method == method

    for text in ("/start", "/status", "/lang", "/apply", "/status"):
        me.type("#f-text", text)
        with me.page.expect_response(console_answer("POST")):
            me.tap("main form.bot-compose button[type=submit]")
        me.page.wait_for_timeout(150)
    me.check()
    scroll = (
        "(() => { const t = document.getElementById('transcript');"
        " return [t.scrollTop, t.scrollHeight, t.clientHeight]; })()"
    )
    top, height, view = me.page.evaluate(scroll)
    assert height > view and height - top - view < 4  # opens on the newest reply
    with me.page.expect_response(console_answer("GET"), timeout=8000):
        pass  # the 5 s poll swaps the transcript in
    me.page.wait_for_timeout(200)
    top, height, view = me.page.evaluate(scroll)
    assert height - top - view < 4  # still following the newest
    me.page.evaluate("document.getElementById('transcript').scrollTop = 40")
    with me.page.expect_response(console_answer("GET"), timeout=8000):
        pass
    me.page.wait_for_timeout(200)
    assert me.page.evaluate(scroll)[0] == 40  # a reader scrolled back keeps the place
    me.check()


def test_the_investigator_records_a_home_visit_for_a_case_under_investigation(
    live_server: LiveServer, phone: Any
) -> None:
    info = live_server.info
    household_path = f"/households/{info['investigating_household_id']}"
    me = Phone(phone, live_server)
    me.login("investigator", "/cases")
    # The case list reads as compact cards on the phone: no column headings on screen; the
    # first row's name and file number on one line, its state below, no wider than the screen.
    # (First client rects: a cell that ends its line spans two; fonts give boxes their heights.)
    layout = me.page.evaluate(
        """() => {
          const row = document.querySelector("table.case-table tr.case-row");
          const first = sel => row.querySelector(sel).getClientRects()[0];
          const middle = r => (r.top + r.bottom) / 2;
          const [name, file, state] = ["td.c-head", "td.c-file", "td.c-state"].map(first);
          return {
            head: document.querySelector("table.case-table thead").getBoundingClientRect().height,
            sameLine: Math.abs(middle(name) - middle(file)) < 12 && file.left >= name.right - 1,
            below: middle(state) > Math.max(middle(name), middle(file)) + 8,
            right: row.getBoundingClientRect().right,
          };
        }"""
    )
    assert layout["head"] <= 1 and layout["sameLine"] and layout["below"], layout
    assert layout["right"] <= PHONE["width"], layout
    me.tap(f"main a[href='{household_path}']")
    me.page.wait_for_url(f"**{household_path}")
    me.check()
    me.tap(f"a[href='{household_path}/visits']")
    me.page.wait_for_url(f"**{household_path}/visits")
    me.check()
    me.choose("#f-kind", "home")
    me.tap("main form[action$='/visits/record'] button")
    me.page.wait_for_selector("#visit-form[data-walk-in] [data-signature-pad]:not([hidden])")
    me.check()
    me.type("textarea[name=findings]", "入户核实：两人同住，无车辆，收入与申报一致。")
    second = me.page.locator("select[name=second_investigator] option:not([value=''])").first
    me.choose("select[name=second_investigator]", second.get_attribute("value") or "")
    me.taps += 1
    me.page.set_input_files(
        "input[name=photos]",
        files=[
            {"name": "IMG_0101.jpg", "mimeType": "image/jpeg", "buffer": imagefactory.phone_jpeg(1200, 900)}
        ],
    )
    _sign(me.page)
    with me.page.expect_navigation(url=re.compile(r"/visits/\d+$"), timeout=30_000):
        me.tap("[data-submit]")
    me.check()
    visit_id = int(me.page.url.rsplit("/", 1)[-1])
    assert live_server.query(
        "SELECT household, kind, status, created_by, second_investigator IS NOT NULL FROM visit WHERE id = ?",
        visit_id,
    ) == [(info["investigating_household_id"], "home", "done", info["investigator_id"], 1)]
    evidence = "SELECT count(*) FROM photo WHERE visit = ? AND purpose = 'evidence'"
    assert live_server.query(evidence, visit_id) == [(1,)]


def test_the_city_reads_its_dashboards_and_previews_a_scoring_model(
    live_server: LiveServer, phone: Any
) -> None:
    me = Phone(phone, live_server)
    me.login("city", "/analytics")
    assert me.page.locator("main .figure-n").count() >= 8
    # htmx fills in the integrity figure in place of its "…" link
    me.page.locator("main .figure-n a[href*='/integrity']").first.wait_for(state="detached")
    me.check()
    figures = me.page.locator("main .figure-n").all_inner_texts()
    assert all(re.fullmatch(r"\d+", f.strip()) for f in figures), figures
    me.tap("main a[href^='/analytics/370102?']")  # drill into 历下区
    me.page.wait_for_url(re.compile(r"/analytics/370102\?"))
    me.check()
    assert me.page.locator("main [aria-current=page]").inner_text() == "历下区"
    open_cases = int(me.page.locator("main .figure-n").first.inner_text())
    assert open_cases >= 4  # the cases seeded in the district's first street

    me.visit("/scoring/models")
    assert me.page.locator("main a[href^='/scoring/models/']:not([href$='/new'])").count() >= 1  # v1, active
    me.tap("main a[href='/scoring/models/new']")  # a draft starts from the active model's figures
    me.page.wait_for_url("**/scoring/models/new")
    me.check()
    assert me.page.input_value("input[name='income_gap.max_points']") != ""
    me.type("#f-version", "v2")
    me.type("#f-effective_from", date.today().replace(year=date.today().year + 1, month=1, day=1).isoformat())
    me.type("#f-description", "收入缺口权重不变，试算排序影响。")
    me.submit("main form[action='/scoring/models'] button[type=submit]")
    assert re.search(r"/scoring/models/\d+$", me.page.url), me.page.url
    model_path = me.page.url.removeprefix(live_server.url)
    me.page.locator("#preview").scroll_into_view_if_needed()  # htmx loads the what-if when it shows
    me.page.locator("#preview table.histogram").wait_for()
    me.check()
    me.visit(f"{model_path}/preview")  # and the preview as a page of its own
    assert me.page.locator("main h1").inner_text().endswith("v2")
    histogram = me.page.locator("main table.histogram tbody tr")
    assert histogram.count() >= 1
    counts = me.page.locator("main table.histogram tbody td.num").all_inner_texts()
    assert sum(int(c) for c in counts) > 0, counts  # households on screen, before and after


def test_the_supervisor_verifies_the_audit_chain(live_server: LiveServer, phone: Any) -> None:
    me = Phone(phone, live_server)
    me.login("supervisor", "/supervision")
    events = live_server.query("SELECT count(*) FROM audit_event")[0][0]
    assert events > 3
    with me.page.expect_response(lambda r: r.url.endswith("/supervision/verify")) as answer:
        me.tap("main a[href='/supervision/verify']:has-text('立即校验审计链')")
    assert answer.value.ok and answer.value.request.headers.get("hx-request") == "true"  # swapped in place
    result = me.page.locator("#chain-result .chain-ok")
    result.wait_for()
    me.check()
    assert me.page.url.endswith("/supervision")
    assert me.page.locator("#chain-result .chain-broken").count() == 0
    text = result.inner_text()
    assert text.startswith("审计链完整") and f"{events} 条事件" in text, text


def test_an_applicant_follows_the_application_in_the_bot_console(live_server: LiveServer, phone: Any) -> None:
    info = live_server.info
    number = live_server.query("SELECT number FROM application WHERE id = ?", info["public_id"])[0][0]
    me = Phone(phone, live_server)
    me.login("station", f"/applications/{info['public_id']}/receipt")
    assert me.page.locator("main .bot-link a[href^='/bot/console']").count() == 0  # the printed link lapsed
    me.submit(f"main form[action='/applications/{info['public_id']}/bot-token'] button[type=submit]")
    assert me.page.locator("img.bot-qr").count() == 1
    token = live_server.query(
        "SELECT token FROM bind_token WHERE application = ? AND used_at IS NULL ORDER BY id DESC LIMIT 1",
        info["public_id"],
    )[0][0]
    assert token in (me.page.locator("main .bot-link a[href^='https://t.me/']").get_attribute("href") or "")

    # The applicant's side of the chat, simulated in the console: /start with the receipt's token.
    me.tap("main .bot-link a[href^='/bot/console']")
    me.page.wait_for_url(re.compile(r"/bot/console\?text="))
    me.check()
    assert me.page.input_value("#f-text") == f"/start {token}"

    def reply_after(text: str) -> str:
        before = me.page.locator("#transcript .bot-msg-bot").count()
        with me.page.expect_response(lambda r: r.url.endswith("/bot/console") and r.request.method == "POST"):
            me.tap("main form.bot-compose button[type=submit]")
        me.page.locator("#transcript .bot-msg-bot").nth(before).wait_for()
        me.check()
        assert text in me.page.locator("#transcript .bot-msg-user").last.inner_text()
        return str(me.page.locator("#transcript .bot-msg-bot").last.inner_text())

    bound = reply_after(token)
    assert f"此对话已关注申请 {number}" in bound, bound
    assert live_server.query(
        "SELECT count(*) FROM bot_binding WHERE application = ? AND active", info["public_id"]
    ) == [(1,)]
    me.type("#f-text", "/status")
    status = reply_after("/status")
    assert number in status and "状态：您的申请正在公示。" in status, status
