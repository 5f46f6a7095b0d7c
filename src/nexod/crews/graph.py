"""Compile a :class:`CrewSpec` into a LangGraph graph.

kickoff → (plan, hierarchical crews) → one node per task [→ its review when
``human_input: true``] → finish. Each node is checkpointed, so a crew run resumes after a
crash from the last finished task, and a review waits (for days if need be) in an
``interrupt()``. A reviewer answers ``{"approved": true}`` or ``{"approved": false,
"feedback": "…"}`` (CrewAI's ``is_approve`` / ``human_feedback`` are accepted too); feedback
runs the task again with it. Nodes report progress as CrewAI-named custom events
(``crew_kickoff_started``, ``task_started``, ``task_completed``, ``human_feedback_requested``…).
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.pregel import Pregel
from langgraph.types import interrupt
from pydantic import BaseModel, ValidationError
from typing_extensions import TypedDict

from nexod.crews import budget as org_budget
from nexod.crews import delegation
from nexod.crews.interpolate import interpolate
from nexod.crews.prompts import manager_messages, parse_assignments, task_messages
from nexod.crews.spec import AgentSpec, CrewSpec, TaskSpec
from nexod.crews.tools import BUILTIN_TOOLS, Tool, ToolFactory
from nexod.errors import ConfigError
from nexod.llm.base import ChatModels, add_usage

RESERVED_NODES = frozenset({"kickoff", "plan", "finish"})
DELEGATION_ROUNDS = 3
"""Coworker calls one attempt of a task may make (CrewAI bounds them by ``max_iter``)."""


class CrewInput(TypedDict, total=False):
    """What a run of a crew takes: ``{"inputs": {"topic": "…"}}``."""

    inputs: dict[str, Any]


class CrewState(TypedDict, total=False):
    """A crew run's state, checkpointed after every step."""

    inputs: dict[str, Any]
    assignments: dict[str, str]
    current_task: str | None
    outputs: dict[str, dict[str, Any]]
    feedback: dict[str, str]
    decisions: list[dict[str, Any]]
    usage: dict[str, dict[str, Any]]
    result: str | None
    files: dict[str, str]
    token_budget: int | None
    org_allowance: dict[str, Any]
    stopped: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _text(msg: Any) -> str:
    content = msg.content if isinstance(msg, AIMessage) else msg
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def _load_model_class(ref: str, task: TaskSpec) -> type[BaseModel]:
    module, _, attr = ref.rpartition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"task '{task.name}': output_pydantic {ref!r} cannot be imported: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        raise ConfigError(f"task '{task.name}': output_pydantic {ref!r} is not a pydantic model")
    return cls


def parse_structured(text: str, model: type[BaseModel] | None) -> tuple[Any, str | None]:
    """The JSON object in an answer (validated by ``model`` if given), or (None, why not)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None, "the answer holds no JSON object"
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        return None, f"the answer's JSON is malformed: {exc}"
    if model is None:
        return data, None
    try:
        return model.model_validate(data).model_dump(mode="json"), None
    except ValidationError as exc:
        return None, f"the answer does not match {model.__name__}: {exc.error_count()} errors"


def _answer(answer: Any) -> tuple[bool, str, str]:
    """(approved, feedback, by) from a reviewer's resume value."""
    if isinstance(answer, dict):
        approved = answer.get("approved", answer.get("is_approve"))
        feedback = str(answer.get("feedback") or answer.get("human_feedback") or "")
        by = str(answer.get("by") or "unknown")
        if approved is None:
            approved = not feedback
        return bool(approved), feedback, by
    if isinstance(answer, str):
        return not answer.strip(), answer.strip(), "unknown"
    return bool(answer), "", "unknown"


def _used(state: CrewState) -> int:
    return sum(int(u.get("total_tokens") or 0) for u in (state.get("usage") or {}).values())


