"""The demo city, built the way a bureau goes live (README "Going live"):
``init``'s shipped network and calendar, the demo communities from
``data/demo_org.csv`` through ``import-org``, and the existing recipients from
``data/demo_caseload.csv`` through ``import-caseload``. What only a demo has —
made-up offices, one account per role with the demo password, applications
standing at every stage of the lifecycle, policies, resources, payments and
field work — is added through the same services the pages use, so the demo
has a real audit trail. Deterministic (seeded); never run in production mode.
"""

from __future__ import annotations

import io
import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from relief_pwa.adapters.roster_sheets import write_csv
from relief_pwa.clock import CHINA_TZ
from relief_pwa.core.caseload import RosterHousehold, RosterMember, header_row, household_rows
from relief_pwa.core.enums import (
    AppState,
    AssetKind,
    Category,
    Channel,
    ExpenseKind,
    Housing,
    Illness,
    IncomeKind,
    OrgLevel,
    Relation,
    Role,
    Schooling,
    Sex,
    WorkCapacity,
)
from relief_pwa.core.errors import DomainError
from relief_pwa.core.idnumber import make_id_number
from relief_pwa.core.intake import IntakeDraft, ItemDraft, MemberDraft
from relief_pwa.data.jinan import CITY_CODE, DISTRICTS, communities_for
from relief_pwa.services.actors import SYSTEM_ACTOR, Actor
from relief_pwa.services.applications import do_transition
from relief_pwa.services.auth import DemoAccount, do_create_demo_staff, load_actor
from relief_pwa.services.intake import check_and_create_intake
from relief_pwa.services.org_admin import OfficeDetails
from relief_pwa.tables import Household, OrgUnit, Staff

DEMO_PASSWORD = "sunshine"  # noqa: S105 - the documented demo password, demo mode only
COMMUNITIES_PER_STREET = 3
DEMO_STREET = "370102001"  # 历下区 解放路街道: home of the demo accounts
# The demo's "today". seed_demo() moves it to the morning of the day the demo is
# seeded, so running 公示, visits due today and this month's payments are current
# whenever the demo is shown; everything else stays deterministic.
DEMO_TODAY = datetime(2026, 11, 20, 10, 0, tzinfo=CHINA_TZ)

# username, display name, role, org code (None: the first community of the demo street)
DEMO_ACCOUNTS: tuple[tuple[str, str, Role, str | None], ...] = (
    ("liaison", "王秀兰（联络员）", Role.LIAISON, None),
    ("investigator", "李建国（调查员）", Role.INVESTIGATOR, DEMO_STREET),
    ("station", "张红（服务站）", Role.STATION, DEMO_STREET),
    ("center", "刘洋（服务中心）", Role.CENTER, "370102"),
    # A second clerk of the centre: four eyes (one drafts and pays, the other approves and exports).
    ("center2", "孙丽（服务中心复核）", Role.CENTER, "370102"),
    ("city", "陈明（市民政局）", Role.CITY, CITY_CODE),
    ("supervisor", "赵平（纪检监察）", Role.SUPERVISOR, CITY_CODE),
    # The city's education bureau (shipped departments: docs/departments.md).
    ("education", "周静（市教育局）", Role.DEPARTMENT, f"{CITY_CODE}D02"),
)

_SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
)
_GIVEN = "秀英桂兰玉梅凤华建国志强永军海燕丽娟明辉文静红霞淑珍春生德胜金凤家乐子涵浩然欣怡雨轩"


DEMO_ORG_FILE = Path(__file__).resolve().parent / "data" / "demo_org.csv"


def demo_org_rows() -> list[list[str]]:
    """The demo communities and villages as a bureau's org file has them (header first)."""
    rows = [["代码 code", "名称 name", "所属街道代码 parent", "地址 address", "电话 hotline"]]
    for district in DISTRICTS:
        for street in district.streets:
            for community in communities_for(street, COMMUNITIES_PER_STREET):
                address = f"{district.name}{street.name}{community.name}党群服务中心"
                rows.append([community.code, community.name, street.code, address, ""])
    return rows


def demo_org_csv() -> str:
    """The shipped org file's text (relief_pwa/data/demo_org.csv)."""
    buffer = io.StringIO()
    write_csv(buffer, demo_org_rows())
    return buffer.getvalue()


def demo_offices() -> dict[str, OfficeDetails]:
    """Made-up service offices of the city, districts and streets (the shipped network leaves them empty)."""
    offices = {
        CITY_CODE: OfficeDetails(
            "济南市民政局阳光救助办公室", "济南市市中区龙奥北路1号", "0531-51708000", "0531-51708000"
        )
    }
    for district in DISTRICTS:
        offices[district.code] = OfficeDetails(
            f"{district.name}阳光救助服务中心", district.centre_address, district.hotline, district.hotline
        )
        for street in district.streets:
            offices[street.code] = OfficeDetails(
                f"{street.name}阳光救助服务站",
                f"{district.name}{street.name}便民服务中心一楼",
                district.hotline,
                district.hotline,
            )
    return offices


