"""Graphs of N trivial nodes in a row, for measuring platform overhead (no model, no I/O).

Each node adds one to ``count``, so a run of an N-node graph on ``{"count": 0}`` ends with
``{"count": N}``: a cheap check that every step ran. ``graph_<n>`` is importable for any n
(``graph_1``, ``graph_20``, ``graph_50`` …), so a config file can name whatever size it needs.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import TypedDict


class State(TypedDict):
    """The whole state: one counter."""

    count: int


async def step(state: State) -> dict[str, Any]:
    """A trivial node: no I/O, no model; one small state update."""
    return {"count": state["count"] + 1}


@cache
def build(n: int) -> CompiledStateGraph[Any, Any, Any, Any]:
    """A compiled graph of ``n`` trivial nodes in a row (without a checkpointer)."""
    if n < 1:
        raise ValueError(f"a trivial graph needs at least one node, got {n}")
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(State)
    prev = START
    for i in range(1, n + 1):
        name = f"step_{i}"
        builder.add_node(name, step)
        builder.add_edge(prev, name)
        prev = name
    builder.add_edge(prev, END)
    return builder.compile()


def __getattr__(name: str) -> Any:
    """``graph_<n>``: the n-node graph, built on first use."""
    prefix = "graph_"
    if name.startswith(prefix) and name[len(prefix):].isdigit():
        return build(int(name[len(prefix):]))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
