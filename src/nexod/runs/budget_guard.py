"""The organisation's budget for every chat model call of a run, not only crews'.

Crews check the budget before each task (:mod:`nexod.crews.budget`). Any other graph calls
its models wherever it likes, so this LangChain callback, in the config of every run, holds
each of their calls to the budget:

- **Before a call** (``on_chat_model_start``), when the organisation has reached its token or
  cost budget for the month, the run pauses with the same interrupt crews use
  (``{"type": "budget", "scope": "organisation", …}``). The answer ``{"allow": n}`` lets this
  run spend ``n`` more; ``{"stop": true}`` ends it with :class:`BudgetStopped`. The node is
  run again on resume, so the call it was about to make is made then.
- **After a call** (``on_llm_end``), its tokens and cost are added to the organisation.

The check reads what the organisation had spent when the run started, plus this run's own
calls since, so a model call costs no database query; concurrent runs of one organisation see
each other's spending from their next start. Calls made by a crew's agents carry
``crew_agent`` in their metadata and are left to the crew, so nothing is counted twice.

A LangChain callback runs inline, in the model's own task or thread (sync nodes call models
from a worker thread), so it cannot await: usage is written by tasks it schedules on the
event loop, awaited by :meth:`BudgetGuard.flush` when the run ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from nexod.budgets.base import BudgetStopped, Limits, OrgBudgets, Spend, exceeded
from nexod.crews.budget import ask_budget, org_question
from nexod.observability.models import Pricer, call_usage

log = logging.getLogger("nexod.budgets")


class BudgetGuard(BaseCallbackHandler):
    """One run's chat model calls against its organisation's budget (see the module docstring)."""

    run_inline = True
    raise_error = True  # the interrupt (and the stop) must reach the node, not be logged

    def __init__(self, budgets: OrgBudgets, org_id: str, limits: Limits, spent: Spend, *,
                 price: Pricer | None, loop: asyncio.AbstractEventLoop) -> None:
        self._budgets, self._org = budgets, org_id
        self._limits, self._start = limits, spent
        self._price, self._loop = price, loop
        self._tokens, self._cost = 0, 0.0
        self._allowance: dict[str, Any] = {}
        self._calls: dict[UUID, str] = {}  # this guard's calls in flight: their model names
        self._writes: list[concurrent.futures.Future[Any]] = []

    @classmethod
    async def open(cls, budgets: OrgBudgets, org_id: str, *, price: Pricer | None) -> BudgetGuard:
        """A guard for a run of ``org_id`` starting now (reads its limits and, when it has
        any, what it has spent this month)."""
        limits = await budgets.limits(org_id)
        spent = await budgets.spent(org_id) if limits.any else Spend(period="")
        return cls(budgets, org_id, limits, spent, price=price, loop=asyncio.get_running_loop())

    def _spend(self) -> Spend:
        return Spend(self._start.period, self._start.tokens + self._tokens, self._start.cost + self._cost)

    def on_chat_model_start(
        self, serialized: dict[str, Any] | None, messages: list[list[Any]], *, run_id: UUID,
        metadata: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:
        """Pause (or stop) the run when the budget is spent; remember the call otherwise."""
        meta = metadata or {}
        if "crew_agent" in meta:
            return  # a crew's agent: the crew checks and records its own calls
        if self._limits.any:
            spend = self._spend()
            over = exceeded(self._limits, spend, self._allowance)
            if over is not None:
                unit, used, budget = over
                more = ask_budget(org_question(self._org, spend.period, unit, used, budget))
                if more <= 0:
                    raise BudgetStopped(
                        f"the organisation's {unit} budget for {spend.period} is spent "
                        f"({used:g} of {budget:g}) and a person chose to stop this run")
                self._allowance = {**self._allowance, "period": spend.period, unit: used + more}
        self._calls[run_id] = str(meta.get("ls_model_name") or "")

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Add the call's tokens and cost to the organisation."""
        self._done(run_id, response)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A failed call still spent what its response reports, if anything."""
        self._done(run_id, kwargs.get("response"))

    def _done(self, run_id: UUID, response: LLMResult | None) -> None:
        model = self._calls.pop(run_id, None)
        if model is None:
            return
        inp, out, answered = call_usage(response)
        if not (inp or out):
            return
        cost = None
        if self._price is not None:
            cost = (self._price(answered, inp, out) if answered else None) or self._price(model, inp, out)
        self._tokens += inp + out
        self._cost += cost or 0.0
        self._writes.append(asyncio.run_coroutine_threadsafe(
            self._budgets.add(self._org, inp + out, cost), self._loop))

    async def flush(self) -> None:
        """Wait until every call's usage is written (a failed write is logged, not raised:
        the run's own outcome stands)."""
        writes, self._writes = self._writes, []
        for fut in writes:
            try:
                await asyncio.wrap_future(fut)
            except Exception as exc:
                log.warning("budget_usage_not_recorded", extra={"org_id": self._org, "reason": str(exc)})
