"""The few Nexod API calls the benchmark makes, over one keep-alive HTTP client.

Raw ``httpx`` rather than ``langgraph_sdk``: the same requests the SDK sends, with less client
work in the timed path (the client shares the machine's cores with the server).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx
import orjson

from bench.config import BenchError

JSON_HEADERS = {"content-type": "application/json"}


class NexodClient:
    """An async client for one Nexod server; use it as an ``async with`` block."""

    def __init__(self, base_url: str, *, connections: int = 256, timeout: float = 120.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            trust_env=False,  # loopback only: never route through a proxy from the environment
        )

    async def __aenter__(self) -> NexodClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request and return its decoded JSON body; BenchError on any non-2xx status."""
        content = None if body is None else orjson.dumps(body)
        resp = await self._http.request(
            method, path, content=content, headers=JSON_HEADERS if content is not None else None
        )
        if resp.status_code >= 300:
            raise BenchError(f"{method} {path} answered {resp.status_code}: {resp.text[:500]}")
        return orjson.loads(resp.content) if resp.content.strip() else None

    async def create_thread(self, metadata: dict[str, Any] | None = None) -> str:
        """``POST /threads``: a new idle thread's id."""
        thread = await self.request("POST", "/threads", {"metadata": metadata or {}})
        return str(thread["thread_id"])

    async def wait_run(self, thread_id: str, assistant_id: str, graph_input: Any) -> Any:
        """``POST /threads/{id}/runs/wait``: run on the thread and return the final values."""
        body = {"assistant_id": assistant_id, "input": graph_input}
        return await self.request("POST", f"/threads/{thread_id}/runs/wait", body)

    async def create_run(self, thread_id: str, assistant_id: str, graph_input: Any) -> str:
        """``POST /threads/{id}/runs``: queue a background run and return its id."""
        body = {"assistant_id": assistant_id, "input": graph_input}
        run = await self.request("POST", f"/threads/{thread_id}/runs", body)
        return str(run["run_id"])

    async def join_run(self, thread_id: str, run_id: str) -> Any:
        """``GET /threads/{id}/runs/{run_id}/join``: wait for a run and return its output."""
        return await self.request("GET", f"/threads/{thread_id}/runs/{run_id}/join")


def check_count(output: Any, steps: int) -> None:
    """A trivial graph of ``steps`` nodes must end with ``{"count": steps}``."""
    if not isinstance(output, dict) or output.get("count") != steps:
        raise BenchError(f"a {steps}-node run returned {output!r}, expected {{'count': {steps}}}")
