"""The run worker: claims runs from the queue and executes a bounded number at once.

Wake-ups and cancels arrive on the event bus (Redis in production, so any API process reaches
any worker). The queue in the database stays the truth: while the bus is down the worker polls
every ``poll_interval`` seconds and reads cancels from its lease renewals; while it is up, a
slow ``idle_poll`` is only a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

from nexod.events.base import CANCEL, GAP, WAKE, Event, EventBus, control
from nexod.observability.base import Metrics, NullMetrics
from nexod.runs.executor import Executor
from nexod.runs.health import Beat, WorkerBeats
from nexod.runs.queue import Claimed, RunQueue
from nexod.settings import Settings

log = logging.getLogger("nexod.worker")


class Worker:
    """Claims pending runs and executes up to ``settings.workers`` of them concurrently.

    Lifecycle: :meth:`start`; :meth:`drain` stops claiming (first thing on SIGTERM);
    :meth:`stop` lets runs finish within the grace period, then releases the rest back to the
    queue, where another worker resumes them from their last checkpoint.
    """

    def __init__(
        self, settings: Settings, queue: RunQueue, executor: Executor, bus: EventBus,
        beats: WorkerBeats, sweep: Callable[[], Awaitable[object]] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics or NullMetrics()
        self._queue = queue
        self._executor = executor
        self._bus = bus
        self._beats = beats
        self._sweep = sweep
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._draining = asyncio.Event()
        self._hurry = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel_actions: dict[str, str] = {}
        self._loops: list[asyncio.Task[None]] = []
        # True when runs may be waiting that we could not take (we were full, or a claim
        # filled its whole batch): a finishing run then triggers a claim. Otherwise a claim
        # after each run would mostly find nothing.
        self._backlog = False

    @property
    def in_flight(self) -> int:
        """Runs executing in this process now."""
        return len(self._tasks)

    @property
    def draining(self) -> bool:
        """True once the worker stopped taking new runs."""
        return self._draining.is_set()

    def wake(self) -> None:
        """Tell the claim loop a run may be ready."""
        self._backlog = True
        self._wake.set()

    async def start(self, *, recover_all: bool) -> None:
        """Start claiming; ``recover_all`` re-queues every running run first (single process)."""
        if recover_all:
            requeued, failed = await self._queue.sweep(all_running=True)
            if requeued or failed:
                log.info("runs_recovered", extra={"requeued": requeued, "failed": len(failed)})
        await self._report()
        self._loops = [
            asyncio.create_task(self._follow(WAKE, self._on_wake), name="nexod-wake"),
            asyncio.create_task(self._follow(CANCEL, self._on_cancel), name="nexod-cancel"),
            asyncio.create_task(self._claim_loop(), name="nexod-claim"),
            asyncio.create_task(self._heartbeat_loop(), name="nexod-heartbeat"),
        ]
        if self._sweep is not None:
            self._loops.append(asyncio.create_task(self._sweep_loop(), name="nexod-janitor"))
        log.info("worker_started", extra={"worker_id": self.worker_id, "capacity": self._settings.workers})

    def cancel(self, run_id: str, action: str) -> bool:
        """Cancel a run executing here; False when it is not ours."""
        task = self._tasks.get(run_id)
        if task is None or run_id in self._cancel_actions:
            return False
        self._cancel_actions[run_id] = action
        task.cancel()
        return True

    def drain(self) -> None:
        """Stop claiming new runs; runs in flight carry on."""
        if not self._draining.is_set():
            log.info("worker_draining", extra={"worker_id": self.worker_id, "in_flight": self.in_flight})
        self._draining.set()
        self._wake.set()

    def hurry(self) -> None:
        """Cut the shutdown grace short (a second SIGTERM): release runs now."""
        self._hurry.set()
        self.drain()

    async def stop(self, grace: float | None = None) -> None:
        """Drain, give in-flight runs ``grace`` seconds, then release them to the queue."""
        grace = self._settings.shutdown_grace if grace is None else grace
        self.drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._tasks and not self._hurry.is_set() and (left := deadline - loop.time()) > 0:
            hurry = asyncio.ensure_future(self._hurry.wait())
            await asyncio.wait([*self._tasks.values(), hurry], timeout=left,
                               return_when=asyncio.FIRST_COMPLETED)
            hurry.cancel()
        released = 0
        for run_id, task in list(self._tasks.items()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception):
                await self._queue.release(run_id, self.worker_id)
                released += 1
        if released:
            log.info("runs_released", extra={"worker_id": self.worker_id, "runs": released})
            with contextlib.suppress(Exception):
                await self._bus.publish(WAKE, [control("wake")])
        for task in self._loops:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self._beats.forget(self.worker_id)

    # --- control messages -------------------------------------------------------------------

    async def _follow(self, channel: str, handle: Callable[[Event], None]) -> None:
        async with self._bus.subscribe(channel) as sub:
            async for ev in sub:
                handle(ev)

    def _on_wake(self, ev: Event) -> None:
        self.wake()  # a GAP marker also lands here: wake-ups may have been missed

    def _on_cancel(self, ev: Event) -> None:
        if ev.event != GAP:
            self.cancel(ev.run_id, ev.data.decode())

    # --- loops ------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        capacity = self._settings.workers
        while not self._draining.is_set():
            self._wake.clear()
            free = capacity - len(self._tasks)
            runs: list[Claimed] = []
            if free > 0:
                batch = min(free, 8)
                self._backlog = False
                try:
                    runs = await self._queue.claim(self.worker_id, limit=batch)
                except Exception:
                    self._backlog = True
                    log.exception("claim_failed")
                for claimed in runs:
                    self._spawn(claimed)
                if len(runs) == batch:
                    self._backlog = True
                    continue  # maybe more are ready
            wait = self._settings.idle_poll if self._bus.healthy else self._settings.poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _spawn(self, claimed: Claimed) -> None:
        run = claimed.run
        task = asyncio.create_task(self._execute(claimed), name=f"nexod-run-{run.run_id}")
        self._tasks[run.run_id] = task
        self._metrics.runs_in_flight(len(self._tasks))

    async def _execute(self, claimed: Claimed) -> None:
        run = claimed.run
        log.info("run_started", extra={"run_id": run.run_id, "thread_id": run.thread_id,
                                        "org_id": run.org_id, "attempt": run.attempt,
                                        "worker_id": self.worker_id})
        try:
            await self._executor.execute(claimed, self._cancel_actions)
        except asyncio.CancelledError:
            if run.run_id not in self._cancel_actions:
                raise
        except Exception:
            log.exception("run_crashed", extra={"run_id": run.run_id})
        finally:
            self._tasks.pop(run.run_id, None)
            self._cancel_actions.pop(run.run_id, None)
            self._metrics.runs_in_flight(len(self._tasks))
            # A run queued behind this one on its thread, or one we had no room for, can go now.
            queued = self._executor.has_queued(run.thread_id)
            if self._backlog or queued:
                self._wake.set()
            if queued and self.draining:  # not by us: tell the other workers
                with contextlib.suppress(Exception):
                    await self._bus.publish(WAKE, [control("wake")])

    async def _heartbeat_loop(self) -> None:
        interval = max(self._settings.lease_seconds / 3, 0.2)
        while True:
            await asyncio.sleep(interval)
            try:
                actions = await self._queue.renew(self.worker_id, list(self._tasks))
                for run_id, action in actions.items():
                    if action:
                        self.cancel(run_id, action)
                requeued, _failed = await self._queue.sweep()
                if requeued:
                    log.warning("runs_requeued", extra={"runs": requeued, "reason": "lease expired"})
                    self._wake.set()
                await self._report()
            except Exception:
                log.exception("heartbeat_failed")

    async def _report(self) -> None:
        await self._beats.beat(Beat(
            worker_id=self.worker_id, hostname=socket.gethostname(), pid=os.getpid(),
            capacity=self._settings.workers, in_flight=len(self._tasks),
            status="draining" if self.draining else "running",
        ))

    async def _sweep_loop(self) -> None:
        assert self._sweep is not None
        while True:
            await asyncio.sleep(self._settings.sweep_interval)
            try:
                await self._sweep()
            except Exception:
                log.exception("janitor_failed")
