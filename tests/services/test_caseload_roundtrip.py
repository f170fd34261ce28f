"""Property: any roster of valid households round-trips — imported, exported, imported again
into an empty database — to identical households, members, amounts and relief indexes."""

from __future__ import annotations

import io
import itertools
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relief_pwa.core import caseload as core
from relief_pwa.core.enums import Category, Housing, Illness, Relation, Schooling, Sex, WorkCapacity
from relief_pwa.core.idnumber import make_id_number
from relief_pwa.db import write_transaction
from relief_pwa.services import caseload
from relief_pwa.tables import Household
from tests.services.caseload_support import benefit, xlsx

_sequence = itertools.count(1)
_ready: set[int] = set()

COMMUNITIES = ("370102001001", "370102001002", "370102002001", "370103002001")
NAME = st.text(alphabet="张王李赵刘陈杨黄周吴郑孙明华丽娟强军芳", min_size=1, max_size=4)
TEXT = st.text(alphabet="解放路号幸福小区单元室12345-", min_size=1, max_size=30)
BIRTH = st.dates(min_value=date(1930, 1, 1), max_value=date(2025, 12, 31))


@st.composite
def person(draw: Any, relation: Relation) -> core.RosterMember:
    born = draw(BIRTH)
    male = draw(st.booleans())
    n = next(_sequence) % 500
    number = make_id_number(draw(st.sampled_from(["370102", "370103", "371202"])), born, 2 * n + int(male))
    return core.RosterMember(
        name=draw(NAME),
        id_number=number,
        sex=Sex.MALE if male else Sex.FEMALE,
        birth_date=born,
        relation=relation,
        disability_grade=draw(st.one_of(st.none(), st.integers(1, 4))),
        illness=draw(st.sampled_from(list(Illness))),
        work_capacity=draw(st.sampled_from(list(WorkCapacity))),
        schooling=draw(st.sampled_from(list(Schooling))),
    )


@st.composite
def household(draw: Any) -> core.RosterHousehold:
    others = draw(st.lists(st.sampled_from([r for r in Relation if r != Relation.HEAD]), max_size=4))
    members = (draw(person(Relation.HEAD)), *[draw(person(r)) for r in others])
    year = draw(st.integers(2015, 2026))
    month = draw(st.integers(1, 11 if year == 2026 else 12))
    return core.RosterHousehold(
        file_no=f"RT-{next(_sequence):06d}",
        community=draw(st.sampled_from(COMMUNITIES)),
        address=draw(TEXT),
        phone=draw(st.one_of(st.just(""), st.integers(10**7, 10**8 - 1).map(lambda n: f"139{n}"))),
        category=draw(st.sampled_from([Category.DIBAO, Category.TEKUN])),
        monthly_fen=draw(st.integers(1, 500_000)),
        start_month=f"{year:04d}-{month:02d}",
        onecard_account=draw(st.one_of(st.just(""), st.from_regex(r"[1-9][0-9]{11,29}", fullmatch=True))),
        bank=draw(st.sampled_from(["", "济南农商银行", "中国工商银行济南分行"])),
        housing=draw(st.sampled_from(list(Housing))),
        members=members,
        sheet="",
        rows=(),
    )


async def _empty() -> None:
    engine = Household._meta.db
    async with write_transaction(engine):
        for table in (
            "index_record",
            "entitlement",
            "plan_line",
            "plan",
            "application",
            "household_version",
            "member",
            "household",
        ):
            await Household.raw(f"DELETE FROM {table}")


async def _snapshot() -> dict[str, Any]:
    rows = await Household.raw(
        # Identifiers are sealed with a fresh nonce each time: compare their blind indexes.
        "SELECT h.file_no, o.code, h.address, h.phone_index, h.account_index, h.head_id_index,"
        " h.onecard_bank, h.housing,"
        " h.head_name, h.area_type, h.current_index, a.category, a.state, pl.amount_fen, pl.start_month,"
        " pl.months FROM household h JOIN org_unit o ON o.id = h.org_unit"
        " JOIN application a ON a.household = h.id JOIN plan_line pl ON pl.household = h.id"
    )
    members = await Household.raw(
        "SELECT h.file_no, m.name, m.id_index, m.sex, m.birth_date, m.relation, m.disability_grade,"
        " m.illness, m.work_capacity, m.schooling FROM member m JOIN household h ON h.id = m.household"
    )
    return {
        "households": sorted(tuple(str(v) for v in r.values()) for r in rows),
        "members": sorted(tuple(str(v) for v in r.values()) for r in members),
    }


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(households=st.lists(household(), min_size=1, max_size=5))
async def test_roster_round_trips(world: Any, households: list[core.RosterHousehold]) -> None:
    if id(world) not in _ready:
        await benefit(world)
        _ready.add(id(world))
    await _empty()
    city = world.actor("city")
    rows = [
        dict(zip([c.key for c in core.COLUMNS], values, strict=True))
        for h in households
        for values in core.household_rows(h)
    ]
    first = await caseload.import_caseload(city, xlsx(rows), filename="a.xlsx", now=world.now)
    assert first.refusals == [] and first.imported == len(households)
    before = await _snapshot()
    assert len(before["members"]) == sum(len(h.members) for h in households)

    exported = io.BytesIO()
    assert await caseload.export_roster(city, exported, now=world.now) == len(households)
    assert await caseload.load_roster(city) == [
        core.RosterHousehold(**{**h.__dict__, "members": tuple(sorted(h.members, key=_head_first))})
        for h in households
    ]

    await _empty()
    second = await caseload.import_caseload(city, exported.getvalue(), filename="b.xlsx", now=world.now)
    assert second.refusals == [] and second.imported == len(households)
    assert await _snapshot() == before


def _head_first(member: core.RosterMember) -> bool:
    return member.relation != Relation.HEAD
