"""Build the LangGraph config, input and options of a run from its stored kwargs."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Send

RESERVED_CONFIGURABLE = ("run_id", "thread_id", "assistant_id", "graph_id")


def merge_configs(*configs: dict[str, Any] | None) -> dict[str, Any]:
    """Merge configs left to right: tags add up, configurable and metadata merge, rest replace."""
    out: dict[str, Any] = {}
    for cfg in configs:
        if not cfg:
            continue
        for k, v in cfg.items():
            if k == "tags":
                out["tags"] = [*out.get("tags", []), *[t for t in v if t not in out.get("tags", [])]]
            elif k in ("configurable", "metadata") and isinstance(v, dict):
                out[k] = {**out.get(k, {}), **v}
            else:
                out[k] = v
    return out


def run_config(
    *,
    assistant_config: dict[str, Any],
    thread_config: dict[str, Any],
    kwargs: dict[str, Any],
    run_id: str,
    thread_id: str,
    assistant_id: str,
    graph_id: str,
    metadata: dict[str, Any],
) -> RunnableConfig:
    """The full config of a run, with the ids LangGraph Server injects into ``configurable``
    (the run's organisation is not among them: see :mod:`nexod.scope`)."""
    cfg = merge_configs(assistant_config, thread_config, kwargs.get("config"))
    conf = dict(cfg.get("configurable", {}))
    conf.update(run_id=run_id, thread_id=thread_id, assistant_id=assistant_id, graph_id=graph_id)
    conf.setdefault("checkpoint_ns", "")
    checkpoint = kwargs.get("checkpoint") or {}
    for k, v in checkpoint.items():
        if v is not None and k != "thread_id":
            conf[k] = v
    if kwargs.get("checkpoint_id"):
        conf["checkpoint_id"] = kwargs["checkpoint_id"]
    cfg["configurable"] = conf
    cfg["metadata"] = {**cfg.get("metadata", {}), **metadata, "run_id": run_id, "thread_id": thread_id,
                       "assistant_id": assistant_id, "graph_id": graph_id}
    cfg["run_id"] = run_id
    return cfg  # type: ignore[return-value]


def _goto(value: Any) -> Any:
    if isinstance(value, dict) and "node" in value:
        return Send(value["node"], value.get("input"))
    if isinstance(value, list):
        return [_goto(v) for v in value]
    return value


def run_input(kwargs: dict[str, Any]) -> Any:
    """The graph input: a Command when the run carries one, else the input (None resumes)."""
    command = kwargs.get("command")
    if command:
        update = command.get("update")
        if isinstance(update, list):
            update = [tuple(pair) for pair in update]
        return Command(
            resume=command.get("resume"),
            update=update,
            goto=_goto(command.get("goto")) if command.get("goto") is not None else (),
        )
    return kwargs.get("input")


def durability(kwargs: dict[str, Any]) -> str:
    """``durability``, honouring the deprecated ``checkpoint_during`` flag."""
    if kwargs.get("durability"):
        return str(kwargs["durability"])
    if kwargs.get("checkpoint_during") is not None:
        return "async" if kwargs["checkpoint_during"] else "exit"
    return "async"
