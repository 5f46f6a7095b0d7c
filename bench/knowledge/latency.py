"""Search as a user meets it: through a running server's API, and ``nexod search`` from cold.

A real ``nexod serve`` (SQLite + local store, and PostgreSQL + pgvector when a database is
given) holds the first ``pages`` man pages, ingested through ``POST /knowledge/documents``;
each man-page summary is then sent as ``POST /knowledge/search`` in each mode, one request at
a time, timed at the client (HTTP, query embedding, vector and keyword search, fusion, SQL
reads of the hits). The cold start runs ``nexod search`` as a new process each time: Python
start, imports, opening the database and the vector store, loading the model, the search.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.knowledge.manpages import load
from bench.stats import Summary

MODES = ("hybrid", "semantic", "keyword")


def _ingest(url: str, pages: list[Any]) -> None:
    with httpx.Client(base_url=url, timeout=120) as http:
        for page in pages:
            r = http.post("/knowledge/documents", json={"text": page.text, "source": page.source, "namespace": "man"})
            r.raise_for_status()


def _search_times(url: str, pages: list[Any], mode: str) -> Summary:
    samples = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for i, page in enumerate(pages):
            body = {"query": page.summary, "namespace": "man", "k": 10, "mode": mode}
            t0 = time.perf_counter()
            r = http.post("/knowledge/search", json=body)
            elapsed = time.perf_counter() - t0
            r.raise_for_status()
            if i >= 10:  # warm-up
                samples.append(elapsed)
    return Summary.of(samples)


def run_latency(*, pages: int, admin_url: str | None, cold_runs: int = 5) -> dict[str, Any]:
    """API search latency per backend and mode, and ``nexod search`` cold-start times."""
    from tests.servers import MODEL_CACHE, Server, postgres_database

    docs = load()[:pages]
    out: dict[str, Any] = {"api": [], "cold": None}
    with tempfile.TemporaryDirectory(prefix="nexod-kb-latency-") as tmp:
        root = Path(tmp)
        config = root / "langgraph.json"
        config.write_text('{"graphs": {}}')
        backends: list[tuple[str, str | None]] = [("SQLite + local store", None)]
        if admin_url:
            backends.append(("PostgreSQL + pgvector", admin_url))
        for label, admin in backends:
            data = root / label.split()[0].lower()
            if admin:
                with postgres_database(admin) as url:
                    srv = Server(data, database_url=url, config=config)
                    out["api"] += _serve_and_time(srv, label, docs)
            else:
                srv = Server(data, config=config)
                out["api"] += _serve_and_time(srv, label, docs)
                # The server is stopped: `nexod search` now opens the same files from cold.
                env = {k: v for k, v in os.environ.items() if not k.startswith("NEXOD_")}
                env.update(NEXOD_DATA_DIR=str(data), NEXOD_MODEL_CACHE=str(MODEL_CACHE))
                times = []
                for page in docs[:cold_runs]:
                    t0 = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "nexod.cli", "search", page.summary, "-n", "man"],
                                   env=env, cwd=data, check=True, capture_output=True)
                    times.append(time.perf_counter() - t0)
                out["cold"] = Summary.of(times)
    return out


def _serve_and_time(srv: Any, label: str, docs: list[Any]) -> list[dict[str, Any]]:
    srv.start()
    try:
        _ingest(srv.url, docs)
        return [{"backend": label, "mode": mode, "latency": _search_times(srv.url, docs, mode)} for mode in MODES]
    finally:
        srv.stop()
