"""Checkpointer factory: langgraph-checkpoint-sqlite embedded, -postgres in production.

The LangGraph savers cover put/get/list/delete_thread. Three operations the server needs are
not implemented by either saver, so :class:`Checkpoints` adds them: copying a thread (generic,
through the saver API), rolling a thread back to a checkpoint (a small SQL delete per
backend, since there is no saver method for it) and keeping the newest N checkpoints of a
thread (:mod:`nexod.graphs.prune`).

With Redis, the saver handed to graphs is a :class:`~nexod.graphs.cache.CachedCheckpointSaver`
over the real one; the raw-SQL operations run on the real saver's connection and then
invalidate the thread's cache entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from nexod.graphs.cache import CachedCheckpointSaver
from nexod.graphs.prune import prune_postgres, prune_sqlite
from nexod.observability.base import Metrics
from nexod.settings import Settings


class Checkpoints:
    """The live checkpointer plus the thread-level operations the API needs.

    ``saver`` is what graphs get (the cached saver when Redis is on); ``kind`` is the storage,
    ``"sqlite"`` or ``"postgres"``.
    """

    def __init__(self, saver: BaseCheckpointSaver[Any], kind: str) -> None:
        self.saver = saver
        self.kind = kind

    @property
    def cache(self) -> CachedCheckpointSaver | None:
        """The Redis cache in front of the saver, if any."""
        return self.saver if isinstance(self.saver, CachedCheckpointSaver) else None

    @property
    def inner(self) -> BaseCheckpointSaver[Any]:
        """The real saver (its ``conn`` is the database), under the cache if there is one."""
        return self.saver.inner if isinstance(self.saver, CachedCheckpointSaver) else self.saver

    async def invalidate(self, thread_id: str) -> None:
        """Forget the cached state of a thread (no-op without a cache)."""
        if (cache := self.cache) is not None:
            await cache.invalidate(thread_id)

    async def latest_run_id(self, thread_id: str) -> str | None:
        """The run that wrote the thread's newest root checkpoint (None for a fresh thread)."""
        cfg: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        tup = await self.saver.aget_tuple(cfg)
        return None if tup is None else tup.metadata.get("run_id")

    async def before_run(self, thread_id: str, run_id: str) -> str | None:
        """The newest root checkpoint not written by ``run_id``: the thread as it was before."""
        cfg: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        async for tup in self.saver.alist(cfg):
            if tup.metadata.get("run_id") != run_id:
                return str(tup.config["configurable"]["checkpoint_id"])
        return None

    async def delete_thread(self, thread_id: str) -> None:
        """Remove every checkpoint of a thread."""
        await self.saver.adelete_thread(thread_id)

    async def rollback(self, thread_id: str, to_checkpoint_id: str | None) -> None:
        """Delete every checkpoint newer than ``to_checkpoint_id`` (all of them when None)."""
        if to_checkpoint_id is None:
            await self.saver.adelete_thread(thread_id)
            return
        # Checkpoint ids are UUIDv6, time-ordered, so string order is creation order.
        saver: Any = self.inner
        try:
            if self.kind == "sqlite":
                async with saver.lock:
                    for table in ("checkpoints", "writes"):
                        await saver.conn.execute(
                            f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_id > ?",
                            (thread_id, to_checkpoint_id),
                        )
                    await saver.conn.commit()
            else:
                async with saver.conn.connection() as conn:
                    for table in ("checkpoints", "checkpoint_writes"):
                        await conn.execute(
                            f"DELETE FROM {table} WHERE thread_id = %s AND checkpoint_id > %s",
                            (thread_id, to_checkpoint_id),
                        )
        finally:
            await self.invalidate(thread_id)

    async def prune(self, thread_ids: list[str], keep: int) -> int:
        """Keep the newest ``keep`` root checkpoints of each thread (and the subgraph
        checkpoints that belong to them); returns the checkpoints deleted. ``keep < 1`` keeps
        everything. Meant for idle threads; see :mod:`nexod.graphs.prune`."""
        if keep < 1 or not thread_ids:
            return 0
        prune = prune_sqlite if self.kind == "sqlite" else prune_postgres
        try:
            return await prune(self.inner, thread_ids, keep)
        finally:
            for thread_id in thread_ids:
                await self.invalidate(thread_id)

    async def copy_thread(self, source: str, target: str) -> None:
        """Copy every checkpoint (all namespaces) and pending write of ``source`` to ``target``."""
        tuples = [
            t async for t in self.saver.alist({"configurable": {"thread_id": source}})
        ]
        for tup in reversed(tuples):  # oldest first, so parents exist before children
            conf = tup.config["configurable"]
            parent = tup.parent_config["configurable"]["checkpoint_id"] if tup.parent_config else None
            target_cfg: RunnableConfig = {
                "configurable": {
                    "thread_id": target,
                    "checkpoint_ns": conf.get("checkpoint_ns", ""),
                    **({"checkpoint_id": parent} if parent else {}),
                }
            }
            new_versions = dict(tup.checkpoint.get("channel_versions", {}))
            saved = await self.saver.aput(target_cfg, tup.checkpoint, tup.metadata, new_versions)
            by_task: dict[str, list[tuple[str, Any]]] = {}
            for task_id, channel, value in tup.pending_writes or []:
                by_task.setdefault(task_id, []).append((channel, value))
            for task_id, writes in by_task.items():
                await self.saver.aput_writes(saved, writes, task_id)


