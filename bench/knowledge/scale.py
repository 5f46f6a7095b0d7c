"""Vector search at 10k / 100k / 1M chunks: local store and pgvector side by side.

Vectors are synthetic (384-d, unit length) and clustered at two scales, like embeddings of
documents about topics and sub-topics: 1,000 topic centres; each point = its topic centre +
0.6 x one of 20 sub-topic offsets + 0.35 x its own noise (all standard normal), normalised.
Queries are 200 fresh points from the same distribution. Recall@10 is measured against exact
search (numpy, in blocks). Each store is searched one query at a time, in process, through its
public ``query`` method (the local store's thread hop and pgvector's SQL round trip included),
at several HNSW search breadths (``ef``).

Both stores are loaded through their ``bulk_upsert``: the local store takes the vectors in
batches with its HNSW index kept current (usearch, batch ``add`` on every core); pgvector
``COPY``s the rows (binary) into an empty table and builds its HNSW index once afterwards
(the settings' m and ef_construction unless told otherwise, ``maintenance_work_mem`` 6 GB so the graph is built in memory, one
parallel helper). The machine's 1-minute load average is recorded around every phase.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.stats import Summary

DIM = 384
QUERIES = 200
WARMUP = 20
K = 10
MODEL = "bench:synthetic-384"
LOCAL_EFS = (64, 128, 256, 512, 1024)
PG_EFS = (40, 100, 200, 400, 800)
PG_M, PG_EF_CONSTRUCTION = 16, 64


def load_avg() -> str:
    """The 1-minute load average, for the notes."""
    return f"{os.getloadavg()[0]:.1f}"


@dataclass
class LocalConfig:
    """The local store's HNSW settings under test."""

    m: int = 16
    ef_construction: int = 64
    dtype: str = "f32"
    efs: tuple[int, ...] = LOCAL_EFS


def clustered(n: int, seed: int, topics: int = 1000, subtopics: int = 20) -> np.ndarray[Any, Any]:
    """``n`` unit vectors clustered at two scales (see the module docstring); deterministic."""
    rng = np.random.default_rng(12345)  # the same topics for the data and its queries
    centres = rng.standard_normal((topics, DIM), dtype=np.float32)
    offsets = rng.standard_normal((topics, subtopics, DIM), dtype=np.float32) * 0.6
    out = np.empty((n, DIM), dtype=np.float32)
    gen = np.random.default_rng(seed)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        t = gen.integers(0, topics, m)
        s = gen.integers(0, subtopics, m)
        block = centres[t] + offsets[t, s] + 0.35 * gen.standard_normal((m, DIM), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + m] = block
    return out


def exact_top(data: np.ndarray[Any, Any], queries: np.ndarray[Any, Any], k: int = K) -> list[set[int]]:
    """The true top-``k`` rows for each query (inner product = cosine on unit vectors)."""
    best = np.full((len(queries), k), -np.inf, dtype=np.float32)
    idx = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(data), 200_000):
        block = queries @ data[start : start + 200_000].T
        cand = np.concatenate([best, block], axis=1)
        cidx = np.concatenate([idx, np.arange(start, start + block.shape[1])[None, :].repeat(len(queries), 0)], axis=1)
        part = np.argpartition(-cand, k - 1, axis=1)[:, :k]
        best = np.take_along_axis(cand, part, 1)
        idx = np.take_along_axis(cidx, part, 1)
    return [set(map(int, row)) for row in idx]


@dataclass
class SearchRow:
    """Search latency and recall of one store at one size and one ``ef``."""

    store: str
    size: int
    ef: int
    latency: Summary
    recall: float
    load: str = ""


@dataclass
class LoadRow:
    """How long a store took to take ``size`` vectors and build its index."""

    store: str
    size: int
    load_seconds: float
    index_seconds: float
    notes: str = ""


@dataclass
class ScaleResult:
    """Everything the scale benchmark measured."""

    searches: list[SearchRow] = field(default_factory=list)
    loads: list[LoadRow] = field(default_factory=list)
    ingest: list[dict[str, Any]] = field(default_factory=list)


async def time_queries(query: Callable[[np.ndarray[Any, Any]], Any], queries: np.ndarray[Any, Any],
                       truth: list[set[int]]) -> tuple[Summary, float]:
    """Latency summary and recall@10 of ``query`` over ``queries``."""
    for q in queries[:WARMUP]:
        await query(q)
    samples, found = [], 0
    for q, want in zip(queries, truth, strict=True):
        t0 = time.perf_counter()
        hits = await query(q)
        samples.append(time.perf_counter() - t0)
        found += len(want & {int(h.id) for h in hits})
    return Summary.of(samples), found / (K * len(queries))


