"""The run worker: claims runs from the queue and executes a bounded number at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from nexod.runs.executor import Executor
from nexod.runs.queue import Claimed, RunQueue
from nexod.settings import Settings

log = logging.getLogger("nexod.worker")


class Worker:
    """Claims pending runs and executes up to ``settings.workers`` of them concurrently.

    Lifecycle: :meth:`start`, then :meth:`stop` (stops claiming, lets runs finish within the
    grace period, then releases the rest back to the queue to resume elsewhere).
    """

    def __init__(self, settings: Settings, queue: RunQueue, executor: Executor) -> None:
        self._settings = settings
        self._queue = queue
        self._executor = executor
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
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

    def wake(self) -> None:
        """Tell the claim loop a run may be ready (called when a run is created)."""
        self._backlog = True
        self._wake.set()

    async def start(self, *, recover_all: bool) -> None:
        """Start claiming; ``recover_all`` re-queues every running run first (single process)."""
        if recover_all:
            requeued, failed = await self._queue.sweep(all_running=True)
            if requeued or failed:
                log.info("runs_recovered", extra={"requeued": requeued, "failed": len(failed)})
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="nexod-claim"),
            asyncio.create_task(self._heartbeat_loop(), name="nexod-heartbeat"),
        ]

    def cancel(self, run_id: str, action: str) -> bool:
        """Cancel a run executing here; False when it is not ours."""
        task = self._tasks.get(run_id)
        if task is None:
            return False
        self._cancel_actions[run_id] = action
        task.cancel()
        return True

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming, give in-flight runs ``grace`` seconds, then release them."""
        self._stopping.set()
        self._wake.set()
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=grace)
        for run_id, task in list(self._tasks.items()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await self._queue.release(run_id, self.worker_id)
        for loop in self._loops:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    async def _claim_loop(self) -> None:
        capacity = self._settings.workers
        while not self._stopping.is_set():
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval)

    def _spawn(self, claimed: Claimed) -> None:
        run = claimed.run
        task = asyncio.create_task(self._execute(claimed), name=f"nexod-run-{run.run_id}")
        self._tasks[run.run_id] = task

    async def _execute(self, claimed: Claimed) -> None:
        run = claimed.run
        log.info("run_started", extra={"run_id": run.run_id, "thread_id": run.thread_id,
                                        "org_id": run.org_id, "attempt": run.attempt})
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
            # A run queued behind this one on its thread, or one we had no room for, can go now.
            if self._backlog or self._executor.has_queued(run.thread_id):
                self._wake.set()

    async def _heartbeat_loop(self) -> None:
        interval = max(self._settings.lease_seconds / 3, 0.2)
        while True:
            await asyncio.sleep(interval)
            try:
                actions = await self._queue.renew(self.worker_id, list(self._tasks))
                for run_id, action in actions.items():
                    if action and run_id not in self._cancel_actions:
                        self.cancel(run_id, action)
                requeued, _failed = await self._queue.sweep()
                if requeued:
                    self._wake.set()
            except Exception:
                log.exception("heartbeat_failed")
