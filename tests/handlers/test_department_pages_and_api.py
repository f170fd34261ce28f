"""Relief departments over HTTP: the education bureau's pages, referring from the household
file, and the read-only API (a matrix of departments and districts, tokens, rate limit)."""

from __future__ import annotations

from typing import Any

import pytest

from relief_pwa.core.enums import Role
from relief_pwa.services import access_log, ratelimit
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.departments import do_create_department, do_create_token, do_revoke_token
from relief_pwa.services.identifiers import ACCOUNT as ACCOUNT_KIND
from relief_pwa.services.identifiers import opened
from relief_pwa.services.ratelimit import SlidingWindowLimiter
from relief_pwa.services.referrals import do_refer
from relief_pwa.tables import DepartmentToken, Household, OrgUnit, Referral
from tests.factories import add_staff
from tests.helpers import found
from tests.services.departments_support import ACCOUNT, seed_city
from tests.services.publicity_support import fresh_public_state  # noqa: F401

API = "/api/departments/v1"


@pytest.fixture()
async def city(world: Any, now: Any) -> dict[str, int]:
    return await seed_city(world, now)


async def _unit(code: str) -> int:
    return int(found(await OrgUnit.select(OrgUnit.id).where(OrgUnit.code == code).first())["id"])


async def _head_id(household_id: int) -> str:
    from relief_pwa.services.identifiers import ID_NUMBER

    row = found(await Household.select(Household.head_id_sealed).where(Household.id == household_id).first())
    return opened(ID_NUMBER, row["head_id_sealed"])


async def test_education_pages_show_only_eligible_households_without_bank_fields(
    make_client: Any, world: Any, city: dict[str, int]
) -> None:
    client = make_client()
    await client.login("department")
    listing = await client.get("/department")
    assert listing.status_code == 200
    file_nos = {
        hid: found(await Household.select(Household.file_no).where(Household.id == hid).first())["file_no"]
        for hid in city.values()
    }
    assert file_nos[city["with_child"]] in listing.text
    for other in ("without_child", "applying", "elsewhere"):
        assert file_nos[city[other]] not in listing.text
    page = await client.get(f"/department/households/{city['with_child']}")
    assert page.status_code == 200
    assert "一卡通" not in page.text and ACCOUNT[-4:] not in page.text
    assert await _head_id(city["with_child"]) not in page.text
    assert "小学" in page.text  # the schoolchild's schooling is what the bureau needs
    for other in ("without_child", "elsewhere"):
        assert (await client.get(f"/department/households/{city[other]}")).status_code == 404
    # The full household file stays closed to a department.
    assert (await client.get(f"/households/{city['with_child']}")).status_code == 403


async def test_refer_from_the_household_file_and_answer_in_the_inbox(
    make_client: Any, world: Any, city: dict[str, int]
) -> None:
    station = make_client()
    await station.login("station")
    household_id = city["without_child"]
    file_page = await station.get(f"/households/{household_id}")
    assert f"/households/{household_id}/refer" in file_page.text
    form = await station.get(f"/households/{household_id}/refer")
    assert "历下区教育局" in form.text
    token = await station.ensure_csrf()
    sent = await station.post(
        f"/households/{household_id}/refer",
        data={
            "_csrf_token": token,
            "to_unit": str(await _unit("370102D01")),
            "category": "education",
            "request": "学费困难",
        },
    )
    assert sent.status_code == 303
    referral = found(await Referral.objects().where(Referral.household == household_id).first())
    bureau = make_client()
    await bureau.login("department")
    inbox = await bureau.get("/referrals")
    assert f"/referrals/{referral.id}" in inbox.text
    # The referred household (not otherwise eligible) opens as the bureau's view, with the actions.
    detail = await bureau.get(f"/referrals/{referral.id}")
    assert detail.status_code == 200 and f"/referrals/{referral.id}/accept" in detail.text
    token = await bureau.ensure_csrf()
    accepted = await bureau.post(
        f"/referrals/{referral.id}/accept", data={"_csrf_token": token, "version": str(referral.version)}
    )
    assert accepted.status_code == 303
    assert found(await Referral.objects().where(Referral.id == referral.id).first()).status == "accepted"
    # The centre of the other district sees nothing of it.
    other = make_client()
    await other.login("center_b")
    assert (await other.get(f"/referrals/{referral.id}")).status_code == 404


