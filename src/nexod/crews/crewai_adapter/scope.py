"""What one CrewAI kickoff needs from the graph node that runs it, reachable from CrewAI's
threads through a context variable (CrewAI copies the context into the threads it starts
and into its event handlers, so each run's model calls and events find their own run)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig

from nexod.llm.base import ChatModels, add_usage


@dataclass
class RunScope:
    """One kickoff: the models, the node's config (its callbacks carry LangGraph's
    ``messages`` stream), the ``custom`` stream writer, and usage per agent."""

    models: ChatModels
    config: RunnableConfig | None
    write: Callable[[Any], None]
    task_names: dict[str, str] = field(default_factory=dict)
    agent_names: dict[str, str] = field(default_factory=dict)
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    task_seconds: dict[str, float] = field(default_factory=dict)
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, payload: dict[str, Any]) -> None:
        """Write one custom stream event, unless the node has already returned."""
        with self._lock:
            if not self.closed:
                self.write(payload)

    def add_usage(self, agent: str, usage: dict[str, Any]) -> None:
        """Add one model call's usage to ``agent``'s total."""
        with self._lock:
            self.usage = add_usage(self.usage, {agent: usage})

    def close(self) -> None:
        """Drop events that arrive after the kickoff ended (CrewAI delivers them late)."""
        with self._lock:
            self.closed = True


_current: ContextVar[RunScope | None] = ContextVar("nexod_crewai_run", default=None)


def current() -> RunScope | None:
    """The kickoff this thread works for, if any."""
    return _current.get()


@contextmanager
def entered(scope: RunScope) -> Iterator[RunScope]:
    """Make ``scope`` the current kickoff for this context (and the threads it starts)."""
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)
