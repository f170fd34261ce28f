"""Every page of every role, rendered in Chinese from the demo city.

Each GET route of the app (enumerated from ``app.routes``) is opened by each
demo account and by an anonymous visitor, with real ids filled in. Every HTML
page returned must

* keep its attributes: no escaped quote inside a tag (an autoescaped string of
  attributes renders ``pattern=&#34;...&#34;`` and the browser sees a broken
  value), and
* show Chinese: no visible English word or raw code outside a short allow-list
  (brand and technical names that stay in Latin letters).
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser
from typing import Any

import pytest

from relief_pwa.demo import DEMO_PASSWORD, DEMO_STREET, seed_demo
from relief_pwa.services.integrity import FLAG_KINDS
from relief_pwa.tables import (
    Application,
    DisbursementBatch,
    Entitlement,
    Fund,
    HouseholdCard,
    Job,
    Objection,
    Plan,
    PolicyPage,
    ReverificationSample,
    ScoringModel,
    Visit,
)
from tests.services.publicity_support import fresh_public_state  # noqa: F401

ROLES = ("liaison", "investigator", "station", "center", "city", "supervisor", "education")
SKIPPED = {
    "/healthz",  # JSON
    "/lang/{code:str}",  # a redirect
    "/sw.js",  # JavaScript
    "/static/{file_path:path}",
}
BINARY = (".png", "/photos/")

# Words that stay in Latin letters in the Chinese interface.
ALLOWED_WORDS = {
    "QR",
    "PNG",
    "CSV",
    "PDF",
    "ID",
    "SHA",
    "English",
    "Telegram",
    "htmx",
    "JavaScript",
    "Excel",
    "XLSX",
    "JSON",
    "GPS",
    "App",
    "Chromium",
    "Safari",
    "Chrome",
    "iPhone",
    "Android",
    "https",
    "http",
    "www",
}
# Attributes people read (or hear from a screen reader).
VISIBLE_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")
# Not read as prose: scripts, and machine text shown verbatim on purpose (codes,
# JSON, digests), marked <code>/<pre> or translate="no" (HTML's own "leave this
# text alone" attribute).
UNCHECKED_ELEMENTS = ("script", "style", "template", "noscript", "code", "pre", "kbd", "samp")
VOID_ELEMENTS = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
ESCAPED_IN_TAG = re.compile(r"<[a-zA-Z][^<>]*(?:&#34;|&quot;|&#39;)[^<>]*>")


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in UNCHECKED_ELEMENTS or ("translate", "no") in attrs:
            self._stack.append(tag)
        elif self._stack and tag not in VOID_ELEMENTS:
            self._stack.append("")
        if self._stack:
            return
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES and value:
                self.parts.append(value)
            if tag == "input" and name == "value" and value and ("type", "submit") in attrs:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if self._stack and tag not in VOID_ELEMENTS:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if not self._stack:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return "\n".join(parser.parts)


def english_words(html: str) -> list[str]:
    # A literal to be typed is quoted: “system”, “application.”
    text = re.sub(r"“[^”]*”", " ", visible_text(html))
    # Words of two or more letters; codes like bot.token_issue or home_visit count whole.
    words = re.findall(r"(?<![\w.@/-])[A-Za-z][A-Za-z_.]*[A-Za-z](?![\w@/-])", text)
    # A random objection tracking code can be all letters (about one in 18), and the page's
    # <title> cannot mark it translate="no": a code is not an English word.
    return [w for w in words if w not in ALLOWED_WORDS and not _is_tracking_code(w)]


def _is_tracking_code(word: str) -> bool:
    from relief_pwa.services.objections import CODE_ALPHABET, CODE_LENGTH

    return len(word) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in word)


def escaped_attributes(html: str) -> list[str]:
    return [m.group(0)[:160] for m in ESCAPED_IN_TAG.finditer(html)]


async def _ids() -> dict[str, list[str]]:
    """Candidate values for every path parameter: several per kind, so pages
    of different states (received, under 公示, approved, active...) are all shown."""
    apps = await Application.select(Application.id, Application.household, Application.state).where(
        Application.org_path.like(f"%{DEMO_STREET}%")
    )
    by_state: dict[str, dict[str, Any]] = {}
    for row in apps:
        by_state.setdefault(row["state"], row)
    applications = [str(r["id"]) for r in by_state.values()]
    households = list(dict.fromkeys(str(r["household"]) for r in by_state.values()))
    card = await HouseholdCard.select(HouseholdCard.token, HouseholdCard.household).first()
    if card:
        households.insert(0, str(card["household"]))
    # A recipient brought in with the caseload import: its index and payments have their own causes.
    imported = (
        await Entitlement.select(Entitlement.household)
        .where((Entitlement.opened_by == "import") & Entitlement.org_path.like(f"%{DEMO_STREET}%"))
        .first()
    )
    if imported:
        households.insert(1, str(imported["household"]))

    async def first(table: Any, column: Any = None) -> list[str]:
        row = await table.select(column or table._meta.primary_key).first()
        return [str(next(iter(row.values())))] if row else []

    return {
        "household_id": list(dict.fromkeys(households))[:5],
        "application_id": applications,
        "visit_id": await first(Visit),
        "job_id": await first(Job),
        "model_id": await first(ScoringModel),
        "token": [card["token"]] if card else [],
        "code": [f"{DEMO_STREET}001", DEMO_STREET],
        "slug": await first(PolicyPage, PolicyPage.slug),
        "objection_id": await first(Objection),
        "plan_id": await first(Plan),
        "fund_id": await first(Fund),
        "batch_id": await first(DisbursementBatch),
        "sample_id": await first(ReverificationSample),
        "org_code": ["370102", DEMO_STREET],
        "kind": list(FLAG_KINDS),
    }


def _urls(path: str, ids: dict[str, list[str]]) -> list[str]:
    names = re.findall(r"\{(\w+):\w+\}", path)
    urls = [path]
    for name in names:
        values = ids.get(name) or []
        urls = [re.sub(r"\{" + name + r":\w+\}", value, u) for u in urls for value in values]
    return urls


def _get_routes(app: Any) -> list[str]:
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if "GET" in getattr(handler, "http_methods", set()) and route.path not in SKIPPED:
                found.add(route.path)
    return sorted(found)


@pytest.mark.usefixtures("fresh_public_state")
async def test_every_page_of_every_role_is_chinese_and_keeps_its_attributes(db, app, make_client, now):
    await seed_demo(households=24, today=now)
    ids = await _ids()
    routes = _get_routes(app)
    assert len(routes) > 50
    pages = 0
    escaped: dict[str, list[str]] = {}
    english: dict[str, Counter[str]] = {}
    for username in (None, *ROLES):
        client = make_client()
        if username:
            await client.login(username, DEMO_PASSWORD)
        for path in routes:
            for url in _urls(path, ids):
                if any(part in url for part in BINARY):
                    continue
                response = await client.get(url)
                assert response.status_code < 500, (username, url, response.text[:400])
                if response.status_code != 200 or "html" not in response.headers.get("content-type", ""):
                    continue
                pages += 1
                where = f"{username or 'anonymous'} {url}"
                if bad := escaped_attributes(response.text):
                    escaped[where] = bad
                if words := english_words(response.text):
                    english[where] = Counter(words)
    assert pages > 200, pages
    assert escaped == {}, escaped
    assert english == {}, "\n".join(f"{w}: {dict(c)}" for w, c in sorted(english.items()))


def test_form_control_attributes_are_a_mapping_escaped_value_by_value():
    from markupsafe import Markup

    from relief_pwa.handlers.common import ENV, html_attrs

    attrs = {"pattern": "[0-9]{4}-[0-9]{2}", "inputmode": "numeric", "required": True, "x": None}
    assert html_attrs(attrs) == Markup(' pattern="[0-9]{4}-[0-9]{2}" inputmode="numeric" required')
    assert html_attrs({"title": '"><script>'}) == Markup(' title="&#34;&gt;&lt;script&gt;"')
    with pytest.raises(TypeError):
        html_attrs('pattern="[0-9]+"')  # type: ignore[arg-type]
    html = ENV.get_template("_macros.html").module.input(  # type: ignore[attr-defined]
        "month", "Month", attrs={"pattern": "[0-9]{4}-[0-9]{2}", "maxlength": 7}
    )
    assert 'pattern="[0-9]{4}-[0-9]{2}"' in html and 'maxlength="7"' in html


def test_no_template_passes_form_attributes_as_a_string():
    from relief_pwa.handlers.common import TEMPLATE_DIR

    offenders = [
        f"{path.name}: {match.group(0)}"
        for path in TEMPLATE_DIR.rglob("*.html")
        for match in re.finditer(r"attrs=['\"][^'\"]*['\"]", path.read_text())
    ]
    assert offenders == []


def test_stored_codes_and_clashing_words_read_in_chinese():
    from relief_pwa.handlers.common import (
        action_label,
        actor_name,
        code_label,
        entity_label,
        level_label,
        reference_label,
        rule_numbers,
        trigger_label,
    )
    from relief_pwa.i18n import current_language

    token = current_language.set("zh_Hans")
    try:
        assert action_label("bot.token_issue") == "向申请人发放机器人绑定码"
        assert action_label("notice.start") == "开始公示"
        assert actor_name("王秀兰（联络员） (liaison)") == "王秀兰（联络员）"
        assert entity_label("disbursement_batch") == "一卡通批次"
        assert [code_label("batch", s) for s in ("draft", "exported", "reconciled")] == [
            "草稿",
            "已导出",
            "已对账",
        ]
        assert [code_label("payment", s) for s in ("paid", "failed")] == ["已支付", "失败"]
        assert code_label("model", "active") == "使用中"
        assert code_label("need", "temporary") == "临时困难"
        assert code_label("need", "宿舍取暖") == "宿舍取暖"  # a need typed by staff stays as typed
        assert code_label("section", "asset") == "财产"
        assert reference_label("donation:3") == "捐赠 #3"
        assert trigger_label("intake") == "受理申请"
        assert level_label("housing", "rented_heavy") != "rented_heavy"
        assert entity_label("review_decision") == "复核结论"
        # The means test's missing facts come as codes: the opinion page names them.
        assert rule_numbers({"missing": "members,income", "household_size": 0}) == {
            "missing": "成员, 收入",
            "household_size": 0,
        }
    finally:
        current_language.reset(token)


def test_every_table_reads_as_cards_on_a_phone():
    """A table wider than a phone scrolls the page sideways; stacked, its rows are cards.
    (The case list's and the ranking's tables have their own compact card layouts:
    ``table.case-table``, ``table.rank-table``.)"""
    from relief_pwa.handlers.common import TEMPLATE_DIR

    plain = [
        f"{path.relative_to(TEMPLATE_DIR)}: {tag}"
        for path in TEMPLATE_DIR.rglob("*.html")
        for tag in re.findall(r"<table\b[^>]*>", path.read_text())
        if not re.search(r'class="[^"]*\b(stack|case-table|rank-table)\b', tag)
    ]
    assert plain == []
    css = (TEMPLATE_DIR.parent.parent / "static" / "css" / "app.css").read_text()
    for compact in ("case-table", "rank-table"):
        assert re.search(rf"@media \(max-width: 767\.98px\) \{{\s*table\.{compact}", css), compact