@pytest.fixture()
async def tokens(world: Any, city: dict[str, int], now: Any) -> dict[str, str]:
    """API tokens: the 历下区 education bureau, the 历下区 medical insurance bureau and the
    市中区 education bureau; one referral to the 历下区 education bureau."""
    await do_create_department(
        SYSTEM_ACTOR, kind="medical_insurance", parent_code="370102", name="历下区医保局", now=now
    )
    await do_create_department(
        SYSTEM_ACTOR, kind="education", parent_code="370103", name="市中区教育局", now=now
    )
    city_admin = world.actor("city")
    made = {
        name: await do_create_token(city_admin, await _unit(code), label=name, now=now)
        for name, code in (("edu", "370102D01"), ("med", "370102D02"), ("edu_b", "370103D01"))
    }
    await do_refer(
        world.actor("station"), city["with_child"], to_unit=await _unit("370102D01"), category="education",
        request="学费", now=now,
    )  # fmt: skip
    return made


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_api_matrix_each_department_sees_only_its_own(
    client: Any, world: Any, city: dict[str, int], tokens: dict[str, str]
) -> None:
    listed = {
        name: [
            h["id"] for h in (await client.get(f"{API}/households", headers=_auth(t))).json()["households"]
        ]
        for name, t in tokens.items()
    }
    assert listed == {"edu": [city["with_child"]], "med": [], "edu_b": [city["elsewhere"]]}
    second_page = (
        await client.get(f"{API}/households?page=2&page_size=1", headers=_auth(tokens["edu"]))
    ).json()
    assert (second_page["total"], second_page["page"], second_page["households"]) == (1, 2, [])
    allowed = {("edu", "with_child"), ("edu_b", "elsewhere")}
    for name, token in tokens.items():
        for household in city:
            response = await client.get(f"{API}/households/{city[household]}", headers=_auth(token))
            expected = 200 if (name, household) in allowed else 404
            assert response.status_code == expected, (name, household)
            if expected == 200:
                body = response.json()
                assert "bank_account_masked" not in body["fields"]
                assert ACCOUNT[-4:] not in response.text
    referred = {
        name: [r["household"] for r in (await client.get(f"{API}/referrals", headers=_auth(t))).json()]
        for name, t in tokens.items()
    }
    assert referred == {"edu": [city["with_child"]], "med": [], "edu_b": []}


async def test_api_refuses_bad_and_revoked_tokens_and_logs_every_call(
    client: Any, world: Any, city: dict[str, int], tokens: dict[str, str], now: Any
) -> None:
    for headers in ({}, _auth("dept_not-a-token"), {"Authorization": "Basic abc"}):
        response = await client.get(f"{API}/households", headers=headers)
        assert response.status_code == 401
    stored = [r["token_hash"] for r in await DepartmentToken.select(DepartmentToken.token_hash)]
    assert all(t not in stored for t in tokens.values())  # only hashes are kept
    access_log.discard_pending_reads()
    assert (await client.get(f"{API}/households", headers=_auth(tokens["edu"]))).status_code == 200
    assert (
        await client.get(f"{API}/households/{city['with_child']}", headers=_auth(tokens["edu"]))
    ).status_code == 200
    assert (await client.get(f"{API}/referrals", headers=_auth(tokens["edu"]))).status_code == 200
    assert access_log.pending_reads() == 3
    token_row = found(
        await DepartmentToken.select(DepartmentToken.id).where(DepartmentToken.label == "edu").first()
    )
    await do_revoke_token(world.actor("city"), token_row["id"], now=now)
    assert (await client.get(f"{API}/households", headers=_auth(tokens["edu"]))).status_code == 401
    # Staff of another district cannot revoke; the API account never logs in.
    from relief_pwa.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        await do_revoke_token(world.actor("center"), token_row["id"], now=now)
    await add_staff(world, "edu_clerk", Role.DEPARTMENT, "370102D01")
    assert opened(ACCOUNT_KIND, "") == ""


async def test_api_rate_limit(
    client: Any, world: Any, city: dict[str, int], tokens: dict[str, str], monkeypatch: Any
) -> None:
    monkeypatch.setattr(ratelimit, "DEPARTMENT_API", SlidingWindowLimiter(limit=3, window_seconds=60))
    codes = [
        (await client.get(f"{API}/referrals", headers=_auth(tokens["edu"]))).status_code for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]


async def test_openapi_schema_documents_the_api(client: Any, db: Any) -> None:
    response = await client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths) == {f"{API}/households", f"{API}/households/{{household_id}}", f"{API}/referrals"}
    assert response.json()["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_refer_on_asks_for_its_own_reason(
    make_client: Any, world: Any, city: dict[str, int], now: Any
) -> None:
    await do_create_department(
        SYSTEM_ACTOR, kind="medical_insurance", parent_code="370102", name="历下区医保局", now=now
    )
    referral_id = await do_refer(
        world.actor("station"), city["without_child"], to_unit=await _unit("370102D01"),
        category="education", request="学费困难", now=now,
    )  # fmt: skip
    bureau = make_client()
    await bureau.login("department")
    page = await bureau.get(f"/referrals/{referral_id}")
    assert page.text.count('id="f-reason"') == 1  # the decision's; refer-on has a field of its own
    token = await bureau.ensure_csrf()
    form = {"_csrf_token": token, "to_unit": str(await _unit("370102D02"))}
    refused = await bureau.post(f"/referrals/{referral_id}/refer-on", data={**form, "refer_on_reason": " "})
    assert refused.status_code == 422
    assert (
        'id="f-refer_on_reason"' in refused.text
        and 'aria-describedby="refer_on_reason-error"' in refused.text
    )
    assert 'aria-describedby="reason-error"' not in refused.text  # the decision's field is untouched
    sent = await bureau.post(
        f"/referrals/{referral_id}/refer-on", data={**form, "refer_on_reason": "属医疗救助"}
    )
    assert sent.status_code == 303
    row = found(await Referral.objects().where(Referral.id == referral_id).first())
    assert row.status == "referred_on" and row.reason == "属医疗救助"
