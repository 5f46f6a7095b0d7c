"""The organisation budget as crews see it: a gate before each task, usage after each call.

The run's organisation and the budgets come from the run's scope (:mod:`nexod.scope`), which
the executor sets around every run; outside the server (a bare graph) there is no budget.
"""

from __future__ import annotations

from typing import Any

from langgraph.config import get_stream_writer
from langgraph.types import interrupt

from nexod.budgets.base import exceeded
from nexod.scope import current_run


async def org_gate(allowance: dict[str, Any] | None, task_id: str) -> dict[str, Any]:
    """Pause when the organisation's budget for this period is spent.

    Returns the state update: ``{}`` to go on, ``{"org_allowance": …}`` when a person allowed
    this run more, ``{"stopped": "org_budget", …}`` when they said stop. The interrupt asks
    ``{"allow": <more tokens, or more cost for a cost budget>}`` or ``{"stop": true}``; an
    allowance lets this run (not the organisation) go on until usage reaches it.
    """
    scope = current_run()
    if scope is None or scope.budgets is None:
        return {}
    budgets, org = scope.budgets, scope.org_id
    limits = await budgets.limits(org)
    if not limits.any:
        return {}
    spend = await budgets.spent(org)
    over = exceeded(limits, spend, allowance)
    if over is None:
        return {}
    unit, used, budget = over
    more = ask_budget(org_question(org, spend.period, unit, used, budget, task_id=task_id))
    if more <= 0:
        get_stream_writer()({"type": "crew_stopped", "reason": "org_budget", "task_id": task_id})
        return {"stopped": "org_budget", "current_task": None}
    allow = dict(allowance or {}) if (allowance or {}).get("period") == spend.period else {}
    return {"org_allowance": {**allow, "period": spend.period, unit: used + more}}


def org_question(org: str, period: str, unit: str, used: float, budget: float, *,
                 task_id: str | None = None) -> dict[str, Any]:
    """The interrupt's value when the organisation's budget is reached (``task_id``: the crew
    task about to start; absent for a model call of a graph)."""
    return {
        "type": "budget", "scope": "organisation", "unit": unit,
        **({"task_id": task_id} if task_id is not None else {}),
        "org_id": org, "period": period, "used": used, "budget": budget,
        "question": f"The organisation reached its {unit} budget for {period}. Allow this "
                    f'run more ({{"allow": {5000 if unit == "tokens" else 1}}}) or stop '
                    '({"stop": true})?',
    }


def ask_budget(question: dict[str, Any]) -> float:
    """Interrupt with ``question`` until the answer is ``{"allow": <number>}`` (the amount) or
    ``{"stop": true}`` (0); anything else asks again, saying what was wrong, instead of failing
    the run."""
    while True:
        answer = interrupt(question)
        if isinstance(answer, dict) and answer.get("stop"):
            return 0.0
        allow = answer.get("allow") if isinstance(answer, dict) else None
        if isinstance(allow, int | float) and not isinstance(allow, bool) and allow >= 0:
            return float(allow)
        question = {**question, "error": f'expected {{"allow": <a number>}} or {{"stop": true}}, '
                                         f"got {answer!r}"[:300]}


async def record(usage: dict[str, Any]) -> None:
    """Add one call's usage (``total_tokens``, ``cost``) to the run's organisation."""
    scope = current_run()
    tokens = int(usage.get("total_tokens") or 0)
    if scope is None or scope.budgets is None or (tokens == 0 and not usage.get("cost")):
        return
    await scope.budgets.add(scope.org_id, tokens, usage.get("cost"))
