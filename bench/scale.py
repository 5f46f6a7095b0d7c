"""Production-mode scaling: runs/s and time-to-first-event with 1, 2 and 4 worker processes.

``make bench-scale`` (or ``.venv/bin/python bench/scale.py [--quick]``). One PostgreSQL
database, one private Redis, one API process (``nexod serve --no-worker``) and N
``nexod worker`` processes, each executing up to ``--per-worker`` runs at once. C clients each
loop ``POST /threads/{id}/runs/stream`` on their own thread and read the stream to its end.

Two workloads: ``waiting_3`` (three 100 ms waits, like model calls: a worker's run slots are
the limit, so throughput should grow with workers until the machine's cores are) and
``trivial_1`` (one CPU-only node: the platform's own cost is the limit). Time-to-first-event is
from sending the request to the first SSE event (the run's ``metadata``, sent when a worker has
claimed and started it): create, wake-up through Redis, claim, start and fan-out back through
Redis to the API process. Medians and p95 over every run completed in the measured window.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.servers import RedisServer, Server, WorkerProcess, postgres_database  # noqa: E402

from bench.config import GRAPH_CONFIG, SEED_AGENT_RESPONSE, SEED_API_P95  # noqa: E402
from bench.cpu import machine_busy_cores, machine_cpu_ticks, process_cpu_seconds  # noqa: E402
from bench.stats import Summary  # noqa: E402

EXPECTED = {"waiting_3": 3, "trivial_1": 1}


@dataclass
class Level:
    """One (workload, worker count) measurement."""

    graph: str
    workers: int
    runs: int
    seconds: float
    ttfe: Summary
    latency: Summary
    errors: int
    machine_cpu: float | None
    nexod_cpu_ms: float | None
    """CPU of the API and worker processes per completed run, in ms."""
    postgres_cpu_ms: float | None
    """CPU of every PostgreSQL process per completed run, in ms."""

    @property
    def rate(self) -> float:
        return self.runs / self.seconds


async def _one_run(http: httpx.AsyncClient, tid: str, graph: str) -> tuple[float, float]:
    """Stream one run to its end: (time to first event, total time)."""
    body = {"assistant_id": graph, "input": {"count": 0}, "stream_mode": ["values"]}
    sent = time.perf_counter()
    first = None
    last_values = None
    async with http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as resp:
        if resp.status_code != 200:
            raise RuntimeError(f"stream answered {resp.status_code}")
        event = ""
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
                if first is None:
                    first = time.perf_counter() - sent
            elif line.startswith("data:") and event == "values":
                last_values = line[5:].strip()
    if first is None or last_values is None or f'"count":{EXPECTED[graph]}' not in last_values.replace(" ", ""):
        raise RuntimeError(f"run ended without the expected values: {last_values!r}")
    return first, time.perf_counter() - sent


def _postgres_pids() -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


def _cpu(pids: list[int]) -> float:
    return sum(process_cpu_seconds(p) or 0.0 for p in pids)


async def measure(api_url: str, graph: str, workers: int, clients: int, seconds: float,
                  warmup: float, nexod_pids: list[int]) -> Level:
    limits = httpx.Limits(max_connections=clients + 8, max_keepalive_connections=clients + 8)
    async with httpx.AsyncClient(base_url=api_url, timeout=120, limits=limits, trust_env=False) as http:
        tids = [(await http.post("/threads", json={})).json()["thread_id"] for _ in range(clients)]
        done: list[tuple[float, float, float]] = []  # (finished at, ttfe, total)
        errors = 0
        stop = asyncio.Event()

        async def user(tid: str) -> None:
            nonlocal errors
            while not stop.is_set():
                try:
                    ttfe, total = await _one_run(http, tid, graph)
                except (RuntimeError, httpx.HTTPError):
                    errors += 1
                    await asyncio.sleep(0.05)
                    continue
                done.append((time.perf_counter(), ttfe, total))

        tasks = [asyncio.create_task(user(t)) for t in tids]
        await asyncio.sleep(warmup)
        pg_pids = _postgres_pids()
        opened, cpu0 = time.perf_counter(), machine_cpu_ticks()
        n0, p0 = _cpu(nexod_pids), _cpu(pg_pids)
        await asyncio.sleep(seconds)
        closed, cpu1 = time.perf_counter(), machine_cpu_ticks()
        n1, p1 = _cpu(nexod_pids), _cpu(pg_pids)
        stop.set()
        await asyncio.gather(*tasks)
    inside = [(t, f, tot) for t, f, tot in done if opened <= t <= closed]
    if not inside:
        raise RuntimeError(f"no run finished in the window ({errors} errors)")
    busy = machine_busy_cores(cpu0, cpu1)
    return Level(graph, workers, len(inside), closed - opened, Summary.of([f for _, f, _ in inside]),
                 Summary.of([tot for _, _, tot in inside]), errors,
                 None if busy is None else round(busy, 2),
                 round((n1 - n0) / len(inside) * 1000, 1), round((p1 - p0) / len(inside) * 1000, 1))


async def run(args: argparse.Namespace, console: Console) -> list[Level]:
    levels: list[Level] = []
    env = {"NEXOD_WORKERS": str(args.per_worker), "NEXOD_LOG_LEVEL": "warning"}
    with tempfile.TemporaryDirectory(prefix="nexod-scale-") as tmp, ExitStack() as stack:
        base = Path(tmp)
        redis = RedisServer(base / "redis")
        redis.start()
        stack.callback(redis.stop)
        url = stack.enter_context(postgres_database(args.database_url))
        common: dict[str, Any] = {"database_url": url, "redis_url": redis.url, "config": GRAPH_CONFIG,
                                  "extra_env": env}
        api = Server(base / "api", no_worker=True, **common)
        api.start()
        stack.callback(api.stop)
        procs: list[WorkerProcess] = []
        for n in args.workers:
            while len(procs) < n:
                w = WorkerProcess(base / f"worker{len(procs)}", **common)
                w.start()
                stack.callback(w.stop)
                procs.append(w)
            for graph in args.graphs:
                console.log(f"{graph}: {n} worker process(es), {args.clients} clients, "
                            f"{args.seconds:.0f} s window")
                pids = [api.pid, *(w.pid for w in procs)]
                levels.append(await measure(api.url, graph, n, args.clients, args.seconds, args.warmup, pids))
    return levels


def table(levels: list[Level], per_worker: int, clients: int) -> Table:
    t = Table(title=f"Runs/s and time-to-first-event by worker processes ({clients} clients, "
                    f"{per_worker} runs at once per worker; PostgreSQL + Redis, one API process)")
    for col in ("graph", "workers", "runs/s", "vs 1 worker", "TTFE p50", "TTFE p95", "run p50", "run p95",
                "errors", "machine CPU (cores)", "Nexod CPU/run", "PG CPU/run"):
        t.add_column(col, justify="right" if col != "graph" else "left")
    base: dict[str, float] = {}
    for lv in levels:
        base.setdefault(lv.graph, lv.rate)
        t.add_row(lv.graph, str(lv.workers), f"{lv.rate:.1f}", f"{lv.rate / base[lv.graph]:.2f}",
                  f"{lv.ttfe.p50 * 1000:.0f} ms", f"{lv.ttfe.p95 * 1000:.0f} ms",
                  f"{lv.latency.p50 * 1000:.0f} ms", f"{lv.latency.p95 * 1000:.0f} ms",
                  str(lv.errors), "-" if lv.machine_cpu is None else f"{lv.machine_cpu:.2f}",
                  f"{lv.nexod_cpu_ms:.0f} ms", f"{lv.postgres_cpu_ms:.0f} ms")
    t.caption = (f"Seed targets: API p95 < {SEED_API_P95 * 1000:.0f} ms (TTFE is an API call's first "
                 f"byte), agent response < {SEED_AGENT_RESPONSE:.0f} s (run p95). "
                 f"Machine: {os.cpu_count()} cores shared by clients, API, workers, PostgreSQL, Redis.")
    return t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/scale.py", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short windows (~1.5 minutes in all)")
    p.add_argument("--workers", default="1,2,4", help="worker process counts (default 1,2,4)")
    p.add_argument("--graphs", default="waiting_3,trivial_1", help="workloads (default both)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--per-worker", type=int, default=8, help="NEXOD_WORKERS of each worker (default 8)")
    p.add_argument("--seconds", type=float, help="measured window per level (default 10, quick 4)")
    p.add_argument("--database-url", default=os.environ.get("NEXOD_TEST_DATABASE_URL"))
    args = p.parse_args(argv)
    args.workers = [int(n) for n in args.workers.split(",")]
    args.graphs = args.graphs.split(",")
    args.seconds = args.seconds or (4.0 if args.quick else 10.0)
    args.warmup = 1.0 if args.quick else 2.0
    console = Console(width=max(Console().width, 150))
    if not args.database_url:
        console.print("[red]needs PostgreSQL: run `make bench-scale`, or set NEXOD_TEST_DATABASE_URL[/]")
        return 2
    if not RedisServer.available():
        console.print("[red]needs redis-server: run `make bench-scale`, which installs it[/]")
        return 2
    load = os.getloadavg()[0]
    console.print(f"load average at start: {load:.2f} (numbers inflate on a busy machine)")
    levels = asyncio.run(run(args, console))
    console.print(table(levels, args.per_worker, args.clients))
    return 0


if __name__ == "__main__":
    sys.exit(main())
