"""Wire every backend together: :func:`open_core` opens them all and closes them in reverse."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from nexod.db.engine import create_engine, sessionmaker
from nexod.db.migrate import upgrade
from nexod.events.base import EventBus
from nexod.events.log import EventLog
from nexod.events.memory import MemoryEventBus
from nexod.graphs.checkpointer import Checkpoints, open_checkpoints
from nexod.graphs.config import apply_env, load_graph_config
from nexod.graphs.registry import GraphRegistry
from nexod.knowledge.service import KnowledgeBase, open_knowledge
from nexod.resources.assistants import Assistants
from nexod.resources.state import ThreadState
from nexod.resources.threads import Threads
from nexod.runs.executor import Executor
from nexod.runs.queue import RunQueue
from nexod.runs.service import Runs
from nexod.runs.worker import Worker
from nexod.settings import LOCAL_ORG, Settings
from nexod.store.index import StoreIndex
from nexod.store.sql import Stores

log = logging.getLogger("nexod")


@dataclass
class Core:
    """Everything a request or a worker needs, built once per process."""

    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    registry: GraphRegistry
    checkpoints: Checkpoints
    stores: Stores
    bus: EventBus
    events: EventLog
    assistants: Assistants
    threads: Threads
    state: ThreadState
    runs: Runs
    worker: Worker | None
    knowledge: KnowledgeBase


async def _warm(knowledge: KnowledgeBase) -> None:
    try:
        await knowledge.embedder.setup()
    except Exception as exc:  # reported again, as a 503, by the first request that needs it
        log.warning("kb_embedder_unavailable", extra={"reason": str(exc)})


def load_registry(settings: Settings) -> GraphRegistry:
    """Read the config file and import every graph; ConfigError names what is wrong."""
    graph_config = load_graph_config(settings.resolve_config_path())
    apply_env(graph_config)
    registry = GraphRegistry(graph_config)
    registry.load()
    return registry


@asynccontextmanager
async def open_core(
    settings: Settings, *, run_worker: bool = True, migrate: bool = True,
    registry: GraphRegistry | None = None,
) -> AsyncIterator[Core]:
    """Open storage, load graphs, start the event writer and (optionally) the run worker."""
    if registry is None:
        registry = load_registry(settings)
    engine = create_engine(settings)
    knowledge: KnowledgeBase | None = None
    warm: asyncio.Task[None] | None = None
    try:
        if migrate:
            await upgrade(engine)
        db = sessionmaker(engine)
        knowledge = open_knowledge(settings, engine, db)
        await knowledge.setup()
        # Load the embedding model in the background: the first search should not pay for it,
        # and start-up should not wait for it.
        warm = asyncio.create_task(_warm(knowledge))
        async with open_checkpoints(settings) as checkpoints:
            bus = MemoryEventBus()
            events = EventLog(engine, bus)
            await events.start()
            index = None
            if registry.config.store_index is not None:
                index = StoreIndex(registry.config.store_index, knowledge.embedder, knowledge.store)
            stores = Stores(db, index)
            assistants = Assistants(db, registry)
            threads = Threads(db, checkpoints)
            state = ThreadState(db, registry, checkpoints, stores, threads)
            queue = RunQueue(engine, lease_seconds=settings.lease_seconds, max_attempts=settings.max_attempts)
            worker: Worker | None = None
            if run_worker and settings.workers > 0:
                executor = Executor(settings, engine, registry, checkpoints, stores, events, state)
                worker = Worker(settings, queue, executor)
            runs = Runs(
                engine, assistants, events, bus,
                wake=worker.wake if worker else (lambda: None),
                cancel_local=worker.cancel if worker else (lambda _r, _a: False),
            )
            await assistants.ensure_defaults(LOCAL_ORG)
            core = Core(settings, engine, db, registry, checkpoints, stores, bus, events,
                        assistants, threads, state, runs, worker, knowledge)
            if worker is not None:
                # Embedded mode is one process, so any run still marked running was cut off
                # by a stop or crash of this server: resume it now.
                await worker.start(recover_all=not settings.is_postgres)
            log.info("nexod_ready", extra={"graphs": registry.ids, "storage": "postgres" if settings.is_postgres else "sqlite"})
            try:
                yield core
            finally:
                if worker is not None:
                    await worker.stop()
                await events.stop()
                await bus.close()
    finally:
        if warm is not None:
            warm.cancel()
        if knowledge is not None:
            await knowledge.aclose()
        await engine.dispose()
