"""Selects compiled once (services/prepared.py): the same rows as Piccolo's own query, values
bound per run, inside the caller's transaction, and a refusal where a value would be baked in;
several sent as one statement (``prefetched``) answer as each would alone."""

from __future__ import annotations

from typing import Any

import pytest
from piccolo.query.functions.aggregate import Count

from relief_pwa.db import write_transaction
from relief_pwa.piccolo_conf import DB
from relief_pwa.services.prepared import Prepared, Read, prefetched
from relief_pwa.tables import Application, AuditEvent, Household, Member
from tests.factories import make_intake, member

MEMBERS: Prepared[dict[str, Any]] = Prepared(
    lambda household: Member.select().where(Member.household == household).order_by(Member.id)
)
HOUSEHOLD: Prepared[Household] = Prepared(lambda key: Household.objects().where(Household.id == key).first())
EVENTS_OF: Prepared[dict[str, Any]] = Prepared(
    lambda *ids: (
        AuditEvent.select(AuditEvent.seq, AuditEvent.entity_id)
        .where((AuditEvent.entity_type == "application") & AuditEvent.entity_id.is_in(list(ids)))
        .order_by(AuditEvent.seq)
    ),
    arity=2,
)


async def test_rows_are_piccolos_rows_for_each_value(world):
    first = await make_intake(world, username="station")
    second = await make_intake(world, username="station", members=[member(), member("李四", "spouse")])
    for household in (first.household_id, second.household_id):
        expected = await Member.select().where(Member.household == household).order_by(Member.id)
        assert expected  # the comparison is not of two empty lists
        assert await MEMBERS.rows(household) == expected
    assert len(await MEMBERS.rows(second.household_id)) != len(await MEMBERS.rows(first.household_id))
    assert await MEMBERS.rows(-1) == []


async def test_objects_come_back_as_table_rows(world):
    intake = await make_intake(world, username="station")
    row = await HOUSEHOLD.first(intake.household_id)
    assert isinstance(row, Household)
    expected = await Household.objects().where(Household.id == intake.household_id).first()
    assert expected is not None and row.to_dict() == expected.to_dict()
    assert await HOUSEHOLD.first(-1) is None


async def test_several_values_and_an_in_list(world):
    first = await make_intake(world, username="station")
    second = await make_intake(world, username="station")
    rows = await EVENTS_OF.rows(first.application_id, second.application_id)
    assert {r["entity_id"] for r in rows} == {first.application_id, second.application_id}
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    with pytest.raises(TypeError):
        await EVENTS_OF.rows(first.application_id)


async def test_runs_inside_the_callers_transaction(world, db):
    intake = await make_intake(world, username="station")
    async with write_transaction(db):
        await Member.update({Member.name: "王五"}).where(Member.household == intake.household_id)
        # Sees the uncommitted change: the same connection as the transaction.
        assert {m["name"] for m in await MEMBERS.rows(intake.household_id)} == {"王五"}
        await Household.update({Household.address: "改过的地址"}).where(Household.id == intake.household_id)
        row = await HOUSEHOLD.first(intake.household_id)
        assert row is not None and row.address == "改过的地址"


def test_a_value_piccolo_would_write_into_the_sql_is_refused():
    # A value formatted into a pattern reaches the SQL as another string: the prepared SQL
    # would keep the first one.
    baked: Prepared[dict[str, Any]] = Prepared(
        lambda name: Member.select(Member.id).where(Member.name.like(f"%{name}%"))
    )
    with pytest.raises(TypeError, match="parameter"):
        baked._compile("sqlite")
    with pytest.raises(TypeError):  # OFFSET is written into the text; Piccolo refuses a placeholder
        Prepared(lambda skip: Member.select(Member.id).offset(skip))._compile("sqlite")
    unused: Prepared[dict[str, Any]] = Prepared(
        lambda household: Member.select(Member.id).where(Member.household == 1)
    )
    with pytest.raises(TypeError, match="parameter"):
        unused._compile("postgres")


APPLICATIONS_WITH_FILE_NO: Prepared[dict[str, Any]] = Prepared(
    lambda household: (
        Application.select(Application.id, Application.household.file_no, Application.received_on)
        .where(Application.household == household)
        .order_by(Application.id, ascending=False)
    )
)
EVENTS_OF_HOUSEHOLD: Prepared[dict[str, Any]] = Prepared(
    lambda household, kind: (
        AuditEvent.select(AuditEvent.seq, AuditEvent.at, AuditEvent.after)
        .where(
            (AuditEvent.entity_type == kind)
            & AuditEvent.entity_id.is_in(
                Application.select(Application.id).where(Application.household == household)
            )
        )
        .order_by(AuditEvent.seq, ascending=False)
        .limit(3)
    )
)


MEMBER_COUNT: Prepared[dict[str, Any]] = Prepared(
    lambda household: Member.select(Count(alias="n")).where(Member.household == household)
)


@pytest.fixture()
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the engine sends from here on."""
    log: list[str] = []
    engine_class = type(DB)
    original = engine_class.run_querystring

    async def run_querystring(self: Any, querystring: Any, *args: Any, **kwargs: Any) -> Any:
        log.append(querystring.compile_string(engine_type=self.engine_type)[0])
        return await original(self, querystring, *args, **kwargs)

    monkeypatch.setattr(engine_class, "run_querystring", run_querystring)
    return log


async def test_prefetched_reads_give_the_rows_each_read_gives_alone(world, sent):
    first = await make_intake(world, username="station", members=[member(), member("李四", "spouse")])
    second = await make_intake(world, username="station")
    reads: list[Read] = [
        (MEMBERS, (first.household_id,)),
        (MEMBERS, (second.household_id,)),
        (HOUSEHOLD, (second.household_id,)),
        (APPLICATIONS_WITH_FILE_NO, (first.household_id,)),
        (EVENTS_OF_HOUSEHOLD, (first.household_id, "application")),
        (EVENTS_OF, (first.application_id, second.application_id)),
        (MEMBER_COUNT, (first.household_id,)),
        (MEMBERS, (-1,)),
    ]
    alone = [await select.rows(*values) for select, values in reads]
    assert all(alone[:7]) and alone[7] == []  # the comparisons are not of empty lists
    assert alone[6] == [{"n": 2}]
    assert [row["name"] for row in alone[0]] == ["张三", "李四"]
    sent.clear()
    async with prefetched(reads):
        together = [await select.rows(*values) for select, values in reads]
        assert len(sent) == (1 if DB.engine_type == "postgres" else len(reads))
        # Each answer is given once: read again, it is read afresh.
        await Member.update({Member.name: "王五"}).where(Member.household == second.household_id)
        assert {m["name"] for m in await MEMBERS.rows(second.household_id)} == {"王五"}
    assert isinstance(together[2][0], Household)
    together[2] = [together[2][0].to_dict()]
    alone[2] = [alone[2][0].to_dict()]
    assert together == alone
    # After the block every read goes to the database.
    sent.clear()
    await MEMBERS.rows(first.household_id)
    assert len(sent) == 1


async def test_prefetched_inside_a_transaction_sees_its_writes(world, db):
    intake = await make_intake(world, username="station")
    async with write_transaction(db):
        await Member.update({Member.name: "王五"}).where(Member.household == intake.household_id)
        async with prefetched([(MEMBERS, (intake.household_id,)), (HOUSEHOLD, (intake.household_id,))]):
            assert {m["name"] for m in await MEMBERS.rows(intake.household_id)} == {"王五"}
