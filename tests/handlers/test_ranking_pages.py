"""The ranking page, the household index page and the models pages, through HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from relief_pwa.core.intake import ItemDraft
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.standards import do_seed_standards
from relief_pwa.tables import AidRecord, Household, IndexRecord, ScoringModel, Shock
from tests.factories import make_intake, member


@pytest.fixture()
async def city(world: Any, now: Any) -> Any:
    """Three households in 历下区 (two streets) and one in 市中区."""
    await do_seed_standards(SYSTEM_ACTOR, now=now)
    world.poor = await make_intake(
        world, items=[ItemDraft("income", "wages", "0", "", "100")], members=[member(disability_grade="1")]
    )
    world.mid = await make_intake(
        world,
        community="370102001002",
        username="center",
        items=[ItemDraft("income", "wages", "0", "", "500")],
    )
    world.other_street = await make_intake(
        world,
        community="370102002001",
        username="center",
        items=[ItemDraft("income", "wages", "0", "", "300")],
        category="medical",
    )
    world.other_district = await make_intake(
        world,
        community="370103002001",
        username="center_b",
        items=[ItemDraft("income", "wages", "0", "", "50")],
    )
    return world


async def test_ranking_in_scope_only(city: Any, client: Any) -> None:
    await client.login("center")  # 历下区
    page = await client.get("/ranking")
    assert page.status_code == 200
    html = page.text
    for result in (city.poor, city.mid, city.other_street):
        assert result.file_no in html
    assert city.other_district.file_no not in html  # 市中区 is another district
    street = (await client.get("/ranking?org=370102001")).text  # the filter keeps its choice
    assert 'value="370102001" selected>' in street and street.count(" selected>") == 1
    assert city.other_street.file_no not in street

    await client.login("station")  # 解放路街道 only
    html = (await client.get("/ranking")).text
    assert city.poor.file_no in html and city.mid.file_no in html
    assert city.other_street.file_no not in html and city.other_district.file_no not in html
    # Asking for another district's unit is refused, never shown.
    refused = await client.get("/ranking?org=370103")
    assert city.other_district.file_no not in refused.text


async def test_ranking_order_and_category_filter(city: Any, client: Any) -> None:
    await client.login("city")
    html = (await client.get("/ranking")).text
    positions = [html.index(r.file_no) for r in (city.poor, city.mid)]
    assert positions == sorted(positions)  # 100 yuan and a grade-1 disability rank above 500 yuan
    medical = (await client.get("/ranking?category=medical")).text
    assert city.other_street.file_no in medical and city.poor.file_no not in medical


async def test_roles_without_ranking_are_refused(city: Any, client: Any) -> None:
    await client.login("liaison")
    assert (await client.get("/ranking")).status_code == 403


async def test_movement_and_why_after_aid(city: Any, client: Any, clock: Any) -> None:
    clock.advance(timedelta(hours=1))  # before logging in: an hour idle would end the session
    await client.login("station")
    page = await client.get(f"/households/{city.poor.household_id}/index")
    assert page.status_code == 200
    response = await client.post_form(
        f"/households/{city.poor.household_id}/aid",
        {"value": "20000", "received_on": clock.now().date().isoformat(), "note": "区慈善总会"},
    )
    assert response.status_code == 303, response.text[:400]
    await client.login("city")
    html = (await client.get("/ranking?org=&category=")).text
    assert "▼ 1" in html  # aid of 200 yuan puts it below the 50-yuan household of 市中区
    assert "Aid received" in html or "已获救助" in html


async def test_household_index_page_and_bad_input(city: Any, client: Any) -> None:
    await client.login("liaison")
    url = f"/households/{city.poor.household_id}/index"
    page = await client.get(url)
    assert page.status_code == 200
    assert "v1" in page.text
    bad = await client.post_form(
        f"/households/{city.poor.household_id}/shocks", {"kind": "", "occurred_on": "2099-01-01", "note": "x"}
    )
    assert bad.status_code == 422
    assert not await Shock.exists()
    bad_aid = await client.post_form(
        f"/households/{city.poor.household_id}/aid", {"value": "abc", "received_on": "", "note": ""}
    )
    assert bad_aid.status_code == 422
    assert not await AidRecord.exists()
    good = await client.post_form(
        f"/households/{city.poor.household_id}/shocks",
        {"kind": "disaster", "occurred_on": "2026-11-01", "note": "暴雨"},
    )
    assert good.status_code == 303
    assert await IndexRecord.count().where(IndexRecord.household == city.poor.household_id) == 2
    # Record ids are 64-bit (a province passes 2^31 records): a link to one beyond 32 bits
    # shows it, and a record that does not exist is not found (it is not quietly the latest).
    latest = await (
        IndexRecord.select(IndexRecord.id)
        .where(IndexRecord.household == city.poor.household_id)
        .order_by(IndexRecord.id, ascending=False)
        .first()
    )
    assert latest is not None
    await IndexRecord.update({IndexRecord.id: 3_000_000_000}).where(IndexRecord.id == latest["id"])
    assert (await client.get(f"{url}?record=3000000000")).status_code == 200
    assert (await client.get(f"{url}?record=2999999999")).status_code == 404
    assert (
        await client.get(f"{url}?record=99999999999999999999")
    ).status_code == 200  # not an id: the latest
    # Another district's household: not found, whoever asks.
    other = await client.get(f"/households/{city.other_district.household_id}/index")
    assert other.status_code == 404


async def test_ranking_as_of_an_earlier_date(city: Any, client: Any, clock: Any) -> None:
    before = clock.now().date()
    clock.advance(timedelta(days=3))
    await client.login("station")
    await client.post_form(
        f"/households/{city.poor.household_id}/aid",
        {"value": "50000", "received_on": clock.now().date().isoformat(), "note": "慰问"},
    )
    household = (
        await Household.select(Household.current_index).where(Household.id == city.poor.household_id).first()
    )
    assert household is not None
    now_index = household["current_index"]
    old = (await client.get(f"/ranking?as_of={before.isoformat()}")).text
    first_record = (
        await IndexRecord.select()
        .where(IndexRecord.household == city.poor.household_id)
        .order_by(IndexRecord.id)
        .first()
    )
    assert first_record is not None
    assert f"{now_index:.2f}" != f"{first_record['total']:.2f}"  # 500 yuan of aid lowered it
    assert f"{first_record['total']:.2f}" in old  # the past ranking shows the index of that day
    assert f"{now_index:.2f}" not in old


def _links(html: str) -> dict[str, str]:
    """The pager's Previous/Next hrefs (rel="prev"/"next"), unescaped."""
    import html as html_module
    import re

    return {
        rel: html_module.unescape(href)
        for href, rel in re.findall(r'<a href="([^"]+)" rel="(prev|next)"', html)
    }


