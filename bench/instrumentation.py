"""The cost of instrumentation: API latency and run time with metrics on and off, side by side.

``make bench-metrics`` (or ``.venv/bin/python bench/instrumentation.py [--quick] [--backend ...]``).
Two real ``nexod serve`` processes on the same backend and graphs, one with ``NEXOD_METRICS=true``
(the default: HTTP middleware timing, SQL timing through SQLAlchemy events, per-node callbacks,
run and event counters) and one with ``NEXOD_METRICS=false``. Every round sends each request to
both, in a shuffled order, so drift and other load hit both alike:

* API: ``GET /ok`` (no database), ``GET /threads/{id}``, ``GET /assistants/{id}``,
  ``POST /threads/search``, ``GET /threads/{id}/state``;
* runs: ``POST /threads/{id}/runs/wait`` of the 1-node and the 20-node trivial graph on a fresh
  thread (made beforehand, untimed), and the server's CPU per run from ``/proc``.

Then 20 ``GET /metrics`` scrapes of the instrumented server, timed, with the body's size. Request
ids are on in both servers (they cost a header).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.servers import Server, postgres_database  # noqa: E402

from bench.client import NexodClient, check_count  # noqa: E402
from bench.config import BENCH_DIR, GRAPH_CONFIG  # noqa: E402
from bench.cpu import process_cpu_seconds  # noqa: E402
from bench.stats import Summary  # noqa: E402

SIDES = ("off", "on")


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def measure(urls: dict[str, str], pids: dict[str, int | None], rounds: int, runs: int,
                  warmup: int) -> dict[str, dict[str, Summary]]:
    """Samples per (measurement, side), interleaved and shuffled."""
    samples: dict[str, dict[str, list[float]]] = {}
    async with NexodClient(urls["off"]) as off, NexodClient(urls["on"]) as on:
        clients = {"off": off, "on": on}
        fixtures = {}
        for side, c in clients.items():
            thread = await c.create_thread({"bench": "metrics"})
            await c.wait_run(thread, "trivial_20", {"count": 0})
            for _ in range(10):
                await c.create_thread({"tag": "x"})
            assistant = (await c.request("POST", "/assistants/search", {"limit": 1}))[0]["assistant_id"]
            fixtures[side] = (thread, assistant)

        def api_calls(side: str) -> dict[str, Callable[[], Awaitable[object]]]:
            c, (thread, assistant) = clients[side], fixtures[side]
            return {
                "GET /ok": lambda: c.request("GET", "/ok"),
                "GET /threads/{id}": lambda: c.request("GET", f"/threads/{thread}"),
                "GET /assistants/{id}": lambda: c.request("GET", f"/assistants/{assistant}"),
                "POST /threads/search": lambda: c.request(
                    "POST", "/threads/search", {"metadata": {"tag": "x"}, "limit": 10}),
                "GET /threads/{id}/state": lambda: c.request("GET", f"/threads/{thread}/state"),
            }

        order = random.Random(7)
        jobs = [(side, name) for side in SIDES for name in api_calls(side)]
        for i in range(warmup + rounds):
            order.shuffle(jobs)
            for side, name in jobs:
                elapsed = await timed(api_calls(side)[name])
                if i >= warmup:
                    samples.setdefault(name, {}).setdefault(side, []).append(elapsed)

        async def run(side: str, n: int) -> tuple[float, float | None]:
            c = clients[side]
            thread = await c.create_thread()
            cpu0 = process_cpu_seconds(pids[side])
            start = time.perf_counter()
            out = await c.wait_run(thread, f"trivial_{n}", {"count": 0})
            elapsed = time.perf_counter() - start
            await asyncio.sleep(0.02)  # the run's trailing event writes count as its CPU
            cpu1 = process_cpu_seconds(pids[side])
            check_count(out, n)
            return elapsed, None if cpu0 is None or cpu1 is None else cpu1 - cpu0

        kinds = [(side, n) for side in SIDES for n in (1, 20)]
        for i in range(warmup + runs):
            order.shuffle(kinds)
            for side, n in kinds:
                elapsed, cpu = await run(side, n)
                if i >= warmup:
                    samples.setdefault(f"run, {n} node(s)", {}).setdefault(side, []).append(elapsed)
                    if cpu is not None:
                        samples.setdefault(f"server CPU per run, {n} node(s)", {}).setdefault(side, []).append(cpu)
    return {k: {s: Summary.of(v) for s, v in by.items()} for k, by in samples.items()}


def start(side: str, backend: str, base: Path, stack: ExitStack, pg: str | None) -> Server:
    url = stack.enter_context(postgres_database(pg)) if backend == "postgres" and pg else None
    server = Server(base / f"{backend}-{side}", database_url=url, config=GRAPH_CONFIG, extra_env={
        "NEXOD_WORKERS": "16", "NEXOD_METRICS": "true" if side == "on" else "false"})
    server.start()
    stack.callback(server.stop)
    return server


def table(backend: str, results: dict[str, dict[str, Summary]], scrape: tuple[float, int]) -> str:
    lines = [
        f"**{backend}: metrics off vs on** (n per cell in the first column; ms)",
        "",
        "| Measurement | n | off p50 | off p95 | on p50 | on p95 | Δ p50 | Δ p95 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, by in results.items():
        off, on = by["off"], by["on"]
        if name.startswith("server CPU"):  # /proc counts 10 ms ticks: only the mean means much
            lines.append(f"| {name} (mean) | {off.n} | {off.mean * 1e3:.2f} | | {on.mean * 1e3:.2f} | | "
                         f"{(on.mean - off.mean) * 1e3:+.2f} | |")
            continue
        lines.append(
            f"| {name} | {off.n} | {off.p50 * 1e3:.2f} | {off.p95 * 1e3:.2f} | {on.p50 * 1e3:.2f} | "
            f"{on.p95 * 1e3:.2f} | {(on.p50 - off.p50) * 1e3:+.2f} | {(on.p95 - off.p95) * 1e3:+.2f} |")
    one, many = results["run, 1 node(s)"], results["run, 20 node(s)"]
    per_step = {s: (many[s].p50 - one[s].p50) / 19 for s in SIDES}
    lines += ["", f"Per step (p50, (t20 - t1) / 19): off {per_step['off'] * 1e3:.3f} ms, on "
              f"{per_step['on'] * 1e3:.3f} ms ({(per_step['on'] - per_step['off']) * 1e3:+.3f} ms).",
              f"`GET /metrics` of the instrumented server afterwards (p50 of 20 scrapes, queue "
              f"read included): {scrape[0] * 1e3:.1f} ms, {scrape[1] / 1024:.1f} KiB.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="fewer samples (about a minute)")
    parser.add_argument("--database-url", default=None, help="PostgreSQL admin URL [NEXOD_TEST_DATABASE_URL]")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    import os

    pg = args.database_url or os.environ.get("NEXOD_TEST_DATABASE_URL")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in backends and not pg:
        print("no PostgreSQL (NEXOD_TEST_DATABASE_URL): measuring SQLite only", file=sys.stderr)
        backends = ["sqlite"]
    rounds, runs, warmup = (60, 30, 3) if args.quick else (300, 150, 10)
    load = os.getloadavg()[0]
    out = [f"Instrumentation cost, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, 1-minute load {load:.2f} "
           f"at start, {os.cpu_count()} cores; {rounds} rounds of API calls, {runs} runs of each size.", ""]
    print(out[0], file=sys.stderr)
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="nexod-bench-metrics-") as tmp, ExitStack() as stack:
            servers = {side: start(side, backend, Path(tmp), stack, pg) for side in SIDES}
            print(f"{backend}: measuring", file=sys.stderr)
            results = asyncio.run(measure({s: v.url for s, v in servers.items()},
                                          {s: v.proc.pid if v.proc else None for s, v in servers.items()},
                                          rounds, runs, warmup))
            scrapes, size = [], 0
            with httpx.Client(base_url=servers["on"].url, timeout=30) as http:
                for _ in range(21):
                    t0 = time.perf_counter()
                    size = len(http.get("/metrics").content)
                    scrapes.append(time.perf_counter() - t0)
            scrape = (Summary.of(scrapes[1:]).p50, size)
        out.append(table("SQLite" if backend == "sqlite" else "PostgreSQL", results, scrape))
    out.append(f"1-minute load at the end: {os.getloadavg()[0]:.2f}")
    text = "\n".join(out)
    print(text)
    if not args.no_save:
        results_dir = BENCH_DIR / "results"
        results_dir.mkdir(exist_ok=True)
        (results_dir / f"metrics-{datetime.now(UTC):%Y%m%dT%H%M%S}.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
