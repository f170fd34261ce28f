"""A small, varied city for the analytics tests: rows written straight into the
tables (with audit events where the dashboards read them), and the same facts
kept as plain Python specs so every figure can be recounted independently."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.enums import Category
from relief_pwa.db import write_transaction
from relief_pwa.services import identifiers
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.audit import record_event
from relief_pwa.services.bulk_scoring import snapshot_digest
from relief_pwa.tables import (
    Application,
    DisbursementBatch,
    Fund,
    Household,
    IndexRecord,
    IndexSnapshot,
    Objection,
    OrgUnit,
    PaymentLine,
    Plan,
    PlanLine,
    Provider,
    Resource,
    Visit,
)
from tests.factories import World

COMMUNITIES = ("370102001001", "370102001002", "370102002001", "370103002001")
STATES = (
    "received",
    "investigating",
    "verified_eligible",
    "publicized",
    "approved",
    "active",
    "under_review",
    "rejected",
    "exited",
    "withdrawn",
)
CATEGORIES = (Category.DIBAO.value, Category.TEKUN.value, Category.MEDICAL.value, Category.TEMPORARY.value)


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=CHINA_TZ)


NO_FACTS = snapshot_digest("{}")  # the dashboards read totals only


@dataclass
class CaseSpec:
    household_id: int
    application_id: int
    path: str
    state: str
    category: str
    received_on: date
    events: list[tuple[str, datetime]] = field(default_factory=list)  # (action, at)
    index: float | None = None
    index_history: list[tuple[datetime, float]] = field(default_factory=list)
    is_open: bool = True


@dataclass
class VisitSpec:
    path: str
    household_id: int
    kind: str
    scheduled_for: date
    status: str
    done_at: datetime | None


@dataclass
class PaymentSpec:
    path: str
    household_id: int
    fund_id: int
    amount_fen: int
    status: str
    month: str
    paid_at: datetime | None
    batch_id: int


@dataclass
class ObjectionSpec:
    path: str
    kind: str
    received_at: datetime
    deadline: date
    answered_at: datetime | None


@dataclass
class SeededCity:
    paths: dict[str, str]
    cases: list[CaseSpec]
    visits: list[VisitSpec]
    payments: list[PaymentSpec]
    objections: list[ObjectionSpec]
    funds: dict[int, dict[str, int]]
    fund_paths: dict[int, str]


async def seed_city(world: World, rng_seed: int = 7, households: int = 48) -> SeededCity:
    rng = random.Random(rng_seed)
    now: datetime = world.now
    paths = {r["code"]: r["path"] for r in await OrgUnit.select(OrgUnit.code, OrgUnit.path)}
    units = {r["code"]: r["id"] for r in await OrgUnit.select(OrgUnit.code, OrgUnit.id)}
    cases: list[CaseSpec] = []
    visits: list[VisitSpec] = []
    payments: list[PaymentSpec] = []
    objections: list[ObjectionSpec] = []
    async with write_transaction(Household._meta.db):
        for i in range(households):
            code = COMMUNITIES[i % len(COMMUNITIES)]
            path = paths[code]
            state = STATES[rng.randrange(len(STATES))]
            category = CATEGORIES[rng.randrange(len(CATEGORIES))]
            received = date(2025, 11, 1) + timedelta(days=rng.randrange(380))
            received = min(received, now.date())
            index = None if i % 9 == 0 else round(rng.uniform(0, 100), 2)
            is_open = state not in ("rejected", "exited", "withdrawn")
            household = Household(
                file_no=f"T-H{i:05d}",
                org_unit=units[code],
                org_path=path,
                address="x",
                area_type="urban",
                housing="rented",
                head_name=f"户主{i}",
                **identifiers.identifier_columns(head_id=f"3701021970{i:08d}", phone="", account=""),
                is_open=is_open,
                current_index=None if index is None else Decimal(str(index)),
                created_at=now,
                updated_at=now,
            )
            await household.save()
            application = Application(
                number=f"T-A{i:05d}",
                household=household.id,
                org_path=path,
                category=category,
                channel="window",
                state=state,
                received_on=received,
                state_changed_at=now,
                created_at=now,
            )
            await application.save()
            spec = CaseSpec(
                household.id, application.id, path, state, category, received, index=index, is_open=is_open
            )
            # the investigation finding: some on time, some late, some missing
            if state not in ("received", "investigating", "withdrawn"):
                delay = rng.choice([3, 10, 25, 40])
                found = at(received + timedelta(days=delay), 16)
                if found <= now:
                    action = (
                        "application.find_ineligible"
                        if state == "rejected" and i % 2
                        else "application.find_eligible"
                    )
                    spec.events.append((action, found))
                    decision_day = received + timedelta(days=delay + rng.randrange(5, 30))
                    if state in ("approved", "active", "under_review", "exited") and at(decision_day) <= now:
                        spec.events.append(("application.approve", at(decision_day, 11)))
                    if state == "rejected" and at(decision_day) <= now:
                        spec.events.append(
                            ("application.reject", at(decision_day, 23))
                        )  # late evening, local time
                    if state == "exited":
                        exit_day = decision_day + timedelta(days=rng.randrange(20, 90))
                        if at(exit_day) <= now:
                            spec.events.append(
                                ("application.exit", at(exit_day, 0))
                            )  # just after local midnight
            decided = [w for a, w in spec.events if a in ("application.approve", "application.reject")]
            if decided:
                await Application.update({Application.decided_on: decided[0].date()}).where(
                    Application.id == application.id
                )
            findings = [w for a, w in spec.events if a.startswith("application.find_")]
            if findings:  # as do_transition keeps it: the local day of the first finding
                await Application.update(
                    {Application.found_on: findings[0].astimezone(CHINA_TZ).date()}
                ).where(Application.id == application.id)
            for action, when in spec.events:
                await record_event(
                    SYSTEM_ACTOR,
                    action,
                    "application",
                    application.id,
                    org_path=path,
                    now=when,
                    household_id=household.id,
                )
            # index history: a record at receipt and maybe a later one
            if index is not None:
                await IndexSnapshot.insert(IndexSnapshot(digest=NO_FACTS, body="{}")).on_conflict(
                    target=IndexSnapshot.digest, action="DO NOTHING"
                )
                # the last record is the household's current index (as the scoring service keeps it)
                history = [(at(received, 8), index)]
                later = at(received + timedelta(days=30), 8)
                if i % 3 and later <= now:
                    history = [(at(received, 8), round(rng.uniform(0, 100), 2)), (later, index)]
                for when, total in history:
                    if when > now:
                        continue
                    await IndexRecord(
                        household=household.id,
                        org_path=path,
                        computed_at=when,
                        as_of=when.date(),
                        model_version="v1",
                        total=Decimal(str(total)),
                        trigger="test",
                        snapshot_digest=NO_FACTS,
                        breakdown="{}",
                    ).save()
                    spec.index_history.append((when, total))
            cases.append(spec)
            # visits: follow-ups and reviews around the year
            for kind in ("follow_up", "review"):
                if rng.random() < 0.6:
                    scheduled = date(2026, 1, 5) + timedelta(days=rng.randrange(330))
                    status = rng.choice(["scheduled", "done", "done", "cancelled"])
                    done_at = (
                        at(scheduled + timedelta(days=rng.choice([-1, 0, 0, 4])), 15)
                        if status == "done"
                        else None
                    )
                    if done_at is not None and done_at > now:
                        done_at = at(now.date() - timedelta(days=1))
                    await Visit(
                        household=household.id,
                        org_path=path,
                        kind=kind,
                        scheduled_for=scheduled,
                        status=status,
                        done_at=done_at,
                        created_at=now,
                    ).save()
                    visits.append(VisitSpec(path, household.id, kind, scheduled, status, done_at))
        # money: a city fund and a district fund, resources, plans, batches, payment lines
        city_provider = Provider(name="市财政", kind="government", org_path=paths["370100"], created_at=now)
        await city_provider.save()
        district_provider = Provider(
            name="历下区慈善会", kind="social_org", org_path=paths["370102"], created_at=now
        )
        await district_provider.save()
        funds: dict[int, dict[str, int]] = {}
        fund_paths: dict[int, str] = {}
        resources = {}
        for code, provider, fund_code in (
            ("370100", city_provider, "F-CITY"),
            ("370102", district_provider, "F-LX"),
        ):
            fund = Fund(
                code=fund_code,
                name=f"基金{fund_code}",
                provider=provider.id,
                org_path=paths[code],
                available_fen=5_000_000,
                reserved_fen=1_000_000,
                paid_fen=0,
                created_at=now,
            )
            await fund.save()
            funds[fund.id] = {"available": 5_000_000, "reserved": 1_000_000, "paid": 0}
            fund_paths[fund.id] = paths[code]
            resource = Resource(
                provider=provider.id,
                fund=fund.id,
                org_path=paths[code],
                name=f"资源{fund_code}",
                kind="cash",
                need="living",
                unit="per_household",
                unit_amount_fen=50_000,
                periodicity="monthly",
                months=12,
                budget_total_fen=9_000_000,
                budget_reserved_fen=2_000_000,
                created_at=now,
            )
            await resource.save()
            resources[fund.id] = resource
        batches: dict[tuple[int, str], int] = {}
        for spec in cases:
            if spec.state not in ("active", "under_review", "exited"):
                continue
            fund_id = (
                list(funds)[spec.household_id % 2]
                if spec.path.startswith(paths["370102"])
                else next(iter(funds))
            )
            plan = Plan(
                household=spec.household_id,
                application=spec.application_id,
                org_path=spec.path,
                status="approved",
                created_at=now,
            )
            await plan.save()
            line = PlanLine(
                plan=plan.id,
                household=spec.household_id,
                resource=resources[fund_id].id,
                org_path=spec.path,
                amount_fen=50_000,
                status="approved",
            )
            await line.save()
            for month in ("2026-08", "2026-09", "2026-10"):
                district_path = "/".join(spec.path.split("/")[:2]) + "/"
                key = (fund_id, month + district_path)
                if key not in batches:
                    batch = DisbursementBatch(
                        batch_no=f"B{len(batches):04d}",
                        fund=fund_id,
                        org_path=district_path,
                        month=month,
                        status="reconciled",
                        created_at=at(date.fromisoformat(month + "-20")),
                    )
                    await batch.save()
                    batches[key] = batch.id
                failed = rng.random() < 0.15
                paid_at = None if failed else at(date.fromisoformat(month + "-25"))
                status = "failed" if failed else "paid"
                await PaymentLine(
                    line_id=f"L{spec.household_id}-{month}",
                    plan_line=line.id,
                    household=spec.household_id,
                    fund=fund_id,
                    provider=resources[fund_id].provider,
                    batch=batches[key],
                    org_path=spec.path,
                    month=month,
                    amount_fen=50_000,
                    status=status,
                    paid_at=paid_at,
                    created_at=now,
                ).save()
                payments.append(
                    PaymentSpec(
                        spec.path, spec.household_id, fund_id, 50_000, status, month, paid_at, batches[key]
                    )
                )
        for j, spec in enumerate(cases[:20]):
            received_at = at(date(2026, 2, 1) + timedelta(days=j * 13), 9)
            deadline = received_at.date() + timedelta(days=20)
            answered = None if j % 4 == 0 else received_at + timedelta(days=rng.choice([5, 12, 30]))
            if answered is not None and answered > now:
                answered = None
            kind = "objection" if j % 3 else "complaint"
            await Objection(
                tracking_code=f"T{j:05d}",
                kind=kind,
                application=spec.application_id,
                org_path=spec.path,
                body="x",
                status="answered" if answered else "received",
                deadline=deadline,
                received_at=received_at,
                answered_at=answered,
            ).save()
            objections.append(ObjectionSpec(spec.path, kind, received_at, deadline, answered))
    return SeededCity(paths, cases, visits, payments, objections, funds, fund_paths)
