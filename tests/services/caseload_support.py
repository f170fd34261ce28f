"""Shared set-up for the caseload import tests: a benefit to pay from, rosters as files."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from typing import Any

from relief_pwa.adapters.roster_sheets import SheetOut, write_csv, write_xlsx
from relief_pwa.core import caseload as core
from relief_pwa.core.idnumber import make_id_number
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.standards import do_seed_standards
from tests.services.plans_support import pool

_sequence = [200]


def new_id(born: date = date(1970, 5, 17), male: bool = True) -> str:
    _sequence[0] += 2
    return make_id_number("370102", born, _sequence[0] + (1 if male else 0))


async def benefit(world: Any, *, fund_yuan: str = "10,000,000", months: str = "12") -> tuple[int, int]:
    """The city's monthly dibao/tekun benefit (fund, resource) and the standards in force."""
    await do_seed_standards(SYSTEM_ACTOR, now=world.now)
    _, fund, resource = await pool(
        world,
        username="city",
        fund_yuan=fund_yuan,
        fund_code="DB-CITY",
        name="城乡低保金",
        periodicity="monthly",
        months=months,
        categories=["dibao", "tekun"],
    )
    return fund, resource


def row(**cells: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "file_no": "LX-0001", "community": "370102001001", "address": "解放路1号", "phone": "13905310001",
        "name": "张三", "relation": "户主", "work_capacity": "有劳动能力", "category": "低保",
        "amount": "920元", "start_month": "2023年5月", "onecard_account": "6217000011112222333",
        "bank": "济南农商银行",
    }  # fmt: skip
    base.update(cells)
    if "id_number" not in base:
        base["id_number"] = new_id()
    return base


def roster_rows(rows: Sequence[dict[str, Any]], *, title_rows: int = 0) -> list[list[Any]]:
    out: list[list[Any]] = [["济南市城乡低保对象花名册"] for _ in range(title_rows)]
    out.append(core.header_row())
    out.extend([r.get(c.key) for c in core.COLUMNS] for r in rows)
    return out


def xlsx(rows: Sequence[dict[str, Any]], *, title_rows: int = 0) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(buffer, [SheetOut("花名册", roster_rows(rows, title_rows=title_rows))])
    return buffer.getvalue()


def csv_bytes(rows: Sequence[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    write_csv(buffer, roster_rows(rows))
    return buffer.getvalue().encode("utf-8-sig")
