"""Explore the local store's HNSW settings (usearch directly, no store around it).

``python -m bench.knowledge.hnsw_explore --n 200000 --topics 200 --configs 16:64:f32,32:128:f32``

Builds one usearch index per configuration ``M:ef_construction:dtype`` (batch ``add`` on all
cores, as the store's ``_build_ann`` does) over the scale benchmark's clustered vectors, then
searches 200 queries one at a time at each ``ef`` and prints build time, p50 / p95 and recall@10
against exact search. ``--topics`` scales the number of topics down with ``--n`` so that a
smaller set keeps the 1M set's density (50 points per sub-topic at 1,000 topics x 20 at 1M):
``--n 200000 --topics 200`` is as crowded locally as the 1M benchmark. Quantised indexes
(``f16``, ``i8``) are searched as the store searches them: metric ``cos``, ``RERANK`` x 10
candidates re-scored exactly with the f32 vectors.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

from bench.knowledge.scale import QUERIES, K, clustered, exact_top
from bench.stats import Summary
from nexod.knowledge.vectors.local import RERANK


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--topics", type=int, default=1000)
    p.add_argument("--configs", default="16:64:f32")
    p.add_argument("--efs", default="64,128,256,512")
    args = p.parse_args(argv)
    from nexod.knowledge.native import load_usearch

    Index = load_usearch()
    data = clustered(args.n, seed=1, topics=args.topics)
    queries = clustered(QUERIES, seed=2, topics=args.topics)
    truth = exact_top(data, queries)
    print(f"n={args.n:,} topics={args.topics} load={os.getloadavg()[0]:.2f}", flush=True)
    for cfg in args.configs.split(","):
        m, efc, dtype = cfg.split(":")
        ann: Any = Index(ndim=data.shape[1], metric="ip" if dtype == "f32" else "cos", dtype=dtype, connectivity=int(m),
                         expansion_add=int(efc))
        t0 = time.perf_counter()
        ann.add(np.arange(args.n, dtype=np.uint64), data, threads=os.cpu_count() or 1)
        build = time.perf_counter() - t0
        print(f"M={m} efc={efc} {dtype}: build {build:.1f} s ({args.n / build:,.0f}/s), "
              f"{ann.memory_usage / 2**20:.0f} MiB, load {os.getloadavg()[0]:.2f}", flush=True)
        for ef in (int(e) for e in args.efs.split(",")):
            ann.expansion_search = ef
            fetch = K if dtype == "f32" else K * RERANK
            for q in queries[:20]:
                ann.search(q, fetch, threads=1)
            samples, found = [], 0
            for q, want in zip(queries, truth, strict=True):
                t = time.perf_counter()
                res = ann.search(q, fetch, threads=1)
                keys = res.keys.astype(np.int64)
                if dtype != "f32":
                    keys = keys[np.argsort(-(data[keys] @ q))[:K]]
                samples.append(time.perf_counter() - t)
                found += len(want & set(map(int, keys[:K])))
            s = Summary.of(samples)
            print(f"  ef={ef}: p50 {s.p50 * 1000:.2f} ms p95 {s.p95 * 1000:.2f} ms "
                  f"recall@10 {found / (K * len(queries)):.3f}", flush=True)
        del ann
    return 0


if __name__ == "__main__":
    sys.exit(main())
