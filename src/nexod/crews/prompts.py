"""The messages an agent gets for a task (CrewAI's prompt, reduced to what small models can use)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from nexod.crews.interpolate import interpolate
from nexod.crews.spec import AgentSpec, TaskSpec


def task_messages(
    agent: AgentSpec, task: TaskSpec, inputs: Mapping[str, Any], *, context: list[tuple[str, str]],
    knowledge: str = "", feedback: str | None = None, previous: str | None = None,
    schema: dict[str, Any] | None = None,
) -> list[BaseMessage]:
    """System message from the agent, human message from the task and what it builds on."""
    system = f"You are {interpolate(agent.role, inputs)}. {interpolate(agent.goal, inputs)}"
    if agent.backstory:
        system += f"\n{interpolate(agent.backstory, inputs)}"
    parts = [interpolate(task.description, inputs)]
    if knowledge:
        parts.append(f"Relevant documents:\n{knowledge}")
    for name, output in context:
        parts.append(f"Result of {name}:\n{output}")
    if previous is not None and feedback:
        parts.append(f"Your previous answer:\n{previous}\n\nA reviewer asked for changes: {feedback}")
    if task.expected_output:
        parts.append(f"Expected output: {interpolate(task.expected_output, inputs)}")
    if schema:
        parts.append("Answer with JSON only, following this schema:\n" + json.dumps(schema))
    return [SystemMessage(system), HumanMessage("\n\n".join(parts))]


def manager_messages(manager: AgentSpec, agents: list[AgentSpec], tasks: list[TaskSpec],
                     inputs: Mapping[str, Any]) -> list[BaseMessage]:
    """Ask the manager which agent should do each task, one ``task: agent`` line each."""
    roster = "\n".join(f"- {a.name}: {interpolate(a.role, inputs)}" for a in agents)
    work = "\n".join(f"- {t.name}: {interpolate(t.description, inputs)[:200]}" for t in tasks)
    return [
        SystemMessage(f"You are {interpolate(manager.role, inputs)}. {interpolate(manager.goal, inputs)}"),
        HumanMessage(
            f"Assign each task to the best agent.\nAgents:\n{roster}\nTasks:\n{work}\n"
            "Answer with one line per task, written as task_name: agent_name."
        ),
    ]


def parse_assignments(text: str, tasks: list[TaskSpec], agents: list[AgentSpec]) -> dict[str, str]:
    """``task: agent`` lines from the manager's answer; unknown names are dropped."""
    names = {a.name for a in agents}
    out: dict[str, str] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        left, right = (p.strip(" -*`'\"\t").lower() for p in line.split(":", 1))
        task = next((t.name for t in tasks if t.name.lower() == left), None)
        agent = next((n for n in names if n.lower() in right.split() or n.lower() == right), None)
        if task and agent:
            out.setdefault(task, agent)
    return out
