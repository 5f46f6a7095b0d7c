"""The ``bench/run.py`` command: parse options, measure each backend, print and save the tables."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from bench.config import Backend, BenchConfig, BenchError
from bench.report import all_tables, to_markdown, to_rich
from bench.suite import BackendResult, run_backend

T = TypeVar("T")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; see ``--help``."""
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Nexod's platform overhead, runs/s and API latency on SQLite and PostgreSQL, "
                    "beside the seed's targets. `make bench` starts PostgreSQL and runs this.",
    )
    p.add_argument("--quick", action="store_true", help="a ~1 minute run with fewer samples")
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both",
                   help="storage to measure (default: both)")
    p.add_argument("--repetitions", type=int, help="timed runs of each kind for the overhead")
    p.add_argument("--api-requests", type=int, help="sequential requests per API endpoint")
    p.add_argument("--seconds", type=float, help="measured window per concurrency level")
    p.add_argument("--concurrency", help="comma-separated client counts (default 1,16,64)")
    p.add_argument("--steps", type=int, help="nodes in the large trivial graph (default 20)")
    p.add_argument("--workers", type=int, help="NEXOD_WORKERS of the server (default 64)")
    p.add_argument("--database-url", default=os.environ.get("NEXOD_TEST_DATABASE_URL"),
                   help="PostgreSQL admin URL (default: $NEXOD_TEST_DATABASE_URL)")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json|md")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace, warn: Console) -> BenchConfig:
    """The preset chosen by ``--quick``, with any explicit option applied on top."""
    backends: tuple[Backend, ...] = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    if args.backend == "both" and not args.database_url:
        warn.print("[yellow]NEXOD_TEST_DATABASE_URL is not set: measuring SQLite only "
                   "(`make bench` starts PostgreSQL and sets it)[/]")
        backends = ("sqlite",)
    if "postgres" in backends and not args.database_url:
        raise BenchError("PostgreSQL needs NEXOD_TEST_DATABASE_URL or --database-url: run `make bench`, "
                         'which starts it, or `eval "$(bash scripts/services.sh)"` first')
    overrides: dict[str, object] = {"backends": backends, "pg_admin_url": args.database_url}
    for key, value in (("repetitions", args.repetitions), ("api_requests", args.api_requests),
                       ("throughput_seconds", args.seconds), ("steps", args.steps), ("workers", args.workers)):
        if value is not None:
            overrides[key] = value
    if args.concurrency:
        overrides["concurrency"] = tuple(int(c) for c in args.concurrency.split(","))
    if args.no_save:
        overrides["results_dir"] = None
    cfg = BenchConfig.quick(**overrides) if args.quick else BenchConfig.full(**overrides)
    if cfg.steps < 2 or cfg.repetitions < 1 or cfg.api_requests < 1 or not cfg.concurrency:
        raise BenchError("--steps must be at least 2, and --repetitions, --api-requests, "
                         "--concurrency at least 1")
    return cfg


def environment() -> dict[str, Any]:
    """Facts about this machine and the software measured, printed and saved with the results."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "load_1min_at_start": round(load[0], 2) if load else None,
        "python": platform.python_version(),
        "versions": {pkg: version(pkg) for pkg in ("nexod", "langgraph", "langgraph-checkpoint-sqlite",
                                                     "langgraph-checkpoint-postgres")},
    }


async def measure(cfg: BenchConfig, log: Console) -> list[BackendResult]:
    """Run every backend in turn, each against its own fresh server and database."""
    results = []
    with tempfile.TemporaryDirectory(prefix="nexod-bench-") as tmp:
        for backend in cfg.backends:
            results.append(await run_backend(backend, cfg, Path(tmp) / backend, log.log))
    return results


def save(cfg: BenchConfig, env: dict[str, Any], results: list[BackendResult], markdown: str) -> Path | None:
    """Write ``<timestamp>.json`` (raw numbers) and ``<timestamp>.md`` (the tables)."""
    if cfg.results_dir is None:
        return None
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    data = {"environment": env, "config": {k: str(v) if isinstance(v, Path) else v
                                           for k, v in vars(cfg).items() if k != "pg_admin_url"},
            "results": [r.as_dict() for r in results]}
    (cfg.results_dir / f"{stamp}.json").write_text(json.dumps(data, indent=2, default=str))
    (cfg.results_dir / f"{stamp}.md").write_text(markdown)
    return cfg.results_dir / f"{stamp}.md"


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop when installed, as the server does."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    out, log = Console(), Console(stderr=True)
    if not out.is_terminal:  # piped to a file: wide enough that no table wraps
        out = Console(width=170)
    try:
        cfg = build_config(parse_args(argv), log)
    except BenchError as exc:
        log.print(f"[red]bench: {exc}[/]")
        return 2
    env = environment()
    load, cpus = env["load_1min_at_start"], env["cpus"] or 1
    log.log(f"Nexod bench {env['date']}: {cpus} CPUs, load {load}, backends {', '.join(cfg.backends)}"
            f" ({cfg.preset} run)")
    if load is not None and load > 0.25 * cpus:
        log.print(f"[yellow]the machine is busy (1-minute load {load} on {cpus} CPUs): "
                  "expect noisy numbers[/]")
    try:
        results = _run(measure(cfg, log))
    except BenchError as exc:
        log.print(f"[red]bench: {exc}[/]")
        return 1
    env["load_1min_at_end"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    tables = all_tables(results)
    for table in tables:
        out.print(to_rich(table))
        out.print()
    header = (f"Measured {env['date']} on {cpus} CPUs (1-minute load {load} at start, "
              f"{env['load_1min_at_end']} at the end), Python {env['python']}, "
              f"nexod {env['versions']['nexod']}, langgraph {env['versions']['langgraph']}.\n\n")
    path = save(cfg, env, results, header + "\n".join(to_markdown(t) for t in tables))
    took = ", ".join(f"{r.label} {r.seconds:.0f} s" for r in results)
    log.log(f"done ({took})" + (f"; tables and raw numbers in {path.parent}/{path.stem}.*" if path else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
