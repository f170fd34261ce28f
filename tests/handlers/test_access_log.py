"""Reads of personal data are recorded (off the request path), browsable by supervisors,
and a burst of reads by one account raises an integrity flag."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from relief_pwa.services.access_log import flush_access_log, note_read, pending_reads
from relief_pwa.services.integrity import compute_flags
from relief_pwa.tables import AccessLogEntry
from tests.factories import make_intake, member


async def test_viewing_a_file_writes_nothing_until_the_flush_then_every_read_is_there(world, client):
    result = await make_intake(world, members=[member("赵六", id_number="370102197005170011")])
    hid = result.household_id
    await client.login("station")
    for url in (
        f"/households/{hid}",
        f"/households/{hid}/ledger",
        f"/households/{hid}/card",
        f"/households/{hid}/index",
        "/cases?q=370102197005170011",
        "/cases?q=赵六",  # a name search is not an ID-number search
    ):
        assert (await client.get(url)).status_code == 200, url
    # Nothing was written in the request path: the reads wait in the buffer.
    assert await AccessLogEntry.count() == 0
    assert pending_reads() == 5
    assert await flush_access_log() == 5
    rows = await AccessLogEntry.select().order_by(AccessLogEntry.id)
    assert [r["action"] for r in rows] == [
        "household.view",
        "ledger.view",
        "card.view",
        "index.view",
        "search.id_number",
    ]
    assert {r["household_id"] for r in rows[:4]} == {hid}
    assert all(r["staff"] == world.actor("station").staff_id for r in rows)
    # The searched number is kept masked: the log must not become an index of ID numbers.
    assert "370102197005170011" not in rows[4]["detail"] and rows[4]["detail"]
    assert pending_reads() == 0


async def test_supervisors_browse_and_export_reads_in_their_area_only(world, make_client):
    mine = await make_intake(world, members=[member("钱七")])
    other = await make_intake(world, username="station_b", community="370102002001", members=[member("孙八")])
    reader = make_client()
    await reader.login("center")
    await reader.get(f"/households/{mine.household_id}")
    await reader.get(f"/households/{other.household_id}")
    await flush_access_log()

    supervisor = make_client()
    await supervisor.login("supervisor")
    page = await supervisor.get("/supervision/access")
    assert page.status_code == 200
    assert f'href="/households/{mine.household_id}"' in page.text
    assert f'href="/households/{other.household_id}"' in page.text
    filtered = await supervisor.get("/supervision/access", params={"household": str(mine.household_id)})
    assert f'href="/households/{other.household_id}"' not in filtered.text
    exported = await supervisor.get("/supervision/access", params={"format": "csv"})
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert len(rows) == 3  # header + two reads
    assert "access-log" in exported.headers["content-disposition"]
    await flush_access_log()
    assert await AccessLogEntry.count().where(AccessLogEntry.action == "export") == 1

    # 市中区's supervisor sees none of 历下区's reads.
    elsewhere = make_client()
    await elsewhere.login("supervisor_b")
    page = await elsewhere.get("/supervision/access")
    assert f'href="/households/{mine.household_id}"' not in page.text

    station = make_client()
    await station.login("station")
    assert (await station.get("/supervision/access")).status_code == 403


async def test_a_burst_of_reads_by_one_account_is_flagged(world):
    station, liaison = world.actor("station"), world.actor("liaison")
    start = world.now - timedelta(days=2)
    # 201 files within 59 minutes: over the default limit of 200 an hour.
    for i in range(201):
        note_read(station, "household.view", now=start + timedelta(seconds=i * 17), household_id=1000 + i)
    # 200 files in an hour, and a steady reader over a whole day: not flagged.
    for i in range(200):
        note_read(liaison, "household.view", now=start + timedelta(seconds=i * 17), household_id=1000 + i)
    for i in range(300):
        note_read(liaison, "household.view", now=start + timedelta(days=1, minutes=5 * i), household_id=1)
    await flush_access_log()
    report = await compute_flags(world.actor("supervisor"), now=world.now, kinds=["read_burst"])
    flagged = report.items["read_burst"]
    assert [item.params["staff"] for item in flagged] == [station.label]
    assert flagged[0].params["reads"] == 201
    assert flagged[0].link.endswith(f"staff_id={station.staff_id}")
