"""What a benchmark run does (sizes, durations, backends) and the targets it is judged by."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Backend = Literal["sqlite", "postgres"]
BACKEND_LABELS: dict[Backend, str] = {"sqlite": "SQLite", "postgres": "PostgreSQL"}

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
GRAPHS_DIR = BENCH_DIR / "graphs"
GRAPH_CONFIG = GRAPHS_DIR / "langgraph.json"
DEFAULT_STEPS = 20
"""The N of the large trivial graph; ``graphs/langgraph.json`` names ``trivial_1`` and ``trivial_20``."""

# The seed's latency targets (shared/seed/infrastructure.md, "Latency Targets"), in seconds.
SEED_API_P95 = 0.300
SEED_AGENT_RESPONSE = 5.0
SEED_DATABASE = 0.050
# Our own aim, well below the seed: single-digit milliseconds of platform overhead per step
# (and so per one-step run).
AIM_OVERHEAD = 0.010


@dataclass(frozen=True)
class BenchConfig:
    """Every knob of one benchmark run; :meth:`full` and :meth:`quick` are the two presets."""

    preset: Literal["full", "quick"]
    """Which preset the run started from (options may have changed some values)."""
    backends: tuple[Backend, ...]
    """Storage backends to measure, in order."""
    repetitions: int
    """Timed runs of each kind (Nexod and bare LangGraph, 1 node and N nodes) for the overhead."""
    warmup: int
    """Untimed runs of each kind before the timed ones."""
    steps: int
    """N, the size of the large trivial graph (the small one has a single node)."""
    api_requests: int
    """Sequential timed requests per API endpoint."""
    concurrency: tuple[int, ...]
    """Client counts for the runs/s measurement."""
    throughput_seconds: float
    """Measured window per concurrency level."""
    throughput_warmup: float
    """Seconds of load before each measured window (not counted)."""
    workers: int
    """``NEXOD_WORKERS`` of the server under test: runs it executes at once."""
    pg_admin_url: str | None
    """Admin URL of the PostgreSQL server; a fresh database is made on it for each use."""
    results_dir: Path | None
    """Where JSON and Markdown results are written (None: nowhere)."""

    @classmethod
    def full(cls, **overrides: object) -> BenchConfig:
        """The default run: about two minutes per backend on a 2-core machine."""
        values: dict[str, object] = {
            "preset": "full", "backends": ("sqlite", "postgres"), "repetitions": 150, "warmup": 10,
            "steps": DEFAULT_STEPS, "api_requests": 300, "concurrency": (1, 16, 64),
            "throughput_seconds": 8.0, "throughput_warmup": 1.5, "workers": 64,
            "pg_admin_url": None, "results_dir": BENCH_DIR / "results",
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def quick(cls, **overrides: object) -> BenchConfig:
        """A smoke-sized run (about a minute for both backends): same phases, fewer samples."""
        values: dict[str, object] = {
            "preset": "quick", "repetitions": 25, "warmup": 4, "api_requests": 60,
            "throughput_seconds": 2.0, "throughput_warmup": 0.5,
        }
        values.update(overrides)
        return cls.full(**values)


class BenchError(Exception):
    """The benchmark cannot go on (a server failed, a request was refused, a result was wrong)."""
