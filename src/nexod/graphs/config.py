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
class GraphConfig:
    """The parsed config file."""

    base_dir: Path
    graphs: tuple[GraphSpec, ...] = ()
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


def load_graph_config(path: Path | None) -> GraphConfig:
    """Parse the config file; ``None`` gives an empty config rooted at the cwd."""
    if path is None:
        return GraphConfig(base_dir=Path.cwd())
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read graph config: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object with a 'graphs' key")
    graphs = raw.get("graphs", {})
    if not isinstance(graphs, dict):
        raise ConfigError(f"{path}: 'graphs' must be an object mapping graph ids to targets")
    deps = raw.get("dependencies", [])
    env = raw.get("env", {})
    base = path.resolve().parent
    if isinstance(env, str):
        env = _read_env_file(base / env)
    return GraphConfig(
        base_dir=base,
        graphs=tuple(_spec(gid, v, path) for gid, v in graphs.items()),
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
