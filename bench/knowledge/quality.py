"""Retrieval quality of keyword, semantic and hybrid search on the man-page set (see ``manpages``).

Everything goes through the product path: documents are ingested by ``KnowledgeBase.ingest``
(parsing, chunking, local MiniLM embeddings) into embedded storage (SQLite FTS5 for keywords,
the local vector store), and each query through ``KnowledgeBase.search`` in each mode.
Chunk hits are folded into documents (a document ranks where its best chunk ranks).
Metrics are the standard binary-relevance ones, computed here (a few lines each):
nDCG@10 = 1 / log2(1 + rank) of the relevant document (0 past rank 10; the ideal DCG is 1
with one relevant document), recall@10 = share of queries whose document is in the top 10,
MRR@10 likewise.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.knowledge.manpages import Page, load

MODES = ("keyword", "semantic", "hybrid")
CUTOFF = 10


@dataclass
class QualityResult:
    """Metrics per mode, plus the set and ingest numbers."""

    documents: int
    queries: int
    chunks: int
    ingest_seconds: float
    metrics: dict[str, dict[str, float]]
    latency_ms: dict[str, float]


def doc_ranking(sources: list[str]) -> list[str]:
    """Distinct documents in order of their best chunk."""
    seen: dict[str, None] = {}
    for s in sources:
        seen.setdefault(s, None)
    return list(seen)


def scores(rankings: list[tuple[list[str], str]]) -> dict[str, float]:
    """nDCG@10, recall@10 and MRR@10 for (ranked documents, the relevant one) pairs."""
    ndcg = recall = mrr = 0.0
    for ranked, relevant in rankings:
        top = ranked[:CUTOFF]
        if relevant in top:
            rank = top.index(relevant) + 1
            ndcg += 1.0 / math.log2(1 + rank)
            recall += 1.0
            mrr += 1.0 / rank
    n = len(rankings) or 1
    return {"ndcg@10": ndcg / n, "recall@10": recall / n, "mrr@10": mrr / n}


async def run_quality(console: Console, *, limit: int | None = None, data_dir: Path | None = None) -> QualityResult:
    """Ingest the set into a fresh embedded knowledge base and score every mode."""
    from nexod.cli_knowledge import open_kb
    from nexod.settings import LOCAL_ORG, Settings

    pages: list[Page] = load()
    if limit:
        pages = pages[:limit]
    with tempfile.TemporaryDirectory(prefix="nexod-kb-quality-") as tmp:
        settings = Settings(data_dir=data_dir or Path(tmp), database_url=None, vector_store="local")
        async with open_kb(settings) as kb:
            await kb.embedder.setup()
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            chunks = 0
            with Progress(*columns, console=console) as progress:
                task = progress.add_task("ingest man pages", total=len(pages))
                started = time.perf_counter()
                for page in pages:
                    doc, _ = await kb.ingest(LOCAL_ORG, page.text.encode(), source=page.source, namespace="man",
                                             content_type="text/plain")
                    chunks += int(doc["chunk_count"])
                    progress.advance(task)
                ingest_seconds = time.perf_counter() - started
                metrics: dict[str, dict[str, float]] = {}
                latency: dict[str, float] = {}
                for mode in MODES:
                    task = progress.add_task(f"search ({mode})", total=len(pages))
                    pairs: list[tuple[list[str], str]] = []
                    spent = 0.0
                    for page in pages:
                        t0 = time.perf_counter()
                        hits = await kb.search(LOCAL_ORG, page.summary, namespace="man", k=30, mode=mode)  # type: ignore[arg-type]
                        spent += time.perf_counter() - t0
                        pairs.append((doc_ranking([h.source for h in hits]), page.source))
                        progress.advance(task)
                    metrics[mode] = scores(pairs)
                    latency[mode] = spent / len(pages) * 1000
    return QualityResult(len(pages), len(pages), chunks, ingest_seconds, metrics, latency)


def quality_table(result: QualityResult) -> tuple[str, list[str], list[list[Any]]]:
    """Title, header and rows of the quality table."""
    rows = [[mode, f"{m['ndcg@10']:.3f}", f"{m['recall@10']:.3f}", f"{m['mrr@10']:.3f}",
             f"{result.latency_ms[mode]:.1f} ms"] for mode, m in result.metrics.items()]
    title = (f"Retrieval quality: Linux man pages (manpages + manpages-dev), {result.documents} documents "
             f"({result.chunks} chunks), {result.queries} queries, one relevant document each")
    return title, ["Mode", "nDCG@10", "Recall@10", "MRR@10", "Mean search time (in process)"], rows
