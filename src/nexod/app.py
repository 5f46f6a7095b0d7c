"""The FastAPI application: ``create_app(settings)`` with a lifespan that opens every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from nexod import __version__
from nexod.api import (
    assistants,
    auth,
    budgets,
    crews,
    knowledge,
    meta,
    observability,
    runs,
    store,
    threads,
    webhooks,
    ws,
)
from nexod.api.errors import install_error_handlers
from nexod.core import open_core
from nexod.graphs.registry import GraphRegistry
from nexod.observability.http import ObservabilityMiddleware
from nexod.observability.hub import build_metrics
from nexod.observability.sentry import init_sentry
from nexod.settings import Settings
from nexod.web import BrowserGuard
from nexod.web import install as install_web


def create_app(
    settings: Settings, *, run_worker: bool = True, registry: GraphRegistry | None = None
) -> FastAPI:
    """Build the app; storage and workers open when it starts serving.

    ``registry`` lets the CLI load (and check) the graphs before the server starts.
    Sentry starts here (when configured), before the app exists, so its FastAPI integration
    sees it; the metrics recorder is shared by the middleware and the core.
    """
    sentry = init_sentry(settings)
    metrics = build_metrics(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_core(settings, run_worker=run_worker, registry=registry,
                             metrics=metrics) as core:
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
        expose_headers=["Content-Location", "Location", "X-Pagination-Next", "X-Request-ID"],
    )
    # Cookie-authenticated writes from another origin are refused (CSRF); dashboard headers.
    app.add_middleware(BrowserGuard, trusted_origins=settings.trusted_origins, local=settings.auth == "local")
    # Outermost: a request id on every response (CORS answers too); timing when metrics are on.
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, tag_sentry=sentry)
    install_error_handlers(app)
    for r in (meta.router, auth.router, assistants.router, threads.router, runs.router, store.router,
              ws.router, webhooks.router, observability.router, crews.router, budgets.router,
              knowledge.router):
        app.include_router(r)
    install_web(app)
    return app