def demo_accounts() -> list[DemoAccount]:
    """One account per role in the demo street, and one per district centre and street station."""
    first_community = f"{DEMO_STREET}001"
    accounts = [DemoAccount(u, n, r.value, code or first_community) for u, n, r, code in DEMO_ACCOUNTS]
    for district in DISTRICTS:
        accounts.append(
            DemoAccount(
                f"center_{district.code}", f"{district.name}服务中心", Role.CENTER.value, district.code
            )
        )
        for street in district.streets:
            accounts.append(
                DemoAccount(f"station_{street.code}", f"{street.name}服务站", Role.STATION.value, street.code)
            )
    return accounts


async def load_demo_network(now: datetime) -> int:
    """The go-live path: ``init``'s shipped network and calendar, then ``import-org`` of the
    shipped demo file; the made-up offices are entered as city staff would on the unit pages.
    Returns how many org units exist."""
    from relief_pwa.adapters.orgfile import parse_org_file
    from relief_pwa.services.bootstrap import do_load_shipped
    from relief_pwa.services.org_admin import do_update_office
    from relief_pwa.services.org_import import do_import_org

    await do_load_shipped(now=now)
    plan = await do_import_org(
        SYSTEM_ACTOR, parse_org_file(DEMO_ORG_FILE.read_bytes(), DEMO_ORG_FILE.name), now=now
    )
    if not plan.ok:  # the shipped file is checked by a test; this names the row if it ever drifts
        raise RuntimeError(f"the demo org file is refused: {plan.problems[:3]}")
    offices = demo_offices()
    units = await OrgUnit.select(OrgUnit.id, OrgUnit.code, OrgUnit.office_name)
    for unit in units:
        office = offices.get(unit["code"])
        if office is not None and not unit["office_name"]:  # never undo an office already entered
            await do_update_office(SYSTEM_ACTOR, int(unit["id"]), office, now=now)
    return len(units)


async def _actor(username: str) -> Actor:
    staff = await Staff.select(Staff.id).where(Staff.username == username).first()
    assert staff is not None
    actor = await load_actor(staff["id"])
    assert actor is not None
    return actor


def _household(rng: random.Random, community_id: int, area_type: str, as_of: date) -> IntakeDraft:
    surname = rng.choice(_SURNAMES)
    size = rng.choices([1, 2, 3, 4, 5], weights=[30, 30, 22, 12, 6])[0]
    members: list[MemberDraft] = []
    head_age = rng.randint(28, 86)
    area = rng.choice(["370102", "370103", "370104", "370105", "370112", "370181", "371202", "370125"])

    def person(age: int, sex: Sex, relation: Relation, name_surname: str) -> MemberDraft:
        born = as_of - timedelta(days=age * 365 + rng.randint(0, 360))
        seq = rng.randint(0, 499) * 2 + (1 if sex == Sex.MALE else 0)
        name = name_surname + "".join(rng.sample(_GIVEN, rng.choice([1, 2])))
        grade = rng.choices(["", "1", "2", "3", "4"], weights=[80, 4, 6, 5, 5])[0]
        illness = rng.choices([Illness.NONE, Illness.CHRONIC, Illness.SERIOUS], weights=[65, 25, 10])[0]
        if age >= 60 or age < 16 or grade in {"1", "2"}:
            work = WorkCapacity.NONE
        else:
            work = rng.choices(
                [WorkCapacity.FULL, WorkCapacity.PARTIAL, WorkCapacity.NONE], weights=[55, 30, 15]
            )[0]
        schooling = (
            Schooling.PRESCHOOL
            if age < 6
            else Schooling.PRIMARY
            if age < 12
            else Schooling.JUNIOR
            if age < 15
            else Schooling.SENIOR
            if age < 18
            else Schooling.NOT_IN_SCHOOL
        )
        return MemberDraft(
            name=name,
            id_number=make_id_number(area, born, seq),
            relation=relation.value,
            disability_grade=grade,
            illness=illness.value,
            work_capacity=work.value,
            schooling=schooling.value,
        )

    head_sex = rng.choice([Sex.MALE, Sex.FEMALE])
    members.append(person(head_age, head_sex, Relation.HEAD, surname))
    if size >= 2:
        other = Sex.FEMALE if head_sex == Sex.MALE else Sex.MALE
        members.append(
            person(max(20, head_age + rng.randint(-5, 5)), other, Relation.SPOUSE, rng.choice(_SURNAMES))
        )
    for _ in range(size - 2):
        child_age = max(1, head_age - rng.randint(22, 34))
        members.append(person(child_age, rng.choice([Sex.MALE, Sex.FEMALE]), Relation.CHILD, surname))
    items: list[ItemDraft] = []
    for index, member in enumerate(members):
        if member.work_capacity != WorkCapacity.NONE and rng.random() < 0.7:
            items.append(
                ItemDraft("income", IncomeKind.WAGES.value, str(index), "", str(rng.randint(3, 22) * 100))
            )
        elif rng.random() < 0.4:
            items.append(
                ItemDraft("income", IncomeKind.PENSION.value, str(index), "", str(rng.randint(2, 15) * 100))
            )
    if not items:
        items.append(
            ItemDraft("income", IncomeKind.TRANSFER.value, "", "亲友接济", str(rng.randint(0, 3) * 100))
        )
    if rng.random() < 0.6:
        items.append(ItemDraft("asset", AssetKind.DEPOSITS.value, "", "", str(rng.randint(0, 40) * 500)))
    if rng.random() < 0.35:
        items.append(
            ItemDraft("expense", ExpenseKind.MEDICAL.value, "", "住院自付", str(rng.randint(5, 80) * 500))
        )
    category = rng.choices(
        [
            Category.DIBAO,
            Category.TEKUN,
            Category.MEDICAL,
            Category.TEMPORARY,
            Category.EDUCATION,
            Category.DIBAO_EDGE,
            Category.RIGID_EXPENSE,
            Category.HOUSING,
            Category.DISASTER,
            Category.EMPLOYMENT,
        ],
        weights=[45, 6, 10, 10, 5, 10, 6, 3, 2, 3],
    )[0]
    housing = rng.choices(list(Housing), weights=[55, 15, 15, 10, 5])[0]
    return IntakeDraft(
        community_id=str(community_id),
        address=f"{rng.randint(1, 200)}号{rng.randint(1, 12)}单元{rng.randint(101, 1802)}室",
        area_type=area_type,
        housing=housing.value,
        phone=f"1{rng.choice('3578')}{rng.randint(100000000, 999999999)}",
        onecard_account="6217" + "".join(str(rng.randint(0, 9)) for _ in range(15)),
        category=category.value,
        channel=rng.choice([Channel.WINDOW, Channel.LIAISON]).value,
        description="",
        members=members,
        items=items,
        materials=["id_cards", "hukou", "authorization"] + (["income_proof"] if rng.random() < 0.7 else []),
    )


