"""Every Nexod series in Prometheus form, safe with several processes on one host.

With ``NEXOD_METRICS_DIR`` set, prometheus-client's multiprocess mode is used: each process
writes its values to memory-mapped files in that folder and any API process's ``/metrics``
sums them (run times measured by ``nexod worker`` processes included). The folder must be the
same for every process of a host and emptied when the whole host restarts, never while
processes run: files of exited processes keep their counts so totals never go down.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)

from nexod.observability.base import Metrics, Outcome

# Edges include the seed's targets and alert thresholds: 0.05 / 0.1 s database, 0.1 / 0.2 s
# vector search, 0.3 / 0.5 s API p95, 5 / 10 s agent response.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2, 5, 10)
STREAM_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)
RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 20, 30, 60, 120, 300, 900, 3600)
NODE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)
VECTOR_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5)
MODEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120)

# Routes left out of the API SLO: probes, not user traffic.
PROBE_ROUTES = frozenset({"/ok", "/ready"})
# Which histogram each SLO reads.
SLO_SERIES = {
    "api": "nexod_http_request_duration_seconds",
    "agent": "nexod_run_duration_seconds",
    "database": "nexod_db_query_duration_seconds",
    "vector": "nexod_vector_search_duration_seconds",
}

Buckets = list[tuple[float, float]]
"""Cumulative (upper bound, count) pairs of a histogram, ending with +Inf."""


class Snapshot(dict[str, Any]):
    """Cumulative values at one moment: ``buckets[slo]`` and ``errors`` (HTTP 5xx so far)."""


def _use_multiprocess(folder: Path) -> None:
    """Switch prometheus-client to its multiprocess value files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    # The library reads this variable when it creates each value file; there is no parameter.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


