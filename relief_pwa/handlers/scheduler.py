"""Work that happens on time: the runs of the daily tasks, and the overdue items they raised."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency

from relief_pwa.handlers.common import C, needs, render
from relief_pwa.services import scheduler
from relief_pwa.services.actors import Actor


@get("/system/scheduler", name="scheduler_runs", opt=needs(C.SCHEDULER_READ))
async def scheduler_runs(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[str]:
    runs = await scheduler.list_runs(actor)
    return render(request, "scheduler/runs.html", {"runs": runs})


@get("/deadlines", name="deadline_alerts", opt=needs(C.DEADLINE_ALERTS_READ))
async def deadline_alerts(request: Request[Any, Any, Any], *, actor: NamedDependency[Actor]) -> Response[str]:
    alerts = await scheduler.list_open_alerts(actor)
    return render(request, "scheduler/deadlines.html", {"alerts": alerts})


ROUTES = [scheduler_runs, deadline_alerts]
