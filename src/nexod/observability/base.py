"""The recording interface every part of Nexod measures through.

Labels stay low-cardinality: route templates, graph ids, node names, model names, backends;
never run, thread or user ids. :class:`NullMetrics` is used when ``NEXOD_METRICS=false``.
"""

from __future__ import annotations

from typing import Literal

Outcome = Literal["success", "error", "timeout", "interrupted"]


class Metrics:
    """Record what Nexod does. Every method is cheap, synchronous and never raises.

    The first three are for capabilities that call models, vector stores and caches; the rest
    are recorded by the platform itself.
    """

    enabled = False

    def model_call(
        self, *, provider: str, model: str, seconds: float, input_tokens: int = 0,
        output_tokens: int = 0, cost_usd: float = 0.0, ok: bool = True,
    ) -> None:
        """One chat or embedding model call: its latency, tokens and cost (US dollars)."""

    def vector_search(self, *, backend: str, seconds: float, op: str = "query") -> None:
        """One vector store operation (``backend``: local, pgvector, pinecone…)."""

    def cache_lookup(self, *, layer: str, hit: bool) -> None:
        """One cache lookup in ``layer`` (sessions, agent_state, api_responses…)."""

    def http_request(
        self, *, method: str, route: str, status: int, seconds: float, streaming: bool
    ) -> None:
        """One HTTP request; ``streaming`` ones (SSE, WebSocket, wait, join) apart."""

    def run_finished(self, *, graph: str, outcome: Outcome, seconds: float) -> None:
        """One run attempt ended, ``seconds`` after the worker started it."""

    def node_finished(self, *, graph: str, node: str, seconds: float) -> None:
        """One graph node (task) finished."""

    def db_query(self, *, op: str, seconds: float) -> None:
        """One SQL statement through Nexod's engine."""

    def events_published(self, count: int) -> None:
        """``count`` run events written and published."""

    def runs_in_flight(self, count: int) -> None:
        """Runs executing in this process now."""

    def queue_depth(self, *, pending: int, scheduled: int, running: int, oldest_wait: float) -> None:
        """The run queue as last read."""


class NullMetrics(Metrics):
    """Records nothing (metrics off)."""
