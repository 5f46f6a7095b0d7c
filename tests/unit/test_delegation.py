"""``allow_delegation: true``: an agent asks a coworker through CrewAI's coworker tools, and
the coworker's own model answers (scripted chat model, no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from nexod.crews import delegation
from nexod.crews.graph import compile_crew
from nexod.crews.spec import AgentSpec, load_crew
from tests.unit.test_crews import Models, write_crew

AGENTS = """
lead:
  role: "{topic} Lead"
  goal: Get {topic} right
  allow_delegation: true
expert:
  role: "{topic} Expert"
  goal: Know {topic}
  backstory: Twenty years of {topic}.
"""
TASKS = """
plan_task:
  description: Plan the work on {topic}
  expected_output: A plan
  agent: lead
check_task:
  description: Check the plan on {topic}
  agent: expert
"""


async def test_an_agent_that_may_delegate_asks_its_coworker(tmp_path: Path) -> None:
    crew = load_crew(write_crew(tmp_path / "c", AGENTS, TASKS))
    graph = compile_crew(crew, Models()).copy(update={"checkpointer": InMemorySaver()})
    cfg: Any = {"configurable": {"thread_id": "d1"}}
    events: list[dict[str, Any]] = []
    async for mode, chunk in graph.astream({"inputs": {"topic": "caching"}}, cfg,
                                           stream_mode=["custom", "values"]):
        if mode == "custom":
            events.append(chunk)
        else:
            out = chunk
    plan = out["outputs"]["plan_task"]["output"]
    # The expert's own model answered the lead's question (as the expert: its prompt says so).
    assert "coworker said: Answer" in plan and "Question from caching Lead" in plan, plan
    used = [e for e in events if e["type"] == "tool_usage_finished"]
    assert len(used) == 1 and used[0]["tool"] == delegation.ASK and used[0]["coworker"] == "expert"
    assert used[0]["task_id"] == "plan_task" and used[0]["agent"] == "caching Lead"
    # Usage is the lead's two calls and the expert's answer, then the expert's own task.
    assert out["usage"]["lead"]["calls"] == 2 and out["usage"]["expert"]["calls"] == 2
    # An agent without allow_delegation is not offered coworkers.
    assert "coworker said" not in out["outputs"]["check_task"]["output"]


def test_coworker_actions_parse_like_crewai() -> None:
    text = ('Thought: ask\nAction: Delegate work to coworker\n'
            'Action Input: {"task": "t", "context": "c", "coworker": "Caching Expert"}')
    assert delegation.parse_action(text) == (delegation.DELEGATE, {"task": "t", "context": "c",
                                                                   "coworker": "Caching Expert"})
    assert delegation.parse_action("Action: Ask question to coworker\nAction Input: {oops}") == (
        "Ask question to coworker", {"error": "Action Input is not valid JSON: Expecting property name "
                                              "enclosed in double quotes"})
    assert delegation.parse_action("Action: web_search\nAction Input: {}") is None
    assert delegation.parse_action("Just an answer.") is None
    expert = AgentSpec(name="expert", role="{topic} Expert", goal="g")
    assert delegation.find_coworker("'Caching expert'", [expert], {"topic": "caching"}) is expert
    assert delegation.find_coworker("EXPERT", [expert], {"topic": "x"}) is expert
    assert delegation.find_coworker("someone", [expert], {"topic": "x"}) is None


async def test_an_unknown_coworker_is_reported_back_to_the_agent(tmp_path: Path) -> None:
    agents = AGENTS.replace("expert:", "helper:").replace("agent: expert", "agent: helper")
    crew = load_crew(write_crew(tmp_path / "c", agents, TASKS.replace("agent: expert", "agent: helper")))

    class Asks(Models):
        """The scripted model, but the lead names a coworker who does not exist."""

        def get(self, spec: str | None = None) -> Any:
            model = super().get(spec)
            original = model.reply

            def reply(messages: list[Any]) -> str:
                return original(messages).replace('"coworker": "helper"', '"coworker": "ghost"')

            object.__setattr__(model, "reply", reply)
            return model

    graph = compile_crew(crew, Asks()).copy(update={"checkpointer": InMemorySaver()})
    out = await graph.ainvoke({"inputs": {"topic": "x"}}, {"configurable": {"thread_id": "d2"}})
    plan = out["outputs"]["plan_task"]["output"]
    assert "coworker said: Error: coworker 'ghost' not found; choose one of helper" in plan
    assert out["usage"]["lead"]["calls"] == 2 and out["usage"]["helper"]["calls"] == 1
