"""A graph that waits like an agent waiting on a model: three nodes of 100 ms each.

Little CPU, mostly waiting, so how many runs a worker process keeps in flight (its
``NEXOD_WORKERS``) limits its throughput: the workload for showing how runs/s grows with
worker processes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

WAIT = 0.1


class State(TypedDict):
    """Steps done so far."""

    count: int


async def call_model(state: State) -> dict[str, Any]:
    """Stands in for a model call: waits, then records the step."""
    await asyncio.sleep(WAIT)
    return {"count": state["count"] + 1}


_builder: StateGraph[Any, Any, Any, Any] = StateGraph(State)
_prev = START
for _i in range(3):
    _builder.add_node(f"call_{_i}", call_model)
    _builder.add_edge(_prev, f"call_{_i}")
    _prev = f"call_{_i}"
_builder.add_edge(_prev, END)
graph = _builder.compile()