# How far along the lifecycle a demo application gets, and its weight.
_PATHS: tuple[tuple[tuple[str, ...], int], ...] = (
    ((), 15),
    (("start_investigation",), 20),
    (("start_investigation", "find_eligible"), 10),
    (("start_investigation", "find_ineligible"), 6),
    (("start_investigation", "find_eligible", "start_publicity"), 8),
    (("start_investigation", "find_eligible", "start_publicity", "end_publicity"), 8),
    (("start_investigation", "find_eligible", "start_publicity", "end_publicity", "approve"), 8),
    (("start_investigation", "find_eligible", "start_publicity", "end_publicity", "approve", "activate"), 22),
    (("start_investigation", "find_eligible", "start_publicity", "end_publicity", "reject"), 3),
)
_REASONS = {
    "find_eligible": "人均收入低于当地低保标准，财产符合规定",
    "find_ineligible": "家庭人均收入高于当地低保标准",
    "approve": "经审核符合救助条件，同意救助",
    "reject": "公示期内核实家庭存款超过规定标准",
}


async def seed_demo(households: int = 360, *, force: bool = False, today: datetime | None = None) -> str:
    """Load the demo city. Refuses to run twice unless ``force``."""
    global DEMO_TODAY  # anchored once per seeding, read by every seeder below
    first_seed = not await Household.count()
    if not first_seed and not force:
        return "demo data already present (use --force to add more)"
    from relief_pwa.clock import SystemClock

    DEMO_TODAY = (today or SystemClock().now()).replace(hour=10, minute=0, second=0, microsecond=0)
    now = DEMO_TODAY - timedelta(days=200)
    units = await load_demo_network(now)
    accounts = demo_accounts()
    await do_create_demo_staff(SYSTEM_ACTOR, accounts, password=DEMO_PASSWORD, now=now)
    await seed_relief_index(now)  # standards before the first intake: the index is computed at intake
    rng = random.Random(2011)
    communities = (
        await OrgUnit.select(OrgUnit.id, OrgUnit.code, OrgUnit.area_type)
        .where(OrgUnit.level == OrgLevel.COMMUNITY)
        .order_by(OrgUnit.code)
    )
    demo_street_communities = [c for c in communities if c["code"].startswith(DEMO_STREET)]
    actors: dict[str, Actor] = {}
    made = 0
    for number in range(households):
        # A third of the demo sits in the demo accounts' own street, so every role sees a living caseload.
        community = rng.choice(demo_street_communities if number % 3 == 0 else communities)
        district_code, street_code = community["code"][:6], community["code"][:9]
        center = actors.get(district_code) or await _actor(f"center_{district_code}")
        station = actors.get(street_code) or await _actor(f"station_{street_code}")
        actors[district_code], actors[street_code] = center, station
        when = DEMO_TODAY - timedelta(days=rng.randint(2, 180), hours=rng.randint(0, 6))
        draft = _household(rng, community["id"], community["area_type"], when.date())
        try:
            result = await check_and_create_intake(station, draft, now=when)
        except DomainError:
            continue  # a generated ID collided with an earlier one: skip it
        made += 1
        path = rng.choices([p for p, _ in _PATHS], weights=[w for _, w in _PATHS])[0]
        step_time = when
        for action in path:
            step_time += timedelta(days=rng.randint(1, 8))
            actor = center if action in {"approve", "reject", "activate"} else station
            system = action == "end_publicity"
            await do_transition(
                SYSTEM_ACTOR if system else actor,
                result.application_id,
                action,
                reason=_REASONS.get(action, ""),
                now=min(step_time, DEMO_TODAY),
            )
    if first_seed:  # once: a forced re-seed only adds households (the rest would collide)
        await seed_sunshine()  # policies, running 公示, objections
        await seed_resources_and_payments()  # pool, funds, an approved plan, a reconciled batch
        await seed_fieldwork()  # visits due today/overdue, recorded visits, household cards
    imported = await seed_caseload()  # the bureau's existing recipients, from the shipped roster
    lifecycle = await seed_lifecycle() if first_seed else "none"  # suspended, exited, 渐退, reopened
    return (
        f"demo city: {units} org units, {len(accounts)} staff, {made} households, "
        f"{imported} brought in from the caseload roster; past activation: {lifecycle}"
    )


