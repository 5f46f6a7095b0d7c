"""CrewAI's events as LangGraph ``custom`` stream events.

One handler per event type is registered on CrewAI's global event bus, once per process. The
bus runs handlers in its thread pool within a copy of the emitter's context, so the handler
finds the emitting run's :class:`RunScope` and writes there (events of no Nexod run, or that
arrive after their kickoff ended, are dropped). The pool does not keep order between events
emitted back to back, so each event carries CrewAI's ``seq`` (its emission sequence).

Payloads use CrewAI's own event names (``task_started``, ``task_completed``,
``tool_usage_finished``…), the names YAML crews use as well, with ``task_id`` being the task's
name in the crew, so the kickoff API's webhooks and the CLI treat both kinds of crew alike.
Agent steps (CrewAI's ``step_callback``) arrive in order as ``agent_step`` events.
"""

from __future__ import annotations

import threading
from typing import Any

from crewai.agents.parser import AgentAction, AgentFinish
from crewai.events.event_bus import crewai_event_bus
from crewai.events.types import (
    agent_events,
    crew_events,
    llm_events,
    task_events,
    tool_usage_events,
)

from nexod.crews.crewai_adapter.scope import RunScope, current

MAX_TEXT = 4000

EVENT_TYPES: tuple[type[Any], ...] = (
    crew_events.CrewKickoffStartedEvent, crew_events.CrewKickoffCompletedEvent,
    crew_events.CrewKickoffFailedEvent,
    task_events.TaskStartedEvent, task_events.TaskCompletedEvent, task_events.TaskFailedEvent,
    agent_events.AgentExecutionStartedEvent, agent_events.AgentExecutionCompletedEvent,
    agent_events.AgentExecutionErrorEvent,
    tool_usage_events.ToolUsageStartedEvent, tool_usage_events.ToolUsageFinishedEvent,
    tool_usage_events.ToolUsageErrorEvent,
    llm_events.LLMCallStartedEvent, llm_events.LLMCallCompletedEvent, llm_events.LLMCallFailedEvent,
)

_installed = False
_install_lock = threading.Lock()


def _clip(value: Any) -> str:
    text = value if isinstance(value, str) else str(getattr(value, "raw", value))
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def payload(scope: RunScope, event: Any) -> dict[str, Any]:
    """The JSON form of one CrewAI event."""
    out: dict[str, Any] = {"type": event.type, "source": "crewai", "seq": event.emission_sequence}
    task = getattr(event, "task", None) or getattr(event, "from_task", None)
    task_id = str(getattr(task, "id", "") or event.task_id or "")
    name = scope.task_names.get(task_id) or event.task_name
    if name:
        out["task_id"] = name
    agent = getattr(event, "agent", None) or getattr(event, "from_agent", None)
    role = getattr(agent, "role", None) or event.agent_role
    if role:
        out["agent"] = role
    if isinstance(event, crew_events.CrewBaseEvent):
        out["crew"] = event.crew_name
    if isinstance(event, tool_usage_events.ToolUsageEvent):
        out["tool"] = event.tool_name
        out["tool_args"] = event.tool_args if isinstance(event.tool_args, dict) else _clip(event.tool_args)
    if isinstance(event, llm_events.LLMEventBase):
        out["model"] = event.model
    for key in ("output", "error", "response"):
        if getattr(event, key, None) is not None:
            out[key] = _clip(getattr(event, key))
    for key in ("inputs", "usage", "total_tokens"):
        if getattr(event, key, None) is not None:
            out[key] = getattr(event, key)
    return out


def _handle(source: Any, event: Any) -> None:
    scope = current()
    if scope is None:
        return
    data = payload(scope, event)
    task = data.get("task_id")
    if task and event.type == "task_started":
        scope.started[task] = event.timestamp.timestamp()
    elif task and event.type == "task_completed" and task in scope.started:
        scope.task_seconds[task] = round(event.timestamp.timestamp() - scope.started[task], 3)
        data["execution_time"] = scope.task_seconds[task]
    scope.emit(data)


def install() -> None:
    """Register the bridge on CrewAI's event bus (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        for event_type in EVENT_TYPES:
            crewai_event_bus.register_handler(event_type, _handle)
        _installed = True


def step_event(step: Any) -> dict[str, Any] | None:
    """An agent step (``step_callback``'s argument) as an ``agent_step`` event."""
    if isinstance(step, AgentAction):
        return {"type": "agent_step", "source": "crewai", "kind": "action", "thought": _clip(step.thought),
                "tool": step.tool, "tool_input": _clip(step.tool_input),
                "result": _clip(step.result) if step.result is not None else None}
    if isinstance(step, AgentFinish):
        return {"type": "agent_step", "source": "crewai", "kind": "finish",
                "thought": _clip(step.thought), "output": _clip(step.output)}
    result = getattr(step, "result", None)
    if result is not None:  # ToolResult
        return {"type": "agent_step", "source": "crewai", "kind": "tool_result", "result": _clip(result)}
    return None
