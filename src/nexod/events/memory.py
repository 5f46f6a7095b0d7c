"""In-process event bus (embedded mode): one asyncio queue per subscriber."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from nexod.events.base import Event, EventBus, Subscription


class QueueSubscription(Subscription):
    """A subscriber's unbounded queue; the bus puts, the subscriber gets."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    def put(self, events: list[Event]) -> None:
        """Hand events to this subscriber."""
        for ev in events:
            self.queue.put_nowait(ev)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    async def get(self, timeout: float) -> Event | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class LocalFanout:
    """Channel → local subscribers, shared by every bus that delivers inside this process."""

    def __init__(self) -> None:
        self.subs: dict[str, set[QueueSubscription]] = defaultdict(set)

    def deliver(self, channel: str, events: list[Event]) -> None:
        """Put ``events`` on every local subscriber of ``channel``."""
        for sub in self.subs.get(channel, ()):
            sub.put(events)

    def add(self, channel: str) -> tuple[QueueSubscription, bool]:
        """A new subscriber; True when it is the channel's first."""
        sub = QueueSubscription()
        first = channel not in self.subs
        self.subs[channel].add(sub)
        return sub, first

    def remove(self, channel: str, sub: QueueSubscription) -> bool:
        """Drop a subscriber; True when the channel has none left."""
        subs = self.subs.get(channel)
        if subs is None:
            return False
        subs.discard(sub)
        if subs:
            return False
        del self.subs[channel]
        return True


class MemoryEventBus(EventBus):
    """Delivers events to subscribers in this process only."""

    def __init__(self) -> None:
        self._local = LocalFanout()

    async def publish(self, channel: str, events: list[Event]) -> None:
        self._local.deliver(channel, events)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        sub, _ = self._local.add(channel)
        try:
            yield sub
        finally:
            self._local.remove(channel, sub)
