"""Thread state: read it, update it, walk its history, and mirror it onto the thread row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.errors import InvalidUpdateError
from langgraph.pregel import Pregel
from langgraph.types import StateSnapshot
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexod.db.models import AgentSession, Thread
from nexod.errors import Conflict, InvalidInput, NotFound
from nexod.graphs.checkpointer import Checkpoints
from nexod.graphs.registry import GraphRegistry
from nexod.resources.threads import Threads
from nexod.serde import to_jsonable, utcnow
from nexod.store.sql import Stores

EMPTY_STATE: dict[str, Any] = {
    "values": {}, "next": [], "tasks": [], "metadata": {}, "created_at": None,
    "checkpoint": None, "parent_checkpoint": None, "interrupts": [],
}


def checkpoint_ref(config: RunnableConfig | None) -> dict[str, Any] | None:
    """The ``Checkpoint`` reference object of the wire format."""
    if not config:
        return None
    c = config.get("configurable", {})
    return {
        "thread_id": c.get("thread_id"),
        "checkpoint_ns": c.get("checkpoint_ns", ""),
        "checkpoint_id": c.get("checkpoint_id"),
        "checkpoint_map": c.get("checkpoint_map"),
    }


def interrupt_dict(intr: Any) -> dict[str, Any]:
    """``{value, id}`` of a LangGraph Interrupt."""
    return {"value": to_jsonable(getattr(intr, "value", None)), "id": getattr(intr, "id", None)}


def snapshot_dict(snap: StateSnapshot) -> dict[str, Any]:
    """The ``ThreadState`` wire form of a LangGraph state snapshot."""
    tasks = []
    for t in snap.tasks:
        state = t.state
        tasks.append(
            {
                "id": t.id,
                "name": t.name,
                "path": to_jsonable(list(t.path)),
                "error": repr(t.error) if t.error else None,
                "interrupts": [interrupt_dict(i) for i in t.interrupts],
                "checkpoint": checkpoint_ref(state) if isinstance(state, dict) else None,
                "state": snapshot_dict(state) if isinstance(state, StateSnapshot) else None,
                "result": to_jsonable(t.result) if t.result is not None else None,
            }
        )
    return {
        "values": to_jsonable(snap.values),
        "next": list(snap.next),
        "tasks": tasks,
        "metadata": to_jsonable(snap.metadata or {}),
        "created_at": snap.created_at,
        "checkpoint": checkpoint_ref(snap.config),
        "parent_checkpoint": checkpoint_ref(snap.parent_config),
        "interrupts": [interrupt_dict(i) for i in snap.interrupts],
        "checkpoint_id": (snap.config or {}).get("configurable", {}).get("checkpoint_id"),
        "parent_checkpoint_id": (snap.parent_config or {}).get("configurable", {}).get("checkpoint_id"),
    }


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    """What the thread row mirrors from the latest checkpoint."""

    values: Any
    interrupts: dict[str, Any]
    pending: bool

    def status(self, *, error: bool = False, busy: bool = False) -> str:
        """Thread status after a run: error, else interrupted, else busy (queued runs), else idle."""
        if error:
            return "error"
        if self.pending:
            return "interrupted"
        return "busy" if busy else "idle"

    def row(self, *, error: bool = False, busy: bool = False) -> dict[str, Any]:
        """Column values for the thread row."""
        now = utcnow()
        return {"values": self.values, "interrupts": self.interrupts,
                "status": self.status(error=error, busy=busy), "updated_at": now, "state_updated_at": now}


class ThreadState:
    """State reads and writes for a thread, through the graph that last ran on it."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        registry: GraphRegistry,
        checkpoints: Checkpoints,
        stores: Stores,
        threads: Threads,
    ) -> None:
        self._db = db
        self._registry = registry
        self._checkpoints = checkpoints
        self._stores = stores
        self._threads = threads

    async def graph_for(self, thread: Thread) -> Pregel[Any, Any, Any, Any] | None:
        """The graph whose checkpoints the thread holds, or None if it never ran."""
        graph_id = thread.metadata_.get("graph_id")
        if not graph_id or graph_id not in self._registry.ids:
            return None
        cfg: RunnableConfig = {"configurable": {"thread_id": thread.thread_id}}
        return await self._registry.build(
            graph_id, cfg, checkpointer=self._checkpoints.saver,
            store=self._stores.for_org(thread.org_id),
        )

    @staticmethod
    def _config(thread_id: str, checkpoint: dict[str, Any] | None = None) -> RunnableConfig:
        conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
        for k, v in (checkpoint or {}).items():
            if v is not None and k != "thread_id":
                conf[k] = v
        return {"configurable": conf}

    async def get(
        self, org_id: str, thread_id: str, *, checkpoint: dict[str, Any] | None = None,
        subgraphs: bool = False,
    ) -> dict[str, Any]:
        """The thread's state (at a checkpoint when given)."""
        thread = await self._threads.get(org_id, thread_id)
        graph = await self.graph_for(thread)
        if graph is None:
            return dict(EMPTY_STATE)
        snap = await graph.aget_state(self._config(thread_id, checkpoint), subgraphs=subgraphs)
        if checkpoint and checkpoint.get("checkpoint_id") and snap.created_at is None:
            raise NotFound("checkpoint", checkpoint["checkpoint_id"])
        if snap.config is None:
            return dict(EMPTY_STATE)
        return snapshot_dict(snap)

    async def history(
        self, org_id: str, thread_id: str, *, limit: int = 10, before: Any = None,
        metadata: dict[str, Any] | None = None, checkpoint: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Past states, newest first."""
        thread = await self._threads.get(org_id, thread_id)
        graph = await self.graph_for(thread)
        if graph is None:
            return []
        before_cfg = None
        if isinstance(before, str):
            before_cfg = self._config(thread_id, {"checkpoint_id": before})
        elif isinstance(before, dict):
            before_cfg = self._config(thread_id, before)
        out = []
        async for snap in graph.aget_state_history(
            self._config(thread_id, checkpoint), filter=metadata or None, before=before_cfg, limit=limit
        ):
            out.append(snapshot_dict(snap))
        return out

    async def update(
        self, org_id: str, thread_id: str, *, values: Any, as_node: str | None = None,
        checkpoint: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write ``values`` as if ``as_node`` produced them; 409 while a run is active."""
        thread = await self._threads.get(org_id, thread_id)
        async with self._db() as s:
            active = await s.scalar(
                select(AgentSession.run_id)
                .where(AgentSession.thread_id == thread_id)
                .where(AgentSession.status.in_(("pending", "running")))
                .limit(1)
            )
        if active is not None:
            raise Conflict(f"thread '{thread_id}' has a pending or running run; update its state later")
        graph = await self.graph_for(thread)
        if graph is None:
            raise InvalidInput(
                f"thread '{thread_id}' has no graph yet: run it once, or create it with a graph_id",
                field="thread_id",
            )
        try:
            cfg = await graph.aupdate_state(self._config(thread_id, checkpoint), values, as_node=as_node)
        except (ValueError, KeyError, TypeError, InvalidUpdateError) as exc:
            raise InvalidInput(f"cannot update state: {exc}", field="values") from exc
        await self.sync_thread(thread_id, graph)
        return {"checkpoint": checkpoint_ref(cfg)}

    async def summary(self, thread_id: str, graph: Pregel[Any, Any, Any, Any]) -> ThreadSummary:
        """The latest values and interrupts of a thread, read from its checkpoints."""
        snap = await graph.aget_state(self._config(thread_id))
        interrupts: dict[str, Any] = {}
        for t in snap.tasks:
            if t.interrupts:
                interrupts[t.id] = [interrupt_dict(i) for i in t.interrupts]
        values = to_jsonable(snap.values) if snap.config else None
        return ThreadSummary(values, interrupts, bool(snap.next or interrupts))

    async def sync_thread(
        self, thread_id: str, graph: Pregel[Any, Any, Any, Any], *, error: bool = False,
        busy: bool = False,
    ) -> None:
        """Copy the latest values and interrupts onto the thread row and set its status."""
        summary = await self.summary(thread_id, graph)
        async with self._db() as s:
            await s.execute(
                update(Thread).where(Thread.thread_id == thread_id)
                .values(**summary.row(error=error, busy=busy))
            )
            await s.commit()
