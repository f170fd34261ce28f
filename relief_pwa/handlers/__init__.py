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
    cases,
    households,
    intake,
    plans,
    public,
    scoring,
    supervision,
    system,
    visits,
)

ROUTES: list[Any] = [
    system.healthz,
    *assets.ROUTES,
    system.set_language,
    system.home,
    auth.login_page,
    auth.login_submit,
    auth.logout,
    cases.case_list,
    cases.household_file,
    intake.intake_form,
    intake.intake_submit,
    intake.check_id,
    intake.receipt,
    *admin.ROUTES,
    *households.ROUTES,
    *scoring.ROUTES,
    *visits.ROUTES,
    *cards.ROUTES,
    *public.ROUTES,
    *supervision.ROUTES,
    *plans.ROUTES,
    *analytics.ROUTES,
    *botweb.ROUTES,
]
