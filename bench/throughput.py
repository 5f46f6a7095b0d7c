"""Runs per second with C concurrent clients, each running the one-node graph on its own thread.

Every client loops ``POST /threads/{id}/runs/wait`` on its own thread (one run at a time per
thread, as a chat user would). The measured window opens once the warm-up time has passed
*and* every client has finished at least one run (so a slow server is measured in its steady
state, not while its queue fills), and lasts a fixed time. Runs/s is the number of runs that
finished inside the window over its length; runs still in flight when it closes are waited
for, not counted. The run latency the clients saw, and the CPU the server process and this
(client) process used inside the window, are reported beside it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.client import NexodClient, check_count
from bench.config import BenchError
from bench.cpu import machine_busy_cores, machine_cpu_ticks, process_cpu_seconds
from bench.environment import graph_id
from bench.stats import Summary

PRIME_TIMEOUT = 60.0
"""Longest wait for every client's first run before the window opens anyway."""


@dataclass(frozen=True)
class ThroughputResult:
    """One concurrency level."""

    concurrency: int
    runs: int
    """Runs completed inside the measured window."""
    seconds: float
    """Length of the measured window."""
    latency: Summary
    """Client-side time of each run completed in the window."""
    errors: int
    """Requests that failed (any status but 200, or a transport error) during the whole level."""
    server_cpu: float | None
    """CPU the server process used in the window, in cores (1.0 = one core busy)."""
    client_cpu: float | None
    """CPU this benchmark process (the clients) used in the window, in cores."""
    machine_cpu: float | None
    """CPU the whole machine used in the window (server, clients, database, anything else), in cores."""

    @property
    def runs_per_second(self) -> float:
        """Completed runs per second of wall time."""
        return self.runs / self.seconds

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the results file."""
        return {
            "concurrency": self.concurrency, "runs": self.runs, "seconds": round(self.seconds, 3),
            "runs_per_second": round(self.runs_per_second, 2), "latency_ms": self.latency.as_ms(),
            "errors": self.errors, "server_cpu_cores": self.server_cpu, "client_cpu_cores": self.client_cpu,
            "machine_cpu_cores": self.machine_cpu,
        }


Reading = tuple[float | None, float | None, tuple[int, int] | None]


def _cpu_now(server_pid: int | None) -> Reading:
    return process_cpu_seconds(server_pid), process_cpu_seconds(), machine_cpu_ticks()


async def measure_throughput(
    client: NexodClient, *, concurrency: int, seconds: float, warmup: float, server_pid: int | None
) -> ThroughputResult:
    """Load the server with ``concurrency`` clients, then count the runs finished in ``seconds``."""
    threads = await asyncio.gather(*(client.create_thread() for _ in range(concurrency)))
    assistant = graph_id(1)
    finished: list[tuple[float, float]] = []  # (sent, done) of every successful run
    errors = 0
    primed = asyncio.Event()
    clients_done_once: set[int] = set()
    stop = asyncio.Event()

    async def user(index: int, thread_id: str) -> None:
        nonlocal errors
        while not stop.is_set():
            sent = time.perf_counter()
            try:
                check_count(await client.wait_run(thread_id, assistant, {"count": 0}), 1)
            except (BenchError, httpx.HTTPError):
                errors += 1
                continue
            finished.append((sent, time.perf_counter()))
            clients_done_once.add(index)
            if len(clients_done_once) == concurrency:
                primed.set()

    async def window() -> tuple[float, float, tuple[Reading, Reading]]:
        await asyncio.sleep(warmup)
        try:
            await asyncio.wait_for(primed.wait(), PRIME_TIMEOUT)
        except TimeoutError:
            pass  # a client is stuck: measure anyway, its errors or slowness will show
        opened, cpu_open = time.perf_counter(), _cpu_now(server_pid)
        await asyncio.sleep(seconds)
        closed, cpu_close = time.perf_counter(), _cpu_now(server_pid)
        stop.set()
        return opened, closed, (cpu_open, cpu_close)

    users = [asyncio.create_task(user(i, t)) for i, t in enumerate(threads)]
    opened, closed, (cpu_open, cpu_close) = await window()
    await asyncio.gather(*users)  # the runs in flight finish (uncounted): the next level starts idle
    latencies = [done - sent for sent, done in finished if opened <= done <= closed]
    if not latencies:
        raise BenchError(f"no run completed in the window at concurrency {concurrency} ({errors} errors)")
    span = closed - opened

    def cores(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round((b - a) / span, 3)

    machine = machine_busy_cores(cpu_open[2], cpu_close[2])
    return ThroughputResult(
        concurrency=concurrency, runs=len(latencies), seconds=span, latency=Summary.of(latencies),
        errors=errors, server_cpu=cores(cpu_open[0], cpu_close[0]),
        client_cpu=cores(cpu_open[1], cpu_close[1]),
        machine_cpu=None if machine is None else round(machine, 3),
    )
