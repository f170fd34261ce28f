"""Page and message texts quote the rules in force, never the statutory numbers."""

from __future__ import annotations

from datetime import date

from relief_pwa.core.applicant_status import next_step
from relief_pwa.core.enums import AppState
from relief_pwa.i18n import translate
from relief_pwa.services.actors import SYSTEM_ACTOR
from relief_pwa.services.objections import file_objection
from relief_pwa.services.rules import do_set_rule, load_calendar, quoted_rules
from tests.services.publicity_support import eligible_application, fresh_public_state  # noqa: F401

CHANGED_FROM = date(2026, 1, 1)


async def _change_rules(now) -> None:
    await do_set_rule(SYSTEM_ACTOR, "publicity_days", 10, effective_from=CHANGED_FROM, now=now)
    await do_set_rule(SYSTEM_ACTOR, "republicity_days", 4, effective_from=CHANGED_FROM, now=now)
    await do_set_rule(SYSTEM_ACTOR, "objection_answer_working_days", 20, effective_from=CHANGED_FROM, now=now)
    # A change not yet in force is not quoted.
    await do_set_rule(SYSTEM_ACTOR, "publicity_days", 12, effective_from=date(2099, 1, 1), now=now)


async def test_quoted_rules_are_the_values_in_force_today(world):
    assert (await quoted_rules(date(2026, 11, 16))).publicity_days == 7  # statutory until changed
    await _change_rules(world.now)
    rules = await quoted_rules(date(2026, 11, 16))
    assert (rules.publicity_days, rules.republicity_days, rules.objection_answer_working_days) == (10, 4, 20)
    assert rules.investigation_working_days == 15


async def test_pages_quote_the_changed_rules(world, make_client):
    await _change_rules(world.now)
    await eligible_application(world)

    station = make_client()
    await station.login("station")
    notices = (await station.get("/notices")).text
    assert "首次公示为期 10 天" in notices and "再次公示为期 4 天" in notices
    assert "10 天" in notices and "7 天" not in notices  # the candidate's notice length
    inbox = (await station.get("/objections")).text
    assert "20 个工作日内答复" in inbox and "15 个工作日" not in inbox

    public = make_client()
    board = (await public.get("/board/370102001001")).text
    assert "20 个工作日内答复" in board and "15 个工作日" not in board
    poster = (await public.get("/board/370102001001/poster")).text
    assert "20 个工作日内答复" in poster

    filed = await file_objection(
        kind="complaint", body="服务站窗口办理拖延，请核实。", board_code="370102001001", now=world.now
    )
    status = (await public.get(f"/public/objections/status?code={filed.tracking_code}")).text
    assert f"将在 {filed.deadline} 前答复" in status and "15 个工作日" not in status


async def test_the_applicant_is_told_the_notice_length_in_force(world):
    await _change_rules(world.now)
    step = next_step(
        AppState.VERIFIED_ELIGIBLE,
        received_on=date(2026, 11, 2),
        state_changed_on=date(2026, 11, 16),
        calendar=await load_calendar(),
    )
    assert "10 天" in translate(step.next_step, days=step.days)
    before_the_change = next_step(
        AppState.VERIFIED_ELIGIBLE, received_on=date(2025, 11, 2), state_changed_on=date(2025, 11, 16)
    )
    assert "7 天" in translate(before_the_change.next_step, days=before_the_change.days)
