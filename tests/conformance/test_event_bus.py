"""Event bus contract: live, ordered fan-out to every current subscriber of a channel.

Runs against every bus implementation (the in-process one; the Redis bus joins with scale-out).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from nexod.events.base import Event, EventBus
from nexod.events.memory import MemoryEventBus


@pytest.fixture(params=["memory"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
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