def _cached(saver: BaseCheckpointSaver[Any], settings: Settings, redis: Any,
            metrics: Metrics | None) -> Any:
    """The saver, behind the Redis cache when there is a client and a ttl."""
    if redis is None or settings.checkpoint_cache_ttl <= 0:
        return saver
    return CachedCheckpointSaver(saver, redis, ttl=settings.checkpoint_cache_ttl, metrics=metrics)


POOL_SIZE = 20
"""Connections in the PostgreSQL checkpointer's pool (per process)."""


@asynccontextmanager
async def open_checkpoints(
    settings: Settings, redis: Any = None, metrics: Metrics | None = None,
) -> AsyncIterator[Checkpoints]:
    """Open the checkpointer the settings call for, run its setup, close it on exit.

    ``redis`` (a ``redis.asyncio.Redis`` returning bytes) puts the L2 state cache in front of
    the saver when ``settings.checkpoint_cache_ttl > 0``; its hits and misses go to ``metrics``
    (layer ``agent_state``).
    """
    if settings.is_postgres:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(
            settings.libpq_url,
            min_size=2,
            max_size=POOL_SIZE,
            open=False,
            # autocommit for setup's CREATE INDEX CONCURRENTLY. prepare_threshold=None: never
            # prepare statements, so PgBouncer / Supabase *transaction* pooling is safe (a
            # prepared statement lives on one server connection the pooler may not give back).
            kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
            # No per-checkout check (check=AsyncConnectionPool.check_connection measured +30 %
            # per step), so it stays off; idle connections are recycled instead.
            max_idle=300,
            max_lifetime=1800,
        )
        await pool.open(wait=True)
        try:
            saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
            # The saver serialises every operation behind one asyncio.Lock per process even
            # on a pool (langchain-ai/langgraph#7259, fix pending in #7269): with many runs in
            # flight, their checkpoint writes queued one by one. Each operation takes its own
            # pooled connection, so a semaphore the size of the pool is all that is needed.
            saver.lock = asyncio.Semaphore(POOL_SIZE)  # type: ignore[assignment]
            await saver.setup()
            yield Checkpoints(_cached(saver, settings, redis, metrics), "postgres")
        finally:
            await pool.close()
    else:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = settings.data_dir / "checkpoints.db"
        async with AsyncSqliteSaver.from_conn_string(str(path)) as lite:
            await lite.setup()
            await lite.conn.execute("PRAGMA synchronous=NORMAL")
            await lite.conn.execute("PRAGMA busy_timeout=30000")
            yield Checkpoints(_cached(lite, settings, redis, metrics), "sqlite")
