"""Registering CrewAI crews: what is wrong is a ConfigError at start-up that says what to do."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from nexod.errors import ConfigError
from nexod.graphs.config import load_graph_config
from nexod.graphs.registry import GraphRegistry
from tests.graphs.scripted import ScriptedChatModel
from tests.unit.test_crews import Models

if not os.environ.get("CI"):
    pytest.importorskip("crewai", reason="needs the nexod[crewai] extra (make install has it)")

ROOT = Path(__file__).resolve().parents[2]
CREW_PY = ROOT / "tests" / "crews" / "crewai_crew" / "crew.py"


def registry(tmp_path: Path, crews: dict[str, object], module: str | None = None) -> GraphRegistry:
    if module is not None:
        (tmp_path / "mod.py").write_text(module)
    (tmp_path / "nexod.json").write_text(json.dumps({"crews": crews}))
    reg = GraphRegistry(load_graph_config(tmp_path / "nexod.json"), models=Models())
    reg.load()
    return reg


def test_a_crewai_crew_registers_beside_yaml_crews(tmp_path: Path) -> None:
    reg = registry(tmp_path, {"stats": f"{CREW_PY}:crew", "review": "builtin:review"})
    assert set(reg.crews()) == {"stats", "review"}
    assert reg.crew("stats").inputs == ["topic"]
    assert reg.spec("stats").target == f"crewai:{CREW_PY}:crew"


def test_without_the_extra_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "crewai", None)  # as if crewai were not installed
    with pytest.raises(ConfigError, match=r"pip install 'nexod\[crewai\]'") as err:
        registry(tmp_path, {"stats": f"{CREW_PY}:crew"})
    assert "crew 'stats'" in err.value.message


MODULE = """
from crewai import Agent, Crew, Task

agent = Agent(role="R", goal="g", backstory="b")
asks = Crew(agents=[agent], tasks=[Task(description="d", expected_output="e", agent=agent, human_input=True)])
not_a_crew = "hello"

def factory():
    return 42

def broken():
    raise RuntimeError("no database")
"""


@pytest.mark.parametrize(
    ("target", "expect"),
    [
        ("./missing.py:crew", "does not exist"),
        ("./mod.py:nope", "has no attribute 'nope'"),
        ("./mod.py:not_a_crew", "is str: expected a crewai.Crew"),
        ("./mod.py:factory", "returned int, not a crewai.Crew"),
        ("./mod.py:broken", "loading the crew failed: RuntimeError('no database')"),
        ("./mod.py:asks", "human_input=True"),
        ("./mod.py:", "'path.py:attr' or 'module:attr'"),
    ],
)
def test_bad_targets_are_named(tmp_path: Path, target: str, expect: str) -> None:
    with pytest.raises(ConfigError, match=expect.replace("(", r"\(").replace(")", r"\)")):
        registry(tmp_path, {"bad": target}, MODULE)


def test_nexod_llm_answers_with_any_langchain_chat_model() -> None:
    from nexod.crews.crewai_adapter import require_crewai

    require_crewai("test")
    from nexod.crews.crewai_adapter.llm import NexodLLM

    llm = NexodLLM(chat_model=ScriptedChatModel())
    answer = llm.call([{"role": "system", "content": "s"}, {"role": "user", "content": "hello there"}])
    assert answer.startswith("Answer ") and llm.get_token_usage_summary().successful_requests == 1
    with pytest.raises(RuntimeError, match="inside a Nexod crew run"):
        NexodLLM().call("hi")
