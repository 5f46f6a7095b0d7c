"""Health and server information."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from nexod import __version__
from nexod.api.deps import CoreDep
from nexod.runs.health import queue_depth
from nexod.serde import to_jsonable

router = APIRouter(tags=["meta"])


@router.get("/ok", summary="Liveness check")
async def ok(core: CoreDep, check_db: int = 0) -> dict[str, Any]:
    """``{"ok": true}``; with ``check_db=1`` the database is pinged as well."""
    if check_db:
        async with core.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    return {"ok": True}


@router.get("/info", summary="Server version and features")
async def info(core: CoreDep) -> dict[str, Any]:
    """Version and feature flags (LangGraph Studio reads this)."""
    import langgraph.version as lgv

    return {
        "version": "0.5.0",
        "nexod_version": __version__,
        "langgraph_py_version": getattr(lgv, "__version__", None),
        "flags": {"assistants": True, "crons": False, "langsmith": False, "store": True},
        "storage": "postgres" if core.settings.is_postgres else "sqlite",
        "graphs": core.registry.ids,
    }


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, 2.0)
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"


@router.get(
    "/ready", summary="Readiness: database and Redis reachable; workers and queue depth",
    responses={503: {"description": "A dependency is down, or this process is shutting down"}},
)
async def ready(core: CoreDep) -> JSONResponse:
    """200 when this process can serve: the database (and Redis, when configured) answer.

    Also reports the run queue (due, scheduled, running, oldest wait) and every worker's last
    heartbeat, in flight and capacity, so one call shows whether runs are being taken.
    """

    async def ping_db() -> None:
        async with core.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    checks = {"database": await _check(ping_db())}
    checks["redis"] = "not configured" if core.redis is None else await _check(core.bus.ping())
    body: dict[str, Any] = {"checks": checks}
    if checks["database"] == "ok":
        body["queue"] = await queue_depth(core.engine)
        body["workers"] = await core.beats.report(alive_within=core.settings.lease_seconds)
    if core.worker is not None:
        body["this_worker"] = {"worker_id": core.worker.worker_id, "in_flight": core.worker.in_flight,
                               "draining": core.worker.draining}
    ok = all(v in ("ok", "not configured") for v in checks.values())
    ok = ok and not (core.worker is not None and core.worker.draining)
    body["ready"] = ok
    return JSONResponse(to_jsonable(body), status_code=200 if ok else 503)
