"""Purging a deleted organisation: every row it owns, its checkpoints and its cached copies.

Clerk's ``organization.deleted`` webhook leaves a tombstone (``organizations.deleted_at``):
from then on every caller of the organisation is refused (401), whatever credential it holds,
so nothing can be read or added while the data goes. :meth:`TenantPurge.purge` then deletes
its knowledge base documents (chunks and vectors), then, in one transaction, its assistants
(with versions and grants), threads (with runs and their events), store items, crons, API
keys, browser sessions, memberships, alerts and budget usage, and then the threads' checkpoints
and the cached credentials, grants and responses. It is idempotent: the webhook runs it at once and the janitor runs it again for every tombstone not yet marked
``purged_at`` (a purge that failed half-way, or rows a process added before it learnt of the
deletion), so an organisation is marked purged only once every process has seen the tombstone.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from nexod.auth.directory import RECHECK
from nexod.auth.keys import cache_key as key_cache_key
from nexod.auth.permissions import grants_key
from nexod.auth.sessions import cache_key as session_cache_key
from nexod.cache.base import Caches
from nexod.cache.responses import invalidate
from nexod.db.models import (
    Alert,
    ApiKey,
    Assistant,
    AssistantPermission,
    AssistantVersion,
    BrowserSession,
    Cron,
    Membership,
    Organization,
    OrgBudget,
    OrgUsage,
    StoreItem,
    Thread,
)
from nexod.graphs.checkpointer import Checkpoints
from nexod.knowledge.service import KnowledgeBase
from nexod.runs.service import Runs
from nexod.serde import as_utc, utcnow

log = logging.getLogger("nexod.tenants")
SETTLED = timedelta(seconds=4 * RECHECK)
"""After this long every process refuses the deleted organisation's callers: nothing new can
have been written for it since, so a purge then is the last one needed."""


class TenantPurge:
    """Deletes the data of organisations that were deleted (and only of those)."""

    def __init__(self, engine: AsyncEngine, runs: Runs, checkpoints: Checkpoints, caches: Caches,
                 knowledge: KnowledgeBase | None = None) -> None:
        self._engine = engine
        self._knowledge = knowledge
        self._runs = runs
        self._checkpoints = checkpoints
        self._caches = caches

    async def pending(self, limit: int = 50) -> list[str]:
        """Deleted organisations whose purge is not known to be complete."""
        async with self._engine.connect() as conn:
            return list((await conn.scalars(
                select(Organization.org_id)
                .where(Organization.deleted_at.is_not(None), Organization.purged_at.is_(None))
                .order_by(Organization.deleted_at).limit(limit)
            )).all())

    async def purge(self, org_id: str) -> dict[str, int]:
        """Delete everything ``org_id`` owns, if it is deleted (a live one is left alone);
        returns how many rows of each kind went. Safe to run again at any time."""
        async with self._engine.connect() as conn:
            deleted_at = as_utc(await conn.scalar(
                select(Organization.deleted_at).where(Organization.org_id == org_id)))
        if deleted_at is None:
            return {}
        active = await self._runs.find_many(org_id, thread_id=None, run_ids=None, status="all")
        await self._runs.cancel_ids(org_id, [rid for rid, _ in active], "interrupt")
        done: dict[str, int] = {}
        if self._knowledge is not None:  # first: if it fails, the org is not marked purged
            done["documents"] = await self._knowledge.purge_org(org_id)
        async with self._engine.begin() as conn:
            threads = list((await conn.scalars(
                delete(Thread).where(Thread.org_id == org_id).returning(Thread.thread_id))).all())
            assistants = list((await conn.scalars(
                select(Assistant.assistant_id).where(Assistant.org_id == org_id))).all())
            keys = list((await conn.scalars(
                delete(ApiKey).where(ApiKey.org_id == org_id).returning(ApiKey.digest))).all())
            sessions = list((await conn.scalars(
                delete(BrowserSession).where(BrowserSession.org_id == org_id)
                .returning(BrowserSession.digest))).all())
            done |= {"threads": len(threads), "assistants": len(assistants), "api_keys": len(keys),
                    "sessions": len(sessions)}
            for name, model in (("grants", AssistantPermission), ("versions", AssistantVersion),
                                ("assistant_rows", Assistant), ("store_items", StoreItem),
                                ("crons", Cron), ("memberships", Membership), ("alerts", Alert),
                                ("usage", OrgUsage), ("budgets", OrgBudget)):
                res = await conn.execute(delete(model).where(model.org_id == org_id))
                done[name] = int(res.rowcount or 0)
            done.pop("assistant_rows")
            left = await conn.scalar(select(func.count()).select_from(Thread).where(Thread.org_id == org_id))
            if not left and utcnow() - deleted_at >= SETTLED:
                await conn.execute(update(Organization).where(Organization.org_id == org_id)
                                   .values(purged_at=utcnow()))
        for thread_id in threads:
            await self._checkpoints.delete_thread(thread_id)
        for d in keys:
            await self._caches.delete(key_cache_key(d))
        for d in sessions:
            await self._caches.delete(session_cache_key(d))
        for aid in assistants:
            await self._caches.delete(grants_key(aid))
        await invalidate(self._caches, org_id)
        if any(done.values()):
            log.info("org_purged", extra={"org_id": org_id, **done})
        return done
