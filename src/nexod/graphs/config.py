"""The graph config file: ``nexod.json``, or a ``langgraph.json`` accepted as is."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexod.errors import ConfigError


@dataclass(frozen=True)
class GraphSpec:
    """Where one graph comes from: ``path.py:attr`` or ``module:attr``."""

    graph_id: str
    target: str
    description: str | None = None


@dataclass(frozen=True)
class CrewRef:
    """Where one crew comes from: a folder with ``config/agents.yaml`` + ``config/tasks.yaml``,
    ``builtin:<name>`` for a crew Nexod ships, or (``target``) a ``crewai.Crew`` written in
    Python, named ``path.py:attr`` or ``module:attr`` (needs ``nexod[crewai]``)."""

    crew_id: str
    path: Path
    description: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class GraphConfig:
    """The parsed config file."""

    base_dir: Path
    graphs: tuple[GraphSpec, ...] = ()
    crews: tuple[CrewRef, ...] = ()
    dependencies: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    store_index: StoreIndexConfig | None = None
    """``store.index`` of langgraph.json: turns on semantic search in the LangGraph store."""


@dataclass(frozen=True)
class StoreIndexConfig:
    """``{"store": {"index": {"fields": ["$"], "dims": 384, "embed": "..."}}}``.

    Vectors come from Nexod's embedder (``NEXOD_EMBEDDINGS``); ``embed`` is recorded only, and
    ``dims``, when given, must match that embedder (checked at start-up).
    """

    fields: tuple[str, ...] = ("$",)
    dims: int | None = None
    embed: str | None = None


def _store_index(raw: Any, where: Path) -> StoreIndexConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: 'store' must be an object like {{\"index\": {{\"fields\": [\"$\"]}}}}")
    index = raw.get("index")
    if index is None:
        return None
    if not isinstance(index, dict):
        raise ConfigError(f"{where}: store.index must be an object with 'fields' (and optionally 'dims', 'embed')")
    fields = index.get("fields", ["$"])
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) and f for f in fields):
        raise ConfigError(f"{where}: store.index.fields must be a non-empty list of JSON paths such as \"$\"")
    dims = index.get("dims")
    if dims is not None and (not isinstance(dims, int) or isinstance(dims, bool) or dims < 1):
        raise ConfigError(f"{where}: store.index.dims must be a positive integer")
    embed = index.get("embed")
    if embed is not None and not isinstance(embed, str):
        raise ConfigError(f"{where}: store.index.embed must be a string such as \"openai:text-embedding-3-small\"")
    return StoreIndexConfig(tuple(fields), dims, embed)


def _spec(graph_id: str, value: Any, where: Path) -> GraphSpec:
    if isinstance(value, str):
        target, desc = value, None
    elif isinstance(value, dict) and isinstance(value.get("path"), str):
        target, desc = value["path"], value.get("description")
    else:
        raise ConfigError(
            f"{where}: graphs.{graph_id} must be 'path.py:attr', 'module:attr' or "
            '{"path": "...", "description": "..."}'
        )
    if ":" not in target:
        raise ConfigError(f"{where}: graphs.{graph_id} = {target!r} lacks ':attr' (e.g. ./agent.py:graph)")
    return GraphSpec(graph_id, target, desc)


def _crew(crew_id: str, value: Any, where: Path, base: Path) -> CrewRef:
    from nexod.crews.builtin import BUILTIN_CREWS, builtin_path

    desc = None
    if isinstance(value, dict) and isinstance(value.get("path"), str):
        value, desc = value["path"], value.get("description")
    if not isinstance(value, str):
        raise ConfigError(
            f"{where}: crews.{crew_id} must be a folder path, 'builtin:<name>', a CrewAI crew "
            """('path.py:attr' or 'module:attr') or {"path": "...", "description": "..."}"""
        )
    if ":" in value and not value.startswith("builtin:"):
        location, _, attr = value.rpartition(":")
        if not location or not attr:
            raise ConfigError(f"{where}: crews.{crew_id} = {value!r}: a CrewAI crew is named "
                              "'path.py:attr' or 'module:attr', e.g. ./crew.py:crew")
        return CrewRef(crew_id, base, desc, target=value)
    if value.startswith("builtin:"):
        name = value.split(":", 1)[1]
        if name not in BUILTIN_CREWS:
            raise ConfigError(f"{where}: crews.{crew_id} = {value!r}: built-in crews are {', '.join(BUILTIN_CREWS)}")
        return CrewRef(crew_id, builtin_path(name), desc)
    return CrewRef(crew_id, (base / value).resolve(), desc)


def builtin_crews() -> tuple[CrewRef, ...]:
    """The shipped crews, served when there is no config file at all."""
    from nexod.crews.builtin import BUILTIN_CREWS, builtin_path

    return tuple(CrewRef(name, builtin_path(name)) for name in BUILTIN_CREWS)


def load_graph_config(path: Path | None) -> GraphConfig:
    """Parse the config file; ``None`` gives the built-in crews, rooted at the cwd."""
    if path is None:
        return GraphConfig(base_dir=Path.cwd(), crews=builtin_crews())
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read graph config: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object with a 'graphs' key")
    graphs = raw.get("graphs", {})
    if not isinstance(graphs, dict):
        raise ConfigError(f"{path}: 'graphs' must be an object mapping graph ids to targets")
    crews = raw.get("crews", {})
    if not isinstance(crews, dict):
        raise ConfigError(f"{path}: 'crews' must be an object mapping crew ids to folders")
    deps = raw.get("dependencies", [])
    env = raw.get("env", {})
    base = path.resolve().parent
    clash = sorted(set(graphs) & set(crews))
    if clash:
        raise ConfigError(f"{path}: {', '.join(clash)} named both in 'graphs' and in 'crews'")
    if isinstance(env, str):
        env = _read_env_file(base / env)
    return GraphConfig(
        base_dir=base,
        graphs=tuple(_spec(gid, v, path) for gid, v in graphs.items()),
        crews=tuple(_crew(cid, v, path, base) for cid, v in crews.items()),
        dependencies=tuple(str(d) for d in deps if isinstance(d, str)),
        env={str(k): str(v) for k, v in dict(env).items()},
        store_index=_store_index(raw.get("store"), path),
    )


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip().strip("'\"")
    return out


def apply_env(cfg: GraphConfig) -> None:
    """Export the config's ``env`` entries, never overriding what the process already has."""
    for k, v in cfg.env.items():
        os.environ.setdefault(k, v)
