"""Cache contract (``nexod.cache.Caches``): get / set / delete / incr, single flight, and no
failure when the backend is gone. Runs in memory and on a private Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from nexod.cache.base import Caches
from tests.servers import RedisServer, free_port


@pytest.fixture(params=["memory", "redis"])
async def caches(request: pytest.FixtureRequest) -> AsyncIterator[Caches]:
    url = None if request.param == "memory" else request.getfixturevalue("redis_server").url
    c = Caches(url)
    await c.setup()
    yield c
    await c.close()


async def test_get_set_delete_incr(caches: Caches) -> None:
    assert await caches.get("k") is None
    assert await caches.set("k", {"a": [1, 2]}, 5)
    assert await caches.get("k") == {"a": [1, 2]}
    assert await caches.delete("k")
    assert await caches.get("k") is None
    assert await caches.incr("n") == 1 and await caches.incr("n") == 2
    assert caches.hits == 1 and caches.misses == 2
    assert await caches.set("short", 1, 0.2)
    await asyncio.sleep(0.4)
    assert await caches.get("short") is None


async def test_single_flight_computes_once(caches: Caches) -> None:
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.1)
        return 42

    results = await asyncio.gather(*(caches.single_flight("hot", compute) for _ in range(20)))
    assert results == [42] * 20 and calls == 1


async def test_single_flight_errors_reach_every_caller(caches: Caches) -> None:
    async def boom() -> int:
        await asyncio.sleep(0.05)
        raise ValueError("nope")

    outcomes = await asyncio.gather(*(caches.single_flight("bad", boom) for _ in range(5)),
                                    return_exceptions=True)
    assert all(isinstance(o, ValueError) for o in outcomes)


async def test_single_flight_across_processes(redis_server: RedisServer) -> None:
    """Two caches on one Redis (as two API processes): the second waits for the first's lock."""
    a, b = Caches(redis_server.url), Caches(redis_server.url)
    await a.setup()
    await b.setup()
    calls = 0

    async def compute(c: Caches) -> int:
        nonlocal calls
        hit = await c.peek("shared")
        if hit is not None:
            return int(hit)
        calls += 1
        await asyncio.sleep(0.2)
        await c.set("shared", 7, 5)
        return 7

    try:
        got = await asyncio.gather(a.single_flight("shared", lambda: compute(a)),
                                   b.single_flight("shared", lambda: compute(b)))
        assert got == [7, 7] and calls == 1
    finally:
        await a.close()
        await b.close()


async def test_unreachable_redis_answers_at_once() -> None:
    c = Caches(f"redis://127.0.0.1:{free_port()}/0")
    await c.setup()
    started = time.monotonic()
    assert await c.get("k") is None
    assert await c.set("k", 1, 5) is False
    assert await c.delete("k") is False
    assert await c.incr("k") is None
    assert await c.single_flight("k", lambda: asyncio.sleep(0, result=3)) == 3
    assert not c.available
    assert time.monotonic() - started < 3
    await c.close()
