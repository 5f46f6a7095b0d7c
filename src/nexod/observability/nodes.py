"""Time per graph node, from LangChain's callback events (LangGraph runs each node as a chain)."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from nexod.observability.base import Metrics


class NodeTimer(BaseCallbackHandler):
    """Observes ``nexod_node_duration_seconds`` for each node of one run's graph."""

    run_inline = True  # called in the graph's own task: no thread hop per event
    raise_error = False

    def __init__(self, metrics: Metrics, graph: str) -> None:
        self._metrics = metrics
        self._graph = graph
        self._starts: dict[UUID, tuple[str, float]] = {}

    def on_chain_start(
        self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID,
        metadata: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:
        """A chain starts; only a node's own chain (named as the node) is timed."""
        node = (metadata or {}).get("langgraph_node")
        if node is not None and kwargs.get("name") == node:
            self._starts[run_id] = (str(node), time.perf_counter())

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain ended: record it if it was a node."""
        self._done(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain failed (or was interrupted): its time still counts."""
        self._done(run_id)

    def _done(self, run_id: UUID) -> None:
        started = self._starts.pop(run_id, None)
        if started is not None:
            node, t0 = started
            self._metrics.node_finished(graph=self._graph, node=node, seconds=time.perf_counter() - t0)
