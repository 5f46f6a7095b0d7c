"""Five steps in a row; each waits ``configurable.delay`` seconds then records its name.

Used to cancel runs, to kill the server mid-run and to check resumption from checkpoints.
"""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

STEPS = ["s1", "s2", "s3", "s4", "s5"]


class State(TypedDict, total=False):
    done: Annotated[list[str], operator.add]
    executions: Annotated[list[str], operator.add]


def make_step(name: str):  # type: ignore[no-untyped-def]
    async def step(state: State, config: RunnableConfig) -> State:
        delay = float(config.get("configurable", {}).get("delay", 0))
        if delay:
            await asyncio.sleep(delay)
        return {"done": [name]}

    step.__name__ = name
    return step


builder = StateGraph(State)
prev = START
for name in STEPS:
    builder.add_node(name, make_step(name))
    builder.add_edge(prev, name)
    prev = name
builder.add_edge(prev, END)
graph = builder.compile()