def _ranks(html: str) -> list[int]:
    import re

    return [int(rank) for rank in re.findall(r'<td data-label="[^"]+" class="num r-rank">(\d+)</td>', html)]


async def test_ranking_pages_by_cursor_with_and_without_htmx(
    city: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relief_pwa.services import ranking

    monkeypatch.setattr(ranking, "PAGE_SIZE", 1)
    await client.login("center")  # 历下区: three ranked households
    first = await client.get("/ranking")
    assert _ranks(first.text) == [1] and 'rel="prev"' not in first.text
    next_url = _links(first.text)["next"]
    assert "after=" in next_url and "page=" not in next_url  # the link carries the key, not an offset
    second = await client.get(next_url)
    assert _ranks(second.text) == [2]
    third = await client.get(_links(second.text)["next"])
    assert _ranks(third.text) == [3] and 'rel="next"' not in third.text  # the last one
    back = await client.get(_links(third.text)["prev"])
    assert _ranks(back.text) == [2] and "before=" in _links(third.text)["prev"]
    # htmx asks for the results only: a fragment, with the same cursor links.
    fragment = await client.get(next_url, headers={"HX-Request": "true", "HX-Target": "ranking-results"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'id="ranking-results"' in fragment.text
    assert _ranks(fragment.text) == [2] and 'hx-get="/ranking?' in fragment.text
    # A jump by page number seeks the rank; a cursor past the end and a malformed one are no error.
    assert _ranks((await client.get("/ranking?page=3")).text) == [3]
    assert _ranks((await client.get("/ranking?after=-1.2000-01-01.999999.x")).text) == [3]
    assert _ranks((await client.get("/ranking?after=nonsense")).text) == [1]


async def test_a_cursor_continues_after_its_row_whatever_moved(
    city: Any, client: Any, clock: Any, monkeypatch: Any
) -> None:
    """Next shows the households ordered after the row the page ended with, as they stand now."""
    from relief_pwa.services import ranking
    from relief_pwa.tables import HouseholdRank

    monkeypatch.setattr(ranking, "PAGE_SIZE", 1)
    await client.login("center")
    next_url = _links((await client.get("/ranking")).text)["next"]
    cursor = ranking.parse_cursor(next_url.split("after=", 1)[1].replace("%2D", "-"))
    assert cursor is not None and cursor[3] == city.poor.household_id
    await client.login("station")  # the top household's index falls
    await client.post_form(
        f"/households/{city.poor.household_id}/aid",
        {"value": "500000", "received_on": clock.now().date().isoformat(), "note": "慰问"},
    )
    stored = await HouseholdRank.select().where(
        (HouseholdRank.scope == "370100/370102/") & (HouseholdRank.category == "")
    )
    keys = sorted((r["neg_centi"], r["first_applied"], r["file_no"], r["household"]) for r in stored)
    assert keys[0] > cursor  # it fell below its old place (still first of the district here)
    assert keys[0][3] == city.poor.household_id
    await client.login("center")
    html = (await client.get(next_url)).text
    # Not rank 2 (an offset would show the second household): the first row after the old key,
    # ranked by the rows before it now (none).
    assert _ranks(html) == [1]
    assert city.poor.file_no in html


async def test_ranking_as_of_is_bounded(city: Any, client: Any, clock: Any, monkeypatch: Any) -> None:
    from relief_pwa.services import ranking

    day = clock.now().date()
    clock.advance(timedelta(days=2))
    monkeypatch.setattr(ranking, "AS_OF_LIMIT", 2)
    await client.login("center")  # three ranked households: over the limit
    page = await client.get(f"/ranking?as_of={day.isoformat()}")
    assert page.status_code == 200
    assert "2" in page.text and ("district or street" in page.text or "街道" in page.text)
    assert city.poor.file_no in page.text  # the live ranking instead
    await client.login("station")  # two: within it
    page = await client.get(f"/ranking?as_of={day.isoformat()}")
    assert city.poor.file_no in page.text and "district or street" not in page.text


async def test_models_pages_city_only_activation(city: Any, client: Any) -> None:
    await client.login("supervisor")
    page = await client.get("/scoring/models")
    assert page.status_code == 200 and "v1" in page.text
    refused = await client.post_form("/scoring/models", {"version": "v9", "effective_from": "2026-01-01"})
    assert refused.status_code == 403
    await client.login("city")
    form = (await client.get("/scoring/models/new")).text
    assert "income_gap.max_points" in form
    bad = await client.post_form(
        "/scoring/models",
        {
            "version": "v2",
            "effective_from": "2026-01-01",
            "definition_json": '{"factors": {"income_gap": {"max_points": "-5"}}}',
        },
    )
    assert bad.status_code == 422
    assert await ScoringModel.count() == 1
    await client.login("station")
    assert (await client.get("/scoring/models")).status_code == 403