async def bench_local(size: int, data: np.ndarray[Any, Any], queries: np.ndarray[Any, Any],
                      truth: list[set[int]], root: Path, log: Callable[[str], None],
                      cfg: LocalConfig) -> tuple[LoadRow, list[SearchRow]]:
    """Load ``data`` into a fresh local store and search it at each ``ef``."""
    from nexod.knowledge.vectors.base import VectorRecord
    from nexod.knowledge.vectors.local import LocalVectorStore

    store = LocalVectorStore(root / f"local-{size}", model=MODEL, dim=DIM, m=cfg.m,
                             ef_construction=cfg.ef_construction, dtype=cfg.dtype)
    await store.setup()
    before = load_avg()
    started = time.perf_counter()

    def progress(done: int) -> None:
        if done % 100_000 == 0 or done == size:
            log(f"local {size:,}: {done:,} vectors in {time.perf_counter() - started:.0f} s (load {load_avg()})")

    timings = await store.bulk_upsert("bench", [VectorRecord(str(i), data[i]) for i in range(size)], progress)
    load = timings["load_s"]
    space = store._spaces["bench"]  # the bench reads internals to report how the store searches
    kind = ("exact (below NEXOD_KB_EXACT_BELOW)" if space.ann is None
            else f"usearch HNSW {cfg.dtype}{' (re-scored in f32)' if cfg.dtype != 'f32' else ''}, "
                 f"M={cfg.m}, ef_construction={cfg.ef_construction}")
    rows = []
    for ef in cfg.efs if space.ann is not None else (0,):
        if space.ann is not None:
            space.ann.expansion_search = ef
        latency, recall = await time_queries(lambda q: store.query("bench", q, k=K), queries, truth)
        rows.append(SearchRow("local", size, ef, latency, recall, load_avg()))
        log(f"local {size:,} ef={ef}: p50 {latency.p50 * 1000:.2f} ms p95 {latency.p95 * 1000:.2f} ms "
            f"recall {recall:.3f} (load {load_avg()})")
    await store.aclose()
    return LoadRow("local", size, load, 0.0, f"{kind}; load avg {before} -> {load_avg()}"), rows


async def bench_pgvector(size: int, data: np.ndarray[Any, Any], queries: np.ndarray[Any, Any],
                         truth: list[set[int]], admin_url: str, log: Callable[[str], None],
                         efs: tuple[int, ...] = PG_EFS, m: int = PG_M,
                         ef_construction: int = PG_EF_CONSTRUCTION) -> tuple[LoadRow, list[SearchRow]]:
    """COPY ``data`` into pgvector on a fresh database, build HNSW once, search at each ``ef``."""
    from tests.servers import postgres_database

    from nexod.knowledge.vectors.base import VectorRecord
    from nexod.knowledge.vectors.pgvector import PgVectorStore

    with postgres_database(admin_url) as url:
        store = PgVectorStore(url, model=MODEL, dim=DIM, m=m, ef_construction=ef_construction)
        await store.setup()
        before = load_avg()
        started = time.perf_counter()

        def progress(done: int) -> None:
            if done % 100_000 == 0 or done == size:
                log(f"pgvector {size:,}: {done:,} rows copied in {time.perf_counter() - started:.0f} s "
                    f"(load {load_avg()})")

        timings = await store.bulk_upsert("bench", [VectorRecord(str(i), data[i]) for i in range(size)], progress,
                                          maintenance_work_mem="6GB", parallel_workers=1)
        log(f"pgvector {size:,}: COPY {timings['load_s']:.0f} s, HNSW built in {timings['index_s']:.0f} s "
            f"(load {load_avg()})")
        await store.aclose()
        rows = []
        for ef in efs:
            searcher = PgVectorStore(url, model=MODEL, dim=DIM, ef_search=ef, pool_size=1)
            latency, recall = await time_queries(lambda q, s=searcher: s.query("bench", q, k=K), queries, truth)
            rows.append(SearchRow("pgvector", size, ef, latency, recall, load_avg()))
            log(f"pgvector {size:,} ef={ef}: p50 {latency.p50 * 1000:.2f} ms p95 {latency.p95 * 1000:.2f} ms "
                f"recall {recall:.3f} (load {load_avg()})")
            await searcher.aclose()
    note = (f"COPY (binary), then HNSW m={m}, ef_construction={ef_construction} built once; "
            f"load avg {before} -> {load_avg()}")
    return LoadRow("pgvector", size, timings["load_s"], timings["index_s"], note), rows


async def run_scale(sizes: list[int], *, admin_url: str | None, root: Path,
                    log: Callable[[str], None], stores: tuple[str, ...] = ("local", "pgvector"),
                    local: LocalConfig | None = None, pg_efs: tuple[int, ...] = PG_EFS,
                    pg_build: tuple[int, int] = (PG_M, PG_EF_CONSTRUCTION)) -> ScaleResult:
    """Every size on every store; pgvector only with an admin URL."""
    result = ScaleResult()
    biggest = max(sizes)
    log(f"generating {biggest:,} clustered vectors")
    data = clustered(biggest, seed=1)
    queries = clustered(QUERIES, seed=2)
    for size in sorted(sizes):
        truth = exact_top(data[:size], queries)
        if "local" in stores:
            load, rows = await bench_local(size, data, queries, truth, root, log, local or LocalConfig())
            result.loads.append(load)
            result.searches += rows
        if admin_url and "pgvector" in stores:
            load, rows = await bench_pgvector(size, data, queries, truth, admin_url, log, pg_efs, *pg_build)
            result.loads.append(load)
            result.searches += rows
        await asyncio.sleep(0)
    return result


def new_namespace() -> str:
    """A throwaway namespace name."""
    return f"bench-{uuid.uuid4().hex[:8]}"
