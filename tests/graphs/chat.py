"""A one-node chat graph using the deterministic echo model."""

from __future__ import annotations

from doubles import EchoChatModel  # importable: langgraph.json lists "." as a dependency
from langgraph.graph import START, MessagesState, StateGraph

model = EchoChatModel()


async def respond(state: MessagesState) -> dict:
    reply = await model.ainvoke(state["messages"])
    return {"messages": [reply]}


builder = StateGraph(MessagesState)
builder.add_node(respond)
builder.add_edge(START, "respond")
graph = builder.compile()
