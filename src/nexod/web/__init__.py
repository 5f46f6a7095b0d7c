"""The web dashboard: server-rendered pages under ``/ui`` over the JSON API.

:func:`install` mounts it on the app: the pages, their static files (hand-written JS and CSS,
no build step, nothing from a CDN) and ``GET /``, which sends browsers to the dashboard and
answers API clients with a small JSON index.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from nexod import __version__
from nexod.web.pages import router
from nexod.web.render import STATIC
from nexod.web.security import BrowserGuard

__all__ = ["BrowserGuard", "install"]


def install(app: FastAPI) -> None:
    """Add the dashboard's routes and static files to ``app``."""
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")

    @app.get("/", include_in_schema=False)
    async def index(request: Request) -> Response:
        """Browsers go to the dashboard; API clients get where things are."""
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/ui/", status_code=307)
        return JSONResponse({"name": "nexod", "version": __version__, "dashboard": "/ui/",
                             "docs": "/docs", "openapi": "/openapi.json", "health": "/ok"})
