"""Redis event bus (production mode): run events, wake-ups and cancels reach every process.

One publishing client and one multiplexed pub/sub connection per process: local subscribers
of a channel share a single Redis subscription, so a thousand open streams cost one socket.

Redis pub/sub is fire-and-forget, which is what the bus contract promises: every run event is
in ``agent_logs`` before it is published, so a subscriber that missed something catches up
from there. When the connection drops, subscribers get a :data:`~nexod.events.base.GAP`
marker (on loss and again on reconnect), :attr:`RedisEventBus.healthy` turns False (workers
fall back to polling the queue), publishing is skipped instead of waiting on timeouts, and a
background task reconnects with backoff and resubscribes every channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from nexod.events.base import GAP, Event, EventBus, Subscription
from nexod.events.memory import LocalFanout

log = logging.getLogger("nexod.events")

_ERRORS = (RedisError, OSError, asyncio.TimeoutError)
_CONFIRM_TIMEOUT = 2.0
_MAX_BACKOFF = 2.0


def encode(events: list[Event]) -> bytes:
    """One pub/sub message for a batch of events (event data is JSON, so it nests as text)."""
    return orjson.dumps([[e.run_id, e.thread_id, e.seq, e.event, e.data.decode()] for e in events])


def decode(payload: bytes) -> list[Event]:
    """The events of a message made by :func:`encode`."""
    return [Event(r, t, s, n, d.encode()) for r, t, s, n, d in orjson.loads(payload)]


def connect(url: str) -> aioredis.Redis:
    """A Redis client with short timeouts: a dead Redis must fail fast, never hang a run."""
    return aioredis.Redis.from_url(
        url, socket_timeout=3, socket_connect_timeout=2, health_check_interval=15,
        retry_on_timeout=False,
    )


class RedisEventBus(EventBus):
    """Fan-out through Redis pub/sub; channels are namespaced by ``prefix``."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = "nexod:") -> None:
        self._redis = client
        self._prefix = prefix
        self._local = LocalFanout()
        self._pubsub: Any = None
        self._healthy = False
        self._confirm: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._up = asyncio.Event()

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def start(self, wait: float = 2.0) -> None:
        """Connect and start reading; waits up to ``wait`` s, then carries on degraded."""
        self._reader = asyncio.create_task(self._read_forever(), name="nexod-redis-bus")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), wait)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._drop_pubsub()

    async def ping(self) -> None:
        await self._redis.ping()

    async def publish(self, channel: str, events: list[Event]) -> None:
        await self.publish_many({channel: events})

    async def publish_many(self, batches: dict[str, list[Event]]) -> None:
        if not self._healthy or not batches:
            return  # at-most-once: subscribers catch up from the event log
        try:
            pipe = self._redis.pipeline(transaction=False)
            for channel, events in batches.items():
                pipe.publish(self._prefix + channel, encode(events))
            await pipe.execute()
        except _ERRORS as exc:
            self._mark_down(exc)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        sub, first = self._local.add(channel)
        try:
            if first:
                await self._redis_subscribe(channel)
            yield sub
        finally:
            if self._local.remove(channel, sub):
                await self._redis_unsubscribe(channel)

    async def _redis_subscribe(self, channel: str) -> None:
        """Subscribe on Redis and wait for the confirmation, so nothing published after this
        returns is missed. While Redis is away the reader subscribes on reconnect."""
        ps = self._pubsub
        if ps is None or not self._healthy:
            return
        fut = self._confirm.setdefault(channel, asyncio.get_running_loop().create_future())
        try:
            await ps.subscribe(self._prefix + channel)
            await asyncio.wait_for(asyncio.shield(fut), _CONFIRM_TIMEOUT)
        except _ERRORS as exc:
            self._mark_down(exc)
        finally:
            self._confirm.pop(channel, None)

    async def _redis_unsubscribe(self, channel: str) -> None:
        ps = self._pubsub
        if ps is None or not self._healthy:
            return
        try:
            await ps.unsubscribe(self._prefix + channel)
        except _ERRORS as exc:
            self._mark_down(exc)

    async def _read_forever(self) -> None:
        backoff = 0.1
        was_down = False
        while True:
            try:
                await self._connect()
                if was_down:
                    log.warning("redis_bus_reconnected")
                    self._gap_all()
                was_down, backoff = False, 0.1
                await self._read()
            except _ERRORS as exc:
                self._mark_down(exc, quiet=was_down)
                was_down = True
            await self._drop_pubsub()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _connect(self) -> None:
        ps = self._redis.pubsub()
        # A control channel keeps the connection subscribed even when nothing else is.
        await ps.subscribe(self._prefix + "ctl:bus")
        self._pubsub = ps
        channels = [self._prefix + c for c in self._local.subs]
        if channels:
            await ps.subscribe(*channels)
        self._healthy = True
        self._up.set()

    async def _read(self) -> None:
        ps = self._pubsub
        n = len(self._prefix)
        while True:
            msg = await ps.get_message(ignore_subscribe_messages=False, timeout=1.0)
            if msg is None:
                if not self._healthy:  # a publish saw Redis fail: reconnect
                    raise ConnectionError("publish failed")
                continue
            channel = msg["channel"].decode()[n:]
            if msg["type"] == "message":
                self._local.deliver(channel, decode(msg["data"]))
            elif msg["type"] == "subscribe":
                fut = self._confirm.get(channel)
                if fut is not None and not fut.done():
                    fut.set_result(None)

    async def _drop_pubsub(self) -> None:
        ps, self._pubsub = self._pubsub, None
        if ps is not None:
            with contextlib.suppress(*_ERRORS):
                await ps.aclose()

    def _mark_down(self, exc: BaseException, *, quiet: bool = False) -> None:
        if self._healthy or not quiet:
            log.warning("redis_bus_unavailable", extra={"error": repr(exc)})
        if self._healthy:
            self._healthy = False
            self._gap_all()

    def _gap_all(self) -> None:
        marker = [Event("", "", 0, GAP, b"")]
        for channel in list(self._local.subs):
            self._local.deliver(channel, marker)
