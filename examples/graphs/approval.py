"""An approval workflow with a person in the loop.

request → automatic checks → route: auto-approve (small amounts), reject (over the hard limit),
or ask a person through ``interrupt()``. Resume the thread with
``command={"resume": {"approved": true, "by": "alice"}}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from typing_extensions import TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

AUTO_LIMIT = 100.0
HARD_LIMIT = 10_000.0


class State(TypedDict, total=False):
    request: str
    amount: float
    route: str
    decision: str
    decided_by: str
    decided_at: str


def check(state: State) -> State:
    amount = float(state.get("amount", 0))
    route = "approve" if amount <= AUTO_LIMIT else "reject" if amount > HARD_LIMIT else "review"
    return {"route": route}


def route(state: State) -> Literal["auto_approve", "reject", "review"]:
    return {"approve": "auto_approve", "reject": "reject"}.get(state["route"], "review")  # type: ignore[return-value]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def auto_approve(state: State) -> State:
    return {"decision": "approved", "decided_by": "policy", "decided_at": _now()}


def reject(state: State) -> State:
    return {"decision": "rejected", "decided_by": "policy", "decided_at": _now()}


def review(state: State) -> State:
    answer = interrupt(
        {"question": "Approve this request?", "request": state.get("request"), "amount": state.get("amount")}
    )
    approved = bool(answer.get("approved")) if isinstance(answer, dict) else bool(answer)
    who = answer.get("by", "unknown") if isinstance(answer, dict) else "unknown"
    return {"decision": "approved" if approved else "rejected", "decided_by": who, "decided_at": _now()}


builder = StateGraph(State)
builder.add_node(check)
builder.add_node(auto_approve)
builder.add_node(reject)
builder.add_node(review)
builder.add_edge(START, "check")
builder.add_conditional_edges("check", route)
for node in ("auto_approve", "reject", "review"):
    builder.add_edge(node, END)
graph = builder.compile()
