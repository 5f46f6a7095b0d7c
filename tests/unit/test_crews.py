"""Crew definitions and the compiled crew graph, with the scripted model (no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from nexod.crews.builtin import builtin_path
from nexod.crews.graph import compile_crew
from nexod.crews.interpolate import interpolate, placeholders
from nexod.crews.spec import MissingInputs, load_crew
from nexod.errors import ConfigError
from nexod.llm import ModelFactory
from nexod.settings import Settings
from tests.graphs.scripted import ScriptedChatModel

ROOT = Path(__file__).resolve().parents[2]


class Models:
    """ChatModels handing out the scripted double, with a price for it."""

    def get(self, spec: str | None = None) -> ScriptedChatModel:
        return ScriptedChatModel()

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        return (input_tokens + 2 * output_tokens) / 1_000_000


def write_crew(root: Path, agents: str, tasks: str, crew: str | None = None) -> Path:
    conf = root / "config"
    conf.mkdir(parents=True)
    (conf / "agents.yaml").write_text(agents)
    (conf / "tasks.yaml").write_text(tasks)
    if crew is not None:
        (conf / "crew.yaml").write_text(crew)
    return root


AGENTS = "a:\n  role: A for {topic}\n  goal: g\nb:\n  role: B\n  goal: g\n"


def test_interpolation_follows_crewai() -> None:
    assert placeholders(["{topic} and {year}", '{"json": 1}', None, "{topic}"]) == ["topic", "year"]
    assert interpolate('About {topic} {"k": 1}', {"topic": "cats", "extra": 1}) == 'About cats {"k": 1}'
    with pytest.raises(KeyError, match="'year'"):
        interpolate("{year}", {})


@pytest.mark.parametrize(
    ("agents", "tasks", "crew", "expect"),
    [
        (AGENTS, "t:\n  description: d\n  agent: nobody\n", None, "unknown agent 'nobody'"),
        (AGENTS, "t:\n  description: d\n  agent: a\n  context: [later]\nlater:\n  description: d\n  agent: b\n",
         None, "context 'later', which is not an earlier task"),
        (AGENTS, "t: [1, 2\n", None, "malformed YAML"),
        (AGENTS, "t:\n  agent: a\n", None, "description: Field required"),
        (AGENTS, "- a list\n", None, "expected a mapping"),
        (AGENTS, "t:\n  description: d\n  agent: a\n", "process: parallel\n", "process must be"),
        (AGENTS, "t:\n  description: d\n  agent: a\n", "process: hierarchical\n", "needs 'manager'"),
        ("", "t:\n  description: d\n  agent: a\n", None, "at least one agent"),
    ],
)
def test_bad_definitions_name_file_and_entry(tmp_path: Path, agents: str, tasks: str, crew: str | None,
                                             expect: str) -> None:
    folder = write_crew(tmp_path / "c", agents, tasks, crew)
    with pytest.raises(ConfigError, match=expect) as err:
        load_crew(folder)
    assert str(folder) in err.value.message


def test_unknown_tool_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_crew(tmp_path / "nope")
    folder = write_crew(tmp_path / "c", "a:\n  role: r\n  goal: g\n  tools: [web_search]\n",
                        "t:\n  description: d\n  agent: a\n")
    with pytest.raises(ConfigError, match="unknown tools \\['web_search'\\]"):
        compile_crew(load_crew(folder), Models())


def test_missing_inputs_are_named_before_anything_runs() -> None:
    crew = load_crew(builtin_path("review"))
    assert crew.inputs == ["document", "criteria"]
    with pytest.raises(MissingInputs) as err:
        crew.check_inputs({"document": "x"})
    assert err.value.missing == ["criteria"]


async def test_research_crew_runs_in_order_with_context_usage_and_cost() -> None:
    crew = load_crew(builtin_path("research"))
    graph = compile_crew(crew, Models()).copy(update={"checkpointer": InMemorySaver()})
    cfg: Any = {"configurable": {"thread_id": "t"}}
    events = [c async for c in graph.astream({"inputs": {"topic": "durable runs"}}, cfg, stream_mode="custom")]
    kinds = [(e["type"], e.get("task_id")) for e in events]
    assert kinds[0] == ("crew_kickoff_started", None)
    assert [k for k in kinds if k[0] == "task_completed"] == [
        ("task_completed", "research_task"), ("task_completed", "analysis_task"), ("task_completed", "report_task")]
    assert ("tool_usage_finished", "research_task") in kinds
    values = (await graph.aget_state(cfg)).values
    assert values["outputs"]["research_task"]["agent"] == "durable runs Researcher"
    assert values["result"] == values["outputs"]["report_task"]["output"]
    assert values["files"] == {"report_task": "report.md"}
    usage = values["usage"]
    assert set(usage) == {"researcher", "analyst", "writer"}
    assert all(u["calls"] == 1 and u["output_tokens"] > 0 and u["cost"] > 0 for u in usage.values())


async def test_review_crew_returns_a_structured_verdict() -> None:
    graph = compile_crew(load_crew(builtin_path("review")), Models()).copy(update={"checkpointer": InMemorySaver()})
    out = await graph.ainvoke({"inputs": {"document": "A memo.", "criteria": "clear"}},
                              {"configurable": {"thread_id": "r"}})
    verdict = out["outputs"]["verdict_task"]
    assert verdict["json"] == {"verdict": "pass", "score": 8.0, "issues": ["none found"]}
    assert verdict["json_error"] is None


async def test_human_input_feedback_reruns_the_task_then_approval_goes_on() -> None:
    crew = load_crew(ROOT / "tests" / "crews" / "approval_crew")
    graph = compile_crew(crew, Models()).copy(update={"checkpointer": InMemorySaver()})
    cfg: Any = {"configurable": {"thread_id": "h"}}
    out = await graph.ainvoke({"inputs": {"subject": "leave"}}, cfg)
    intr = out["__interrupt__"][0].value
    assert intr["type"] == "human_input" and intr["task_id"] == "draft_task" and intr["attempt"] == 1
    out = await graph.ainvoke(Command(resume={"approved": False, "feedback": "shorter", "by": "ann"}), cfg)
    intr = out["__interrupt__"][0].value
    assert intr["attempt"] == 2 and "revised: shorter" in intr["output"]
    out = await graph.ainvoke(Command(resume={"is_approve": True, "by": "bob"}), cfg)
    assert "__interrupt__" not in out
    assert out["result"] == out["outputs"]["polish_task"]["output"]
    assert [(d["approved"], d["by"]) for d in out["decisions"]] == [(False, "ann"), (True, "bob")]
    assert all(d["at"] for d in out["decisions"])


async def test_hierarchical_manager_assigns_tasks(tmp_path: Path) -> None:
    folder = write_crew(
        tmp_path / "h", "boss:\n  role: Boss\n  goal: lead\na:\n  role: A\n  goal: g\nb:\n  role: B\n  goal: g\n",
        "t1:\n  description: first\nt2:\n  description: second\n  agent: a\n",
        "process: hierarchical\nmanager: boss\n",
    )
    graph = compile_crew(load_crew(folder), Models()).copy(update={"checkpointer": InMemorySaver()})
    out = await graph.ainvoke({"inputs": {}}, {"configurable": {"thread_id": "m"}})
    # The scripted manager gives every task to the last agent it was shown.
    assert out["assignments"] == {"t1": "b", "t2": "b"}
    assert {o["agent_name"] for o in out["outputs"].values()} == {"b"}
    assert out["usage"]["boss"]["calls"] == 1


def test_model_specs_resolve_or_say_what_is_wrong() -> None:
    factory = ModelFactory(Settings(llm="python:tests.graphs.scripted:make"))
    assert isinstance(factory.get(), ScriptedChatModel)
    assert factory.get() is factory.get()  # cached per process
    for spec, expect in [("banana:x", "unknown model spec"), ("local:/no/such.gguf", "does not exist"),
                         ("openai:gpt-4o", "NEXOD_LLM_API_KEY"), ("python:tests.nope:make", "cannot import")]:
        with pytest.raises(ConfigError, match=expect):
            factory.get(spec)
    priced = ModelFactory(Settings(llm_prices={"gpt-4o-mini": (0.15, 0.6)}))
    assert priced.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert priced.cost("other", 10, 10) is None


async def test_token_budget_pauses_for_a_person_to_allow_more_or_stop() -> None:
    graph = compile_crew(load_crew(builtin_path("research")), Models(), token_budget=1000)
    graph = graph.copy(update={"checkpointer": InMemorySaver()})
    cfg: Any = {"configurable": {"thread_id": "b1", "token_budget": 20}}  # per run, below one task
    out = await graph.ainvoke({"inputs": {"topic": "x"}}, cfg)
    intr = out["__interrupt__"][0].value
    assert intr["type"] == "budget" and intr["task_id"] == "analysis_task" and intr["used"] >= 20
    out = await graph.ainvoke(Command(resume={"allow": 100_000}), cfg)
    assert "__interrupt__" not in out and out["result"] and out["token_budget"] > 100_000

    cfg = {"configurable": {"thread_id": "b2", "token_budget": 20}}
    await graph.ainvoke({"inputs": {"topic": "x"}}, cfg)
    out = await graph.ainvoke(Command(resume={"stop": True}), cfg)
    assert out["stopped"] == "budget" and out["result"] is None
    assert list(out["outputs"]) == ["research_task"]  # nothing more was spent
