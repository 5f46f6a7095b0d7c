"""ASGI middleware: a request id for every request, and its time by route template and status.

A pure ASGI middleware (not Starlette's ``BaseHTTPMiddleware``), so streaming responses pass
through untouched. The route *template* (``/threads/{thread_id}``) is the label, never the raw
path; requests that match no route count as ``unmatched``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nexod.observability.base import Metrics
from nexod.observability.context import REQUEST_ID

log = logging.getLogger("nexod.http")

STREAMING_SUFFIXES = ("/stream", "/wait", "/join", "/ws")
"""Routes whose responses last as long as a run: measured apart from the API latency."""
UNTIMED = frozenset({"/metrics"})
SLOW_SECONDS = 0.5  # the seed's "API latency > 500 ms": worth a log line (and a py-spy look)
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            rid = str(value.decode("latin-1"))
            if _VALID_ID.match(rid):
                return rid
            break
    return uuid.uuid4().hex


class ObservabilityMiddleware:
    """Sets ``X-Request-ID`` (the client's, if well-formed) and records each request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, tag_sentry: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.tag_sentry = tag_sentry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request or WebSocket through the app, timing it."""
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        token = REQUEST_ID.set(rid)
        if self.tag_sentry:
            import sentry_sdk

            sentry_sdk.get_isolation_scope().set_tag("request_id", rid)
        status = 500
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), header]
            elif message["type"] == "websocket.accept":
                status = 101
            elif message["type"] == "websocket.close" and status == 500:
                status = 403  # closed before accepting
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            status = 500 if kind == "http" else status
            raise
        finally:
            self._record(scope, status, time.perf_counter() - start, rid)
            REQUEST_ID.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float, rid: str) -> None:
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        if template in UNTIMED:
            return
        streaming = scope["type"] == "websocket" or template.endswith(STREAMING_SUFFIXES)
        method = scope.get("method", "WS")
        self.metrics.http_request(method=method, route=template, status=status, seconds=seconds,
                                  streaming=streaming)
        if status >= 500 or (seconds > SLOW_SECONDS and not streaming):
            log.warning("request_failed" if status >= 500 else "slow_request", extra={
                "request_id": rid, "method": method, "route": template, "status": status,
                "seconds": round(seconds, 4)})
