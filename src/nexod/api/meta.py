"""Health and server information."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from nexod import __version__
from nexod.api.deps import CoreDep

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
