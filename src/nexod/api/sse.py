"""Server-sent events and keep-alive JSON responses.

Written on Starlette's StreamingResponse rather than sse-starlette: the wire format is three
lines per event, and owning it keeps ids, heartbeats and the SDK's framing exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi.responses import StreamingResponse

from nexod.events.base import Event
from nexod.serde import dumps

HEARTBEAT = b": heartbeat\n\n"


def frame(event: str, data: bytes, event_id: int | None = None) -> bytes:
    """One SSE frame."""
    out = b"event: " + event.encode() + b"\ndata: " + data + b"\n"
    if event_id is not None:
        out += b"id: " + str(event_id).encode() + b"\n"
    return out + b"\n"


def sse_response(
    events: AsyncIterator[Event | None],
    *,
    headers: dict[str, str] | None = None,
    on_disconnect: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> StreamingResponse:
    """Stream run events as SSE; None items become heartbeat comments."""

    async def body() -> AsyncIterator[bytes]:
        finished = False
        try:
            async for ev in events:
                if ev is None:
                    yield HEARTBEAT
                else:
                    yield frame(ev.event, ev.data, ev.seq)
            finished = True
        finally:
            if not finished and on_disconnect is not None:
                # The client went away mid-run: fire and forget, we are being cancelled.
                asyncio.get_running_loop().create_task(on_disconnect())

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no", **(headers or {})},
    )


def keepalive_json(
    ticks: AsyncIterator[Any], *, headers: dict[str, str] | None = None,
    on_disconnect: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> StreamingResponse:
    """A JSON body preceded by newlines while waiting (ticks of None), as LangGraph Server does."""

    async def body() -> AsyncIterator[bytes]:
        finished = False
        try:
            async for item in ticks:
                if item is None:
                    yield b"\n"
                else:
                    yield dumps(item)
                    finished = True
                    return
        finally:
            if not finished and on_disconnect is not None:
                asyncio.get_running_loop().create_task(on_disconnect())

    return StreamingResponse(body(), media_type="application/json", headers=headers)
