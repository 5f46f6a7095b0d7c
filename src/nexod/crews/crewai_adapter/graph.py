"""A ``crewai.Crew`` as a one-node LangGraph graph, and its :class:`CrewSpec` for the API.

The node checks the inputs and the organisation's budget, then kicks off a fresh copy of the
crew in a worker thread (``kickoff`` blocks), with every agent's model pointed at Nexod's.
The state it leaves has the shape a YAML crew's has (``outputs`` per task with ``output``
and ``agent``, ``result``, ``usage`` per agent), so the kickoff / status API, webhooks and
the CLI serve both kinds. A kickoff is one step: a crash mid-crew runs it again from the start,
and a cancelled run's thread finishes its current kickoff in the background.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from crewai import Crew, Process
from crewai.events.event_bus import crewai_event_bus
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.pregel import Pregel

from nexod.crews import budget
from nexod.crews.crewai_adapter import events
from nexod.crews.crewai_adapter.llm import NexodLLM
from nexod.crews.crewai_adapter.scope import RunScope, entered
from nexod.crews.graph import CrewInput, CrewState
from nexod.crews.spec import AgentSpec, CrewSpec, TaskSpec
from nexod.errors import ConfigError
from nexod.llm.base import ChatModels

CrewFactory = Callable[[], Crew]


def _slug(text: str, taken: set[str], fallback: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:48] or fallback
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def crew_factory(obj: Any, what: str) -> CrewFactory:
    """How to get a fresh crew per run from what ``nexod.json`` names: a ``Crew`` (copied), a
    callable returning one, or a ``@CrewBase`` class (its ``crew()``). ConfigError otherwise."""
    if isinstance(obj, Crew):
        return obj.copy

    def build() -> Crew:
        made = obj()
        if not isinstance(made, Crew) and callable(getattr(made, "crew", None)):
            made = made.crew()
        if not isinstance(made, Crew):
            raise ConfigError(f"{what} returned {type(made).__name__}, not a crewai.Crew")
        return made

    if callable(obj):
        return build
    raise ConfigError(f"{what} is {type(obj).__name__}: expected a crewai.Crew, a function "
                      "returning one, or a @CrewBase class")


def spec_of(crew: Crew, crew_id: str) -> tuple[CrewSpec, dict[int, str], dict[int, str]]:
    """The crew as a :class:`CrewSpec`, plus agent and task names by ``id()`` of the object.

    ConfigError for what cannot run on a server: a task with ``human_input`` (CrewAI asks on
    the terminal; use a YAML crew's ``human_input`` for reviews)."""
    agent_names: dict[int, str] = {}
    taken: set[str] = set()
    agents = []
    for i, a in enumerate(crew.agents):
        name = _slug(str(a.role), taken, f"agent_{i + 1}")
        agent_names[id(a)] = name
        agents.append(AgentSpec(name=name, role=str(a.role), goal=str(a.goal),
                                backstory=str(a.backstory or ""), allow_delegation=bool(a.allow_delegation),
                                max_iter=max(1, int(a.max_iter or 1))))
    task_names: dict[int, str] = {}
    taken = set()
    tasks = []
    for i, t in enumerate(crew.tasks):
        name = _slug(t.name, taken, f"task_{i + 1}") if t.name else _slug("", taken, f"task_{i + 1}")
        task_names[id(t)] = name
        if t.human_input:
            raise ConfigError(f"crew {crew_id!r}: task {name!r} has human_input=True, which CrewAI "
                              "asks on the server's terminal; write the crew in YAML for a review step")
        context = [task_names[id(c)] for c in t.context if id(c) in task_names] \
            if isinstance(t.context, list) else None
        tasks.append(TaskSpec(name=name, description=str(t.description),
                              expected_output=str(t.expected_output or ""),
                              agent=agent_names.get(id(t.agent)) if t.agent is not None else None,
                              context=tuple(context) if context is not None else None))
    if not tasks:
        raise ConfigError(f"crew {crew_id!r} has no tasks")
    process = "hierarchical" if crew.process == Process.hierarchical else "sequential"
    spec = CrewSpec(name=crew_id, description=None, agents=tuple(agents), tasks=tuple(tasks),
                    process=process)
    return spec, agent_names, task_names


def _point_at_nexod(crew: Crew) -> None:
    """Every model of the crew becomes Nexod's (an agent's ``NexodLLM`` keeps its spec)."""
    def mine(llm: Any) -> NexodLLM:
        return llm if isinstance(llm, NexodLLM) else NexodLLM()

    for agent in crew.agents:
        agent.llm = mine(agent.llm)
        if getattr(agent, "function_calling_llm", None) is not None:
            agent.function_calling_llm = mine(agent.function_calling_llm)  # type: ignore[attr-defined]
    if crew.manager_agent is not None:
        crew.manager_agent.llm = mine(crew.manager_agent.llm)
    elif crew.process == Process.hierarchical:
        crew.manager_llm = mine(crew.manager_llm)
    if crew.function_calling_llm is not None:
        crew.function_calling_llm = mine(crew.function_calling_llm)  # type: ignore[assignment]
    if getattr(crew, "planning_llm", None) is not None:
        crew.planning_llm = mine(crew.planning_llm)


def _task_entry(name: str, output: Any, agent_name: str, elapsed: float) -> dict[str, Any]:
    entry: dict[str, Any] = {"task_id": name, "output": str(output.raw), "agent": str(output.agent),
                             "agent_name": agent_name, "execution_time": elapsed, "attempt": 1}
    if output.pydantic is not None:
        entry["json"] = output.pydantic.model_dump(mode="json")
    elif output.json_dict is not None:
        entry["json"] = output.json_dict
    return entry


def compile_crewai(make: CrewFactory, spec: CrewSpec, models: ChatModels) -> Pregel[Any, Any, Any, Any]:
    """The crew as a compiled graph: ``{"inputs": {...}}`` in, a crew state out."""
    events.install()

    async def run(state: CrewState, config: RunnableConfig) -> CrewState:
        inputs = spec.check_inputs(dict(state.get("inputs") or {}))
        first = spec.tasks[0].name
        gate = await budget.org_gate(state.get("org_allowance"), first)
        if gate.get("stopped"):
            return {"inputs": inputs, "outputs": {}, "usage": {}, "result": None, **gate}  # type: ignore[typeddict-item]
        writer = get_stream_writer()
        crew = make()
        _point_at_nexod(crew)
        _, agent_ids, task_ids = spec_of(crew, spec.name)
        scope = RunScope(models, config, writer)
        scope.agent_names = {str(a.id): agent_ids[id(a)] for a in crew.agents}
        scope.task_names = {str(t.id): task_ids[id(t)] for t in crew.tasks}
        own_step = crew.step_callback

        def on_step(step: Any) -> None:
            if own_step is not None:
                own_step(step)
            found = events.step_event(step)
            if found is not None:
                scope.emit(found)

        crew.step_callback = on_step

        def kickoff() -> Any:
            with entered(scope):
                try:
                    return crew.kickoff(inputs=inputs)
                finally:
                    crewai_event_bus.flush(timeout=10)  # deliver its events before we return

        started = time.monotonic()
        try:
            output = await asyncio.to_thread(kickoff)
        finally:
            scope.close()
            total = sum(int(u.get("total_tokens") or 0) for u in scope.usage.values())
            cost = sum(float(u.get("cost") or 0.0) for u in scope.usage.values())
            await budget.record({"total_tokens": total, "cost": cost or None})
        elapsed = round(time.monotonic() - started, 3)
        outputs: dict[str, dict[str, Any]] = {}
        for task, out in zip(crew.tasks, output.tasks_output, strict=False):
            name = task_ids[id(task)]
            outputs[name] = _task_entry(name, out, agent_ids.get(id(task.agent), ""),
                                        scope.task_seconds.get(name, elapsed))
        return {**gate, "inputs": inputs, "outputs": outputs, "usage": scope.usage,  # type: ignore[typeddict-item]
                "result": str(output.raw), "current_task": None, "stopped": None}

    builder: StateGraph[CrewState, Any, CrewInput, CrewState] = StateGraph(
        CrewState, input_schema=CrewInput, output_schema=CrewState)
    builder.add_node("crew", run)
    builder.add_edge(START, "crew")
    builder.add_edge("crew", END)
    return builder.compile(name=spec.name)