# --- the caseload roster (going live) ----------------------------------------------

DEMO_ROSTER = Path(__file__).resolve().parent / "data" / "demo_caseload.csv"


def demo_roster(count: int = 120) -> list[RosterHousehold]:
    """The bureau's existing dibao recipients as its roster has them (deterministic)."""
    rng = random.Random(1999)
    streets = [s for d in DISTRICTS[:3] for s in d.streets[:4]]
    out: list[RosterHousehold] = []
    used: set[str] = set()
    for number in range(count):
        street = streets[0] if number % 2 == 0 else rng.choice(streets)  # half in the demo street
        community = rng.choice(communities_for(street, COMMUNITIES_PER_STREET))
        surname = rng.choice(_SURNAMES)
        head_born = date(rng.randint(1940, 1990), rng.randint(1, 12), rng.randint(1, 28))
        size = rng.choices([1, 2, 3, 4], weights=[40, 30, 20, 10])[0]
        members: list[RosterMember] = []
        for position in range(size):
            if position == 0:
                born, relation = head_born, Relation.HEAD
            elif position == 1:
                born, relation = head_born.replace(year=head_born.year + rng.randint(-4, 4)), Relation.SPOUSE
            else:
                born, relation = (
                    head_born.replace(year=min(2022, head_born.year + rng.randint(22, 34))),
                    Relation.CHILD,
                )
            if position == 1:  # the spouse: the other sex from the head
                sex = Sex.FEMALE if members[0].sex == Sex.MALE else Sex.MALE
            else:
                sex = Sex.MALE if rng.random() < 0.5 else Sex.FEMALE
            sequence = rng.randint(500, 998) // 2 * 2 + (1 if sex == Sex.MALE else 0)
            while make_id_number(street.code[:6], born, sequence) in used:
                sequence = (sequence + 2) % 1000
            id_number = make_id_number(street.code[:6], born, sequence)
            used.add(id_number)
            age = 2026 - born.year
            members.append(
                RosterMember(
                    name=surname + "".join(rng.sample(_GIVEN, rng.choice([1, 2]))),
                    id_number=id_number,
                    sex=sex,
                    birth_date=born,
                    relation=relation,
                    disability_grade=rng.choices([None, 1, 2, 3, 4], weights=[80, 4, 6, 5, 5])[0],
                    illness=rng.choices(
                        [Illness.NONE, Illness.CHRONIC, Illness.SERIOUS], weights=[60, 30, 10]
                    )[0],
                    work_capacity=WorkCapacity.NONE
                    if age >= 60 or age < 16
                    else rng.choice(list(WorkCapacity)),
                    schooling=Schooling.PRIMARY
                    if 6 <= age < 12
                    else Schooling.JUNIOR
                    if 12 <= age < 15
                    else Schooling.NOT_IN_SCHOOL,
                )
            )
        out.append(
            RosterHousehold(
                file_no=f"JNMZ-{2019 + number % 6}-{number + 1:05d}",
                community=community.code,
                address=(
                    f"{community.name}{rng.randint(1, 40)}号楼{rng.randint(1, 6)}单元"
                    f"{rng.randint(101, 1202)}室"
                ),
                phone=f"1{rng.choice('3578')}{rng.randint(10**8, 10**9 - 1)}",
                category=Category.DIBAO,
                monthly_fen=rng.randint(30, 120) * 1000,
                start_month=f"{2019 + number % 6}-{rng.randint(1, 12):02d}",
                onecard_account=f"622848{rng.randint(10**12, 10**13 - 1)}",
                bank="济南农商银行",
                housing=rng.choice(list(Housing)),
                members=tuple(members),
                sheet="",
                rows=(),
            )
        )
    return out


def demo_roster_csv() -> str:
    """The shipped roster file's text (relief_pwa/data/demo_caseload.csv)."""
    buffer = io.StringIO()
    rows = [header_row()] + [row for household in demo_roster() for row in household_rows(household)]
    write_csv(buffer, rows)
    return buffer.getvalue()


