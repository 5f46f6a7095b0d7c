"""``allow_delegation: true``: CrewAI's two coworker tools for a YAML crew's agent.

An agent that may delegate is shown, with its task, CrewAI's ``Delegate work to coworker``
and ``Ask question to coworker`` tools (arguments ``task`` or ``question``, ``context`` and
``coworker``: another agent of the crew, by name or role) in CrewAI's text format. When its
answer is such an action, the coworker's own model answers (as that agent, with its role,
goal and backstory), and the answer goes back to the delegating agent as an ``Observation``
for its final answer. At most ``max_rounds`` delegations per attempt; an unknown coworker or
malformed input is reported back to the agent as the observation, as CrewAI does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from nexod.crews.interpolate import interpolate
from nexod.crews.spec import AgentSpec

DELEGATE = "Delegate work to coworker"
ASK = "Ask question to coworker"
_ACTION = re.compile(r"Action:\s*(.+?)\s*\n\s*Action Input:\s*(\{.*\})", re.S)


def instructions(coworkers: list[AgentSpec], inputs: Mapping[str, Any]) -> str:
    """The tools' description, appended to the task of an agent that may delegate."""
    roster = "\n".join(f"- {a.name}: {interpolate(a.role, inputs)}" for a in coworkers)
    return (
        f"You may get help from a coworker:\n{roster}\n"
        f"To hand them work, reply with only:\nAction: {DELEGATE}\n"
        'Action Input: {"task": "...", "context": "...", "coworker": "<name>"}\n'
        f"To ask them something, reply with only:\nAction: {ASK}\n"
        'Action Input: {"question": "...", "context": "...", "coworker": "<name>"}\n'
        "Otherwise, give your answer directly."
    )


def parse_action(text: str) -> tuple[str, dict[str, Any]] | None:
    """``(tool, arguments)`` when the answer asks for a coworker tool, else None.

    Arguments that are not a JSON object come back as ``{"error": …}``."""
    found = _ACTION.search(text)
    if found is None:
        return None
    tool = found.group(1).strip().strip("`*'\"")
    if tool.lower() not in (DELEGATE.lower(), ASK.lower()):
        return None
    try:
        args = json.loads(found.group(2))
    except json.JSONDecodeError as exc:
        return tool, {"error": f"Action Input is not valid JSON: {exc.msg}"}
    return tool, args if isinstance(args, dict) else {"error": "Action Input must be a JSON object"}


def find_coworker(name: Any, coworkers: list[AgentSpec], inputs: Mapping[str, Any]) -> AgentSpec | None:
    """The coworker named (by agent name or role, case and quotes ignored)."""
    wanted = str(name or "").strip().strip("'\"").casefold()
    for a in coworkers:
        if wanted in (a.name.casefold(), interpolate(a.role, inputs).strip().casefold()):
            return a
    return None


def coworker_messages(coworker: AgentSpec, tool: str, args: Mapping[str, Any], asked_by: str,
                      inputs: Mapping[str, Any]) -> list[BaseMessage]:
    """What the coworker's model gets: itself as system, the work or question as human."""
    system = f"You are {interpolate(coworker.role, inputs)}. {interpolate(coworker.goal, inputs)}"
    if coworker.backstory:
        system += f"\n{interpolate(coworker.backstory, inputs)}"
    if tool.lower() == DELEGATE.lower():
        body = f"Work from {asked_by}: {args.get('task') or ''}"
    else:
        body = f"Question from {asked_by}: {args.get('question') or ''}"
    if args.get("context"):
        body += f"\n\nContext:\n{args['context']}"
    return [SystemMessage(system), HumanMessage(body)]


def observation(answer: str) -> HumanMessage:
    """The coworker's answer, handed back to the delegating agent."""
    return HumanMessage(f"Observation: {answer}\n\nUse this and give your final answer now.")
