"""Checkpoint pruning: keep the newest ``keep`` root checkpoints of each thread.

langgraph-checkpoint 4.3 offers ``aprune(strategy="keep_latest" | "delete")``: one checkpoint
per namespace, on ``AsyncPostgresSaver`` only (``AsyncSqliteSaver`` has no ``aprune``). Nothing
keeps N, so this is our own SQL, run on the inner saver's connection.

Per thread, with ``cutoff`` the id of its ``keep``-th newest root (``checkpoint_ns == ""``)
checkpoint, what stays is:

* root checkpoints with ``id >= cutoff``;
* subgraph checkpoints whose root checkpoint (``metadata.parents[""]``, the root step that ran
  the subgraph call; their own id when absent) is ``>= cutoff``;
* the newest checkpoint of each persistent subgraph namespace (one without ``":"``: a
  ``checkpointer=True`` subgraph keeps its state across calls).

Everything else goes, with its pending writes. A kept checkpoint whose parent went gets a NULL
parent, as the Postgres saver's ``keep_latest`` does, so history never points at a missing
checkpoint. On PostgreSQL, ``checkpoint_blobs`` rows that no remaining checkpoint of the
thread/namespace references (``channel_versions``) are deleted too (that also collects blobs
orphaned by rollbacks).

Threads that use a ``DeltaChannel`` (beta) are skipped: their state is rebuilt from ancestor
writes, which pruning would sever. Pruning is meant for idle threads (the janitor skips busy
ones): a run that forks from a checkpoint while it is pruned may lose a blob it reuses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("nexod.checkpoints")


@dataclass(frozen=True)
class Row:
    """One stored checkpoint, as pruning sees it."""

    ns: str
    checkpoint_id: str
    root: str | None  # metadata.parents[""]: the root checkpoint a subgraph call ran from


def doomed(rows: Sequence[Row], keep: int) -> list[tuple[str, str]]:
    """The ``(checkpoint_ns, checkpoint_id)`` of one thread's checkpoints to delete."""
    roots = sorted((r.checkpoint_id for r in rows if r.ns == ""), reverse=True)
    if keep < 1 or len(roots) <= keep:
        return []
    cutoff = roots[keep - 1]
    newest: dict[str, str] = {}
    for r in rows:
        if r.ns and ":" not in r.ns:
            newest[r.ns] = max(newest.get(r.ns, ""), r.checkpoint_id)
    out = []
    for r in rows:
        anchor = r.checkpoint_id if r.ns == "" else (r.root or r.checkpoint_id)
        if anchor < cutoff and newest.get(r.ns) != r.checkpoint_id:
            out.append((r.ns, r.checkpoint_id))
    return out


def _skip_delta(thread_id: str) -> None:
    log.warning("checkpoint_prune_skipped", extra={"thread_id": thread_id,
                                                   "reason": "thread uses a DeltaChannel"})


# --- PostgreSQL ------------------------------------------------------------------------------

_PG_ROWS = """
SELECT checkpoint_ns, checkpoint_id, metadata -> 'parents' ->> '',
       (metadata ? 'counters_since_delta_snapshot' OR metadata ? 'delta_writes_versioned')
FROM checkpoints WHERE thread_id = %s
"""
_PG_GONE = "unnest(%s::text[], %s::text[]) AS gone(ns, id)"
_PG_DELETE = (
    f"DELETE FROM checkpoint_writes w USING {_PG_GONE} WHERE w.thread_id = %s "
    "AND w.checkpoint_ns = gone.ns AND w.checkpoint_id = gone.id",
    f"DELETE FROM checkpoints c USING {_PG_GONE} WHERE c.thread_id = %s "
    "AND c.checkpoint_ns = gone.ns AND c.checkpoint_id = gone.id",
    f"UPDATE checkpoints c SET parent_checkpoint_id = NULL FROM {_PG_GONE} "
    "WHERE c.thread_id = %s AND c.checkpoint_ns = gone.ns AND c.parent_checkpoint_id = gone.id",
)
_PG_BLOBS = """
DELETE FROM checkpoint_blobs b WHERE b.thread_id = %s AND NOT EXISTS (
    SELECT 1 FROM checkpoints c
    WHERE c.thread_id = b.thread_id AND c.checkpoint_ns = b.checkpoint_ns
    AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version)
"""


@asynccontextmanager
async def _pg_connection(saver: Any) -> AsyncIterator[Any]:
    from psycopg_pool import AsyncConnectionPool

    if isinstance(saver.conn, AsyncConnectionPool):
        async with saver.conn.connection() as conn:
            yield conn
    else:  # one shared connection: take the saver's own lock
        async with saver.lock:
            yield saver.conn


async def prune_postgres(saver: Any, thread_ids: Sequence[str], keep: int) -> int:
    """Prune threads of an ``AsyncPostgresSaver``, one transaction each; checkpoints deleted."""
    from psycopg.rows import tuple_row

    deleted = 0
    async with _pg_connection(saver) as conn:
        for thread_id in thread_ids:
            async with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
                await cur.execute(_PG_ROWS, (thread_id,))
                rows = await cur.fetchall()
                if any(r[3] for r in rows):
                    _skip_delta(thread_id)
                    continue
                gone = doomed([Row(r[0], r[1], r[2]) for r in rows], keep)
                if not gone:
                    continue
                params = ([g[0] for g in gone], [g[1] for g in gone], thread_id)
                for i, sql in enumerate(_PG_DELETE):
                    await cur.execute(sql, params)
                    if i == 1:
                        deleted += cur.rowcount
                await cur.execute(_PG_BLOBS, (thread_id,))
    return deleted


# --- SQLite ----------------------------------------------------------------------------------

_LITE_ROWS = """
SELECT checkpoint_ns, checkpoint_id,
       json_extract(CAST(metadata AS TEXT), '$.parents.""'),
       json_type(CAST(metadata AS TEXT), '$.counters_since_delta_snapshot') IS NOT NULL
       OR json_type(CAST(metadata AS TEXT), '$.delta_writes_versioned') IS NOT NULL
FROM checkpoints WHERE thread_id = ?
"""
_LITE_DELETE = (
    "DELETE FROM writes WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
    "DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
    "UPDATE checkpoints SET parent_checkpoint_id = NULL "
    "WHERE thread_id = ? AND checkpoint_ns = ? AND parent_checkpoint_id = ?",
)


async def prune_sqlite(saver: Any, thread_ids: Sequence[str], keep: int) -> int:
    """Prune threads of an ``AsyncSqliteSaver`` (one commit per thread); checkpoints deleted."""
    deleted = 0
    async with saver.lock:
        for thread_id in thread_ids:
            try:
                deleted += await _prune_sqlite_thread(saver.conn, thread_id, keep)
                await saver.conn.commit()
            except BaseException:
                await saver.conn.rollback()
                raise
    return deleted


async def _prune_sqlite_thread(conn: Any, thread_id: str, keep: int) -> int:
    async with conn.execute(_LITE_ROWS, (thread_id,)) as cur:
        rows = list(await cur.fetchall())
    if any(r[3] for r in rows):
        _skip_delta(thread_id)
        return 0
    gone = doomed([Row(r[0], r[1], r[2]) for r in rows], keep)
    params = [(thread_id, ns, checkpoint_id) for ns, checkpoint_id in gone]
    for sql in _LITE_DELETE:
        await conn.executemany(sql, params)
    return len(gone)
