"""Every lifecycle transition over HTTP, as every role: the allowed roles move the
application, the others get 403 and change nothing. Generated from
``core.workflow.TRANSITIONS`` and the policy, so a new transition is covered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from relief_pwa.core.enums import AppState, ExitReason, Role
from relief_pwa.core.permissions import Capability, can, transition_capability
from relief_pwa.core.workflow import DEDICATED_PAGES, TRANSITIONS
from relief_pwa.handlers.lifecycle import TRANSITION_ROUTES
from relief_pwa.tables import Application, AuditEvent
from tests.handlers.test_permission_matrix import ROLE_USERS
from tests.helpers import found
from tests.services.lifecycle_support import application_in, distance

ON_FILE = sorted(action for action, t in TRANSITIONS.items() if t.on_file)


def test_every_transition_is_on_the_file_or_has_a_page_of_its_own():
    assert set(ON_FILE) | set(DEDICATED_PAGES) == set(TRANSITIONS)
    assert not set(ON_FILE) & set(DEDICATED_PAGES)
    assert set(TRANSITION_ROUTES) == set(ON_FILE)


def test_every_new_state_is_reachable_and_decided_by_someone():
    for state in AppState:
        distance(state)  # raises when a state cannot be reached
    for action in TRANSITIONS:
        deciders = [role for role in Role if can(role, transition_capability(action))]
        assert Role.SUPERVISOR not in deciders, action


def _source(action: str) -> AppState:
    return min(TRANSITIONS[action].sources, key=lambda s: (distance(s), s.value))


async def _state(application_id: int) -> tuple[str, int]:
    row = found(
        await Application.select(Application.state, Application.version)
        .where(Application.id == application_id)
        .first()
    )
    return row["state"], row["version"]


@pytest.mark.parametrize("action", ON_FILE)
async def test_transition_over_http_as_each_role(app, make_client, world, action):
    transition = TRANSITIONS[action]
    source = _source(action)
    for role in Role:
        allowed = can(role, transition_capability(action))
        intake = await application_in(world, source)
        app_id, household_id = intake.application_id, intake.household_id
        client = make_client()
        await client.login(ROLE_USERS[role])

        page = await client.get(f"/households/{household_id}/lifecycle")
        url = f"/applications/{app_id}/lifecycle/{action}"
        if not can(role, Capability.CASES_READ):  # e.g. a relief department: no case file at all
            assert page.status_code == 403 and not allowed, (role, page.status_code)
            state_before, version = await _state(app_id)
            refused = await client.post_form(url, {"reason": "依据核查结果办理", "version": str(version)})
            assert refused.status_code == 403 and (await _state(app_id))[0] == state_before, role
            continue
        assert page.status_code == 200, (role, page.status_code)
        # The file offers the form exactly to the roles that may use it.
        assert (f'action="{url}"' in page.text) == allowed, (role, action)

        state_before, version = await _state(app_id)
        form = {
            "reason": f"{role}: 依据核查结果办理",
            "version": str(version),
            "exit_reason": ExitReason.MOVED_AWAY.value,
            "effective_on": (world.now + timedelta(days=1)).date().isoformat(),
        }
        response = await client.post_form(url, form)
        state_after, _ = await _state(app_id)
        if allowed:
            assert response.status_code == 303, (role, action, response.text[:300])
            assert state_after == transition.target, (role, action)
            event = found(
                await AuditEvent.select(AuditEvent.action, AuditEvent.after)
                .where((AuditEvent.entity_id == app_id) & (AuditEvent.action == f"application.{action}"))
                .first()
            )
            assert "依据核查结果办理" in event["after"]
        else:
            assert response.status_code == 403, (role, action, response.status_code)
            assert state_after == state_before, (role, action)


async def test_a_stop_needs_its_reason_and_a_written_reason(client, world):
    intake = await application_in(world, AppState.ACTIVE)
    await client.login("center")
    url = f"/applications/{intake.application_id}/lifecycle/exit"
    no_reason = await client.post_form(url, {"reason": "家庭收入已超过低保标准"})
    assert no_reason.status_code == 422
    assert 'id="exit_reason-error"' in no_reason.text
    too_short = await client.post_form(url, {"reason": "超", "exit_reason": "income_above_standard"})
    assert too_short.status_code == 422
    bad_day = await client.post_form(
        url, {"reason": "家庭收入已超过低保标准", "exit_reason": "moved_away", "effective_on": "2026-02-30"}
    )
    assert bad_day.status_code == 422
    assert (await _state(intake.application_id))[0] == AppState.ACTIVE
    stale = await client.post_form(
        url, {"reason": "家庭收入已超过低保标准", "exit_reason": "moved_away", "version": "1"}
    )
    assert stale.status_code == 409
    assert (await _state(intake.application_id))[0] == AppState.ACTIVE


async def test_the_household_file_links_to_the_lifecycle_section(client, world):
    intake = await application_in(world, AppState.ACTIVE)
    await client.login("center")
    page = await client.get(f"/households/{intake.household_id}")
    assert f'hx-get="/households/{intake.household_id}/lifecycle"' in page.text
    fragment = await client.get(
        f"/households/{intake.household_id}/lifecycle", headers={"hx-request": "true"}
    )
    assert fragment.text.lstrip().startswith('<div id="lifecycle">')
    assert "/lifecycle/suspend" in fragment.text and "/lifecycle/exit" in fragment.text
