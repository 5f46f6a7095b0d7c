"""Load graphs named in the config file and hand out runnable copies of them."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore

from nexod.crews.graph import compile_crew
from nexod.crews.spec import CrewSpec, load_crew
from nexod.crews.tools import ToolFactory
from nexod.errors import ConfigError, NotFound
from nexod.graphs.config import CrewRef, GraphConfig, GraphSpec
from nexod.llm.base import ChatModels
from nexod.settings import LOCAL_ORG


def default_assistant_id(graph_id: str, org_id: str | None = None) -> str:
    """The id of a graph's default assistant, as LangGraph Server mints it.

    Assistant ids are unique across tenants, so the default assistants of an organisation
    other than the embedded local one get ids of their own (the graph id still works).
    """
    if org_id is None or org_id == LOCAL_ORG:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, graph_id))
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"nexod:{org_id}:{graph_id}"))


@dataclass
class LoadedGraph:
    """A graph: compiled once, or a factory called per run."""

    spec: GraphSpec
    graph: Pregel[Any, Any, Any, Any] | None
    factory: Callable[..., Any] | None
    crew: CrewSpec | None = None


def _import_target(target: str, base: Path) -> Any:
    location, _, attr = target.rpartition(":")
    if location.endswith(".py") or "/" in location:
        file = (base / location).resolve()
        if not file.is_file():
            raise ConfigError(f"graph file {file} does not exist (from {target!r})")
        name = f"nexod_user_graph_{abs(hash(str(file)))}"
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot import {file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(location)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{location} has no attribute {attr!r} (from {target!r})")
        obj = getattr(obj, part)
    return obj


class GraphRegistry:
    """The graphs this server hosts, by graph id."""

    def __init__(
        self, config: GraphConfig, *, models: ChatModels | None = None,
        tools: dict[str, ToolFactory] | None = None, token_budget: int | None = None,
    ) -> None:
        self._token_budget = token_budget
        self._config = config
        self._models = models
        self._tools = tools
        self._graphs: dict[str, LoadedGraph] = {}

    @property
    def config(self) -> GraphConfig:
        """The parsed config file the graphs came from."""
        return self._config

    def load(self) -> None:
        """Import every graph in the config; a broken graph stops start-up with its id."""
        for dep in self._config.dependencies:
            path = str((self._config.base_dir / dep).resolve())
            if path not in sys.path:
                sys.path.insert(0, path)
        if str(self._config.base_dir) not in sys.path:
            sys.path.insert(0, str(self._config.base_dir))
        for spec in self._config.graphs:
            try:
                obj = _import_target(spec.target, self._config.base_dir)
            except ConfigError:
                raise
            except Exception as exc:
                raise ConfigError(f"graph {spec.graph_id!r}: importing {spec.target} failed: {exc!r}") from exc
            self.add(spec, obj)
        for ref in self._config.crews:
            if self._models is None:
                raise ConfigError(f"crew {ref.crew_id!r}: no chat models configured for crews")
            if ref.target is not None:
                self._load_crewai(ref, self._models)
                continue
            crew = load_crew(ref.path, ref.crew_id)
            crew = crew.model_copy(update={"name": ref.crew_id})
            graph = compile_crew(crew, self._models, tools=self._tools, token_budget=self._token_budget)
            desc = ref.description or crew.description
            spec = GraphSpec(ref.crew_id, f"crew:{ref.path}", desc)
            self._graphs[ref.crew_id] = LoadedGraph(spec, graph, None, crew)

    def _load_crewai(self, ref: CrewRef, models: ChatModels) -> None:
        """A ``crewai.Crew`` written in Python; ConfigError names the extra when crewai is
        missing, and what is wrong with the target otherwise."""
        from nexod.crews.crewai_adapter import require_crewai

        assert ref.target is not None
        what = f"crew {ref.crew_id!r} ({ref.target})"
        require_crewai(what)  # before the user's module imports crewai: telemetry off first
        from nexod.crews.crewai_adapter.graph import compile_crewai, crew_factory, spec_of

        try:
            make = crew_factory(_import_target(ref.target, self._config.base_dir), what)
            crew, _, _ = spec_of(make(), ref.crew_id)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"{what}: loading the crew failed: {exc!r}") from exc
        crew = crew.model_copy(update={"description": ref.description})
        graph = compile_crewai(make, crew, models)
        spec = GraphSpec(ref.crew_id, f"crewai:{ref.target}", ref.description)
        self._graphs[ref.crew_id] = LoadedGraph(spec, graph, None, crew)

    def crews(self) -> dict[str, CrewSpec]:
        """The crews among the graphs, by id."""
        return {gid: g.crew for gid, g in self._graphs.items() if g.crew is not None}

    def crew(self, crew_id: str) -> CrewSpec:
        """One crew; NotFound when there is no crew of that id."""
        found = self._graphs.get(crew_id)
        if found is None or found.crew is None:
            raise NotFound("crew", crew_id)
        return found.crew

    def add(self, spec: GraphSpec, obj: Any) -> None:
        """Register a compiled graph or a factory under ``spec.graph_id``."""
        if isinstance(obj, Pregel):
            self._graphs[spec.graph_id] = LoadedGraph(spec, obj, None)
        elif callable(obj):
            self._graphs[spec.graph_id] = LoadedGraph(spec, None, obj)
        elif hasattr(obj, "compile"):
            self._graphs[spec.graph_id] = LoadedGraph(spec, obj.compile(), None)
        else:
            raise ConfigError(
                f"graph {spec.graph_id!r}: {spec.target} is neither a compiled graph nor a factory"
            )

    @property
    def ids(self) -> list[str]:
        """Graph ids, in config order."""
        return list(self._graphs)

    def spec(self, graph_id: str) -> GraphSpec:
        """The config entry of a graph."""
        return self._get(graph_id).spec

    def _get(self, graph_id: str) -> LoadedGraph:
        try:
            return self._graphs[graph_id]
        except KeyError:
            raise NotFound("graph", graph_id) from None

    async def build(
        self,
        graph_id: str,
        config: RunnableConfig,
        *,
        checkpointer: BaseCheckpointSaver[Any] | None,
        store: BaseStore | None,
    ) -> Pregel[Any, Any, Any, Any]:
        """A runnable graph wired to our checkpointer and store (factories are called here)."""
        loaded = self._get(graph_id)
        graph = loaded.graph
        if graph is None:
            assert loaded.factory is not None
            params = inspect.signature(loaded.factory).parameters
            result = loaded.factory(config) if params else loaded.factory()
            if inspect.isawaitable(result):
                result = await result
            if not isinstance(result, Pregel):
                result = result.compile() if hasattr(result, "compile") else result
            if not isinstance(result, Pregel):
                raise ConfigError(f"graph {graph_id!r}: factory did not return a graph")
            graph = result
        return graph.copy(update={"checkpointer": checkpointer, "store": store})
