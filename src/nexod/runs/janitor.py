"""Periodic clean-up: expired threads, old checkpoints, heartbeat rows of dead workers, expired
browser sessions and the data of deleted organisations."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncEngine

from nexod.db.models import AgentSession, BrowserSession, Thread
from nexod.graphs.checkpointer import Checkpoints
from nexod.runs.health import WorkerBeats

if TYPE_CHECKING:
    from nexod.resources.tenants import TenantPurge
from nexod.serde import utcnow
from nexod.settings import Settings

log = logging.getLogger("nexod.janitor")
BATCH = 500
SESSION_GRACE = timedelta(minutes=5)
"""How long an expired session row is kept: past its expiry, plus the revocation watermark's
clock skew with room to spare (its L1 copy expired with it)."""


class Janitor:
    """Keeps storage bounded. Every step is idempotent, so several workers may sweep at once."""

    def __init__(
        self, settings: Settings, engine: AsyncEngine, checkpoints: Checkpoints, beats: WorkerBeats,
        *, purge: TenantPurge | None = None,
    ) -> None:
        self._purge = purge
        self._settings = settings
        self._engine = engine
        self._checkpoints = checkpoints
        self._beats = beats
        self._pruned_until: datetime | None = None

    async def sweep(self) -> dict[str, int]:
        """One pass; returns what was removed."""
        done = {"workers": await self._beats.sweep(max(self._settings.lease_seconds * 10, 60.0)),
                "sessions": await self.expire_sessions()}
        if self._purge is not None:
            done["deleted_orgs"] = 0
            for org_id in await self._purge.pending():
                done["deleted_orgs"] += 1 if any((await self._purge.purge(org_id)).values()) else 0
        if self._settings.thread_ttl > 0:
            done["threads"] = await self.expire_threads()
        if self._settings.checkpoint_keep > 0:
            done["checkpoints"] = await self.prune_checkpoints()
        if any(done.values()):
            log.info("janitor_swept", extra=done)
        return done

    async def expire_sessions(self) -> int:
        """Delete browser session rows that expired more than SESSION_GRACE ago.

        Safe for the revocation watermark: a session's L1 copy never outlives its expiry, so
        the end of a session that expired long ago protects nothing any more.
        """
        cutoff = utcnow() - SESSION_GRACE
        async with self._engine.begin() as conn:
            gone = (await conn.execute(
                delete(BrowserSession).where(BrowserSession.expires_at < cutoff)
            )).rowcount
        return int(gone or 0)

    async def expire_threads(self) -> int:
        """Delete idle threads not updated for ``thread_ttl`` minutes (runs and events go too)."""
        cutoff = utcnow() - timedelta(minutes=self._settings.thread_ttl)
        active = exists().where(
            AgentSession.thread_id == Thread.thread_id,
            AgentSession.status.in_(("pending", "running")),
        )
        async with self._engine.begin() as conn:
            ids = list((await conn.scalars(
                select(Thread.thread_id)
                .where(Thread.updated_at < cutoff, Thread.status != "busy", ~active)
                .limit(BATCH)
            )).all())
            if not ids:
                return 0
            # The conditions are checked again in the delete: a run created meanwhile wins.
            gone = list((await conn.scalars(
                delete(Thread)
                .where(Thread.thread_id.in_(ids), Thread.updated_at < cutoff,
                       Thread.status != "busy", ~active)
                .returning(Thread.thread_id)
            )).all())
        for thread_id in gone:
            await self._checkpoints.delete_thread(thread_id)
        return len(gone)

    async def prune_checkpoints(self) -> int:
        """Keep the newest ``checkpoint_keep`` checkpoints of threads that changed since the
        last pass and are not running."""
        now = utcnow()
        since = self._pruned_until
        q = select(Thread.thread_id).where(Thread.status != "busy")
        if since is not None:
            q = q.where(Thread.updated_at >= since - timedelta(seconds=self._settings.sweep_interval))
        total = 0
        async with self._engine.connect() as conn:
            ids = list((await conn.scalars(q)).all())
        for i in range(0, len(ids), BATCH):
            total += await self._checkpoints.prune(ids[i : i + BATCH], self._settings.checkpoint_keep)
        self._pruned_until = now
        return total
