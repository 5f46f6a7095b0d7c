"""Per-run and per-step platform overhead: a trivial graph through Nexod's API vs bare LangGraph.

The same graph of N trivial nodes runs two ways, interleaved in a shuffled order so drift
(other load, caches, a growing database) hits both alike:

* **Nexod**: ``POST /threads/{id}/runs/wait`` on a fresh thread (made beforehand, untimed),
  timed at the client, so HTTP, queueing, the worker, checkpoints, the event log and the
  thread update all count;
* **bare LangGraph** (the peer): ``graph.ainvoke`` in this process with the same kind of
  checkpointer on the same database engine, also on a fresh thread each time.

Per-step time is ``(t(N) - t(1)) / (N - 1)`` for each; Nexod's overhead is its value minus the
peer's. Per-run overhead is the difference on the one-node graph. CPU per run is recorded
beside the times (the server process's for Nexod, this process's for the peer): where the time
goes when it is not spent waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver

from bench.client import NexodClient, check_count
from bench.cpu import process_cpu_seconds
from bench.environment import graph_id
from bench.graphs.trivial import build
from bench.stats import Summary

Who = Literal["nexod", "peer"]
SETTLE = 0.3
"""Seconds for the server to finish a run's trailing work before its CPU is read the last time."""


@dataclass(frozen=True)
class Side:
    """One way of running the graph: its run times, and CPU per run, at 1 node and at N nodes."""

    one: Summary
    many: Summary
    steps: int
    cpu_one: float | None
    """Mean CPU seconds per 1-node run: the server process for Nexod, this process for the peer."""
    cpu_many: float | None
    """Mean CPU seconds per N-node run, likewise."""

    def per_step(self, quantile: Literal["p50", "p95"]) -> float:
        """Seconds each extra node costs, from the given quantile of both sizes."""
        return (float(getattr(self.many, quantile)) - float(getattr(self.one, quantile))) / (self.steps - 1)

    def cpu_per_step(self) -> float | None:
        """CPU seconds each extra node costs (from the means)."""
        if self.cpu_one is None or self.cpu_many is None:
            return None
        return (self.cpu_many - self.cpu_one) / (self.steps - 1)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the results file (milliseconds)."""
        def ms(v: float | None) -> float | None:
            return None if v is None else round(v * 1000, 3)

        return {"one": self.one.as_ms(), "many": self.many.as_ms(), "cpu_one_ms": ms(self.cpu_one),
                "cpu_many_ms": ms(self.cpu_many), "cpu_per_step_ms": ms(self.cpu_per_step())}


@dataclass(frozen=True)
class OverheadResult:
    """Nexod and bare LangGraph side by side, and the difference (Nexod's overhead)."""

    nexod: Side
    peer: Side

    def step_overhead(self, quantile: Literal["p50", "p95"]) -> float:
        """Seconds Nexod adds to each step, beyond what LangGraph itself spends."""
        return self.nexod.per_step(quantile) - self.peer.per_step(quantile)

    def run_overhead(self, quantile: Literal["p50", "p95"]) -> float:
        """Seconds Nexod adds to a one-node run, beyond what LangGraph itself spends."""
        return float(getattr(self.nexod.one, quantile)) - float(getattr(self.peer.one, quantile))

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the results file (milliseconds)."""
        return {
            "steps": self.nexod.steps,
            "nexod": self.nexod.as_dict(),
            "peer": self.peer.as_dict(),
            **{f"step_overhead_{q}_ms": round(self.step_overhead(q) * 1000, 3) for q in ("p50", "p95")},
            **{f"run_overhead_{q}_ms": round(self.run_overhead(q) * 1000, 3) for q in ("p50", "p95")},
        }


async def measure_overhead(
    client: NexodClient,
    saver: BaseCheckpointSaver[Any],
    *,
    steps: int,
    repetitions: int,
    warmup: int,
    server_pid: int | None,
) -> OverheadResult:
    """Time ``repetitions`` runs of each kind (after ``warmup`` untimed ones of each).

    CPU per run: for the peer, this process's CPU time around ``ainvoke``; for Nexod, the
    server process's CPU from the start of the run to the start of the next Nexod run, so work
    the server does after answering (flushing events, the next claim) counts; the thread
    creation before each run does not.
    """
    peer_graphs = {n: build(n).copy(update={"checkpointer": saver}) for n in (1, steps)}
    kinds: list[tuple[Who, int]] = [(who, n) for who in ("nexod", "peer") for n in (1, steps)]
    samples: dict[tuple[Who, int], list[float]] = {k: [] for k in kinds}
    cpu: dict[tuple[Who, int], list[float]] = {k: [] for k in kinds}
    open_run: tuple[int, float] | None = None  # last timed Nexod run: its size, server CPU at its start

    def close_nexod_run() -> None:
        nonlocal open_run
        now = process_cpu_seconds(server_pid)
        if open_run is not None and now is not None:
            cpu["nexod", open_run[0]].append(now - open_run[1])
        open_run = None

    async def via_nexod(n: int, timed: bool) -> float:
        nonlocal open_run
        close_nexod_run()
        thread_id = await client.create_thread()
        cpu_start = process_cpu_seconds(server_pid)
        start = time.perf_counter()
        out = await client.wait_run(thread_id, graph_id(n), {"count": 0})
        elapsed = time.perf_counter() - start
        check_count(out, n)
        if timed and cpu_start is not None:
            open_run = (n, cpu_start)
        return elapsed

    async def via_peer(n: int, timed: bool) -> float:
        config: Any = {"configurable": {"thread_id": str(uuid.uuid4())}}
        cpu_start, start = time.process_time(), time.perf_counter()
        out = await peer_graphs[n].ainvoke({"count": 0}, config, durability="async")
        elapsed, cpu_used = time.perf_counter() - start, time.process_time() - cpu_start
        check_count(out, n)
        if timed:
            cpu["peer", n].append(cpu_used)
        return elapsed

    runners: dict[Who, Callable[[int, bool], Awaitable[float]]] = {"nexod": via_nexod, "peer": via_peer}
    order = random.Random(20)  # a fixed seed: the same shuffles on every run of the bench
    for i in range(warmup + repetitions):
        order.shuffle(kinds)
        for who, n in kinds:
            elapsed = await runners[who](n, i >= warmup)
            if i >= warmup:
                samples[who, n].append(elapsed)
    await asyncio.sleep(SETTLE)
    close_nexod_run()

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    def side(who: Who) -> Side:
        return Side(Summary.of(samples[who, 1]), Summary.of(samples[who, steps]), steps,
                    mean(cpu[who, 1]), mean(cpu[who, steps]))

    return OverheadResult(nexod=side("nexod"), peer=side("peer"))
