"""Public pages: nothing personal leaks, boards are cacheable and verifiable,
the QR poster decodes to the board URL, objections work, and abuse gets 429."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import date, timedelta
from typing import Any

import zxingcpp
from PIL import Image

from relief_pwa.services import identifiers
from relief_pwa.services.policies import do_publish_policy
from relief_pwa.services.publicity import do_start_publicity
from relief_pwa.tables import (
    AuditEvent,
    Household,
    Member,
    Objection,
    PublicNotice,
    PublishedList,
    WebSession,
)
from tests.factories import World, member, new_id_number
from tests.handlers.test_reads_write_nothing import statements  # noqa: F401  (a fixture)
from tests.helpers import found
from tests.services.publicity_support import (  # noqa: F401
    active_application,
    eligible_application,
    fresh_public_state,
)

COMMUNITY = "370102001001"
ADDRESSES = ["解放路12号3单元201室", "和平路88号2号楼1单元502", "千佛山东路5号院"]


async def seed_community(world: World) -> dict[str, Any]:
    """Recipients, running notices (one with a minor head), in two communities and two streets."""
    recipients = [
        await active_application(
            world,
            members=[member("欧阳震华"), member("李秀英", "spouse")],
            address=ADDRESSES[0],
            phone="13911112222",
        ),
        await active_application(
            world,
            members=[member("麦麦提·赛帕克")],
            address=ADDRESSES[1],
            phone="13933334444",
            amount_fen=80_000,
        ),
        await active_application(
            world,
            community="370102001002",
            members=[member("王建国")],
            address=ADDRESSES[2],
            phone="13955556666",
        ),
    ]
    running = await eligible_application(
        world,
        members=[member("张小明"), member("赵丽娟", "spouse", phone="13877778888")],
        address="解放路99号",
        phone="13800001234",
    )
    minor = await eligible_application(
        world,
        members=[
            member(
                "刘子涵",
                "head",
                id_number=new_id_number(born=date(2011, 6, 1)),
                schooling="junior",
                work_capacity="none",
            )
        ],
        address="解放路100号",
        phone="13800005678",
    )
    later = world.now + timedelta(days=10)
    for app in (running, minor):
        await do_start_publicity(world.actor("station"), app.application_id, now=later)
    return {"recipients": recipients, "running": running, "minor": minor, "now": later}


async def personal_strings() -> list[str]:
    strings: list[str] = []
    for row in await Member.select(Member.name, Member.id_sealed, Member.phone_sealed):
        id_number = identifiers.opened(identifiers.ID_NUMBER, row["id_sealed"])
        strings += [row["name"], id_number, id_number[-8:]]
        if row["phone_sealed"]:
            strings.append(identifiers.opened(identifiers.PHONE, row["phone_sealed"]))
    for row in await Household.select(Household.address, Household.phone_sealed, Household.head_name):
        strings += [
            row["address"],
            identifiers.opened(identifiers.PHONE, row["phone_sealed"]),
            row["head_name"],
        ]
    return [s for s in strings if s]


async def test_no_personal_data_on_any_public_page(world, client, clock):
    seeded = await seed_community(world)
    clock.set(seeded["now"])
    await do_publish_policy(
        world.actor("city"),
        slug="dibao-guide",
        title="低保办理指南",
        body="申请低保需要提供身份证和户口簿。\n\n- 到街道服务站申请",
        now=world.now,
    )
    notice = found(
        await PublicNotice.select(PublicNotice.id)
        .where(PublicNotice.application == seeded["running"].application_id)
        .first()
    )
    recipient_id = seeded["recipients"][0].application_id

    board = await client.get(f"/board/{COMMUNITY}")
    assert board.status_code == 200
    digest = found(re.search(r"/public/verify\?digest=([0-9a-f]{16})", board.text)).group(1)
    filed = await client.post_form(
        "/public/objections",
        {
            "kind": "complaint",
            "board": COMMUNITY,
            "body": "窗口工作人员态度不好，办事拖拉。",
            "contact_phone": "13600001111",
            "contact_name": "举报人甲",
        },
    )
    code = found(re.search(r"<strong>([0-9A-Z]{10})</strong>", filed.text)).group(1)

    pages = [
        "/public",
        f"/board/{COMMUNITY}",
        "/board/370102001",
        "/board/370102",
        "/board/370102001002",
        f"/board/{COMMUNITY}/poster",
        "/public/policies",
        "/public/policies/dibao-guide",
        f"/public/verify?digest={digest}",
        f"/public/objections/new?notice={notice['id']}",
        f"/public/objections/new?recipient={recipient_id}",
        f"/public/objections/new?board={COMMUNITY}",
        f"/public/objections/status?code={code}",
    ]
    secrets = await personal_strings() + ["13600001111", "举报人甲"]
    assert len(secrets) > 20
    for url in pages:
        for lang in ("zh_Hans", "en"):
            response = await client.get(url + ("&" if "?" in url else "?") + f"lang={lang}")
            assert response.status_code == 200, url
            leaked = [s for s in secrets if s in response.text]
            assert not leaked, (url, leaked)

    text = (await client.get(f"/board/{COMMUNITY}")).text
    for masked in ("欧阳*华", "麦麦提·***", "张*明"):
        assert masked in text
    assert "刘*涵" not in text and "＊＊" in text  # a minor head of household is not named
    street = (await client.get("/board/370102001")).text
    assert "王*国" in street and "欧阳*华" in street  # the street board aggregates its communities
    assert "王*国" not in text


async def test_board_is_cacheable_and_its_digest_recorded_once(world, client, clock):
    seeded = await seed_community(world)
    clock.set(seeded["now"])
    first = await client.get(f"/board/{COMMUNITY}")
    assert first.status_code == 200
    assert "public" in first.headers["cache-control"] and first.headers["etag"]
    assert "set-cookie" not in first.headers
    assert "_csrf_token" not in first.text and "x-csrftoken" not in first.text
    again = await client.get(f"/board/{COMMUNITY}", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""

    rows = await PublishedList.select().where(PublishedList.org_path.like("%370102001001/"))
    assert {r["kind"] for r in rows} == {"notice", "recipients"} and len(rows) == 2
    recipients = next(r for r in rows if r["kind"] == "recipients")
    assert recipients["item_count"] == 2 and recipients["digest"][:4].upper() in first.text.replace(" ", "")
    events = await AuditEvent.count().where(AuditEvent.action == "list.publish")

    # Viewing again (cache dropped) records nothing new; a change of the list does.
    from relief_pwa.services.public_boards import clear_cache

    clear_cache()
    await client.get(f"/board/{COMMUNITY}")
    assert await AuditEvent.count().where(AuditEvent.action == "list.publish") == events
    await client.post_form(
        "/public/objections",
        {
            "notice": str(
                found(
                    await PublicNotice.select(PublicNotice.id)
                    .where(PublicNotice.application == seeded["running"].application_id)
                    .first()
                )["id"]
            ),
            "kind": "objection",
            "body": "这户家里开着小超市，收入不低。",
        },
    )
    changed = await client.get(f"/board/{COMMUNITY}")
    assert changed.headers["etag"] != first.headers["etag"]
    assert "张*明" not in changed.text  # the interrupted notice left the board
    assert await AuditEvent.count().where(AuditEvent.action == "list.publish") == events + 1

    # Anyone can check the first printout: it was published, and has since been replaced.
    notice_list = next(r for r in rows if r["kind"] == "notice")
    verify = await client.get(f"/public/verify?digest={notice_list['digest'][:12].upper()}")
    assert verify.status_code == 200 and "张*明" in verify.text and notice_list["digest"] in verify.text
    forged = await client.get("/public/verify?digest=deadbeefdeadbeef")
    assert forged.status_code == 200 and "flash-error" in forged.text
    bad = await client.get("/public/verify?digest=xyz")
    assert "field-error" in bad.text


async def test_qr_poster_decodes_to_the_board_url(world, client, app):
    poster = await client.get(f"/board/{COMMUNITY}/poster")
    assert poster.status_code == 200
    assert "print-a4-poster" in poster.text
    assert (
        "解放路1号" in poster.text and "0531-86970102" in poster.text
    )  # station address, supervision hotline
    assert f"/board/{COMMUNITY}/qr.png" in poster.text
    png = await client.get(f"/board/{COMMUNITY}/qr.png")
    assert png.headers["content-type"] == "image/png"
    [result] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert result.text == f"http://testserver/board/{COMMUNITY}"  # no public address set: the request's
    assert (await client.get("/board/999999999999/poster")).status_code == 404
    assert (await client.get("/board/370100")).status_code == 404  # the city has a directory, not a board


async def test_objection_form_flow_and_status(world, client, clock):
    app = await eligible_application(world)
    notice_id = await do_start_publicity(world.actor("station"), app.application_id, now=world.now)
    form = await client.get(f"/public/objections/new?notice={notice_id}&from_board=1")
    assert form.status_code == 200 and "no-store" in form.headers["cache-control"]

    bad = await client.post_form(
        "/public/objections",
        {
            "notice": str(notice_id),
            "kind": "objection",
            "body": "短",
            "contact_phone": "123",
            "from_board": "1",
        },
    )
    assert bad.status_code == 400 and bad.text.count("field-error") >= 2
    assert await Objection.count() == 0

    good = await client.post_form(
        "/public/objections",
        {
            "notice": str(notice_id),
            "kind": "objection",
            "body": "这户儿子在外地有稳定工作。",
            "from_board": "1",
        },
    )
    assert good.status_code == 200
    code = found(re.search(r"<strong>([0-9A-Z]{10})</strong>", good.text)).group(1)
    row = found(await Objection.select().where(Objection.tracking_code == code).first())
    assert row["channel"] == "board" and row["contact_phone_sealed"] == ""
    status = await client.get(f"/public/objections/status?code={code.lower()}")
    assert status.status_code == 200 and code in status.text
    missing = await client.get("/public/objections/status?code=ZZZZZZZZZZ")
    assert "field-error" in missing.text

    honeypot = await client.post_form(
        "/public/objections",
        {
            "kind": "complaint",
            "board": COMMUNITY,
            "body": "机器人提交的内容很长很长。",
            "website": "http://spam",
        },
    )
    assert honeypot.status_code == 303 and await Objection.count() == 1


async def test_rate_limit_answers_429_without_touching_the_database(world, make_client, clock, statements):  # noqa: F811
    seeded = await seed_community(world)
    clock.set(seeded["now"])
    abuser, neighbour = make_client("10.0.0.66"), make_client("10.0.0.77")
    await abuser.get(f"/board/{COMMUNITY}")  # the lists are published once
    published = await PublishedList.count()
    events = await AuditEvent.count()
    sessions = await WebSession.count()

    responses = await asyncio.gather(*(abuser.get(f"/board/{COMMUNITY}") for _ in range(200)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 119 and statuses.count(429) == 81
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1 and "no-store" in refused.headers["cache-control"]

    # A refusal is cheap because it reads and writes nothing: counted, not timed.
    with statements() as log:
        for _ in range(100):
            assert (await abuser.get(f"/board/{COMMUNITY}")).status_code == 429
    assert log == []
    assert await WebSession.count() == sessions  # anonymous visits store no session either

    # Filing is limited more tightly, and a refused filing stores nothing.
    form = {"kind": "complaint", "board": COMMUNITY, "body": "一条足够长的投诉内容，描述具体。"}
    posts = [await abuser.post_form("/public/objections", form) for _ in range(3)]
    assert {p.status_code for p in posts} == {429}
    assert await Objection.count() == 0
    assert await PublishedList.count() == published and await AuditEvent.count() == events

    # Everyone else is still served; filing allows a handful per address, then refuses.
    assert (await neighbour.get(f"/board/{COMMUNITY}")).status_code == 200
    filings = [(await neighbour.post_form("/public/objections", form)).status_code for _ in range(7)]
    assert filings == [200] * 5 + [429] * 2
    assert await Objection.count() == 5


async def test_qr_codes_follow_the_host_asked_unless_a_public_address_is_configured(world, db, clock):
    """A server started on another host or port prints codes that reach it; in
    production the configured public address wins over whatever Host came in."""
    import dataclasses

    import httpx

    from relief_pwa.app import create_app
    from relief_pwa.settings import load_settings

    async def poster_qr(settings: Any, base_url: str) -> str:
        app: Any = create_app(settings, clock)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            poster = await client.get(f"/board/{COMMUNITY}/poster")
            assert poster.status_code == 200
            png = await client.get(f"/board/{COMMUNITY}/qr.png")
        [result] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
        assert result.text in poster.text  # the printed address is the encoded one
        return str(result.text)

    unset = dataclasses.replace(load_settings(), public_base_url="")
    assert await poster_qr(unset, "http://192.168.1.20:8123") == f"http://192.168.1.20:8123/board/{COMMUNITY}"
    configured = dataclasses.replace(load_settings(), public_base_url="https://jiuzhu.jinan.gov.cn")
    assert (
        await poster_qr(configured, "http://10.0.0.5:8000")
        == f"https://jiuzhu.jinan.gov.cn/board/{COMMUNITY}"
    )
