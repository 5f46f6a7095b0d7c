"""Crew executions (CrewAI's kickoff / status / resume / stop) as ordinary durable runs.

A kickoff is a new thread with one run of the crew's graph, so it gets checkpoints, the event
log, leases and resume-after-crash like any run; the ``kickoff_id`` is the thread id, and a
resume is one more run on that thread with ``command.resume``. The webhook settings given at
kickoff are kept in that first run's kwargs (``crew_webhooks``) and reused by every resume,
unless the resume brings its own.
"""

from __future__ import annotations

import uuid
from typing import Any

from nexod.db.models import AgentSession
from nexod.errors import Conflict, InvalidInput, NotFound
from nexod.graphs.registry import GraphRegistry
from nexod.resources.state import ThreadState
from nexod.resources.threads import Threads
from nexod.runs.service import Runs
from nexod.serde import as_utc

STREAM_MODES = ["updates", "custom", "messages-tuple"]
"""What a crew run records: step updates, crew events (task_completed…) and model tokens."""


class NotPendingHumanInput(Conflict):
    """A resume for an execution that is not waiting on that task's human input."""


class Kickoffs:
    """Start, inspect, resume and stop crew executions within one organisation."""

    def __init__(self, registry: GraphRegistry, runs: Runs, threads: Threads, state: ThreadState) -> None:
        self._registry = registry
        self._runs = runs
        self._threads = threads
        self._state = state

    async def kickoff(
        self, org_id: str, crew_id: str, inputs: dict[str, Any], *, meta: dict[str, Any] | None,
        webhooks: dict[str, Any],
    ) -> str:
        """Check the inputs (MissingInputs names what lacks), then queue the run; the kickoff id."""
        crew = self._registry.crew(crew_id)
        merged = crew.check_inputs(inputs)
        kickoff_id = str(uuid.uuid4())
        await self._runs.create(org_id, kickoff_id, {
            "assistant_id": crew_id, "input": {"inputs": merged}, "if_not_exists": "create",
            "stream_mode": STREAM_MODES,
            "metadata": {"crew": crew_id, "kickoff_id": kickoff_id, "meta": meta or {}},
            "crew_webhooks": {**webhooks, "kickoff_id": kickoff_id},
        })
        return kickoff_id

    async def _execution(self, org_id: str, crew_id: str, kickoff_id: str) -> tuple[Any, list[AgentSession]]:
        self._registry.crew(crew_id)
        try:
            uuid.UUID(kickoff_id)
            thread = await self._threads.get(org_id, kickoff_id)
        except (ValueError, NotFound):
            raise NotFound("execution", kickoff_id) from None
        if thread.metadata_.get("graph_id") != crew_id:
            raise NotFound("execution", kickoff_id)
        runs = await self._runs.list_runs(org_id, kickoff_id, limit=1000)
        if not runs:
            raise NotFound("execution", kickoff_id)
        return thread, runs  # newest first

    async def status(self, org_id: str, crew_id: str, kickoff_id: str) -> dict[str, Any]:
        """AMP's status payload: running (with progress), pending_human_input, completed
        (result and each task's output), error, or cancelled."""
        crew = self._registry.crew(crew_id)
        _, runs = await self._execution(org_id, crew_id, kickoff_id)
        latest, first = runs[0], runs[-1]
        state = await self._state.get(org_id, kickoff_id)
        values = state.get("values") or {}
        outputs: dict[str, Any] = values.get("outputs") or {}
        done = [t.name for t in crew.tasks if t.name in outputs]
        progress = {"completed_tasks": len(done), "total_tasks": len(crew.tasks)}
        ended = latest.ended_at or latest.updated_at
        elapsed = round((ended - first.created_at).total_seconds(), 3) if ended else None
        base = {"kickoff_id": kickoff_id, "crew": crew_id, "created_at": as_utc(first.created_at)}
        if latest.status in ("pending", "running"):
            return {**base, "status": "running", "current_task": values.get("current_task"),
                    "progress": progress}
        if latest.status in ("error", "timeout"):
            err = latest.error or {}
            return {**base, "status": "error", "error": err.get("message") or latest.status,
                    "execution_time": elapsed}
        budget = _pending_review(state, "budget")
        if budget is not None:
            return {**base, "status": "pending_budget_approval", "current_task": budget.get("task_id"),
                    "used_tokens": budget.get("used"), "token_budget": budget.get("budget"),
                    "progress": progress}
        pending = _pending_review(state)
        if pending is not None:
            return {**base, "status": "pending_human_input", "current_task": pending.get("task_id"),
                    "task_id": pending.get("task_id"), "output": pending.get("output"),
                    "progress": progress}
        if values.get("stopped"):
            return {**base, "status": "stopped", "reason": values["stopped"], "progress": progress,
                    "execution_time": elapsed}
        if latest.status == "interrupted" or values.get("result") is None:
            return {**base, "status": "cancelled", "progress": progress}
        tasks = [
            {"task_id": name, "output": outputs[name]["output"], "agent": outputs[name]["agent"],
             "execution_time": outputs[name].get("execution_time"),
             **({"json": outputs[name].get("json")} if "json" in outputs[name] else {})}
            for name in done
        ]
        return {**base, "status": "completed", "execution_time": elapsed,
                "result": {"output": values.get("result"), "tasks": tasks,
                           "usage": values.get("usage") or {}, "decisions": values.get("decisions") or []}}

    async def resume(
        self, org_id: str, crew_id: str, kickoff_id: str, *, task_id: str, feedback: str,
        approve: bool, by: str | None, webhooks: dict[str, Any],
    ) -> str:
        """Answer a pending human-input task: "resumed" (approved) or "retrying" (feedback)."""
        _, runs = await self._execution(org_id, crew_id, kickoff_id)
        if runs[0].status in ("pending", "running"):
            raise NotPendingHumanInput("Execution is not in pending human input state (it is running)")
        state = await self._state.get(org_id, kickoff_id)
        pending = _pending_review(state)
        if pending is None:
            raise NotPendingHumanInput("Execution is not in pending human input state")
        if pending.get("task_id") != task_id:
            raise InvalidInput(
                f"task_id '{task_id}' is not the task awaiting human input "
                f"('{pending.get('task_id')}')", field="task_id",
            )
        if not approve and not feedback.strip():
            raise InvalidInput("human_feedback is required when is_approve is false", field="human_feedback")
        remembered = dict(runs[-1].kwargs.get("crew_webhooks") or {})
        hooks = {**remembered, **{k: v for k, v in webhooks.items() if v}}
        await self._runs.create(org_id, kickoff_id, {
            "assistant_id": crew_id,
            "command": {"resume": {"approved": approve, "feedback": feedback, "by": by or "api"}},
            "stream_mode": STREAM_MODES, "metadata": {"crew": crew_id, "kickoff_id": kickoff_id},
            "crew_webhooks": hooks, "multitask_strategy": "reject",
        })
        return "resumed" if approve else "retrying"

    async def stop(self, org_id: str, crew_id: str, kickoff_id: str) -> bool:
        """Cancel the execution's active run; False when nothing was running."""
        _, runs = await self._execution(org_id, crew_id, kickoff_id)
        if runs[0].status not in ("pending", "running"):
            return False
        await self._runs.cancel(org_id, kickoff_id, runs[0].run_id, "interrupt")
        return True


def _pending_review(state: dict[str, Any], kind: str = "human_input") -> dict[str, Any] | None:
    for intr in state.get("interrupts") or []:
        value = intr.get("value") if isinstance(intr, dict) else None
        if isinstance(value, dict) and value.get("type") == kind:
            return value
    return None
