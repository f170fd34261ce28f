"""Data checks with other agencies (信息核对): the agencies, the file layouts, the result
rows and the exclusion rules (docs/datacheck.md). Pure: no database, no clock.

A batch file goes to one agency with one row per person (ID number, name, what
is asked). The agency answers with the same rows and four result columns whose
meaning depends on the agency (``AGENCY_LAYOUTS``). Results whose amount is a
money item of the means test land in the declared-vs-verified ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import parse_yuan


class Agency(StrEnum):
    HOUSEHOLD_REGISTRATION = "household_registration"
    SOCIAL_INSURANCE = "social_insurance"
    REAL_ESTATE = "real_estate"
    HOUSING_FUND = "housing_fund"
    VEHICLES = "vehicles"
    TAX = "tax"
    BANK_DEPOSITS = "bank_deposits"
    BUSINESS_REGISTRATION = "business_registration"


@dataclass(frozen=True)
class AgencyLayout:
    agency: Agency
    label: str  # English message ids, translated at the edge
    asked: str  # the "asked" column of the export: a code the agency's system reads
    count_means: str  # a message id
    amount_means: str  # a message id
    # Where the amount lands in the ledger: (section, kind), or None (report only).
    ledger: tuple[str, str] | None


AGENCY_LAYOUTS: tuple[AgencyLayout, ...] = (
    AgencyLayout(
        Agency.HOUSEHOLD_REGISTRATION,
        N_("Household registration"),
        "hukou:address,members",
        N_("people registered in the same household"),
        N_("(empty)"),
        None,
    ),
    AgencyLayout(
        Agency.SOCIAL_INSURANCE,
        N_("Social insurance and employment income"),
        "social_insurance:wage_base_monthly",
        N_("employers paying contributions"),
        N_("monthly wage income (yuan)"),
        ("income", "wages"),
    ),
    AgencyLayout(
        Agency.REAL_ESTATE,
        N_("Real estate"),
        "real_estate:properties,value",
        N_("flats and houses registered"),
        N_("total assessed value (yuan)"),
        ("asset", "real_estate"),
    ),
    AgencyLayout(
        Agency.HOUSING_FUND,
        N_("Housing fund"),
        "housing_fund:accounts,balance",
        N_("active accounts"),
        N_("balance (yuan)"),
        ("asset", "other"),
    ),
    AgencyLayout(
        Agency.VEHICLES,
        N_("Vehicles"),
        "vehicles:count,value",
        N_("vehicles registered"),
        N_("total value (yuan)"),
        ("asset", "vehicle"),
    ),
    AgencyLayout(
        Agency.TAX,
        N_("Tax"),
        "tax:income_monthly_avg_12m",
        N_("payers reporting income"),
        N_("monthly taxable income (yuan)"),
        None,
    ),
    AgencyLayout(
        Agency.BANK_DEPOSITS,
        N_("Bank deposits"),
        "bank_deposits:accounts,balance",
        N_("accounts"),
        N_("total balance (yuan)"),
        ("asset", "deposits"),
    ),
    AgencyLayout(
        Agency.BUSINESS_REGISTRATION,
        N_("Business registration"),
        "business_registration:entities,capital",
        N_("businesses registered"),
        N_("registered capital (yuan)"),
        None,
    ),
)
LAYOUTS: dict[Agency, AgencyLayout] = {layout.agency: layout for layout in AGENCY_LAYOUTS}

# The export file: one row per person asked.
EXPORT_HEADER: tuple[str, ...] = ("batch", "row", "id_number", "name", "asked")
# The result file: the export's columns, then the agency's answer.
RESULT_HEADER: tuple[str, ...] = (*EXPORT_HEADER, "found", "count", "amount_yuan", "detail")
DETAIL_MAX_LENGTH = 200
MAX_PROBLEMS_LISTED = 200


def agencies_text(agencies: Iterable[Agency]) -> str:
    """An authorisation's scope as stored: the agencies' codes, comma-separated, or "" when it
    covers every agency (so a scope of all agencies also covers any added later)."""
    chosen = sorted({a.value for a in agencies})
    return "" if not chosen or len(chosen) == len(Agency) else ",".join(chosen)


@lru_cache(maxsize=256)
def covered_agencies(text: str) -> frozenset[str]:
    """The agencies an authorisation covers, from its stored scope ("" = every agency)."""
    return frozenset(a.value for a in Agency) if not text else frozenset(text.split(","))


def parse_agency(text: str) -> Agency:
    try:
        return Agency(text.strip())
    except ValueError:
        raise DomainError(N_("Unknown agency."), field="agency") from None


@dataclass(frozen=True)
class ResultRow:
    """One parsed answer: the file's row number, the request it answers and the result."""

    row: int
    batch_id: int
    request_id: int
    id_number: str
    found: bool
    count: int
    amount_fen: int
    detail: str


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1-based as in the file; 0 = the whole file
    message: str
    params: Mapping[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedResults:
    rows: tuple[ResultRow, ...]
    problems: tuple[RowProblem, ...]


_YES = {"1", "y", "yes", "true", "是", "有"}
_NO = {"0", "n", "no", "false", "否", "无", ""}


def parse_result_rows(rows: Sequence[tuple[int, list[str]]]) -> ParsedResults:
    """Check every row of a result file; collect every problem rather than stop at the first.

    The header must name the result columns (in any order); rows repeating a
    request are refused as duplicates.
    """
    problems: list[RowProblem] = []
    parsed: list[ResultRow] = []
    if not rows:
        return ParsedResults((), (RowProblem(0, N_("The file is empty.")),))
    header_row, header = rows[0]
    columns = {name.strip().lower(): index for index, name in enumerate(header)}
    missing = [name for name in RESULT_HEADER if name not in columns and name != "asked"]
    if missing:
        return ParsedResults(
            (), (RowProblem(header_row, N_("Missing columns: {columns}."), {"columns": ", ".join(missing)}),)
        )
    seen: dict[tuple[int, int], int] = {}

    def cell(cells: list[str], name: str) -> str:
        index = columns[name]
        return cells[index].strip() if index < len(cells) else ""

    for number, cells in rows[1:]:
        if not any(c.strip() for c in cells):
            continue
        row_problems: list[RowProblem] = []
        try:
            batch_id = int(cell(cells, "batch"))
            request_id = int(cell(cells, "row"))
        except ValueError:
            problems.append(RowProblem(number, N_("The batch and row columns must be numbers.")))
            continue
        found_text = cell(cells, "found").lower()
        if found_text not in _YES | _NO:
            row_problems.append(RowProblem(number, N_("The found column must be 1 or 0.")))
        count_text = cell(cells, "count") or "0"
        count = 0
        try:
            count = int(count_text)
            if count < 0:
                raise ValueError
        except ValueError:
            row_problems.append(RowProblem(number, N_("The count must be a whole number of zero or more.")))
        amount_fen = 0
        amount_text = cell(cells, "amount_yuan")
        if amount_text:
            try:
                amount_fen = parse_yuan(amount_text, field="amount_yuan")
            except DomainError:
                row_problems.append(
                    RowProblem(
                        number,
                        N_("The amount {amount} is not a valid sum in yuan."),
                        {"amount": amount_text[:20]},
                    )
                )
        key = (batch_id, request_id)
        if key in seen:
            row_problems.append(
                RowProblem(
                    number,
                    N_("Row {request} appears twice (first at row {first})."),
                    {"request": request_id, "first": seen[key]},
                )
            )
        else:
            seen[key] = number
        if row_problems:
            problems.extend(row_problems)
            continue
        parsed.append(
            ResultRow(
                row=number,
                batch_id=batch_id,
                request_id=request_id,
                id_number=cell(cells, "id_number"),
                found=found_text in _YES,
                count=count,
                amount_fen=amount_fen,
                detail=cell(cells, "detail")[:DETAIL_MAX_LENGTH],
            )
        )
    if not parsed and not problems:
        problems.append(RowProblem(0, N_("The file has no result rows.")))
    return ParsedResults(tuple(parsed), tuple(problems))


# --- exclusion rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExclusionThresholds:
    """The rule values in force (``core.rules``: the datacheck_* keys), as plain numbers."""

    vehicle_value_fen: int
    max_properties: int
    deposit_months: int
    max_businesses: int


@dataclass(frozen=True)
class HouseholdResults:
    """One household's answered results, summed over its members, per agency."""

    members: int
    standard_monthly_fen: int
    counts: Mapping[Agency, int]
    amounts: Mapping[Agency, int]


@dataclass(frozen=True)
class ExclusionWarning:
    code: str
    agency: Agency
    numbers: Mapping[str, int]


WARNING_LABELS: dict[str, str] = {
    "vehicle_value": N_("Vehicles worth {value_fen} (limit {limit_fen})"),
    "second_property": N_("{count} flats or houses registered (at most {limit} allowed)"),
    "deposits": N_("Deposits of {amount_fen} exceed {months} months of the standard ({limit_fen})"),
    "business": N_("{count} registered business(es) (at most {limit} allowed)"),
}


def exclusion_warnings(results: HouseholdResults, limits: ExclusionThresholds) -> list[ExclusionWarning]:
    """Which exclusion rules the household's results break, with the numbers compared."""
    warnings: list[ExclusionWarning] = []
    vehicles = results.amounts.get(Agency.VEHICLES)
    if vehicles is not None and vehicles > limits.vehicle_value_fen:
        warnings.append(
            ExclusionWarning(
                "vehicle_value",
                Agency.VEHICLES,
                {"value_fen": vehicles, "limit_fen": limits.vehicle_value_fen},
            )
        )
    flats = results.counts.get(Agency.REAL_ESTATE)
    if flats is not None and flats > limits.max_properties:
        warnings.append(
            ExclusionWarning(
                "second_property", Agency.REAL_ESTATE, {"count": flats, "limit": limits.max_properties}
            )
        )
    deposits = results.amounts.get(Agency.BANK_DEPOSITS)
    deposit_limit = limits.deposit_months * results.standard_monthly_fen * max(results.members, 1)
    if deposits is not None and results.standard_monthly_fen > 0 and deposits > deposit_limit:
        warnings.append(
            ExclusionWarning(
                "deposits",
                Agency.BANK_DEPOSITS,
                {"amount_fen": deposits, "months": limits.deposit_months, "limit_fen": deposit_limit},
            )
        )
    businesses = results.counts.get(Agency.BUSINESS_REGISTRATION)
    if businesses is not None and businesses > limits.max_businesses:
        warnings.append(
            ExclusionWarning(
                "business",
                Agency.BUSINESS_REGISTRATION,
                {"count": businesses, "limit": limits.max_businesses},
            )
        )
    return warnings
