"""Wire every backend together: :func:`open_core` opens them all and closes them in reverse."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from nexod.auth.service import Auth
from nexod.budgets.base import OrgBudgets
from nexod.budgets.sql import SqlOrgBudgets
from nexod.cache.base import Caches, open_caches
from nexod.db.engine import create_engine, sessionmaker
from nexod.db.migrate import upgrade
from nexod.events.base import EventBus
from nexod.events.log import EventLog
from nexod.events.memory import MemoryEventBus
from nexod.graphs.checkpointer import Checkpoints, open_checkpoints
from nexod.graphs.config import apply_env, load_graph_config
from nexod.graphs.registry import GraphRegistry
from nexod.knowledge.service import KnowledgeBase, open_knowledge
from nexod.observability.base import Metrics
from nexod.observability.hub import Observability, open_observability
from nexod.resources.assistants import Assistants
from nexod.resources.state import ThreadState
from nexod.resources.tenants import TenantPurge
from nexod.resources.threads import Threads
from nexod.runs.executor import Executor
from nexod.runs.health import WorkerBeats
from nexod.runs.janitor import Janitor
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
    beats: WorkerBeats
    worker: Worker | None
    obs: Observability
    auth: Auth
    caches: Caches
    knowledge: KnowledgeBase
    budgets: OrgBudgets
    redis: Any = None


async def _warm(knowledge: KnowledgeBase) -> None:
    try:
        await knowledge.embedder.setup()
    except Exception as exc:  # reported again, as a 503, by the first request that needs it
        log.warning("kb_embedder_unavailable", extra={"reason": str(exc)})


def load_registry(settings: Settings) -> GraphRegistry:
    """Read the config file and import every graph; ConfigError names what is wrong."""
    graph_config = load_graph_config(settings.resolve_config_path())
    apply_env(graph_config)
    from nexod.llm import ModelFactory

    registry = GraphRegistry(graph_config, models=ModelFactory(settings),
                             token_budget=settings.run_token_budget or None)
    registry.load()
    return registry


@asynccontextmanager
async def open_bus(settings: Settings) -> AsyncIterator[tuple[EventBus, Any]]:
    """The event bus the settings call for, and the Redis client behind it (None embedded)."""
    if settings.redis_url is None:
        bus: EventBus = MemoryEventBus()
        try:
            yield bus, None
        finally:
            await bus.close()
        return
    from nexod.events.redis import RedisEventBus, connect

    client = connect(settings.redis_url)
    redis_bus = RedisEventBus(client)
    await redis_bus.start()
    if not redis_bus.healthy:
        log.warning("redis_unavailable_at_start", extra={"redis_url": settings.redis_url.split("@")[-1]})
    try:
        yield redis_bus, client
    finally:
        await redis_bus.close()
        await client.aclose()


@asynccontextmanager
async def open_core(
    settings: Settings, *, run_worker: bool = True, migrate: bool = True,
    registry: GraphRegistry | None = None, metrics: Metrics | None = None,
) -> AsyncIterator[Core]:
    """Open storage, load graphs, start the event writer and (optionally) the run worker.

    ``metrics`` is the recorder the app's middleware already uses (one is built otherwise).
    """
    if registry is None:
        registry = load_registry(settings)
    engine = create_engine(settings)
    knowledge: KnowledgeBase | None = None
    warm: asyncio.Task[None] | None = None
    try:
        if migrate:
            await upgrade(engine)
        db = sessionmaker(engine)
        async with (
            open_observability(settings, engine, metrics) as obs,
            open_bus(settings) as (bus, redis),
            open_checkpoints(settings, redis=redis, metrics=obs.metrics) as checkpoints,
            open_caches(settings.redis_url, obs.metrics) as caches,
        ):
            knowledge = open_knowledge(settings, engine, db, obs.metrics)
            await knowledge.setup()
            # Load the embedding model in the background: the first search should not pay for
            # it, and start-up should not wait for it.
            warm = asyncio.create_task(_warm(knowledge))
            events = EventLog(engine, bus, obs.metrics)
            await events.start()
            index = None
            if registry.config.store_index is not None:
                index = StoreIndex(registry.config.store_index, knowledge.embedder, knowledge.store)
            stores = Stores(db, index)
            budgets = SqlOrgBudgets(engine, tokens=settings.org_token_budget, cost=settings.org_cost_budget)
            assistants = Assistants(db, registry)
            threads = Threads(db, checkpoints)
            state = ThreadState(db, registry, checkpoints, stores, threads)
            beats = WorkerBeats(engine)
            runs = Runs(engine, assistants, events, bus, registry)
            purge = TenantPurge(engine, runs, checkpoints, caches, knowledge)
            worker: Worker | None = None
            if run_worker and settings.workers > 0:
                queue = RunQueue(engine, lease_seconds=settings.lease_seconds,
                                 max_attempts=settings.max_attempts)
                executor = Executor(settings, engine, registry, checkpoints, stores, events, state, obs,
                                    knowledge=knowledge, budgets=budgets)
                janitor = Janitor(settings, engine, checkpoints, beats, purge=purge)
                worker = Worker(settings, queue, executor, bus, beats, sweep=janitor.sweep,
                                metrics=obs.metrics)
            auth = Auth(settings, db, caches, on_new_org=assistants.ensure_defaults,
                        on_org_deleted=purge.purge)
            await auth.directory.ensure_org(LOCAL_ORG, "Local")
            core = Core(settings, engine, db, registry, checkpoints, stores, bus, events,
                        assistants, threads, state, runs, beats, worker, obs, auth, caches, knowledge,
                        budgets, redis)
            if worker is not None:
                # Embedded mode is one process, so any run still marked running was cut off
                # by a stop or crash of this server: resume it now.
                await worker.start(recover_all=not settings.is_postgres)
            log.info("nexod_ready", extra={
                "graphs": registry.ids, "storage": "postgres" if settings.is_postgres else "sqlite",
                "bus": "redis" if redis is not None else "memory",
                "role": "api+worker" if worker is not None else "api",
            })
            try:
                yield core
            finally:
                if worker is not None:
                    await worker.stop()
                await events.stop()
    finally:
        if warm is not None:
            warm.cancel()
        if knowledge is not None:
            await knowledge.aclose()
        await engine.dispose()
