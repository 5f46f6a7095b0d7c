"""The run event log: every event is written to ``agent_logs`` and then published live.

Writing comes first, so any event a client has seen can be replayed after a reconnect or a
crash. Writes are batched (group commit) by one background task so a busy server does one
transaction per batch, not per event.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from nexod.db.engine import reader
from nexod.db.models import AgentLog
from nexod.events.base import END, Event, EventBus, run_channel, thread_channel
from nexod.observability.base import Metrics, NullMetrics
from nexod.serde import utcnow

log = logging.getLogger("nexod.events")
MAX_BATCH = 512


@dataclass(slots=True)
class _Item:
    org_id: str
    event: Event
    persist: bool


class EventLog:
    """Append run events durably, publish them, and read them back for replay."""

    def __init__(self, engine: AsyncEngine, bus: EventBus, metrics: Metrics | None = None) -> None:
        self._engine = engine
        self._metrics = metrics or NullMetrics()
        self._reads = reader(engine)
        self._bus = bus
        self._queue: asyncio.Queue[_Item | asyncio.Future[None]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the background writer."""
        self._task = asyncio.create_task(self._writer(), name="nexod-event-writer")

    async def stop(self) -> None:
        """Flush what is queued and stop the writer."""
        if self._task is not None:
            await self.flush()
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def append(self, org_id: str, event: Event) -> None:
        """Queue an event for writing then publishing; returns at once."""
        self._queue.put_nowait(_Item(org_id, event, True))

    def end(self, run_id: str, thread_id: str, output: bytes, last_seq: int = 0) -> None:
        """Queue the end-of-run marker (published, not stored) after the run's events.

        ``output`` is the run's final output (what ``/wait`` returns), carried to waiters;
        ``last_seq`` is the run's last event id, so a subscriber knows whether it missed any.
        """
        self._queue.put_nowait(_Item("", Event(run_id, thread_id, last_seq, END, output), False))

    async def flush(self) -> None:
        """Wait until everything queued so far is written and published."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(fut)
        await fut

    async def _writer(self) -> None:
        while True:
            first = await self._queue.get()
            batch: list[_Item | asyncio.Future[None]] = [first]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write([b for b in batch if isinstance(b, _Item)])
            except Exception:  # keep the writer alive; the run itself reports its own errors
                log.exception("event_log_write_failed", extra={"batch": len(batch)})
            for b in batch:
                if isinstance(b, asyncio.Future) and not b.done():
                    b.set_result(None)

    async def _write(self, items: list[_Item]) -> None:
        rows = [
            {
                "org_id": i.org_id, "run_id": i.event.run_id, "thread_id": i.event.thread_id,
                "seq": i.event.seq, "event": i.event.event, "data": i.event.data,
                "created_at": utcnow(),
            }
            for i in items
            if i.persist
        ]
        if rows:
            async with self._engine.begin() as conn:
                await conn.execute(insert(AgentLog), rows)
        by_channel: dict[str, list[Event]] = defaultdict(list)
        for i in items:
            by_channel[run_channel(i.event.run_id)].append(i.event)
            if i.event.event != END:
                by_channel[thread_channel(i.event.thread_id)].append(i.event)
        await self._bus.publish_many(by_channel)
        if rows:
            self._metrics.events_published(len(rows))

    async def read(self, org_id: str, run_id: str, after: int) -> list[Event]:
        """Stored events of a run with ``seq > after``, in order."""
        async with self._reads.connect() as conn:
            rows = (
                await conn.execute(
                    select(AgentLog.run_id, AgentLog.thread_id, AgentLog.seq, AgentLog.event, AgentLog.data)
                    .where(AgentLog.run_id == run_id, AgentLog.org_id == org_id, AgentLog.seq > after)
                    .order_by(AgentLog.seq)
                )
            ).all()
        return [Event(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

    async def last_seq(self, run_id: str) -> int:
        """The highest stored seq of a run (0 when none)."""
        async with self._reads.connect() as conn:
            v = await conn.scalar(select(func.max(AgentLog.seq)).where(AgentLog.run_id == run_id))
        return int(v or 0)
