"""Every measurement for one storage backend, against one server, in a fixed order."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.client import NexodClient
from bench.config import BACKEND_LABELS, Backend, BenchConfig
from bench.database import measure_checkpoints
from bench.environment import nexod_server, peer_checkpointer
from bench.latency import measure_api
from bench.overhead import OverheadResult, measure_overhead
from bench.stats import Summary
from bench.throughput import ThroughputResult, measure_throughput

Log = Callable[[str], None]


@dataclass(frozen=True)
class BackendResult:
    """All numbers measured on one backend."""

    backend: Backend
    overhead: OverheadResult
    api: dict[str, Summary]
    database: dict[str, Summary]
    throughput: tuple[ThroughputResult, ...]
    seconds: float
    """Wall time the backend's measurements took, server start included."""

    @property
    def label(self) -> str:
        """``SQLite`` or ``PostgreSQL``."""
        return BACKEND_LABELS[self.backend]

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the results file (durations in milliseconds)."""
        return {
            "backend": self.backend,
            "seconds": round(self.seconds, 1),
            "overhead": self.overhead.as_dict(),
            "api_ms": {k: v.as_ms() for k, v in self.api.items()},
            "database_ms": {k: v.as_ms() for k, v in self.database.items()},
            "throughput": [t.as_dict() for t in self.throughput],
        }


async def run_backend(backend: Backend, cfg: BenchConfig, workdir: Path, log: Log) -> BackendResult:
    """Start a server on ``backend``, measure everything, stop it.

    Order: overhead (sequential, on a quiet server), API latency, database, then the load
    levels, lightest first, so the heavy phases cannot disturb the quiet ones.
    """
    began = time.perf_counter()
    label = BACKEND_LABELS[backend]
    log(f"{label}: starting nexod serve (NEXOD_WORKERS={cfg.workers})")
    with nexod_server(backend, cfg, workdir) as server:
        async with peer_checkpointer(backend, cfg, workdir) as saver, NexodClient(server.url) as client:
            log(f"{label}: overhead, {cfg.repetitions} runs each of 1 and {cfg.steps} nodes, "
                "through Nexod and bare LangGraph")
            overhead = await measure_overhead(
                client, saver, steps=cfg.steps, repetitions=cfg.repetitions, warmup=cfg.warmup,
                server_pid=server.proc.pid if server.proc else None,
            )
            log(f"{label}: API latency, {cfg.api_requests} sequential requests per endpoint")
            api = await measure_api(client, requests=cfg.api_requests, warmup=cfg.warmup, steps=cfg.steps)
            log(f"{label}: database, {cfg.api_requests} checkpoint writes and reads")
            database = await measure_checkpoints(saver, operations=cfg.api_requests, warmup=cfg.warmup)
            levels = []
            for clients in cfg.concurrency:
                log(f"{label}: runs/s with {clients} concurrent clients for {cfg.throughput_seconds:g} s")
                levels.append(
                    await measure_throughput(
                        client, concurrency=clients, seconds=cfg.throughput_seconds,
                        warmup=cfg.throughput_warmup, server_pid=server.proc.pid if server.proc else None,
                    )
                )
    return BackendResult(backend, overhead, api, database, tuple(levels), time.perf_counter() - began)
