"""The event bus interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

END = "__end__"
"""Name of the control event that tells subscribers a run has finished; never sent to clients."""

GAP = "__gap__"
"""Name of the marker a bus hands its subscribers when live events may have been lost (the
connection to the broker dropped and came back): catch up from the event log."""


@dataclass(frozen=True, slots=True)
class Event:
    """One run event: its position in the run (``seq``), SSE name and JSON payload."""

    run_id: str
    thread_id: str
    seq: int
    event: str
    data: bytes


class Subscription(ABC):
    """Events published on a channel after the subscription began, in publish order."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[Event]:
        """Iterate events as they arrive; iteration never ends by itself."""

    @abstractmethod
    async def get(self, timeout: float) -> Event | None:
        """The next event, or None when ``timeout`` seconds pass without one."""


class EventBus(ABC):
    """Fan-out of live events to every subscriber of a channel.

    Delivery is at-most-once and live only; replay comes from :class:`nexod.events.log.EventLog`.
    """

    @abstractmethod
    async def publish(self, channel: str, events: list[Event]) -> None:
        """Deliver ``events`` to current subscribers of ``channel``, in order."""

    async def publish_many(self, batches: dict[str, list[Event]]) -> None:
        """Publish several channels' events at once (one round trip where the bus allows)."""
        for channel, events in batches.items():
            await self.publish(channel, events)

    @abstractmethod
    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe to ``channel`` for the lifetime of the context."""

    @property
    def healthy(self) -> bool:
        """False while live delivery is known to be broken (subscribers must then poll)."""
        return True

    async def ping(self) -> None:  # noqa: B027 - optional hook
        """Raise when the broker behind the bus cannot be reached (readiness checks)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


WAKE = "ctl:wake"
"""Channel that tells workers a run may be ready to claim."""

CANCEL = "ctl:cancel"
"""Channel that carries cancellations (``run_id`` and the action in ``data``) to workers."""


def control(name: str, run_id: str = "", data: bytes = b"") -> Event:
    """A control message for the WAKE or CANCEL channel."""
    return Event(run_id, "", 0, name, data)


def run_channel(run_id: str) -> str:
    """Channel carrying one run's events."""
    return f"run:{run_id}"


def thread_channel(thread_id: str) -> str:
    """Channel carrying the events of every run on a thread."""
    return f"thread:{thread_id}"
