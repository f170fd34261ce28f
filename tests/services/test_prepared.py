"""Selects compiled once (services/prepared.py): the same rows as Piccolo's own query, values
bound per run, inside the caller's transaction, and a refusal where a value would be baked in."""

from __future__ import annotations

from typing import Any

import pytest

from relief_pwa.db import write_transaction
from relief_pwa.services.prepared import Prepared
from relief_pwa.tables import AuditEvent, Household, Member
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
