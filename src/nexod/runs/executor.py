"""Execute one claimed run: build its graph, stream it, record events and the outcome."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpx
from langgraph.errors import GraphRecursionError
from langgraph.pregel import Pregel
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from nexod.db.engine import reader
from nexod.db.models import AgentSession, Thread
from nexod.db.rows import to_model
from nexod.events.base import Event
from nexod.events.log import EventLog
from nexod.graphs.checkpointer import Checkpoints
from nexod.graphs.registry import GraphRegistry
from nexod.llm.base import price
from nexod.observability.hub import Observability
from nexod.resources.state import ThreadState
from nexod.runs.budget_guard import BudgetGuard
from nexod.runs.config import durability, run_config, run_input
from nexod.runs.crew_hooks import CrewHooks
from nexod.runs.queue import Claimed
from nexod.runs.streaming import ChunkMapper, graph_modes
from nexod.scope import RunScope, run_scope
from nexod.serde import as_utc, dumps, to_jsonable, utcnow
from nexod.settings import Settings
from nexod.store.sql import Stores

if TYPE_CHECKING:
    from nexod.budgets.base import OrgBudgets
    from nexod.knowledge.service import KnowledgeBase

log = logging.getLogger("nexod.runs")


class RunCancelled(Exception):
    """Raised inside a run's task when it is cancelled with an action."""


@dataclass
class Outcome:
    """How an attempt ended."""

    status: Literal["success", "error", "timeout", "interrupted"]
    output: Any
    error: dict[str, Any] | None = None
    exc: BaseException | None = None