async def seed_caseload() -> int:
    """Bring in the shipped roster through the caseload import, as a bureau would."""
    from relief_pwa.services.caseload import import_caseload

    city = await _actor("city")
    report = await import_caseload(
        city, DEMO_ROSTER, filename=DEMO_ROSTER.name, now=DEMO_TODAY, accept_valid=True
    )
    return report.imported


# --- cases past activation: suspended, exited, 渐退, reopened by appeal ----------------

_SUSPENSIONS = (
    "户主外出务工，家庭收入情况待核实，暂停发放",
    "连续三个月未领取救助金，暂停待核实实际居住情况",
    "家庭成员就业情况发生变化，暂停发放待复核",
)


def _local_units(org_path: str) -> tuple[str, str]:
    """(district code, street code) of a case's org path (city/district/street/community/)."""
    parts = [p for p in org_path.split("/") if p]
    return parts[1], parts[2]


async def _cases(state: AppState) -> list[dict[str, Any]]:
    """Applications in ``state``, those of the demo accounts' street first (so they see them)."""
    from relief_pwa.tables import Application

    rows = (
        await Application.select(
            Application.id, Application.household, Application.org_path, Application.category
        )
        .where(Application.state == state)
        .order_by(Application.id)
    )
    return sorted(rows, key=lambda r: f"/{DEMO_STREET}/" not in r["org_path"])


