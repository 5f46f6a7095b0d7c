"""L3: ``@cache_for(seconds=60)`` caches a read endpoint's response.

The key holds the tenant, the caller's scope (subject, role, permissions), the method, path,
query and body, and the tenant's cache *version*: a write in the organisation bumps the
version (:func:`invalidate`), so every cached read of that tenant is missed at once without
scanning keys. Concurrent misses of one key are computed once (single flight). When the cache
is away the endpoint simply runs: reads are served from the database.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request, Response

from nexod.cache.base import Caches

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
_KEEP_HEADERS = ("x-pagination-next", "content-location")
_MISSING = object()


def version_key(org_id: str) -> str:
    """The counter every cached response of a tenant is keyed on."""
    return f"nexod:l3v:{org_id}"


async def invalidate(caches: Caches, org_id: str) -> None:
    """Forget every cached response of the tenant (after a write)."""
    await caches.incr(version_key(org_id))


def _caches(request: Request) -> tuple[Caches, int] | None:
    core = getattr(request.app.state, "core", None)
    if core is None:
        return None
    return core.caches, int(core.settings.api_cache_ttl)


async def _key(request: Request, caches: Caches, version: int) -> str:
    who = request.state.principal
    body = await request.body()
    query = "&".join(sorted(f"{k}={v}" for k, v in request.query_params.multi_items()))
    raw = "\n".join((who.scope_key, request.method, request.url.path, query)).encode() + b"\n" + body
    return f"nexod:l3:{who.org_id}:{version}:{hashlib.sha256(raw).hexdigest()}"


def _freeze(value: Any) -> Any:
    if isinstance(value, Response):
        if value.status_code != 200:
            return _MISSING
        headers = {k: v for k, v in value.headers.items() if k.lower() in _KEEP_HEADERS}
        return {"response": bytes(value.body), "media_type": value.media_type, "headers": headers}
    return {"value": value}


def _thaw(stored: dict[str, Any], hit: bool) -> Any:
    if "response" in stored:
        headers = {**stored["headers"], "X-Cache": "hit" if hit else "miss"}
        return Response(stored["response"], media_type=stored["media_type"], headers=headers)
    return stored["value"]


def cache_for(seconds: int = 60) -> Callable[[F], F]:
    """Cache a read endpoint's 200 responses for ``seconds`` (capped by NEXOD_API_CACHE_TTL;
    0 there turns L3 off). The route must authenticate the caller (any ``Depends`` on the
    principal), which every Nexod route does."""

    def decorate(endpoint: F) -> F:
        sig = inspect.signature(endpoint)
        wants_request = "request" in sig.parameters
        params = list(sig.parameters.values())
        if not wants_request:
            params.append(inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request))

        @functools.wraps(endpoint)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            request: Request = kwargs["request"] if wants_request else kwargs.pop("request")
            found = _caches(request)
            if found is None or found[1] <= 0 or not hasattr(request.state, "principal"):
                return await endpoint(*args, **kwargs)
            caches, cap = found
            ttl = min(seconds, cap)
            version = await caches.peek(version_key(request.state.principal.org_id))
            if not caches.available:  # the cache is away: straight to the database
                return await endpoint(*args, **kwargs)
            key = await _key(request, caches, int(version or 0))
            stored = await caches.get(key, layer="api_responses")
            if isinstance(stored, dict):
                return _thaw(stored, hit=True)

            async def compute() -> Any:
                again = await caches.peek(key)  # filled while this caller waited for the lock
                if isinstance(again, dict):
                    return again
                frozen = _freeze(await endpoint(*args, **kwargs))
                if frozen is _MISSING:
                    return None
                await caches.set(key, frozen, ttl)
                return frozen

            result = await caches.single_flight(key, compute)
            if result is None:  # not cacheable (an error response): run it for this caller
                return await endpoint(*args, **kwargs)
            return _thaw(result, hit=False)

        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