class Executor:
    """Runs graphs for the worker."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        registry: GraphRegistry,
        checkpoints: Checkpoints,
        stores: Stores,
        events: EventLog,
        state: ThreadState,
        obs: Observability,
        knowledge: KnowledgeBase | None = None,
        budgets: OrgBudgets | None = None,
    ) -> None:
        self._settings = settings
        self._knowledge = knowledge
        self._budgets = budgets
        self._obs = obs
        self._engine = engine
        self._reads = reader(engine)
        self._registry = registry
        self._checkpoints = checkpoints
        self._stores = stores
        self._events = events
        self._state = state
        self._background: set[asyncio.Task[None]] = set()
        self._queued_threads: set[str] = set()

    def has_queued(self, thread_id: str) -> bool:
        """Whether the run that just finished on ``thread_id`` left another queued behind it."""
        if thread_id in self._queued_threads:
            self._queued_threads.discard(thread_id)
            return True
        return False

    async def execute(self, claimed: Claimed, cancel_action: dict[str, str]) -> None:
        """Run ``run`` to completion (or until cancelled) and record the result.

        ``cancel_action[run_id]`` is set by the worker before it cancels the task.
        """
        run = claimed.run
        started = time.perf_counter()
        # Event ids continue across attempts, so a rejoining client never sees one twice.
        seq = await self._events.last_seq(run.run_id) if claimed.resumed else 0
        kwargs = run.kwargs

        hooks = CrewHooks.for_run(kwargs, run_id=run.run_id, timeout=self._settings.webhook_timeout)

        def emit(name: str, data: Any) -> None:
            nonlocal seq
            seq += 1
            self._events.append(run.org_id, Event(run.run_id, run.thread_id, seq, name, dumps(data)))
            if hooks is not None:
                hooks.on_event(name, data)

        emit("metadata", {"run_id": run.run_id, "attempt": run.attempt})
        graph: Pregel[Any, Any, Any, Any] | None = None
        mapper = ChunkMapper(
            list(kwargs.get("stream_mode") or ["values"]),
            subgraphs=bool(kwargs.get("stream_subgraphs")),
            emit=emit,
        )
        try:
            async with asyncio.timeout(self._settings.run_timeout):
                graph = await self._prepare_and_stream(claimed, mapper, emit)
            outcome = Outcome("success", mapper.output())
        except asyncio.CancelledError:
            action = cancel_action.get(run.run_id)
            if action is None:  # worker shutting down: release the run so it resumes later
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # the cancel was ours and is handled: record the outcome below
            outcome = Outcome("interrupted", mapper.output())
            if action == "rollback":
                await self._rollback(run)
                self._observe(claimed, outcome, started)
                return
        except TimeoutError:
            err = {"error": "TimeoutError", "message": f"run exceeded {self._settings.run_timeout} s"}
            emit("error", err)
            outcome = Outcome("timeout", {"__error__": err}, err)
        except Exception as exc:  # the graph's own failure: recorded, never raised further
            err = {"error": type(exc).__name__, "message": str(exc)}
            if isinstance(exc, GraphRecursionError):
                err["message"] = str(exc).split("\n")[0]
            log.warning("run_failed", extra={"run_id": run.run_id, "thread_id": run.thread_id,
                                             "org_id": run.org_id, "error": err["error"]})
            emit("error", err)
            outcome = Outcome("error", {"__error__": err}, err, exc)
        await self._finish(run, graph, outcome, seq)
        if hooks is not None:
            task = asyncio.create_task(hooks.finish(outcome.status, outcome.output))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        self._observe(claimed, outcome, started)

    def _observe(self, claimed: Claimed, outcome: Outcome, started: float) -> None:
        run, assistant = claimed.run, claimed.assistant
        self._obs.run_finished(
            graph=assistant.graph_id if assistant is not None else "unknown",
            outcome=outcome.status, seconds=time.perf_counter() - started, run_id=run.run_id,
            thread_id=run.thread_id, assistant_id=run.assistant_id, org_id=run.org_id,
            error=outcome.error, exc=outcome.exc)

    async def _prepare_and_stream(
        self, claimed: Claimed, mapper: ChunkMapper, emit: Any
    ) -> Pregel[Any, Any, Any, Any]:
        run, assistant, thread = claimed.run, claimed.assistant, claimed.thread
        kwargs = run.kwargs
        if assistant is None:
            raise LookupError(f"assistant '{run.assistant_id}' was deleted before the run started")
        if thread is None:
            raise LookupError(f"thread '{run.thread_id}' was deleted before the run started")
        config = run_config(
            assistant_config=assistant.config, thread_config=thread.config, kwargs=kwargs,
            run_id=run.run_id, thread_id=run.thread_id, assistant_id=assistant.assistant_id,
            graph_id=assistant.graph_id, metadata=run.metadata_,
        )
        callbacks = self._obs.run_callbacks(assistant.graph_id)
        guard = None
        if self._budgets is not None:  # every model call of the run against the org's budget
            prices = self._settings.llm_prices
            guard = await BudgetGuard.open(self._budgets, run.org_id,
                                           price=lambda m, i, o: price(prices, m, i, o))
            callbacks.append(guard)
        if callbacks:
            config["callbacks"] = callbacks  # configs come from JSON: none there before
        graph = await self._registry.build(
            assistant.graph_id, config, checkpointer=self._checkpoints.saver,
            store=self._stores.for_org(run.org_id),
        )
        if claimed.resumed and await self._checkpoints.latest_run_id(run.thread_id) == run.run_id:
            # A retry after a crash: this run already wrote checkpoints, so continue from the
            # newest one instead of starting over.
            graph_input = None
            config["configurable"].pop("checkpoint_id", None)
        else:
            graph_input = run_input(kwargs)
        context = {**(assistant.context or {}), **(kwargs.get("context") or {})}
        requested = list(kwargs.get("stream_mode") or ["values"])
        options: dict[str, Any] = {
            "stream_mode": graph_modes(requested),
            "subgraphs": True,
            "interrupt_before": kwargs.get("interrupt_before"),
            "interrupt_after": kwargs.get("interrupt_after"),
            "durability": durability(kwargs),
        }
        if context:
            options["context"] = context
        # Code inside the graph (knowledge_search, budget gates) sees this run's organisation.
        try:
            with run_scope(RunScope(run.org_id, run.run_id, self._knowledge, self._budgets)):
                async for ns, mode, chunk in self._stream(graph, graph_input, config, options, requested, emit):
                    mapper.handle(ns, mode, chunk)
        finally:
            if guard is not None:
                await guard.flush()
        return graph

    async def _stream(
        self, graph: Pregel[Any, Any, Any, Any], graph_input: Any, config: Any,
        options: dict[str, Any], requested: list[str], emit: Any,
    ) -> AsyncIterator[tuple[tuple[str, ...], str, Any]]:
        if "events" not in requested:
            async for item in graph.astream(graph_input, config, **options):
                yield item
            return
        # "events" needs astream_events; the root graph's own stream output arrives inside it
        # as on_chain_stream events without parents.
        async for ev in graph.astream_events(graph_input, config, version="v2", **options):
            if ev.get("event") == "on_chain_stream" and not ev.get("parent_ids"):
                chunk = ev["data"]["chunk"]
                if isinstance(chunk, tuple) and len(chunk) == 3:
                    yield chunk
                    continue
            emit("events", to_jsonable(ev))

    async def _rollback(self, run: AgentSession) -> None:
        before = await self._checkpoints.before_run(run.thread_id, run.run_id)
        await self._checkpoints.rollback(run.thread_id, before)
        await self._events.flush()
        async with self._engine.begin() as s:
            await s.execute(delete(AgentSession).where(AgentSession.run_id == run.run_id))
        self._events.end(run.run_id, run.thread_id, b"null")
        graph = await self._state_graph(run)
        if graph is not None:
            await self._state.sync_thread(run.thread_id, graph)
        else:
            await self._set_thread_status(run.thread_id, "idle")

    async def _state_graph(self, run: AgentSession) -> Pregel[Any, Any, Any, Any] | None:
        async with self._reads.connect() as s:
            found = (await s.execute(select(Thread).where(Thread.thread_id == run.thread_id))).first()
        return None if found is None else await self._state.graph_for(to_model(Thread, found))

    async def _set_thread_status(self, thread_id: str, status: str) -> None:
        async with self._engine.begin() as s:
            await s.execute(update(Thread).where(Thread.thread_id == thread_id).values(status=status))

    async def _finish(self, run: AgentSession, graph: Any, outcome: Outcome, last_seq: int) -> None:
        """Flush events, then in one transaction store the final status and the thread's new
        state; then wake waiters, call the webhook and drop a temporary thread."""
        await self._events.flush()
        summary = None
        try:
            if graph is None:
                graph = await self._state_graph(run)
            if graph is not None:
                summary = await self._state.summary(run.thread_id, graph)
        except Exception:
            log.exception("thread_state_read_failed", extra={"run_id": run.run_id, "thread_id": run.thread_id})
        now = utcnow()
        async with self._engine.begin() as s:
            await s.execute(
                update(AgentSession)
                .where(AgentSession.run_id == run.run_id)
                .values(status=outcome.status, error=outcome.error, ended_at=now, updated_at=now,
                        lease_owner=None, lease_expires_at=None)
            )
            queued = await s.scalar(
                select(AgentSession.run_id).where(
                    AgentSession.thread_id == run.thread_id, AgentSession.status == "pending"
                ).limit(1)
            )
            error, busy = outcome.status == "error", queued is not None
            if busy:
                self._queued_threads.add(run.thread_id)
            if summary is not None:
                values = summary.row(error=error, busy=busy)
            else:
                values = {"status": "error" if error else "busy" if busy else "idle", "updated_at": now}
            await s.execute(update(Thread).where(Thread.thread_id == run.thread_id).values(**values))
        self._events.end(run.run_id, run.thread_id, dumps(outcome.output), last_seq)
        await self._events.flush()
        if run.kwargs.get("webhook"):
            task = asyncio.create_task(self._webhook(run, outcome))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if run.temporary and run.kwargs.get("on_completion", "delete") == "delete":
            async with self._engine.begin() as s:
                await s.execute(delete(Thread).where(Thread.thread_id == run.thread_id))
            await self._checkpoints.delete_thread(run.thread_id)

    async def _webhook(self, run: AgentSession, outcome: Outcome) -> None:
        url = str(run.kwargs["webhook"])
        if url.startswith("/"):
            base = self._settings.public_url or f"http://{self._settings.host}:{self._settings.port}"
            url = base.rstrip("/") + url
        payload = {
            "run_id": run.run_id, "thread_id": run.thread_id, "assistant_id": run.assistant_id,
            "created_at": as_utc(run.created_at), "updated_at": utcnow(), "status": outcome.status,
            "metadata": run.metadata_, "kwargs": run.kwargs, "multitask_strategy": run.multitask_strategy,
            "run_started_at": as_utc(run.started_at), "run_ended_at": utcnow(),
            "webhook_sent_at": utcnow(),
            "values": outcome.output if outcome.status != "error" else None,
        }
        if outcome.error:
            payload["error"] = outcome.error.get("message")
        for attempt in range(3):
            try:
                async with httpx.AsyncClient(timeout=self._settings.webhook_timeout) as client:
                    resp = await client.post(url, content=dumps(payload),
                                             headers={"content-type": "application/json"})
                if resp.status_code < 500:
                    return
            except httpx.HTTPError as exc:
                log.warning("webhook_failed", extra={"run_id": run.run_id, "error": repr(exc)})
            await asyncio.sleep(0.5 * 2**attempt)
