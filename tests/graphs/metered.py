"""A two-step chat graph on the scripted model (which reports token usage): an async node, then
a sync one (LangGraph runs it in a worker thread), each making one model call."""

from __future__ import annotations

from langgraph.graph import START, MessagesState, StateGraph
from scripted import ScriptedChatModel  # importable: langgraph.json lists "." as a dependency

model = ScriptedChatModel()


async def draft(state: MessagesState) -> dict:
    return {"messages": [await model.ainvoke(state["messages"])]}


def polish(state: MessagesState) -> dict:
    return {"messages": [model.invoke([*state["messages"], ("human", "polish the draft")])]}


builder = StateGraph(MessagesState)
builder.add_node(draft)
builder.add_node(polish)
builder.add_edge(START, "draft")
builder.add_edge("draft", "polish")
graph = builder.compile()
