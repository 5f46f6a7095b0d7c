"""L3 response cache: API p50 / p95 for cached and uncached reads, and the hit ratio under a
repeated-read load, beside the seed's API p95 < 300 ms target.

``make bench-cache`` (or ``.venv/bin/python bench/cache.py [--quick]``). For each storage
(PostgreSQL + a private Redis, the production column; SQLite + the in-memory cache, embedded)
one ``nexod serve`` with ``NEXOD_AUTH=apikey`` is measured twice: with the L3 cache off
(``NEXOD_API_CACHE_TTL=0``) and on (60 s). C clients each send R requests, drawn in a fixed
rotation from the assistant read endpoints (get, search, count, versions, schemas), every
request authenticated with an API key; one client in C also renames an assistant every
``--write-every`` requests, so writes invalidate the tenant's cached reads as in real use.
The hit ratio is hits / (hits + misses) from the ``X-Cache`` response header.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.servers import RedisServer, Server, postgres_database  # noqa: E402

from bench.config import GRAPH_CONFIG, SEED_API_P95  # noqa: E402
from bench.stats import Summary  # noqa: E402


@dataclass
class Phase:
    """One (storage, cache on/off) measurement."""

    storage: str
    cached: bool
    latency: Summary
    hits: int
    misses: int
    errors: int
    seconds: float

    @property
    def hit_ratio(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None


def _key(data_dir: Path, env: dict[str, str]) -> str:
    cmd = [sys.executable, "-m", "nexod.cli", "keys", "create", "--name", "bench", "--scope", "read",
           "--scope", "write", "--scope", "administer"]
    return subprocess.run(cmd, env={**env, "NEXOD_DATA_DIR": str(data_dir)}, capture_output=True,
                          text=True, check=True).stdout.strip()


async def _load(url: str, key: str, *, clients: int, requests: int, write_every: int) -> tuple[list[float], int, int, int]:
    headers = {"x-api-key": key}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as c:
        mine = await c.post("/assistants", json={"graph_id": "trivial_1", "name": "bench"})
        mine.raise_for_status()
        aid = mine.json()["assistant_id"]
        calls = [
            ("GET", f"/assistants/{aid}", None),
            ("POST", "/assistants/search", {"graph_id": "trivial_1", "limit": 10}),
            ("POST", "/assistants/count", {}),
            ("POST", f"/assistants/{aid}/versions", {"limit": 5}),
            ("GET", f"/assistants/{aid}/schemas", None),
        ]
        samples: list[float] = []
        counts = {"hit": 0, "miss": 0, "error": 0}

        async def client(n: int) -> None:
            for i in range(requests):
                if n == 0 and write_every and i and i % write_every == 0:
                    await c.patch(f"/assistants/{aid}", json={"name": f"bench-{i}"})
                method, path, body = calls[(i + n) % len(calls)]
                start = time.perf_counter()
                r = await c.request(method, path, json=body)
                samples.append(time.perf_counter() - start)
                if r.status_code != 200:
                    counts["error"] += 1
                state = r.headers.get("x-cache")
                if state in counts:
                    counts[state] += 1

        await asyncio.gather(*(client(n) for n in range(clients)))
    return samples, counts["hit"], counts["miss"], counts["error"]


def _phase(storage: str, cached: bool, work: Path, stack: ExitStack, args: argparse.Namespace) -> Phase:
    env: dict[str, str] = {"NEXOD_AUTH": "apikey", "NEXOD_API_CACHE_TTL": "60" if cached else "0",
                           "NEXOD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"}
    database_url = redis_url = None
    if storage == "postgres":
        admin = args.database_url
        database_url = stack.enter_context(postgres_database(admin))
        redis = RedisServer(work / "redis")
        redis.start()
        stack.callback(redis.stop)
        redis_url = redis.url
        env.update(NEXOD_DATABASE_URL=database_url, NEXOD_REDIS_URL=redis_url)
    data = work / f"{storage}-{'on' if cached else 'off'}"
    data.mkdir(parents=True)
    key = _key(data, env)
    server = Server(data, database_url=database_url, redis_url=redis_url, config=GRAPH_CONFIG,
                    extra_env={k: v for k, v in env.items() if k.startswith("NEXOD_") and k not in (
                        "NEXOD_DATABASE_URL", "NEXOD_REDIS_URL")})
    server.start()
    try:
        began = time.perf_counter()
        samples, hits, misses, errors = asyncio.run(_load(
            server.url, key, clients=args.clients, requests=args.requests, write_every=args.write_every))
        seconds = time.perf_counter() - began
    finally:
        server.stop()
    warm = samples[args.clients * 2:]  # the first rounds fill the cache and the pools
    return Phase(storage, cached, Summary.of(warm), hits, misses, errors, seconds)


def main() -> None:
    import os

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=150, help="requests per client")
    p.add_argument("--write-every", type=int, default=100, help="one write per N requests of client 0")
    p.add_argument("--quick", action="store_true", help="4 clients x 50 requests")
    p.add_argument("--database-url", default=os.environ.get("NEXOD_TEST_DATABASE_URL"))
    args = p.parse_args()
    if args.quick:
        args.clients, args.requests = 4, 50
    storages = ["sqlite"] + (["postgres"] if args.database_url else [])
    console = Console(stderr=True)
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="nexod-bench-cache-") as tmp:
        for storage in storages:
            for cached in (False, True):
                console.print(f"{storage}: cache {'on' if cached else 'off'} — "
                              f"{args.clients} clients x {args.requests} reads")
                with ExitStack() as stack:
                    phases.append(_phase(storage, cached, Path(tmp) / f"{storage}{int(cached)}", stack, args))
    table = Table(title=f"API reads, L3 cache off vs on (seed target: API p95 < {SEED_API_P95 * 1000:.0f} ms)")
    for col in ("storage", "L3 cache", "requests", "p50 ms", "p95 ms", "hit ratio", "errors", "p95 target"):
        table.add_column(col)
    for ph in phases:
        ratio = "-" if ph.hit_ratio is None else f"{ph.hit_ratio:.1%}"
        ok = "met" if ph.latency.p95 < SEED_API_P95 else "MISSED"
        label = "PostgreSQL + Redis" if ph.storage == "postgres" else "SQLite + memory"
        table.add_row(label, "on (60 s)" if ph.cached else "off", str(ph.latency.n),
                      f"{ph.latency.p50 * 1000:.1f}", f"{ph.latency.p95 * 1000:.1f}", ratio,
                      str(ph.errors), ok)
    Console(width=120).print(table)
    if any(ph.errors for ph in phases):
        sys.exit(1)


if __name__ == "__main__":
    main()
