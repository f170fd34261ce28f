"""The demo city is built the go-live way: the shipped network (init), the shipped
communities file (import-org) and the shipped roster (import-caseload); cases past activation
(suspended, exited, 渐退, reopened by appeal) come through the lifecycle services."""

from __future__ import annotations

from relief_pwa.adapters.orgfile import parse_org_file
from relief_pwa.core.enums import AppState, ExitReason, OrgLevel
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.audit import verify_chain
from relief_pwa.services.bootstrap import do_load_shipped
from relief_pwa.services.org_import import do_import_org
from relief_pwa.tables import (
    Application,
    AuditEvent,
    CalendarDay,
    Entitlement,
    OrgUnit,
    ReviewDecision,
    Staff,
)
from tests.helpers import found


def test_the_demo_org_file_is_shipped_as_generated() -> None:
    from relief_pwa.demo import DEMO_ORG_FILE, demo_org_csv

    assert DEMO_ORG_FILE.read_bytes().decode("utf-8") == demo_org_csv()


async def test_the_shipped_demo_org_file_loads_cleanly_after_init(db, now) -> None:
    from relief_pwa.demo import DEMO_ORG_FILE

    await do_load_shipped(now=now)
    rows = parse_org_file(DEMO_ORG_FILE.read_bytes(), DEMO_ORG_FILE.name)
    plan = await do_import_org(SYSTEM_ACTOR, rows, now=now, dry_run=True)
    assert plan.problems == [] and len(plan.create) == len(rows) == 164 * 3


async def test_the_demo_goes_through_init_import_org_and_import_caseload(db, now) -> None:
    from relief_pwa.demo import DEMO_PASSWORD, DEMO_STREET, demo_accounts, seed_demo
    from relief_pwa.services.auth import password_ok

    await seed_demo(households=40, today=now)

    assert await OrgUnit.count().where(OrgUnit.level == OrgLevel.STREET) == 164
    assert await OrgUnit.count().where(OrgUnit.level == OrgLevel.COMMUNITY) == 164 * 3
    assert await CalendarDay.count() > 50  # init's shipped calendar
    # Communities came in from the file through import-org: an office named from the row,
    # the file's address, created by the system as the command does.
    community = await OrgUnit.select().where(OrgUnit.code == "370102001001").first()
    assert community is not None
    assert community["office_name"] == "解放路社区救助服务点"
    assert community["office_address"] == "历下区解放路街道解放路社区党群服务中心"
    street = await OrgUnit.select(OrgUnit.hotline).where(OrgUnit.code == "370102001").first()
    assert street is not None and street["hotline"]  # entered through the office service
    assert await AuditEvent.count().where(AuditEvent.action == "org.update_office") == 1 + 13 + 164

    # Demo accounts: through the staff service, each marked as holding a demo password.
    accounts = demo_accounts()
    staff = await Staff.select(Staff.username, Staff.password_hash, Staff.demo_password)
    assert {s["username"] for s in staff} == {a.username for a in accounts}
    assert all(s["demo_password"] for s in staff)
    assert password_ok(staff[0]["password_hash"], DEMO_PASSWORD)
    assert await AuditEvent.count().where(AuditEvent.action == "staff.create") == len(accounts)

    # The roster came in through the caseload import (one audit event), as current recipients.
    assert await AuditEvent.count().where(AuditEvent.action.like("caseload.import%")) == 1
    # ...and the applications in progress stand at every stage of the lifecycle.
    states = {r["state"] for r in await Application.select(Application.state)}
    for state in (
        AppState.RECEIVED,
        AppState.INVESTIGATING,
        AppState.VERIFIED_ELIGIBLE,
        AppState.PUBLICIZED,
        AppState.READY_FOR_APPROVAL,
        AppState.ACTIVE,
    ):
        assert state in states, state

    # ...and past activation, through the lifecycle services, in the demo accounts' street:
    # suspended households, one exit with its reason and effective date, one 渐退, one appeal.
    demo_street = f"%/{DEMO_STREET}/%"
    in_street = Application.org_path.like(demo_street)
    assert await Application.count().where((Application.state == AppState.SUSPENDED) & in_street) >= 2
    [exited] = await Entitlement.select().where(
        (Entitlement.closed_by == "exit") & Entitlement.org_path.like(demo_street)
    )
    assert exited["exit_reason"] == ExitReason.MOVED_AWAY.value
    assert exited["closed_on"] > now.date()  # moving away on the first of next month
    exited_app = found(await Application.select().where(Application.id == exited["application"]).first())
    assert exited_app["state"] == AppState.EXITED
    [taper] = await ReviewDecision.select().where(
        (ReviewDecision.decision == "gradual_exit") & ReviewDecision.org_path.like(demo_street)
    )
    assert taper["taper_until"] > f"{now.date():%Y-%m}" and taper["taper_finished_at"] is None
    tapering = found(await Application.select().where(Application.id == taper["application"]).first())
    assert tapering["state"] == AppState.ACTIVE  # still a recipient inside the window
    [appeal] = await AuditEvent.select(AuditEvent.entity_id).where(AuditEvent.action == "application.reopen")
    reopened = found(await Application.select().where(Application.id == appeal["entity_id"]).first())
    assert reopened["state"] == AppState.INVESTIGATING
    assert (await verify_chain()).ok  # what `relief-pwa audit verify` checks

    # A second run adds nothing (the demo refuses), and a forced one keeps the network and accounts.
    units, staff_count = await OrgUnit.count(), await Staff.count()
    assert "already present" in await seed_demo(households=1, today=now)
    await seed_demo(households=1, today=now, force=True)
    assert (await OrgUnit.count(), await Staff.count()) == (units, staff_count)
