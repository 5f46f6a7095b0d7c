"""API latency: sequential requests to the read endpoints and to run creation.

``GET /ok`` touches no database: it is the floor (HTTP, client and framework) under every
other number.

Each round sends one request to every endpoint, in the same order, so drift affects them all
alike. Reads go to a thread that has run the N-node graph (so its state is real) and to that
graph's assistant; search filters on metadata shared by ten threads. Run creation
(``POST /threads/{id}/runs``) goes to a fresh idle thread each time, and the run is joined,
untimed, before the next round, so every request meets an idle server.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from bench.client import NexodClient, check_count
from bench.config import BenchError
from bench.environment import graph_id
from bench.stats import Summary

FLOOR = "GET /ok (no database: HTTP floor)"
READS = ("GET /threads/{id}", "GET /assistants/{id}", "POST /threads/search", "GET /threads/{id}/state")
CREATE = "POST /threads/{id}/runs"
ENDPOINTS = (FLOOR, *READS, CREATE)
SEARCH_MATCHES = 10


async def _make_threads(client: NexodClient, count: int, metadata: dict[str, str] | None = None) -> list[str]:
    """``count`` idle threads, made 16 at a time."""
    out: list[str] = []
    while len(out) < count:
        batch = min(16, count - len(out))
        out += await asyncio.gather(*(client.create_thread(metadata) for _ in range(batch)))
    return out


async def measure_api(
    client: NexodClient, *, requests: int, warmup: int, steps: int
) -> dict[str, Summary]:
    """p50 / p95 of ``requests`` sequential calls per endpoint (after ``warmup`` rounds)."""
    tag = {"bench": uuid.uuid4().hex}
    tagged = await _make_threads(client, SEARCH_MATCHES, tag)
    check_count(await client.wait_run(tagged[0], graph_id(steps), {"count": 0}), steps)
    found = await client.request("POST", "/assistants/search", {"graph_id": graph_id(steps), "limit": 1})
    if not found:
        raise BenchError(f"no assistant for graph {graph_id(steps)}")
    assistant_id = found[0]["assistant_id"]
    fresh = await _make_threads(client, warmup + requests)

    async def search() -> None:
        body = {"metadata": tag, "limit": SEARCH_MATCHES}
        hits = await client.request("POST", "/threads/search", body)
        if len(hits) != SEARCH_MATCHES:
            raise BenchError(f"thread search found {len(hits)} threads, expected {SEARCH_MATCHES}")

    reads: dict[str, Callable[[], Awaitable[object]]] = {
        FLOOR: lambda: client.request("GET", "/ok"),
        READS[0]: lambda: client.request("GET", f"/threads/{tagged[0]}"),
        READS[1]: lambda: client.request("GET", f"/assistants/{assistant_id}"),
        READS[2]: search,
        READS[3]: lambda: client.request("GET", f"/threads/{tagged[0]}/state"),
    }
    samples: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
    for i in range(warmup + requests):
        for name, call in reads.items():
            start = time.perf_counter()
            await call()
            samples[name].append(time.perf_counter() - start)
        start = time.perf_counter()
        run_id = await client.create_run(fresh[i], graph_id(1), {"count": 0})
        samples[CREATE].append(time.perf_counter() - start)
        check_count(await client.join_run(fresh[i], run_id), 1)  # untimed: back to an idle server
    return {name: Summary.of(values[warmup:]) for name, values in samples.items()}
