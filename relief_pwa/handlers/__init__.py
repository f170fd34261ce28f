"""Thin Litestar route handlers, one module per area; each module exports ROUTES."""

from __future__ import annotations

from typing import Any

from relief_pwa.handlers import (
    admin,
    analytics,
    assets,
    auth,
    botweb,
    cards,
    caseload,
    cases,
    households,
    intake,
    lifecycle,
    org_network,
    plans,
    public,
    rules,
    scoring,
    supervision,
    system,
    transparency,
    visits,
)

ROUTES: list[Any] = [
    system.healthz,
    *assets.ROUTES,
    system.set_language,
    system.home,
    *auth.ROUTES,
    cases.case_list,
    cases.household_file,
    cases.household_identifiers,
    intake.intake_form,
    intake.intake_submit,
    intake.check_id,
    intake.receipt,
    *org_network.ROUTES,
    *admin.ROUTES,
    *rules.ROUTES,
    *households.ROUTES,
    *lifecycle.ROUTES,
    *scoring.ROUTES,
    *visits.ROUTES,
    *cards.ROUTES,
    *public.ROUTES,
    *transparency.ROUTES,
    *supervision.ROUTES,
    *plans.ROUTES,
    *analytics.ROUTES,
    *botweb.ROUTES,
    *caseload.ROUTES,
]
