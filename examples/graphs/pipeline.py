"""A multi-step pipeline: gather → analyse → report, with progress events.

Each node sleeps ``configurable.step_delay`` seconds (default 0) so you can watch it stream,
cancel it, or kill the server mid-run and see it resume from its last checkpoint.
"""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    topic: str
    notes: Annotated[list[str], operator.add]
    report: str


async def _pause(config: RunnableConfig) -> None:
    delay = float(config.get("configurable", {}).get("step_delay", 0))
    if delay:
        await asyncio.sleep(delay)


async def gather(state: State, config: RunnableConfig) -> State:
    get_stream_writer()({"progress": "gathering", "step": 1})
    await _pause(config)
    topic = state.get("topic", "nothing in particular")
    return {"notes": [f"collected facts about {topic}"]}


async def analyse(state: State, config: RunnableConfig) -> State:
    get_stream_writer()({"progress": "analysing", "step": 2})
    await _pause(config)
    return {"notes": [f"found {len(state.get('notes', []))} note(s) worth keeping"]}


async def report(state: State, config: RunnableConfig) -> State:
    get_stream_writer()({"progress": "reporting", "step": 3})
    await _pause(config)
    return {"report": "; ".join(state.get("notes", []))}


builder = StateGraph(State)
builder.add_node(gather)
builder.add_node(analyse)
builder.add_node(report)
builder.add_edge(START, "gather")
builder.add_edge("gather", "analyse")
builder.add_edge("analyse", "report")
builder.add_edge("report", END)
graph = builder.compile()
