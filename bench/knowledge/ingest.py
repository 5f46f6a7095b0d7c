"""Ingest throughput: real text (man pages) through ``KnowledgeBase.ingest`` end to end.

Parsing, chunking, embedding (local MiniLM on ONNX Runtime), the SQL transaction and the
vector store write all count. Measured on embedded storage (SQLite + local store) and on
PostgreSQL + pgvector.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.knowledge.manpages import load

COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
           TextColumn("{task.fields[rate]}"))


async def ingest_pages(kb: Any, pages: list[Any], console: Console, label: str) -> tuple[int, float]:
    """Ingest ``pages``, showing progress with the running chunks/s; returns (chunks, seconds)."""
    from nexod.settings import LOCAL_ORG

    chunks = 0
    with Progress(*COLUMNS, console=console) as progress:
        task = progress.add_task(f"ingest ({label})", total=len(pages), rate="")
        started = time.perf_counter()
        for page in pages:
            doc, _ = await kb.ingest(LOCAL_ORG, page.text.encode(), source=page.source, namespace="man",
                                     content_type="text/plain")
            chunks += int(doc["chunk_count"])
            elapsed = time.perf_counter() - started
            progress.update(task, advance=1, rate=f"{chunks / elapsed:.0f} chunks/s")
    return chunks, time.perf_counter() - started


async def run_ingest(console: Console, *, pages: int, admin_url: str | None) -> list[dict[str, Any]]:
    """Chunks/s on each backend for the first ``pages`` man pages."""
    from nexod.cli_knowledge import open_kb
    from nexod.settings import Settings

    docs = load()[:pages]
    out = []
    with tempfile.TemporaryDirectory(prefix="nexod-kb-ingest-") as tmp:
        backends: list[tuple[str, dict[str, Any]]] = [("SQLite + local store", {"vector_store": "local"})]
        if admin_url:
            backends.append(("PostgreSQL + pgvector", {"vector_store": "pgvector"}))
        for label, extra in backends:
            if extra["vector_store"] == "pgvector":
                from tests.servers import postgres_database

                assert admin_url is not None
                with postgres_database(admin_url) as url:
                    settings = Settings(data_dir=Path(tmp) / "pg", database_url=url, **extra)
                    async with open_kb(settings) as kb:
                        await kb.embedder.setup()
                        chunks, seconds = await ingest_pages(kb, docs, console, label)
            else:
                settings = Settings(data_dir=Path(tmp) / "local", database_url=None, **extra)
                async with open_kb(settings) as kb:
                    await kb.embedder.setup()
                    chunks, seconds = await ingest_pages(kb, docs, console, label)
            out.append({"backend": label, "documents": len(docs), "chunks": chunks, "seconds": seconds,
                        "chunks_per_s": chunks / seconds, "docs_per_s": len(docs) / seconds})
    return out
