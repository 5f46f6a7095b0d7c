"""Small graphs for edge cases: a failing graph, a subgraph, a factory."""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    value: str
    trail: list[str]


def boom(state: State) -> State:
    raise ValueError(f"cannot handle {state.get('value')!r}")


_fail = StateGraph(State)
_fail.add_node(boom)
_fail.add_edge(START, "boom")
failing = _fail.compile()


def inner_step(state: State) -> State:
    return {"value": (state.get("value") or "") + "+inner"}


_inner = StateGraph(State)
_inner.add_node(inner_step)
_inner.add_edge(START, "inner_step")
_inner.add_edge("inner_step", END)


def outer_step(state: State) -> State:
    return {"value": (state.get("value") or "") + "+outer"}


_outer = StateGraph(State)
_outer.add_node("child", _inner.compile())
_outer.add_node(outer_step)
_outer.add_edge(START, "child")
_outer.add_edge("child", "outer_step")
_outer.add_edge("outer_step", END)
nested = _outer.compile()


def make_greeter(config: RunnableConfig):  # type: ignore[no-untyped-def]
    """A factory: the greeting comes from the assistant's configurable."""
    greeting = config.get("configurable", {}).get("greeting", "hello")

    def greet(state: State) -> State:
        return {"value": f"{greeting} {state.get('value', '')}".strip()}

    g = StateGraph(State)
    g.add_node(greet)
    g.add_edge(START, "greet")
    return g.compile()


def leak(state: State) -> State:
    """Fails with the secrets it was given in its message and locals: what Sentry must not get."""
    api_key = state.get("value")
    token, password = state.get("trail") or ["", ""]
    raise RuntimeError(
        f"upstream refused {api_key} and Bearer {token} via postgresql://app:{password}@db/x"
    )


_leaky = StateGraph(State)
_leaky.add_node(leak)
_leaky.add_edge(START, "leak")
leaky = _leaky.compile()
