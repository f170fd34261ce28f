"""A small city with known events in 2026-Q3 for the assessment tests.

Three streets: S1 = 解放路街道 (历下区), S2 = 千佛山街道 (历下区), S3 = 大观园街道 (市中区).
The city's calendar holds one holiday in the quarter, Friday 2026-09-25 (中秋节),
so some deadlines move by a day; the comments give each deadline as counted by
hand (intake 3 working days, investigation 15, approval 5 after the 公示 or the
finding; a review is overdue from the next working day after its date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from relief_pwa.clock import CHINA_TZ
from relief_pwa.db import write_transaction
from relief_pwa.services import identifiers
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.audit import record_event
from relief_pwa.tables import (
    Application,
    CalendarDay,
    Fund,
    Household,
    Objection,
    OrgUnit,
    PaymentLine,
    Plan,
    PlanLine,
    Provider,
    PublicNotice,
    Resource,
    ReverificationSample,
    SampleItem,
    Visit,
)
from tests.factories import World

S1, S2, S3 = "370102001001", "370102002001", "370103002001"  # one community in each street
MID_AUTUMN = date(2026, 9, 25)


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=CHINA_TZ)


@dataclass(frozen=True)
class Case:
    community: str
    received: date
    state: str
    started: date | None = None
    found: date | None = None
    notice_ends: date | None = None
    decided: date | None = None


CASES = {
    # S1 ------------------------------------------------------------------------------
    # received Tue 09-22: intake due Mon 09-28 (Fri 25 is a holiday), started 09-28 → on time;
    # investigation due Wed 10-14 (15 working days, the holiday skipped), found 10-14 → on time
    "A1": Case(
        S1, date(2026, 9, 22), "publicized", date(2026, 9, 28), date(2026, 10, 14), date(2026, 10, 22)
    ),
    # same day, started 09-29 → late; found 10-15 → late; decision due in Q4: not in Q3's approvals
    "A2": Case(S1, date(2026, 9, 22), "verified_ineligible", date(2026, 9, 29), date(2026, 10, 15)),
    # on time in and through; 公示 ended Mon 07-20 → approval due Mon 07-27, decided 07-31 → late
    "A3": Case(
        S1,
        date(2026, 7, 1),
        "approved",
        date(2026, 7, 2),
        date(2026, 7, 10),
        date(2026, 7, 20),
        date(2026, 7, 31),
    ),
    # 公示 ended Fri 07-24 → approval due Fri 07-31, decided 07-30 → on time
    "A4": Case(
        S1,
        date(2026, 7, 6),
        "approved",
        date(2026, 7, 7),
        date(2026, 7, 15),
        date(2026, 7, 24),
        date(2026, 7, 30),
    ),
    # received Mon 09-28, never started: intake due Thu 10-01 and investigation due in October,
    # both passed by the test's today (2026-11-16) → late in both
    "A5": Case(S1, date(2026, 9, 28), "received"),
    # withdrawn before anything started: counted nowhere
    "A6": Case(S1, date(2026, 8, 3), "withdrawn"),
    # a recipient brought in with the existing caseload (no intake or finding here): counted nowhere
    "A8": Case(S1, date(2026, 8, 5), "active"),
    # received in Q2 (not in Q3's intake); 公示 ended Wed 07-01 → approval due Wed 07-08, still
    # undecided → a late approval in Q3
    "A7": Case(
        S1, date(2026, 6, 1), "ready_for_approval", date(2026, 6, 2), date(2026, 6, 10), date(2026, 7, 1)
    ),
    # S2 ------------------------------------------------------------------------------
    # found ineligible Thu 08-20, rejected Mon 08-24 without 公示: due Thu 08-27 → on time
    "B1": Case(
        S2, date(2026, 8, 10), "rejected", date(2026, 8, 11), date(2026, 8, 20), None, date(2026, 8, 24)
    ),
    # S3 ------------------------------------------------------------------------------
    # received Mon 08-03: intake due Thu 08-06, started Mon 08-10 → late; found 08-14 → on time
    "C1": Case(S3, date(2026, 8, 3), "verified_eligible", date(2026, 8, 10), date(2026, 8, 14)),
}

# (community, scheduled_for, status, done local day)
REVIEWS = [
    (S1, date(2026, 8, 5), "done", date(2026, 8, 5)),  # on time
    (S1, date(2026, 9, 24), "done", date(2026, 9, 26)),  # Sat 26 < Mon 28 (Fri 25 off) → on time
    (S1, date(2026, 7, 15), "scheduled", None),  # missed → late
    (S1, date(2026, 8, 20), "cancelled", None),  # not counted
    (S1, date(2026, 8, 12), "done", date(2026, 8, 14)),  # overdue from Thu 13 → late
    (S1, date(2026, 10, 8), "done", date(2026, 10, 8)),  # Q4: not counted
    (S3, date(2026, 9, 1), "done", date(2026, 9, 1)),  # on time
]

# (community, deadline, answered local day)
OBJECTIONS = [
    (S1, date(2026, 8, 20), date(2026, 8, 19)),  # on time
    (S1, date(2026, 9, 10), None),  # unanswered → late
    (S1, date(2026, 10, 5), None),  # due in Q4: not counted
    (S2, date(2026, 7, 20), date(2026, 7, 25)),  # late
]

# (community, month, attempt, status)
PAYMENTS = [
    (S1, "2026-07", 1, "paid"),  # right first time
    (S1, "2026-08", 1, "failed"),  # failed ...
    (S1, "2026-08", 2, "paid"),  # ... and re-paid: still a miss, and the retry is not counted again
    (S1, "2026-09", 1, "batched"),  # sent, never reconciled → a miss
    (S1, "2026-09", 1, "queued"),  # never sent: not counted
    (S1, "2026-10", 1, "paid"),  # Q4: not counted
    (S2, "2026-09", 1, "failed"),
    (S3, "2026-07", 1, "paid"),
    (S3, "2026-08", 1, "paid"),
]

# (community, group, finding) of a sample drawn 2026-08-15; one more sample drawn in Q2
SAMPLE_ITEMS = [
    (S1, "active", "eligible"),  # right
    (S1, "active", "ineligible"),  # an inclusion error
    (S1, "rejected", "ineligible"),  # right
    (S1, "active", ""),  # no finding yet: not counted
    (S3, "rejected", "eligible"),  # an exclusion error
]


async def seed_quarter(world: World) -> dict[str, int]:
    """Write the events above; returns application ids by label."""
    now = world.now
    paths = {r["code"]: r["path"] for r in await OrgUnit.select(OrgUnit.code, OrgUnit.path)}
    units = {r["code"]: r["id"] for r in await OrgUnit.select(OrgUnit.code, OrgUnit.id)}
    ids: dict[str, int] = {}
    households: dict[str, int] = {}
    async with write_transaction(Household._meta.db):
        await CalendarDay(day=MID_AUTUMN, kind="holiday", name="中秋节", updated_at=now).save()

        async def household(code: str, label: str) -> int:
            row = Household(
                file_no=f"Q-{label}",
                org_unit=units[code],
                org_path=paths[code],
                address="x",
                area_type="urban",
                housing="rented",
                head_name=f"户主{label}",
                **identifiers.identifier_columns(head_id="", phone="", account=""),
                created_at=now,
                updated_at=now,
            )
            await row.save()
            return int(row.id)

        for label, case in CASES.items():
            household_id = await household(case.community, label)
            application = Application(
                number=f"Q-{label}",
                household=household_id,
                org_path=paths[case.community],
                category="dibao",
                channel="window",
                state=case.state,
                received_on=case.received,
                found_on=case.found,
                decided_on=case.decided,
                state_changed_at=now,
                created_at=now,
            )
            await application.save()
            ids[label] = int(application.id)
            if case.started is not None:
                await record_event(
                    SYSTEM_ACTOR,
                    "application.start_investigation",
                    "application",
                    application.id,
                    org_path=paths[case.community],
                    now=at(case.started, 23),  # late evening, local: still that day
                    household_id=household_id,
                )
            if case.notice_ends is not None:
                await PublicNotice(
                    application=application.id,
                    household=household_id,
                    org_path=paths[case.community],
                    starts_on=case.notice_ends,
                    ends_on=case.notice_ends,
                    status="ended",
                    masked_name="x",
                    category="dibao",
                    household_size=1,
                    created_at=now,
                ).save()
        for code in (S1, S2, S3):
            households[code] = await household(code, f"H{code}")
        for code, scheduled, status, done in REVIEWS:
            await Visit(
                household=households[code],
                org_path=paths[code],
                kind="review",
                scheduled_for=scheduled,
                status=status,
                done_at=at(done, 15) if done else None,
                created_at=now,
            ).save()
        for n, (code, deadline, answered) in enumerate(OBJECTIONS):
            await Objection(
                tracking_code=f"Q{n:05d}",
                kind="objection",
                org_path=paths[code],
                body="x",
                status="answered" if answered else "received",
                deadline=deadline,
                received_at=at(date(2026, 7, 1)),
                answered_at=at(answered, 22) if answered else None,
            ).save()
        provider = Provider(name="市财政", kind="government", org_path=paths["370100"], created_at=now)
        await provider.save()
        fund = Fund(code="F-Q", name="基金", provider=provider.id, org_path=paths["370100"], created_at=now)
        await fund.save()
        resource = Resource(
            provider=provider.id,
            fund=fund.id,
            org_path=paths["370100"],
            name="低保金",
            kind="cash",
            need="living",
            unit="per_household",
            periodicity="monthly",
            created_at=now,
        )
        await resource.save()
        for n, (code, month, attempt, status) in enumerate(PAYMENTS):
            plan = Plan(household=households[code], org_path=paths[code], status="approved", created_at=now)
            await plan.save()
            line = PlanLine(
                plan=plan.id,
                household=households[code],
                resource=resource.id,
                org_path=paths[code],
                status="approved",
            )
            await line.save()
            await PaymentLine(
                line_id=f"Q{n}",
                plan_line=line.id,
                household=households[code],
                fund=fund.id,
                org_path=paths[code],
                month=month,
                amount_fen=50_000,
                status=status,
                attempt=attempt,
                created_at=now,
            ).save()
        for drawn, items in (
            (date(2026, 8, 15), SAMPLE_ITEMS),
            (date(2026, 6, 15), [(S3, "active", "eligible")]),
        ):
            sample = ReverificationSample(
                org_path=paths["370100"], seed=1, size_active=1, size_rejected=1, drawn_at=at(drawn)
            )
            await sample.save()
            for code, group, finding in items:
                await SampleItem(
                    sample=sample.id,
                    household=households[code],
                    org_path=paths[code],
                    sample_group=group,
                    finding=finding,
                ).save()
    return ids
