"""Prometheus metrics, the SLO report and the alerts list."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from nexod.api.deps import ADMINISTER, READ, CoreDep, OrgDep, json_response
from nexod.observability.slo import report
from nexod.runs.health import queue_depth

router = APIRouter(tags=["observability"])
log = logging.getLogger("nexod.api")


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response,
    responses={200: {"content": {"text/plain": {}}},
               404: {"description": "Metrics are off (NEXOD_METRICS=false)"}},
)
async def metrics(core: CoreDep) -> Response:
    """Every series in the Prometheus text format (all processes of the host when
    ``NEXOD_METRICS_DIR`` is shared). The queue gauges are read from the database now.

    Not authenticated, as Prometheus scrapes it: it holds no ids and no tenant data (labels are
    route templates, graph and node names), but expose it only to your Prometheus."""
    prom = core.obs.prometheus
    if prom is None:
        return JSONResponse({"detail": "metrics are off (NEXOD_METRICS=false)"}, status_code=404)
    try:
        depth = await queue_depth(core.engine)
        prom.queue_depth(pending=depth["pending"], scheduled=depth["scheduled"],
                         running=depth["running"], oldest_wait=depth["oldest_pending_seconds"])
    except Exception as exc:  # the database is down: still expose everything else
        log.warning("queue_depth_failed", extra={"error": type(exc).__name__})
    body, content_type = prom.render()
    return Response(body, media_type=content_type)


@router.get(
    "/slo", summary="The seed's latency targets: measured p50 / p95 over a recent window",
    responses={404: {"description": "Metrics are off (NEXOD_METRICS=false)"}},
    dependencies=[READ],
)
async def slo(
    core: CoreDep,
    window: Annotated[float | None, Query(gt=0, le=86400, description="Seconds (default NEXOD_SLO_WINDOW)")] = None,
) -> Response:
    """For API p95 < 300 ms, agent response < 5 s, database < 50 ms and vector search < 100 ms:
    the observations, p50 and p95 over the window, and whether the target holds (``null`` with
    no observations). The window reaches back as far as this process has history."""
    seconds = window or core.settings.slo_window
    w = core.obs.window(seconds)
    if w is None:
        return JSONResponse({"detail": "metrics are off (NEXOD_METRICS=false)"}, status_code=404)
    return json_response(report(w, seconds))


@router.get("/alerts", summary="Alerts, newest first", dependencies=[ADMINISTER])
async def alerts(
    core: CoreDep,
    org: OrgDep,
    status: Literal["firing", "resolved"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Alerts raised by the alert engine (``status`` filters firing or resolved ones): the
    caller's organisation's (its failed runs) and the platform's own (errors, latency). Needs
    the ``administer`` permission."""
    items, total = await core.obs.alerts.store.list(org_id=org, status=status, limit=limit,
                                                    offset=offset)
    body: list[dict[str, Any]] = items
    return json_response(body, headers={"X-Pagination-Total": str(total)})
