"""Thin Litestar route handlers, one module per area; each module exports ROUTES."""

from __future__ import annotations

from typing import Any

from relief_pwa.handlers import (
    admin,
    analytics,
    auth,
    botweb,
    cards,
    caseload,
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
    system.set_language,
    system.home,
    auth.login_page,
    auth.login_submit,
    auth.logout,
    cases.case_list,
    cases.household_file,
    intake.intake_form,
    intake.intake_submit,
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
    *caseload.ROUTES,
]
