"""What the code running inside a graph may reach of the run it belongs to.

The executor enters :func:`run_scope` around each run. LangGraph runs nodes in tasks (and
threads) that copy the context, so a node, a tool or a model callback of that run sees the
run's organisation and the services scoped to it (its knowledge base, its budget), and nothing
of another run. Nothing here reaches a checkpoint or a client, and a client cannot choose it.
Outside a run (a bare graph in a test, a notebook) there is no scope: :func:`current_run`
returns None and the tools that need one do without.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nexod.budgets.base import OrgBudgets
    from nexod.knowledge.service import KnowledgeBase


@dataclass(frozen=True)
class RunScope:
    """The run being executed, its organisation, and the services it may use."""

    org_id: str
    run_id: str
    knowledge: KnowledgeBase | None = None
    budgets: OrgBudgets | None = None


_SCOPE: ContextVar[RunScope | None] = ContextVar("nexod_run_scope", default=None)


def current_run() -> RunScope | None:
    """The scope of the run this code runs in; None outside runs."""
    return _SCOPE.get()


@contextmanager
def run_scope(scope: RunScope) -> Iterator[RunScope]:
    """Make ``scope`` the current run's for the code inside (and the tasks it starts)."""
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)
