"""Crew definitions in CrewAI's classic layout: ``config/agents.yaml`` + ``config/tasks.yaml``.

A crew folder holds ``config/agents.yaml`` and ``config/tasks.yaml`` (or both files at its top
level), an optional ``config/crew.yaml`` (``name``, ``description``, ``process``, ``manager``,
``inputs`` defaults) and an optional ``knowledge/`` folder of documents for the agents' tools.
As in CrewAI, unknown keys are ignored; unlike CrewAI, a broken reference (an unknown agent,
a task ``context`` that is not an earlier task) is an error that names the file and key,
found when the crew is loaded, before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexod.crews.interpolate import missing_inputs, placeholders
from nexod.errors import ConfigError, InvalidInput


class MissingInputs(InvalidInput):
    """A kickoff lacks values for some of the crew's ``{placeholders}``."""

    def __init__(self, crew: str, missing: list[str], needed: list[str]) -> None:
        super().__init__(
            f"crew '{crew}' is missing inputs: {', '.join(missing)} (it needs {', '.join(needed)})",
            field="inputs",
        )
        self.missing = missing


class AgentSpec(BaseModel):
    """One role agent (CrewAI ``Agent``): who it is and which model and tools it uses."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    role: str
    goal: str
    backstory: str = ""
    llm: str | None = Field(None, description="Model spec (`local`, `openai:<model>`); default NEXOD_LLM.")
    tools: tuple[str, ...] = ()
    max_iter: int = Field(20, ge=1, description="Upper bound on attempts of one task (feedback rounds).")
    allow_delegation: bool = False
    max_tokens: int | None = Field(None, ge=1, description="Cap on one answer's length.")


class TaskSpec(BaseModel):
    """One task (CrewAI ``Task``): what to do, by whom, with which earlier results."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    description: str
    expected_output: str = ""
    agent: str | None = None
    context: tuple[str, ...] | None = None
    human_input: bool = False
    output_file: str | None = None
    output_json: dict[str, Any] | None = Field(
        None, description="JSON Schema the answer must follow (the `output_pydantic` of YAML)."
    )
    output_pydantic: str | None = Field(None, description="`module:Class` of a pydantic model.")


class CrewSpec(BaseModel):
    """A whole crew: agents, tasks in order, and how they are run."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    description: str | None = None
    agents: tuple[AgentSpec, ...]
    tasks: tuple[TaskSpec, ...]
    process: Literal["sequential", "hierarchical"] = "sequential"
    manager: str | None = Field(None, description="Agent that assigns tasks (hierarchical).")
    defaults: dict[str, Any] = Field(default_factory=dict, description="Default inputs.")
    knowledge_dir: Path | None = None

    def agent(self, name: str) -> AgentSpec:
        """The agent called ``name``."""
        return next(a for a in self.agents if a.name == name)

    @property
    def inputs(self) -> list[str]:
        """Every ``{placeholder}`` the crew's texts use (what ``GET /inputs`` lists)."""
        texts: list[str | None] = []
        for a in self.agents:
            texts += [a.role, a.goal, a.backstory]
        for t in self.tasks:
            texts += [t.description, t.expected_output, t.output_file]
        return placeholders(texts)

    def check_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Inputs with defaults filled in; InvalidInput naming every missing or bad one."""
        merged = {**self.defaults, **inputs}
        missing = missing_inputs(self.inputs, merged)
        if missing:
            raise MissingInputs(self.name, missing, self.inputs)
        for key, value in merged.items():
            if not _plain(value):
                raise InvalidInput(
                    f"input '{key}' must be a string, number, boolean, or a list / object of "
                    "those", field=f"inputs.{key}",
                )
        return merged


def _plain(value: Any) -> bool:
    if isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _read_yaml(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise ConfigError(f"{path}: file not found (a crew needs config/agents.yaml and config/tasks.yaml)")
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of names to entries, got {type(raw).__name__}")
    return raw


def _entries(path: Path, raw: dict[str, Any], model: type[BaseModel]) -> list[Any]:
    out = []
    for name, body in raw.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: '{name}' must be a mapping of fields")
        body = {k: (v.strip() if isinstance(v, str) else v) for k, v in body.items()}
        if isinstance(body.get("tools"), str):
            body["tools"] = [body["tools"]]
        if isinstance(body.get("context"), str):
            body["context"] = [body["context"]]
        try:
            out.append(model.model_validate({**body, "name": str(name)}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{path}: '{name}': {problems}") from exc
    return out


def load_crew(folder: Path, name: str | None = None) -> CrewSpec:
    """Read and check a crew folder; ConfigError names the file and entry that is wrong."""
    folder = folder.resolve()
    if not folder.is_dir():
        raise ConfigError(f"crew folder {folder} does not exist")
    conf = folder / "config" if (folder / "config").is_dir() else folder
    agents_file, tasks_file = conf / "agents.yaml", conf / "tasks.yaml"
    crew_raw = _read_yaml(conf / "crew.yaml", required=False)
    agents: list[AgentSpec] = _entries(agents_file, _read_yaml(agents_file, required=True), AgentSpec)
    tasks: list[TaskSpec] = _entries(tasks_file, _read_yaml(tasks_file, required=True), TaskSpec)
    if not agents:
        raise ConfigError(f"{agents_file}: a crew needs at least one agent")
    if not tasks:
        raise ConfigError(f"{tasks_file}: a crew needs at least one task")
    known = {a.name for a in agents}
    process = crew_raw.get("process", "sequential")
    manager = crew_raw.get("manager") or crew_raw.get("manager_agent")
    if process not in ("sequential", "hierarchical"):
        raise ConfigError(f"{conf / 'crew.yaml'}: process must be 'sequential' or 'hierarchical', got {process!r}")
    if process == "hierarchical":
        if manager not in known:
            raise ConfigError(
                f"{conf / 'crew.yaml'}: a hierarchical crew needs 'manager' naming one of its "
                f"agents ({', '.join(sorted(known))}), got {manager!r}"
            )
    done: set[str] = set()
    for t in tasks:
        if t.agent is None and process == "sequential":
            raise ConfigError(f"{tasks_file}: task '{t.name}' has no agent (sequential crews need one)")
        if t.agent is not None and t.agent not in known:
            raise ConfigError(
                f"{tasks_file}: task '{t.name}' names unknown agent '{t.agent}' "
                f"(agents.yaml defines {', '.join(sorted(known))})"
            )
        for ref in t.context or ():
            if ref not in done:
                raise ConfigError(
                    f"{tasks_file}: task '{t.name}' has context '{ref}', which is not an earlier task"
                )
        done.add(t.name)
    defaults = crew_raw.get("inputs") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{conf / 'crew.yaml'}: 'inputs' must map input names to default values")
    knowledge = folder / "knowledge"
    try:
        return CrewSpec(
            name=str(crew_raw.get("name") or name or folder.name), description=crew_raw.get("description"),
            agents=tuple(agents), tasks=tuple(tasks), process=process, manager=manager,
            defaults=defaults, knowledge_dir=knowledge if knowledge.is_dir() else None,
        )
    except ValidationError as exc:
        raise ConfigError(f"{conf / 'crew.yaml'}: {exc}") from exc
