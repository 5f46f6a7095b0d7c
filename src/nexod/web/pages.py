"""The dashboard's pages under ``/ui``: server-rendered shells over the JSON API.

A page first authenticates its visitor exactly as the API does (a visitor without a valid
credential is sent to the sign-in page), then reads what it shows through :class:`Api`, so
tenant scoping and permission checks are the API's own. Actions (start, approve, upload…)
are made by the page's script against the same API with the session cookie.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from nexod.api.deps import READ, CoreDep, OrgDep, json_response
from nexod.auth.base import Credentials, Principal
from nexod.core import Core
from nexod.errors import Unauthenticated
from nexod.runs.service import run_dict
from nexod.web.client import Api, Reply
from nexod.web.render import STATUSES, render

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE_SIZE = 25
THREAD_STATUSES = ("idle", "busy", "interrupted", "error")


async def visitor(request: Request) -> Principal | str:
    """The signed-in caller, or why there is none (an :class:`Unauthenticated` reason)."""
    core: Core = request.app.state.core
    try:
        return await core.auth.authenticate(Credentials.from_headers(request.headers, request.cookies))
    except Unauthenticated as exc:
        return exc.reason


def to_signin(request: Request) -> RedirectResponse:
    """303 to the sign-in page, remembering where the visitor was going."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/signin?next={quote(target, safe='')}", status_code=303)


def safe_next(value: str | None) -> str:
    """Only a dashboard path may be a post-sign-in destination (no open redirect)."""
    if value and value.startswith("/ui") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/"


def _page(request: Request, who: Principal, template: str, nav: str, **context: Any) -> Response:
    core: Core = request.app.state.core
    return render(template, who=who, auth_mode=core.settings.auth, nav=nav, **context)


def _names(assistants: Reply) -> dict[str, str]:
    rows = assistants.data if assistants.ok and isinstance(assistants.data, list) else []
    return {a["assistant_id"]: a.get("name") or a.get("graph_id") or a["assistant_id"] for a in rows}


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


@router.get("")
async def root() -> RedirectResponse:
    """``/ui`` → ``/ui/``."""
    return RedirectResponse("/ui/", status_code=307)


@router.get("/signin")
async def signin(request: Request, next: str | None = None) -> Response:
    """The sign-in form (paste an API key or a Clerk token); signed-in visitors move on."""
    core: Core = request.app.state.core
    who = await visitor(request)
    if isinstance(who, Principal):
        return RedirectResponse(safe_next(next), status_code=303)
    reason = who if request.cookies else None
    return render("signin.html", who=None, auth_mode=core.settings.auth, nav="signin",
                  next=safe_next(next), reason=reason)


