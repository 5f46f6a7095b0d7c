"""Database latency as the platform meets it: checkpoint writes and reads on the backend.

Every step of a run writes a checkpoint and every run starts by reading the thread's latest
one, so these two operations are the database work on a run's critical path. They are timed
with the LangGraph checkpointer Nexod uses, opened in this process on the same engine (its own
SQLite file, or a fresh PostgreSQL database on the same server).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint

from bench.config import BenchError
from bench.stats import Summary

WRITE = "checkpoint write (aput)"
READ = "checkpoint read, latest (aget_tuple)"


async def measure_checkpoints(
    saver: BaseCheckpointSaver[Any], *, operations: int, warmup: int
) -> dict[str, Summary]:
    """p50 / p95 of ``operations`` checkpoint writes, each followed by a read of the latest."""
    thread: Any = {"configurable": {"thread_id": str(uuid.uuid4()), "checkpoint_ns": ""}}
    config = thread
    version: Any = None
    samples: dict[str, list[float]] = {WRITE: [], READ: []}
    for step in range(warmup + operations):
        checkpoint = empty_checkpoint()
        version = saver.get_next_version(version, None)
        checkpoint["channel_values"] = {"count": step}
        checkpoint["channel_versions"] = {"count": version}
        start = time.perf_counter()
        config = await saver.aput(config, checkpoint, {"source": "loop", "step": step, "parents": {}},
                                  {"count": version})
        wrote = time.perf_counter()
        latest = await saver.aget_tuple(thread)
        read = time.perf_counter()
        if latest is None or latest.checkpoint["id"] != checkpoint["id"]:
            raise BenchError("the checkpoint just written is not the latest one read back")
        if step >= warmup:
            samples[WRITE].append(wrote - start)
            samples[READ].append(read - wrote)
    return {name: Summary.of(values) for name, values in samples.items()}
