"""One cache over cashews: in memory embedded, Redis in production; never a point of failure.

Every operation answers even when Redis is away: a read is a miss, a write is skipped and
reported as not done. After a failure the backend is left alone for ``RETRY_AFTER`` seconds,
so an outage costs a request no more than one short connect timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from cashews import Cache
from cashews.exceptions import CacheBackendInteractionError

from nexod.observability.base import Metrics, NullMetrics

log = logging.getLogger("nexod.cache")

T = TypeVar("T")
RETRY_AFTER = 1.0
"""Seconds the cache is bypassed after Redis failed to answer."""
LOCK_TTL = 5.0
"""Seconds a cross-process recompute lock lasts (if its holder dies)."""
_ERRORS = (CacheBackendInteractionError, OSError, asyncio.TimeoutError, ConnectionError)


class Caches:
    """Get, set, delete, count and single-flight over one backend, with hit/miss counters
    (and ``nexod_cache_requests_total{layer, result}`` for lookups that name their layer)."""

    def __init__(self, redis_url: str | None, metrics: Metrics | None = None) -> None:
        self.backend = "redis" if redis_url else "memory"
        self._metrics = metrics or NullMetrics()
        self._cache = Cache()
        if redis_url:
            self._cache.setup(
                redis_url, suppress=False, socket_connect_timeout=0.5, socket_timeout=0.5,
                max_connections=64, wait_for_connection_timeout=1, health_check_interval=0,
            )
        else:
            self._cache.setup("mem://?size=100000")
        self._down_until = 0.0
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self.hits = 0
        self.misses = 0

    async def setup(self) -> None:
        """Connect (idempotent); Redis being away now is not an error."""
        try:
            await self._cache.init()
        except _ERRORS:
            self._failed("init")

    async def close(self) -> None:
        """Release connections."""
        try:
            await self._cache.close()
        except _ERRORS:
            pass

    @property
    def shared(self) -> bool:
        """True when every process sees the same cache (Redis). Credentials are cached only
        then: `nexod keys revoke` runs in another process and must take effect at once."""
        return self.backend == "redis"

    @property
    def available(self) -> bool:
        """False for a moment after the backend failed to answer."""
        return time.monotonic() >= self._down_until

    def _failed(self, op: str) -> None:
        if self.available:
            log.warning("cache_unavailable", extra={"op": op, "backend": self.backend})
        self._down_until = time.monotonic() + RETRY_AFTER

    async def _call(self, op: str, call: Callable[[], Awaitable[T]], default: T) -> T:
        if not self.available:
            return default
        try:
            return await call()
        except _ERRORS:
            self._failed(op)
            return default

    async def get(self, key: str, *, layer: str | None = None) -> Any:
        """The value, or None on a miss (or when the backend is away). ``layer`` (sessions,
        api_keys, api_responses…) labels the lookup in the metrics."""
        value = await self._call("get", lambda: self._cache.get(key), None)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        if layer is not None:
            self._metrics.cache_lookup(layer=layer, hit=value is not None)
        return value

    async def peek(self, key: str) -> Any:
        """Like :meth:`get`, without counting a hit or a miss (bookkeeping reads)."""
        return await self._call("get", lambda: self._cache.get(key), None)

    async def set(self, key: str, value: Any, ttl: float) -> bool:
        """Store ``value`` for ``ttl`` seconds; False if it could not be stored."""
        return await self._call("set", lambda: self._cache.set(key, value, expire=ttl), False)

    async def delete(self, key: str) -> bool:
        """Drop a key; False if the backend could not be told (the caller decides what then)."""
        async def _delete() -> bool:
            await self._cache.delete(key)
            return True

        return await self._call("delete", _delete, False)

    async def incr(self, key: str) -> int | None:
        """Add one to a counter; None when the backend is away."""
        async def _incr() -> int | None:
            return int(await self._cache.incr(key))

        return await self._call("incr", _incr, None)

    async def single_flight(self, key: str, compute: Callable[[], Awaitable[T]]) -> T:
        """``compute()`` once for concurrent callers of ``key``: one per process, and one
        across processes while the backend holds the lock (others wait for its result)."""
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            async with self._lock(key):
                value = await compute()
            fut.set_result(value)
            return value
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._inflight[key]

    @asynccontextmanager
    async def _lock(self, key: str) -> AsyncIterator[None]:
        """A cross-process lock on ``key``, given up after LOCK_TTL (the work is then done twice
        rather than never)."""
        token = uuid.uuid4().hex
        lock_key = f"lock:{key}"
        deadline = time.monotonic() + LOCK_TTL
        held = False
        while self.available and time.monotonic() < deadline:
            held = await self._call("lock", lambda: self._cache.set_lock(lock_key, token, LOCK_TTL), False)
            if held:
                break
            await asyncio.sleep(0.02)
        try:
            yield
        finally:
            if held:
                await self._call("unlock", lambda: self._cache.unlock(lock_key, token), False)


@asynccontextmanager
async def open_caches(redis_url: str | None, metrics: Metrics | None = None) -> AsyncIterator[Caches]:
    """The cache for these settings, closed on exit."""
    caches = Caches(redis_url, metrics)
    await caches.setup()
    try:
        yield caches
    finally:
        await caches.close()
