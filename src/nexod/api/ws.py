"""WebSocket access to run events, for browsers that prefer it to SSE.

``/threads/{thread_id}/runs/{run_id}/ws`` (and ``/runs/{run_id}/ws``) sends each event as a JSON
text message ``{"id", "event", "data"}``; the socket closes with code 1000 when the run ends.
Query ``last_event_id`` replays stored events after that id (``-1`` replays all).
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from nexod.api.runs import parse_last_event_id
from nexod.auth.base import Credentials
from nexod.auth.permissions import Permissions
from nexod.core import Core
from nexod.errors import Forbidden, InvalidInput, NexodError, NotFound, Unauthenticated

router = APIRouter(tags=["runs"])


async def _pump(ws: WebSocket, thread_id: str | None, run_id: str, last_event_id: str | None) -> None:
    core: Core = ws.app.state.core
    await ws.accept()
    try:  # the same credentials as HTTP: a header, or a cookie from a browser
        who = await core.auth.authenticate(Credentials.from_headers(ws.headers, ws.cookies))
        Permissions.require(who, "read", "follow a run's events")
    except (Unauthenticated, Forbidden) as exc:
        kind, code = ("Unauthenticated", 4401) if isinstance(exc, Unauthenticated) else ("Forbidden", 4403)
        await ws.send_text(orjson.dumps({"event": "error", "data": {"error": kind, "message": exc.message}}).decode())
        await ws.close(code=code)
        return
    org = who.org_id
    try:
        await core.runs.get(org, thread_id, run_id)
    except NotFound as exc:
        await ws.send_text(orjson.dumps({"event": "error", "data": {"error": "NotFound", "message": exc.message}}).decode())
        await ws.close(code=4404)
        return
    try:
        after = parse_last_event_id(last_event_id)
    except InvalidInput as exc:
        await ws.send_text(orjson.dumps({"event": "error", "data": {"error": "InvalidInput", "message": exc.message}}).decode())
        await ws.close(code=4422)
        return
    try:
        async for ev in core.runs.stream(org, thread_id, run_id, after=after, heartbeat=core.settings.heartbeat_interval):
            if ev is None:
                continue
            # data is already JSON: splice it in rather than decode and re-encode it.
            name = orjson.dumps(ev.event).decode()
            await ws.send_text(f'{{"id":{ev.seq},"event":{name},"data":{ev.data.decode()}}}')
        await ws.close(code=1000)
    except (WebSocketDisconnect, NexodError):
        return


@router.websocket("/threads/{thread_id}/runs/{run_id}/ws")
async def thread_run_ws(ws: WebSocket, thread_id: str, run_id: str, last_event_id: str | None = None) -> None:
    await _pump(ws, thread_id, run_id, last_event_id)


@router.websocket("/runs/{run_id}/ws")
async def run_ws(ws: WebSocket, run_id: str, last_event_id: str | None = None) -> None:
    await _pump(ws, None, run_id, last_event_id)
