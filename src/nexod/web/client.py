"""The dashboard reads through the JSON API, in process, with the visitor's own credentials.

Each page asks the same routes an API client would ask (``/threads/search``, ``/alerts``…)
through an ASGI transport, forwarding the request's cookie and auth headers. So every read is
authenticated, tenant-scoped and permission-checked by exactly the code that guards the API,
and a refusal comes back as the API's own status and ``detail`` for the page to show.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from fastapi import Request

FORWARDED = ("authorization", "x-api-key", "cookie")


@dataclass(frozen=True)
class Reply:
    """One API answer: its status and decoded JSON body (None when empty or not JSON)."""

    status: int
    data: Any

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        """The API's explanation of a refusal (its ``detail``), or the bare status."""
        if isinstance(self.data, dict):
            for key in ("detail", "message"):
                if isinstance(self.data.get(key), str):
                    return str(self.data[key])
        return f"HTTP {self.status}"

    @property
    def problem(self) -> str | None:
        """None when it worked; else a sentence for the page, naming a missing permission."""
        if self.ok:
            return None
        if self.status == 403:
            return f"Not allowed: {self.detail}"
        if self.status == 404:
            return f"Not found: {self.detail}"
        return f"{self.detail} (HTTP {self.status})"


class Api:
    """A per-request client of this very app; use as ``async with Api(request) as api``."""

    def __init__(self, request: Request) -> None:
        headers = {k: v for k in FORWARDED if (v := request.headers.get(k))}
        headers["accept"] = "application/json"
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=request.app, raise_app_exceptions=False),
            base_url="http://nexod.internal", headers=headers, timeout=30,
        )

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Reply:
        """GET ``path`` (query ``params`` with None values left out)."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return _reply(await self._client.get(path, params=clean))

    async def post(self, path: str, body: Any = None) -> Reply:
        """POST ``body`` as JSON to ``path``."""
        return _reply(await self._client.post(path, content=orjson.dumps(body or {}),
                                              headers={"content-type": "application/json"}))

    async def many(self, *calls: Any) -> list[Reply]:
        """Await several calls at once (pages read a few resources each)."""
        return list(await asyncio.gather(*calls))


def _reply(resp: httpx.Response) -> Reply:
    data: Any = None
    if resp.content.strip():
        try:
            data = orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            data = {"detail": resp.text[:500]}
    return Reply(resp.status_code, data)
