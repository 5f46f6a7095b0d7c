"""Event bus contract: live, ordered fan-out to every current subscriber of a channel.

Runs against every bus implementation: in-process, and Redis (a private redis-server, so the
outage tests can stop it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nexod.events.base import GAP, Event, EventBus
from nexod.events.memory import MemoryEventBus
from tests.servers import RedisServer


async def _redis_bus(url: str) -> EventBus:
    from nexod.events.redis import RedisEventBus, connect

    bus = RedisEventBus(connect(url), prefix="test:")
    await bus.start()
    assert bus.healthy
    return bus


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    b: EventBus
    if request.param == "redis":
        b = await _redis_bus(request.getfixturevalue("redis_server").url)
    else:
        b = MemoryEventBus()
    yield b
    await b.close()


def ev(seq: int, run: str = "r1") -> Event:
    return Event(run, "t1", seq, "values", b'{"n":%d}' % seq)


async def test_every_subscriber_gets_events_in_order(bus: EventBus) -> None:
    async with bus.subscribe("run:r1") as a, bus.subscribe("run:r1") as b:
        await bus.publish("run:r1", [ev(1), ev(2)])
        await bus.publish("run:r1", [ev(3)])
        for sub in (a, b):
            got = [await sub.get(1.0) for _ in range(3)]
            assert [e.seq for e in got if e] == [1, 2, 3]


async def test_publish_many_keeps_each_channel_in_order(bus: EventBus) -> None:
    async with bus.subscribe("run:a") as a, bus.subscribe("thread:t") as t:
        await bus.publish_many({"run:a": [ev(1, "a"), ev(2, "a")], "thread:t": [ev(9, "a")]})
        assert [(await a.get(1.0) or ev(0)).seq for _ in range(2)] == [1, 2]
        got = await t.get(1.0)
        assert got is not None and got.seq == 9 and got.data == b'{"n":9}'


async def test_channels_are_separate_and_live_only(bus: EventBus) -> None:
    await bus.publish("run:r1", [ev(1)])  # nobody listening: gone
    async with bus.subscribe("run:r1") as sub, bus.subscribe("run:r2") as other:
        await bus.publish("run:r2", [ev(5, "r2")])
        assert await sub.get(0.1) is None
        got = await other.get(1.0)
        assert got is not None and got.run_id == "r2"


async def test_get_times_out_and_iteration_waits(bus: EventBus) -> None:
    async with bus.subscribe("run:r1") as sub:
        assert await sub.get(0.05) is None

        async def later() -> None:
            await asyncio.sleep(0.05)
            await bus.publish("run:r1", [ev(7)])

        task = asyncio.create_task(later())
        it = sub.__aiter__()
        first = await asyncio.wait_for(it.__anext__(), 2)
        assert first.seq == 7
        await task


async def test_unsubscribed_receives_nothing(bus: EventBus) -> None:
    async with bus.subscribe("run:r1") as sub:
        pass
    await bus.publish("run:r1", [ev(1)])
    assert await sub.get(0.05) is None


async def test_redis_bus_crosses_processes(redis_server: RedisServer) -> None:
    """Two bus instances (two processes' worth of connections) see each other's events."""
    a, b = await _redis_bus(redis_server.url), await _redis_bus(redis_server.url)
    try:
        async with b.subscribe("run:x") as sub:
            await a.publish("run:x", [ev(1, "x")])
            got = await sub.get(2.0)
            assert got is not None and (got.run_id, got.seq) == ("x", 1)
    finally:
        await a.close()
        await b.close()


async def test_redis_outage_marks_gap_then_resubscribes(tmp_path: Path) -> None:
    """Redis going away: subscribers get a GAP marker and the bus reports unhealthy;
    publishing meanwhile neither raises nor hangs; when Redis is back the same subscription
    receives events again without the subscriber doing anything."""
    srv = RedisServer(tmp_path)
    srv.start()
    bus = await _redis_bus(srv.url)
    try:
        async with bus.subscribe("run:r1") as sub:
            srv.stop()
            marker = await sub.get(5.0)
            assert marker is not None and marker.event == GAP
            assert not bus.healthy
            await asyncio.wait_for(bus.publish("run:r1", [ev(1)]), 1.0)  # dropped, quietly
            srv.start()
            for _ in range(100):
                if bus.healthy:
                    break
                await asyncio.sleep(0.1)
            assert bus.healthy
            again = await sub.get(2.0)
            assert again is not None and again.event == GAP  # "catch up from the log"
            other = await _redis_bus(srv.url)
            try:
                await other.publish("run:r1", [ev(2)])
                got = await sub.get(2.0)
                assert got is not None and got.seq == 2
            finally:
                await other.close()
    finally:
        await bus.close()
        srv.stop()