@router.get("/data/runs", dependencies=[READ])
async def runs_data(core: CoreDep, org: OrgDep, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> Response:
    """The organisation's runs across threads: counts by status, runs in flight, recent runs."""
    counts = await core.runs.count_by_status(org)
    in_flight = await core.runs.recent(org, limit=limit, statuses=("pending", "running"))
    recent = await core.runs.recent(org, limit=limit)
    return json_response({"counts": {s: counts.get(s, 0) for s in (*STATUSES, *counts)},
                          "in_flight": [run_dict(r) for r in in_flight],
                          "recent": [run_dict(r) for r in recent]})


@router.get("/")
async def overview(request: Request) -> Response:
    """Assistants, crews, runs in flight, recent runs and counts by status."""
    who = await visitor(request)
    if not isinstance(who, Principal):
        return to_signin(request)
    async with Api(request) as api:
        assistants, crews, runs, waiting = await api.many(
            api.post("/assistants/search", {"limit": 100}), api.get("/crews"),
            api.get("/ui/data/runs"), api.post("/threads/count", {"status": "interrupted"}))
    return _page(request, who, "overview.html", "overview", assistants=assistants, crews=crews,
                 runs=runs, waiting=waiting, names=_names(assistants))


@router.get("/threads")
async def threads(request: Request, status: str | None = None,
                  offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Response:
    """Threads, most recently updated first, optionally of one status."""
    who = await visitor(request)
    if not isinstance(who, Principal):
        return to_signin(request)
    wanted = status if status in THREAD_STATUSES else None
    async with Api(request) as api:
        found = await api.post("/threads/search", {
            "limit": PAGE_SIZE, "offset": offset, "status": wanted, "sort_by": "updated_at",
            "sort_order": "desc", "select": ["thread_id", "status", "updated_at", "created_at",
                                             "metadata", "interrupts"]})
    return _page(request, who, "threads.html", "threads", found=found, status=wanted,
                 offset=offset, page_size=PAGE_SIZE, thread_statuses=THREAD_STATUSES)


@router.get("/threads/{thread_id}")
async def thread(request: Request, thread_id: str) -> Response:
    """One thread: its state, interrupts, runs and checkpoint history."""
    who = await visitor(request)
    if not isinstance(who, Principal):
        return to_signin(request)
    tid = _uuid_or_none(thread_id)
    if tid is None:
        return _page(request, who, "error.html", "threads", status_code=404,
                     problem=f"Not found: {thread_id!r} is not a thread id (a UUID).")
    async with Api(request) as api:
        row, state, runs, history, assistants = await api.many(
            api.get(f"/threads/{tid}"), api.get(f"/threads/{tid}/state"),
            api.get(f"/threads/{tid}/runs", {"limit": 50}),
            api.get(f"/threads/{tid}/history", {"limit": 20}),
            api.post("/assistants/search", {"limit": 100}))
    if not row.ok:
        return _page(request, who, "error.html", "threads", status_code=row.status, problem=row.problem)
    return _page(request, who, "thread.html", "threads", thread=row.data, state=state, runs=runs,
                 history=history, names=_names(assistants))


@router.get("/threads/{thread_id}/runs/{run_id}")
async def run(request: Request, thread_id: str, run_id: str) -> Response:
    """One run, with its live event stream (joined by the page's script)."""
    who = await visitor(request)
    if not isinstance(who, Principal):
        return to_signin(request)
    tid, rid = _uuid_or_none(thread_id), _uuid_or_none(run_id)
    if tid is None or rid is None:
        return _page(request, who, "error.html", "threads", status_code=404,
                     problem="Not found: thread and run ids are UUIDs.")
    async with Api(request) as api:
        row, assistants = await api.many(api.get(f"/threads/{tid}/runs/{rid}"),
                                          api.post("/assistants/search", {"limit": 100}))
    if not row.ok:
        return _page(request, who, "error.html", "threads", status_code=row.status, problem=row.problem)
    return _page(request, who, "run.html", "threads", run=row.data, names=_names(assistants))


@router.get("/inbox")
async def inbox(request: Request) -> Response:
    """Threads waiting for a person: each interrupt's payload, with answer buttons."""
    who = await visitor(request)
    if not isinstance(who, Principal):
        return to_signin(request)
    async with Api(request) as api:
        found, assistants = await api.many(
            api.post("/threads/search", {"status": "interrupted", "limit": 100, "sort_by": "updated_at",
                                         "sort_order": "desc"}),
            api.post("/assistants/search", {"limit": 100}))
    items = []
    for t in found.data if found.ok and isinstance(found.data, list) else []:
        interrupts = [i for lst in (t.get("interrupts") or {}).values() for i in lst]
        meta = t.get("metadata") or {}
        items.append({"thread": t, "interrupts": interrupts,
                      "assistant_id": meta.get("assistant_id") or meta.get("graph_id") or ""})
    return _page(request, who, "inbox.html", "inbox", found=found, items=items, names=_names(assistants))


@router.get("/start")
async def start(request: Request, assistant: str | None = None) -> Response:
    """Pick an assistant (or crew), give its input, start a run."""
    who = await visitor(request)
    if not isinstance(who, Principal):
        return to_signin(request)
    async with Api(request) as api:
        assistants, crews = await api.many(api.post("/assistants/search", {"limit": 100}),
                                           api.get("/crews"))
    crew_ids = {c["crew_id"] for c in crews.data} if crews.ok and isinstance(crews.data, list) else set()
    return _page(request, who, "start.html", "start", assistants=assistants, crew_ids=crew_ids,
                 selected=assistant or "")


@router.get("/knowledge")
async def knowledge(request: Request, namespace: str | None = None) -> Response:
    """Documents with their ingest status; upload, delete and search (by the page's script)."""
    who = await visitor(request)
    if not isinstance(who, Principal):
        return to_signin(request)
    async with Api(request) as api:
        docs = await api.get("/knowledge/documents", {"namespace": namespace or None, "limit": 200})
    return _page(request, who, "knowledge.html", "knowledge", docs=docs, namespace=namespace or "")


@router.get("/ops")
async def ops(request: Request) -> Response:
    """Alerts, SLOs and the budget; what the caller may not see says which permission it needs."""
    who = await visitor(request)
    if not isinstance(who, Principal):
        return to_signin(request)
    async with Api(request) as api:
        alerts, slo, budget = await api.many(api.get("/alerts", {"limit": 100}), api.get("/slo"),
                                             api.get("/budget"))
    return _page(request, who, "ops.html", "ops", alerts=alerts, slo=slo, budget=budget)