def compile_crew(
    spec: CrewSpec, models: ChatModels, *, tools: Mapping[str, ToolFactory] | None = None,
    token_budget: int | None = None,
) -> Pregel[Any, Any, Any, Any]:
    """The crew as a compiled graph (no checkpointer: the server injects its own).

    ``token_budget`` (overridden per run by ``configurable.token_budget``) caps the tokens a
    run may spend: before a task that would start beyond it, the run pauses with an
    ``interrupt({"type": "budget", …})`` until a person answers ``{"allow": <more tokens>}``
    or ``{"stop": true}`` (the remaining tasks are skipped and ``stopped`` says why).
    On a server, the organisation's budget for the period adds the same kind of pause before a
    task once the organisation has spent it (:mod:`nexod.crews.budget`).

    ConfigError names a tool no registry knows, a task whose name clashes with a built-in
    node, or an ``output_pydantic`` that cannot be imported.
    """
    registry = {**BUILTIN_TOOLS, **(tools or {})}
    agent_tools: dict[str, list[Tool]] = {}
    for agent in spec.agents:
        unknown = [t for t in agent.tools if t not in registry]
        if unknown:
            raise ConfigError(
                f"crew '{spec.name}': agent '{agent.name}' names unknown tools {unknown} "
                f"(known: {', '.join(sorted(registry))})"
            )
        agent_tools[agent.name] = [registry[t](spec) for t in agent.tools]
    schemas: dict[str, type[BaseModel] | None] = {}
    for task in spec.tasks:
        if task.name in RESERVED_NODES or task.name.endswith("__review"):
            raise ConfigError(f"crew '{spec.name}': task name '{task.name}' is reserved; rename it")
        schemas[task.name] = _load_model_class(task.output_pydantic, task) if task.output_pydantic else None
    tasks = list(spec.tasks)
    json_schemas: dict[str, dict[str, Any] | None] = {
        t.name: (s.model_json_schema() if (s := schemas[t.name]) is not None else t.output_json)
        for t in tasks
    }

    async def kickoff(state: CrewState, config: RunnableConfig) -> CrewState:
        inputs = spec.check_inputs(dict(state.get("inputs") or {}))
        budget = (config.get("configurable") or {}).get("token_budget", token_budget)
        get_stream_writer()({"type": "crew_kickoff_started", "crew": spec.name, "inputs": inputs})
        return {"inputs": inputs, "assignments": {t.name: t.agent for t in tasks if t.agent},
                "outputs": {}, "feedback": {}, "decisions": [], "usage": {}, "result": None,
                "files": {}, "current_task": tasks[0].name, "stopped": None,
                "token_budget": int(budget) if budget else None}

    async def plan(state: CrewState, config: RunnableConfig) -> CrewState:
        assert spec.manager is not None
        manager = spec.agent(spec.manager)
        workers = [a for a in spec.agents if a.name != manager.name] or list(spec.agents)
        msgs = manager_messages(manager, workers, tasks, state["inputs"])
        model = models.get(manager.llm)
        meta = {"crew_agent": interpolate(manager.role, state["inputs"]), "crew_task": "plan"}
        reply = await model.ainvoke(msgs, {"metadata": meta})
        chosen = parse_assignments(_text(reply), tasks, workers)
        assignments = dict(state.get("assignments") or {})
        for i, t in enumerate(tasks):
            # The manager's choice wins; a task it left out keeps its own agent, else round-robin.
            assignments[t.name] = chosen.get(t.name) or t.agent or workers[i % len(workers)].name
        get_stream_writer()({"type": "crew_plan_completed", "assignments": assignments})
        call_usage = _usage(reply, manager.llm)
        await org_budget.record(call_usage)
        usage = add_usage(state.get("usage"), {manager.name: call_usage})
        return {"assignments": assignments, "usage": usage}

    def _usage(reply: Any, llm: str | None) -> dict[str, Any]:
        meta = getattr(reply, "usage_metadata", None) or {}
        inp, out = int(meta.get("input_tokens") or 0), int(meta.get("output_tokens") or 0)
        name = llm or "default"
        resp = getattr(reply, "response_metadata", None) or {}
        model_name = str(resp.get("model_name") or resp.get("model") or name)
        return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out, "calls": 1,
                "cost": models.cost(model_name, inp, out), "models": [model_name]}

    async def _delegate(action: tuple[str, dict[str, Any]], coworkers: list[AgentSpec], asked_by: str,
                        task_name: str, inputs: dict[str, Any], writer: Any,
                        ) -> tuple[str, dict[str, dict[str, Any]]]:
        """Run one coworker tool: (the observation for the delegating agent, usage by agent)."""
        tool, args = action
        writer({"type": "tool_usage_started", "task_id": task_name, "agent": asked_by, "tool": tool,
                "tool_args": args})
        coworker = delegation.find_coworker(args.get("coworker"), coworkers, inputs)
        used: dict[str, dict[str, Any]] = {}
        if "error" in args:
            answer = f"Error: {args['error']}"
        elif coworker is None:
            names = ", ".join(a.name for a in coworkers)
            answer = f"Error: coworker {args.get('coworker')!r} not found; choose one of {names}"
        else:
            msgs = delegation.coworker_messages(coworker, tool, args, asked_by, inputs)
            reply = await models.get(coworker.llm).ainvoke(msgs, {
                "metadata": {"crew_agent": interpolate(coworker.role, inputs), "crew_task": task_name,
                             "delegated_by": asked_by},
                "tags": [f"agent:{coworker.name}"]})
            answer, used = _text(reply).strip(), {coworker.name: _usage(reply, coworker.llm)}
        writer({"type": "tool_usage_finished", "task_id": task_name, "agent": asked_by, "tool": tool,
                "coworker": coworker.name if coworker else None, "output": answer})
        return answer, used

    def task_node(task: TaskSpec, index: int) -> Any:
        async def run(state: CrewState, config: RunnableConfig) -> CrewState:
            if state.get("stopped"):
                return {}
            budget = state.get("token_budget")
            if budget and _used(state) >= budget:
                more = int(org_budget.ask_budget({
                    "type": "budget", "task_id": task.name, "used": _used(state), "budget": budget,
                    "question": 'The run reached its token budget. Allow more ({"allow": 5000}) '
                                'or stop ({"stop": true})?',
                }))
                if more <= 0:
                    get_stream_writer()({"type": "crew_stopped", "reason": "budget", "task_id": task.name})
                    return {"stopped": "budget", "current_task": None}
                state = {**state, "token_budget": budget + more}
                budget_update: CrewState = {"token_budget": budget + more}
            else:
                budget_update = {}
            gate = await org_budget.org_gate(state.get("org_allowance"), task.name)
            if gate.get("stopped"):
                return {**budget_update, **gate}  # type: ignore[typeddict-item]
            budget_update = {**budget_update, **gate}  # type: ignore[typeddict-item]
            agent = spec.agent(state.get("assignments", {}).get(task.name) or task.agent or spec.agents[0].name)
            inputs = state["inputs"]
            role = interpolate(agent.role, inputs)
            writer = get_stream_writer()
            outputs = dict(state.get("outputs") or {})
            previous = outputs.get(task.name)
            attempt = int(previous["attempt"]) + 1 if previous else 1
            writer({"type": "task_started", "task_id": task.name, "agent": role, "attempt": attempt})
            knowledge = ""
            for tool in agent_tools[agent.name]:
                found = await tool(f"{inputs} {task.description}")
                writer({"type": "tool_usage_finished", "task_id": task.name, "tool": tool.name,
                        "found": bool(found)})
                knowledge += found
            names = list(task.context) if task.context is not None else [t.name for t in tasks[:index]]
            context = [(n, outputs[n]["output"]) for n in names if n in outputs]
            feedback = (state.get("feedback") or {}).get(task.name)
            msgs = task_messages(agent, task, inputs, context=context, knowledge=knowledge,
                                 feedback=feedback, previous=previous["output"] if previous else None,
                                 schema=json_schemas[task.name])
            coworkers = [a for a in spec.agents if a.name != agent.name] \
                if agent.allow_delegation and not json_schemas[task.name] else []
            if coworkers:
                msgs[-1] = HumanMessage(f"{_text(msgs[-1].content)}\n\n"
                                        f"{delegation.instructions(coworkers, inputs)}")
            started = time.monotonic()
            extra: dict[str, Any] = {"max_tokens": agent.max_tokens} if agent.max_tokens else {}
            if json_schemas[task.name]:
                extra["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": task.name, "schema": json_schemas[task.name]}}
            meta = {"metadata": {"crew_agent": role, "crew_task": task.name},
                    "tags": [f"agent:{agent.name}"]}
            reply = await models.get(agent.llm).ainvoke(msgs, meta, **extra)  # type: ignore[arg-type]
            spent = {agent.name: _usage(reply, agent.llm)}
            await org_budget.record(spent[agent.name])
            for _ in range(DELEGATION_ROUNDS if coworkers else 0):
                action = delegation.parse_action(_text(reply))
                if action is None:
                    break
                answer, used = await _delegate(action, coworkers, role, task.name, inputs, writer)
                for name, u in used.items():
                    await org_budget.record(u)
                    spent = add_usage(spent, {name: u})
                msgs = [*msgs, AIMessage(_text(reply)), delegation.observation(answer)]
                reply = await models.get(agent.llm).ainvoke(msgs, meta, **extra)  # type: ignore[arg-type]
                call = _usage(reply, agent.llm)
                await org_budget.record(call)
                spent = add_usage(spent, {agent.name: call})
            text = _text(reply).strip()
            entry: dict[str, Any] = {
                "task_id": task.name, "output": text, "agent": role, "agent_name": agent.name,
                "execution_time": round(time.monotonic() - started, 3), "attempt": attempt,
            }
            if task.output_json is not None or task.output_pydantic:
                entry["json"], entry["json_error"] = parse_structured(text, schemas[task.name])
            outputs[task.name] = entry
            usage = add_usage(state.get("usage"), spent)
            writer({"type": "task_completed", "task_id": task.name, "agent": role,
                    "output": text, "execution_time": entry["execution_time"]})
            if task.human_input:
                # Sent from here, not from the review node: that node runs again on resume.
                writer({"type": "human_feedback_requested", "task_id": task.name, "agent": role,
                        "output": text, "attempt": attempt})
            update: CrewState = {**budget_update, "outputs": outputs, "usage": usage,
                                 "current_task": task.name}
            if task.output_file:
                update["files"] = {**(state.get("files") or {}),
                                   task.name: _interp_path(task.output_file, inputs)}
            return update

        return run

    def review_node(task: TaskSpec) -> Any:
        def review(state: CrewState) -> CrewState:
            if state.get("stopped"):
                return {}
            entry = state["outputs"][task.name]
            answer = interrupt({
                "type": "human_input", "task_id": task.name, "agent": entry["agent"],
                "output": entry["output"], "attempt": entry["attempt"],
                "question": "Approve this result, or send feedback to have the task done again.",
            })
            approved, feedback, by = _answer(answer)
            agent = spec.agent(entry["agent_name"])
            if not approved and entry["attempt"] >= agent.max_iter:
                approved, feedback = True, f"{feedback} (max_iter {agent.max_iter} reached: kept)"
            decision = {"task_id": task.name, "approved": approved, "feedback": feedback, "by": by,
                        "at": _now(), "attempt": entry["attempt"]}
            get_stream_writer()({"type": "human_feedback_received", **decision})
            fb = dict(state.get("feedback") or {})
            if not approved:
                fb[task.name] = feedback
            return {"decisions": [*(state.get("decisions") or []), decision], "feedback": fb}

        return review

    async def finish(state: CrewState) -> CrewState:
        outputs = state.get("outputs") or {}
        result = None if state.get("stopped") else outputs[tasks[-1].name]["output"]
        get_stream_writer()({"type": "crew_kickoff_completed", "crew": spec.name, "output": result,
                             "usage": state.get("usage") or {}, "stopped": state.get("stopped")})
        return {"result": result, "current_task": None}

    builder: StateGraph[CrewState, Any, CrewInput, CrewState] = StateGraph(
        CrewState, input_schema=CrewInput, output_schema=CrewState
    )
    builder.add_node("kickoff", kickoff)
    builder.add_edge(START, "kickoff")
    prev: str | None = "kickoff"
    if spec.process == "hierarchical":
        builder.add_node("plan", plan)
        builder.add_edge("kickoff", "plan")
        prev = "plan"
    for i, task in enumerate(tasks):
        builder.add_node(task.name, task_node(task, i))
        if prev is not None:
            builder.add_edge(prev, task.name)
        nxt = tasks[i + 1].name if i + 1 < len(tasks) else "finish"
        if task.human_input:
            review = f"{task.name}__review"
            builder.add_node(review, review_node(task))
            builder.add_edge(task.name, review)
            builder.add_conditional_edges(review, _router(task.name, nxt), [task.name, nxt])
            prev = None  # the review's router leads on
        else:
            prev = task.name
    if prev is not None:
        builder.add_edge(prev, "finish")
    builder.add_node("finish", finish)
    builder.add_edge("finish", END)
    return builder.compile(name=spec.name)


def _router(task_name: str, nxt: str) -> Any:
    def route(state: CrewState) -> str:
        last = (state.get("decisions") or [{}])[-1]
        if state.get("stopped") or last.get("task_id") != task_name:
            return nxt
        return nxt if last.get("approved", True) else task_name

    return route


def _interp_path(path: str, inputs: Mapping[str, Any]) -> str:
    return interpolate(path, inputs)
