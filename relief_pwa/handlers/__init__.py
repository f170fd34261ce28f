"""Thin Litestar route handlers, one module per area; each module exports ROUTES."""

from __future__ import annotations

from typing import Any

from relief_pwa.handlers import (
    analytics,
    auth,
    botweb,
    cases,
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
    *scoring.ROUTES,
    *visits.ROUTES,
    *public.ROUTES,
    *supervision.ROUTES,
    *plans.ROUTES,
    *analytics.ROUTES,
    *botweb.ROUTES,
]
