"""The FastAPI application: ``create_app(settings)`` with a lifespan that opens every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from nexod import __version__
from nexod.api import assistants, crews, meta, runs, store, threads, ws
from nexod.api.errors import install_error_handlers
from nexod.core import open_core
from nexod.graphs.registry import GraphRegistry
from nexod.settings import Settings


def create_app(
    settings: Settings, *, run_worker: bool = True, registry: GraphRegistry | None = None
) -> FastAPI:
    """Build the app; storage and workers open when it starts serving.

    ``registry`` lets the CLI load (and check) the graphs before the server starts.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_core(settings, run_worker=run_worker, registry=registry) as core:
            app.state.core = core
            yield

    app = FastAPI(
        title="Nexod",
        version=__version__,
        summary="Self-hosted agent server speaking the LangGraph Server (Agent Protocol) API.",
        lifespan=lifespan,
    )
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"],
        expose_headers=["Content-Location", "Location", "X-Pagination-Next"],
    )
    install_error_handlers(app)
    for r in (meta.router, assistants.router, threads.router, runs.router, store.router, ws.router,
              crews.router):
        app.include_router(r)
    return app