async def seed_lifecycle() -> str:
    """Cases past activation, through the same services as the pages: a few households suspended,
    one exited (moved away, from the first of next month), one in 渐退 after a review found work
    income above the standard, and a rejected case reopened by appeal (复议)."""
    import uuid

    from relief_pwa.core.enums import ExitReason
    from relief_pwa.services import reviews
    from relief_pwa.services.followups import PERIODIC_CATEGORIES
    from relief_pwa.services.household_edit import do_add_item
    from relief_pwa.services.ledger import VerifiedValue
    from relief_pwa.services.reviews import household_facts
    from relief_pwa.services.visits import VisitRecord, check_record_visit
    from relief_pwa.tables import Member

    now = DEMO_TODAY + timedelta(hours=1)  # after the roster came in
    today = now.astimezone(CHINA_TZ).date()
    active = await _cases(AppState.ACTIVE)
    used: set[int] = set()
    done: list[str] = []

    # 渐退: the head found a job. The street's investigator adds the wages to the file and records
    # a review verifying them; the station decides gradual exit (income above the standard).
    investigator, station = await _actor("investigator"), await _actor("station")
    for row in active:
        if f"/{DEMO_STREET}/" not in row["org_path"]:
            break
        household = int(row["household"])
        facts = await household_facts(household, today)
        if row["category"] not in PERIODIC_CATEGORIES or facts.per_capita_fen >= facts.standard_fen:
            continue  # reviews decide only the aid reviewed periodically; 渐退 needs the job to lift it
        head = (
            await Member.select(Member.id)
            .where((Member.household == household) & Member.active.eq(True))
            .order_by(Member.id)
            .first()
        )
        version = await Household.select(Household.version).where(Household.id == household).first()
        if head is None or version is None:
            continue
        # Income per person ends up 100 yuan above the standard.
        wages_yuan = -(-((facts.standard_fen + 10_000) * facts.size - facts.income_fen) // 100)
        item_id = await do_add_item(
            investigator,
            household,
            ItemDraft("income", IncomeKind.WAGES.value, str(head["id"]), "小区物业保洁", str(wages_yuan)),
            expected_version=int(version["version"]),
            now=now,
        )
        visit = await check_record_visit(
            investigator,
            VisitRecord(
                client_uuid=str(uuid.UUID(int=5000 + household, version=4)),
                findings="入户复核：户主已在小区物业稳定就业，核对了劳动合同和工资流水。",
                household_id=household,
                kind="review",
                verifications=(VerifiedValue(item_id, wages_yuan * 100, "劳动合同与工资流水"),),
            ),
            now=now + timedelta(minutes=10),
        )
        await reviews.do_decide_review(
            station,
            visit.visit_id,
            "gradual_exit",
            reason="就业后家庭人均收入超过低保标准，按规定渐退",
            now=now + timedelta(minutes=20),
        )
        used.add(household)
        done.append("1 in 渐退")
        break

    # Suspensions by the street's station, an exit by the district's centre.
    suspended = 0
    for row in active:
        if int(row["household"]) in used:
            continue
        district, street = _local_units(row["org_path"])
        if suspended < len(_SUSPENSIONS):
            await do_transition(
                await _actor(f"station_{street}"),
                int(row["id"]),
                "suspend",
                reason=_SUSPENSIONS[suspended],
                now=now + timedelta(minutes=40 + suspended),
            )
            suspended += 1
        else:
            first_of_next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
            await do_transition(
                await _actor(f"center_{district}"),
                int(row["id"]),
                "exit",
                reason="全家迁往外市居住，户籍已随迁",
                now=now + timedelta(hours=1),
                exit_reason=ExitReason.MOVED_AWAY,
                effective_on=first_of_next_month,
            )
            done.append("1 exited")
            break
        used.add(int(row["household"]))
    done.append(f"{suspended} suspended")

    # An appeal (复议): the district's centre reopens a rejected case for a new investigation
    # (a small demo may have none rejected yet: the centre rejects one awaiting its decision).
    rejected = await _cases(AppState.REJECTED)
    for row in rejected or (await _cases(AppState.READY_FOR_APPROVAL))[:1]:
        district, _street = _local_units(row["org_path"])
        center = await _actor(f"center_{district}")
        try:
            if not rejected:
                await do_transition(
                    center, int(row["id"]), "reject", reason=_REASONS["reject"], now=now + timedelta(hours=2)
                )
            await do_transition(
                center,
                int(row["id"]),
                "reopen",
                reason="申请人对不予批准决定申请复议，复议机关决定重新调查",
                now=now + timedelta(hours=3),
            )
        except DomainError:
            continue  # another application of the household is open: the appeal waits
        done.append("1 reopened by appeal")
        break
    return ", ".join(done)


# --- relief index ---------------------------------------------------


async def seed_relief_index(now: datetime) -> None:
    """Jinan's published standards for every district, and the default model v1."""
    from relief_pwa.services.scoring import get_active_model
    from relief_pwa.services.standards import do_seed_standards

    await do_seed_standards(SYSTEM_ACTOR, now=now)
    await get_active_model(now=now)


# --- sunshine: 公示, objections, policies ------------------------------

_POLICY_RULES = (
    "investigation_working_days",
    "publicity_days",
    "republicity_days",
    "objection_answer_working_days",
)
_DEMO_POLICIES = (
    (
        "dibao-guide",
        "城乡居民最低生活保障办理指南",
        (
            "# 谁可以申请\n\n共同生活的家庭成员人均收入低于当地低保标准，且家庭财产符合规定的，可以申请。\n\n"
            "# 办理流程\n\n- 向户籍所在地街道（乡镇）服务站提出申请，或由社区联络员上门受理\n"
            "- 入户调查、邻里访问、信息核对（{investigation_working_days}个工作日内）\n"
            "- 在社区公示栏和本网站公示{publicity_days}天\n"
            "- 区县服务中心审核确认，不符合条件的书面说明理由\n\n"
            "# 需要的材料\n\n- 家庭成员身份证、户口簿\n- 收入和财产情况说明\n- 残疾证、病历等（如有）"
        ),
    ),
    (
        "objections",
        "异议与投诉办理程序",
        (
            "任何人都可以对公示中的家庭或在保家庭提出异议，也可以投诉工作人员的作风问题，可以匿名。\n\n"
            "# 如何提出\n\n- 扫描社区公示栏上的二维码，点击家庭旁边的“提出异议”\n- 拨打监督电话\n"
            "- 通过 Telegram 机器人\n\n"
            "# 办理时限\n\n收到后{objection_answer_working_days}个工作日内调查并答复。"
            "公示期内收到异议的，暂停公示，重新调查；"
            "重新调查后仍符合条件的，再公示{republicity_days}天。凭跟踪码可随时查询办理进度和答复。"
        ),
    ),
)


async def seed_sunshine() -> str:
    """Policies, a few 公示 running on the demo day, an objection and a complaint."""
    from relief_pwa.core.enums import AppState
    from relief_pwa.services.integrity import do_record_near_relative
    from relief_pwa.services.objections import do_record_investigation, file_objection
    from relief_pwa.services.policies import do_publish_policy
    from relief_pwa.services.publicity import do_start_publicity
    from relief_pwa.services.rules import load_calendar
    from relief_pwa.tables import Application

    city = await _actor("city")
    published = DEMO_TODAY - timedelta(days=30)
    calendar = await load_calendar()
    # The texts quote the rules in force when they are published (city staff edit both later).
    days = {key: calendar.rule(key, published.date()) for key in _POLICY_RULES}
    for slug, title, body in _DEMO_POLICIES:
        await do_publish_policy(city, slug=slug, title=title, body=body.format(**days), now=published)

    station = await _actor("station")
    started = DEMO_TODAY - timedelta(days=2)
    eligible = (
        await Application.select(Application.id)
        .where(
            (Application.state == AppState.VERIFIED_ELIGIBLE)
            & Application.org_path.like(f"%/{DEMO_STREET}/%")
        )
        .order_by(Application.id)
        .limit(6)
    )
    notices = [await do_start_publicity(station, row["id"], now=started) for row in eligible]
    if notices:
        await file_objection(
            kind="objection",
            body="这户的儿子在外地打工，每月往家里寄钱，收入并不低，请核实。",
            notice_id=notices[0],
            channel="board",
            now=DEMO_TODAY - timedelta(hours=20),
        )
    complaint = await file_objection(
        kind="complaint",
        body="去服务站咨询低保时，窗口工作人员不耐烦，没有一次性告知需要的材料。",
        board_code=f"{DEMO_STREET}001",
        about="解放路街道服务站窗口",
        contact_name="王先生",
        contact_phone="13912340000",
        channel="web",
        now=DEMO_TODAY - timedelta(days=1),
    )
    await do_record_investigation(
        station,
        complaint.objection_id,
        "已调阅当日窗口记录，约谈当班工作人员。",
        now=DEMO_TODAY - timedelta(hours=3),
    )
    active = (
        await Application.select(Application.household)
        .where((Application.state == AppState.ACTIVE) & Application.org_path.like(f"%/{DEMO_STREET}/%"))
        .order_by(Application.id)
        .first()
    )
    if active:
        await do_record_near_relative(
            station,
            active["household"],
            relative_name="社区居委会委员",
            relation="户主之弟",
            note="近亲属备案，入户抽查",
            now=DEMO_TODAY - timedelta(days=20),
        )
    return f"{len(_DEMO_POLICIES)} policies, {len(notices)} public notices, 2 objections"


# --- resources, plans, funds and payments ------------------------------


async def seed_resources_and_payments() -> str:
    """Providers, funds and resources; the district's draft approved for its top
    households; this month's one-card batch exported and reconciled (one line
    failed and re-queued), so follow-up visits are in the liaison's diary."""
    import csv
    import io

    from relief_pwa.services import disbursement, plans
    from relief_pwa.services.funds import FundDraft, Overspending, do_create_fund
    from relief_pwa.services.resources import (
        DonationDraft,
        ProviderDraft,
        ResourceDraft,
        do_create_provider,
        do_create_resource,
        do_record_donation,
    )

    city, center, reviewer = await _actor("city"), await _actor("center"), await _actor("center2")
    day = DEMO_TODAY - timedelta(days=6)
    bureau = await do_create_provider(
        city, ProviderDraft("济南市民政局", "government", "0531-12345"), now=day
    )
    city_fund = await do_create_fund(
        city, FundDraft("JN-DIBAO-2026", "城乡低保资金专户", str(bureau)), now=day
    )
    await do_record_donation(
        city,
        DonationDraft(str(bureau), fund_id=str(city_fund), amount="2,000,000", note="市级低保资金下达"),
        now=day,
    )
    await do_create_resource(
        city,
        ResourceDraft(
            provider_id=str(bureau),
            fund_id=str(city_fund),
            name="城乡低保金",
            kind="cash",
            need="living",
            unit="per_household",
            periodicity="monthly",
            months="6",
            statutory="dibao_gap",
            categories=["dibao"],
            priority="1",
        ),
        now=day,
    )
    charity = await do_create_provider(
        center, ProviderDraft("历下区慈善总会", "social_org", "0531-86970188"), now=day
    )
    company = await do_create_provider(center, ProviderDraft("泉城家纺有限公司", "enterprise"), now=day)
    charity_fund = await do_create_fund(
        center, FundDraft("LX-CHARITY", "历下区慈善救助专户", str(charity)), now=day
    )
    await do_record_donation(
        center,
        DonationDraft(str(charity), fund_id=str(charity_fund), amount="60,000", note="年度慈善募捐"),
        now=day,
    )
    await do_create_resource(
        center,
        ResourceDraft(
            provider_id=str(charity),
            fund_id=str(charity_fund),
            name="临时生活补助",
            kind="cash",
            need="temporary",
            unit="per_household",
            unit_amount="800",
            periodicity="one_off",
            budget_total="40,000",
            categories=["temporary", "medical", "dibao_edge", "rigid_expense", "disaster"],
            min_index="20",
            priority="20",
        ),
        now=day,
    )
    blankets = await do_create_resource(
        center,
        ResourceDraft(
            provider_id=str(company),
            name="冬季棉被",
            kind="in_kind",
            need="bedding",
            unit="per_person",
            unit_amount="150",
            unit_quantity="1",
            periodicity="one_off",
            quantity_total="0",
            priority="30",
        ),
        now=day,
    )
    await do_record_donation(
        center,
        DonationDraft(str(company), resource_id=str(blankets), quantity="200", note="企业捐赠棉被"),
        now=day,
    )

    scope = plans.DraftScope(org_code=DEMO_STREET)
    view = await plans.get_draft(center, scope, now=day)
    chosen = [info.household_id for info, _rank, _lines in view.shown_lines[:12]]
    approved = 0
    for plan_id in await plans.do_save_drafts(center, scope, now=day, household_ids=chosen):
        if approved >= 10:
            break  # the rest stay drafts for staff to review
        try:
            await plans.do_approve_plan(reviewer, plan_id, now=day + timedelta(hours=1))
            approved += 1
        except (Overspending, DomainError):
            continue

    pay_day = DEMO_TODAY - timedelta(days=3)
    month = f"{pay_day.year:04d}-{pay_day.month:02d}"
    await disbursement.do_generate_monthly_lines(center, month, now=pay_day)
    batch_no = ""
    try:
        batch = await disbursement.do_create_batch(center, city_fund, month, now=pay_day)
    except DomainError:
        return f"{approved} plans approved; no batch (no lines)"
    batch_no = batch.batch_no
    data, _name = await disbursement.do_export_batch(reviewer, batch.batch_id, "csv", now=pay_day)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
    answer = io.StringIO()
    writer = csv.writer(answer)
    writer.writerow(["批次号", "行号", "金额(元)", "状态", "失败原因"])
    for number, row in enumerate(rows):
        failed = number == len(rows) - 1 and len(rows) > 1
        status, reason = ("失败", "账户已冻结") if failed else ("成功", "")
        writer.writerow([row[0], row[1], row[5], status, reason])
    await disbursement.do_reconcile_batch(
        center,
        batch.batch_id,
        answer.getvalue().encode(),
        f"{batch_no}-回盘.csv",
        now=DEMO_TODAY - timedelta(days=1),
    )
    return f"{approved} plans approved; batch {batch_no} reconciled"


# --- field work (visits, verified values, photos, household cards) -------------------------


def _demo_image(kind: str, seed: int) -> bytes:
    """A small generated image: a signature scribble (PNG) or a room photo stand-in (JPEG)."""
    import io

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    if kind == "signature":
        image = Image.new("RGB", (600, 220), "white")
        draw = ImageDraw.Draw(image)
        points = [(40 + i * 26, 110 + rng.randint(-45, 45)) for i in range(21)]
        draw.line(points, fill="black", width=4)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    wall = (rng.randint(150, 220), rng.randint(140, 200), rng.randint(120, 180))
    image = Image.new("RGB", (1200, 900), wall)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randint(0, 1100), rng.randint(0, 800)
        draw.rectangle(
            (x, y, x + rng.randint(60, 300), y + rng.randint(40, 200)),
            fill=(rng.randint(40, 200), rng.randint(40, 200), rng.randint(40, 200)),
        )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


async def seed_fieldwork(today: date | None = None) -> str:
    """Visits in the demo liaison's and investigator's diaries (overdue, today, coming),
    two recorded home visits with verified values, photos and signatures, and cards.

    Dates are relative to DEMO_TODAY (the day the demo is seeded), so "today's
    visits" are today's when the demo is shown.
    """
    import uuid

    from relief_pwa.core.fieldwork import PhotoPurpose, VisitKind
    from relief_pwa.services.cards import do_issue_card
    from relief_pwa.services.ledger import VerifiedValue
    from relief_pwa.services.visits import (
        ImageUpload,
        ScheduleRequest,
        VisitRecord,
        check_record_visit,
        do_schedule_visit,
    )
    from relief_pwa.tables import MoneyItem

    today = today or DEMO_TODAY.date()
    morning = datetime(today.year, today.month, today.day, 8, 30, tzinfo=CHINA_TZ)
    liaison, investigator = await _actor("liaison"), await _actor("investigator")
    station = await _actor("station")
    households = (
        await Household.select(Household.id)
        .where(Household.org_path.like(f"{liaison.org_path}%") & Household.is_open.eq(True))
        .order_by(Household.id)
        .limit(9)
    )
    ids = [row["id"] for row in households]
    if len(ids) < 9:
        return "field work: not enough households in the demo community"
    diary = [
        (VisitKind.HOME, liaison, 0, "9:00–10:30"),
        (VisitKind.NEIGHBOUR, liaison, 0, "14:00–15:00"),
        (VisitKind.HOME, liaison, -2, ""),
        (VisitKind.FOLLOW_UP, liaison, -1, ""),
        (VisitKind.LETTER, investigator, 0, ""),
        (VisitKind.HOME, investigator, 0, "10:00–11:30"),
        (VisitKind.HOME, investigator, 3, ""),
    ]
    for household_id, (kind, assignee, offset, window) in zip(ids, diary, strict=False):
        await do_schedule_visit(
            station,
            ScheduleRequest(
                household_id=household_id,
                kind=kind,
                scheduled_for=today + timedelta(days=offset),
                assigned_to=assignee.staff_id or 0,
                time_window=window,
            ),
            now=morning - timedelta(days=3),
        )
    recorded = 0
    for number, household_id in enumerate(ids[7:9]):
        items = (
            await MoneyItem.select(MoneyItem.id, MoneyItem.declared_fen, MoneyItem.section)
            .where(MoneyItem.household == household_id)
            .order_by(MoneyItem.id)
        )
        # One value confirmed, one found well above the declaration (flagged in the ledger).
        values = tuple(
            VerifiedValue(
                item["id"],
                item["declared_fen"] * (135 if index == 1 else 100) // 100,
                "工资条与银行流水" if item["section"] == "income" else "入户查看",
            )
            for index, item in enumerate(items[:2])
        )
        await check_record_visit(
            liaison,
            VisitRecord(
                client_uuid=str(uuid.UUID(int=4000 + number, version=4)),
                findings="入户查看：住房简陋，家具陈旧；核对了收入与存款凭证。",
                household_id=household_id,
                kind=VisitKind.HOME.value,
                second_investigator_id=investigator.staff_id,
                gps=(36.6614 + number / 1000, 117.0167),
                verifications=values,
                signature=ImageUpload(_demo_image("signature", number), PhotoPurpose.SIGNATURE),
                photos=(ImageUpload(_demo_image("room", number), caption="客厅"),),
            ),
            now=morning - timedelta(days=1, hours=-number),
        )
        recorded += 1
    for household_id in ids[:3]:
        await do_issue_card(liaison, household_id, now=morning - timedelta(days=2))
    return f"field work: {len(diary)} visits scheduled, {recorded} recorded, 3 cards"
