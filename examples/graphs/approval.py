"""An approval workflow with a person in the loop.

request → automatic checks → route: auto-approve (small amounts), reject (over the hard limit
or failing a check), or ask a person through ``interrupt()`` → the effect of the decision.
The person answers ``{"approved": true, "by": "alice"}`` (or ``false``), or
``{"action": "edit", "amount": 80, "by": "alice"}`` to change the request, which goes through
the checks again. Every decision is kept in ``history`` with who made it and when; the run
waits (for days if need be, across restarts) at the interrupt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

AUTO_LIMIT = 100.0
HARD_LIMIT = 10_000.0


class State(TypedDict, total=False):
    request: str
    amount: float
    checks: list[str]
    route: str
    decision: str
    decided_by: str
    decided_at: str
    edited: bool
    history: list[dict[str, Any]]
    effect: str


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _record(state: State, **decision: Any) -> list[dict[str, Any]]:
    return [*(state.get("history") or []), {**decision, "at": _now()}]


def check(state: State) -> State:
    """Automatic checks; a request without a usable amount is rejected, never auto-approved."""
    raw = state.get("amount")
    try:
        amount = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        what = "missing" if raw is None else f"not a number ({raw!r})"
        return {"route": "reject", "checks": [f"amount is {what}"]}
    problems = []
    if amount != amount:  # NaN
        problems.append("amount is not a number")
    if amount < 0:
        problems.append("amount is negative")
    if amount > HARD_LIMIT:
        problems.append(f"amount is over the hard limit of {HARD_LIMIT:g}")
    route = "reject" if problems else "approve" if amount <= AUTO_LIMIT else "review"
    return {"route": route, "checks": problems}


def route(state: State) -> Literal["auto_approve", "reject", "review"]:
    return {"approve": "auto_approve", "reject": "reject"}.get(state["route"], "review")  # type: ignore[return-value]


def auto_approve(state: State) -> State:
    return {"decision": "approved", "decided_by": "policy", "decided_at": _now(),
            "history": _record(state, action="approved", by="policy", reason=f"amount ≤ {AUTO_LIMIT:g}")}


def reject(state: State) -> State:
    return {"decision": "rejected", "decided_by": "policy", "decided_at": _now(),
            "history": _record(state, action="rejected", by="policy", reason="; ".join(state.get("checks") or []))}


def review(state: State) -> State:
    answer = interrupt(
        {"question": "Approve this request?", "request": state.get("request"), "amount": state.get("amount"),
         "actions": ["approve", "reject", "edit"]}
    )
    ans: dict[str, Any] = answer if isinstance(answer, dict) else {"approved": bool(answer)}
    who = str(ans.get("by", "unknown"))
    action = ans.get("action") or ("approve" if ans.get("approved") else "reject")
    if action == "edit":
        changes = {k: ans[k] for k in ("request", "amount") if k in ans}
        return {**changes, "edited": True,  # type: ignore[typeddict-item]
                "history": _record(state, action="edited", by=who, changes=changes, comment=ans.get("comment"))}
    decision = "approved" if action == "approve" else "rejected"
    return {"decision": decision, "decided_by": who, "decided_at": _now(), "edited": False,
            "history": _record(state, action=decision, by=who, comment=ans.get("comment"))}


def after_review(state: State) -> Literal["check", "effect"]:
    return "check" if state.get("edited") else "effect"


def effect(state: State) -> State:
    if state.get("decision") == "approved":
        return {"effect": f"ordered: {state.get('request', 'request')} for {state.get('amount', 0):g}"}
    return {"effect": "request closed"}


builder = StateGraph(State)
builder.add_node(check)
builder.add_node(auto_approve)
builder.add_node(reject)
builder.add_node(review)
builder.add_node(effect)
builder.add_edge(START, "check")
builder.add_conditional_edges("check", route)
builder.add_conditional_edges("review", after_review)
builder.add_edge("auto_approve", "effect")
builder.add_edge("reject", "effect")
builder.add_edge("effect", END)
graph = builder.compile()