class PrometheusMetrics(Metrics):
    """Records into prometheus-client; :meth:`render` is the ``/metrics`` body."""

    enabled = True

    def __init__(self, *, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created`: unused noise
        if multiprocess_dir is not None:
            _use_multiprocess(multiprocess_dir)
            registry: CollectorRegistry | None = None  # values live in the files
        else:
            registry = CollectorRegistry()
        self._registry = registry
        r = registry
        self.http = Histogram(
            "nexod_http_request_duration_seconds", "HTTP request time (non-streaming routes).",
            ["route", "method", "status"], buckets=HTTP_BUCKETS, registry=r)
        self.stream = Histogram(
            "nexod_http_stream_duration_seconds", "Time streaming responses stayed open (SSE, "
            "WebSocket, /wait, /join).", ["route", "method", "status"], buckets=STREAM_BUCKETS,
            registry=r)
        self.runs = Histogram(
            "nexod_run_duration_seconds", "Run attempt time in the worker, by graph and outcome.",
            ["graph", "outcome"], buckets=RUN_BUCKETS, registry=r)
        self.nodes = Histogram(
            "nexod_node_duration_seconds", "Time per graph node (task).", ["graph", "node"],
            buckets=NODE_BUCKETS, registry=r)
        self.db = Histogram(
            "nexod_db_query_duration_seconds", "SQL statement time through Nexod's engine.",
            ["op"], buckets=DB_BUCKETS, registry=r)
        self.vector = Histogram(
            "nexod_vector_search_duration_seconds", "Vector store operation time.",
            ["backend", "op"], buckets=VECTOR_BUCKETS, registry=r)
        self.model = Histogram(
            "nexod_model_call_duration_seconds", "Model call time.",
            ["provider", "model", "outcome"], buckets=MODEL_BUCKETS, registry=r)
        self.tokens = Counter(
            "nexod_model_tokens", "Model tokens.", ["provider", "model", "kind"], registry=r)
        self.cost = Counter(
            "nexod_model_cost_usd", "Model cost in US dollars.", ["provider", "model"], registry=r)
        self.cache = Counter(
            "nexod_cache_requests", "Cache lookups by layer and result.", ["layer", "result"],
            registry=r)
        self.events = Counter(
            "nexod_events_published", "Run events written to the log and published.", registry=r)
        self.in_flight = Gauge(
            "nexod_runs_in_flight", "Runs executing now (summed over live processes).",
            registry=r, multiprocess_mode="livesum")
        self.queue = Gauge(
            "nexod_queue_runs", "Runs in the queue by state (as last read).", ["state"],
            registry=r, multiprocess_mode="mostrecent")
        self.oldest = Gauge(
            "nexod_queue_oldest_pending_seconds", "Wait of the oldest due run (as last read).",
            registry=r, multiprocess_mode="mostrecent")

    # --- the Metrics interface ---------------------------------------------------------------

    def model_call(
        self, *, provider: str, model: str, seconds: float, input_tokens: int = 0,
        output_tokens: int = 0, cost_usd: float = 0.0, ok: bool = True,
    ) -> None:
        """See :meth:`Metrics.model_call`."""
        self.model.labels(provider, model, "ok" if ok else "error").observe(seconds)
        if input_tokens:
            self.tokens.labels(provider, model, "input").inc(input_tokens)
        if output_tokens:
            self.tokens.labels(provider, model, "output").inc(output_tokens)
        if cost_usd:
            self.cost.labels(provider, model).inc(cost_usd)

    def vector_search(self, *, backend: str, seconds: float, op: str = "query") -> None:
        """See :meth:`Metrics.vector_search`."""
        self.vector.labels(backend, op).observe(seconds)

    def cache_lookup(self, *, layer: str, hit: bool) -> None:
        """See :meth:`Metrics.cache_lookup`."""
        self.cache.labels(layer, "hit" if hit else "miss").inc()

    def http_request(
        self, *, method: str, route: str, status: int, seconds: float, streaming: bool
    ) -> None:
        """See :meth:`Metrics.http_request`."""
        (self.stream if streaming else self.http).labels(route, method, str(status)).observe(seconds)

    def run_finished(self, *, graph: str, outcome: Outcome, seconds: float) -> None:
        """See :meth:`Metrics.run_finished`."""
        self.runs.labels(graph, outcome).observe(seconds)

    def node_finished(self, *, graph: str, node: str, seconds: float) -> None:
        """See :meth:`Metrics.node_finished`."""
        self.nodes.labels(graph, node).observe(seconds)

    def db_query(self, *, op: str, seconds: float) -> None:
        """See :meth:`Metrics.db_query`."""
        self.db.labels(op).observe(seconds)

    def events_published(self, count: int) -> None:
        """See :meth:`Metrics.events_published`."""
        self.events.inc(count)

    def runs_in_flight(self, count: int) -> None:
        """See :meth:`Metrics.runs_in_flight`."""
        self.in_flight.set(count)

    def queue_depth(self, *, pending: int, scheduled: int, running: int, oldest_wait: float) -> None:
        """See :meth:`Metrics.queue_depth`."""
        self.queue.labels("pending").set(pending)
        self.queue.labels("scheduled").set(scheduled)
        self.queue.labels("running").set(running)
        self.oldest.set(oldest_wait)

    # --- exposition -------------------------------------------------------------------------

    def collector(self) -> CollectorRegistry:
        """The registry to read: this process's, or every process's files summed."""
        if self._registry is not None:
            return self._registry
        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return reg

    def render(self) -> tuple[bytes, str]:
        """The text exposition format, and its content type."""
        return generate_latest(self.collector()), CONTENT_TYPE_LATEST

    def snapshot(self) -> Snapshot:
        """Cumulative buckets of each SLO histogram (labels summed) and the 5xx count."""
        by_slo: dict[str, dict[float, float]] = {k: {} for k in SLO_SERIES}
        family_to_slo = {v: k for k, v in SLO_SERIES.items()}
        errors = 0.0
        for family in self.collector().collect():
            slo = family_to_slo.get(family.name)
            if slo is None:
                continue
            for s in family.samples:
                if not s.name.endswith("_bucket"):
                    continue
                if slo == "api" and s.labels.get("route") in PROBE_ROUTES:
                    continue
                if slo == "agent" and s.labels.get("outcome") != "success":
                    continue
                le = float(s.labels["le"])
                by_slo[slo][le] = by_slo[slo].get(le, 0.0) + s.value
                if slo == "api" and le == float("inf") and s.labels.get("status", "").startswith("5"):
                    errors += s.value
        snap = Snapshot()
        snap["buckets"] = {k: sorted(v.items()) for k, v in by_slo.items()}
        snap["errors"] = errors
        return snap

    def close(self) -> None:
        """Drop this process's live gauges from the shared folder (it is exiting)."""
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
                os.getpid(), path=str(self.multiprocess_dir))
