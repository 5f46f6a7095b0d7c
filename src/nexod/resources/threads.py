"""Threads: create, read, search, copy, delete. State lives in the checkpointer (see state.py)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexod.db.engine import dialect_of
from nexod.db.filters import json_contains
from nexod.db.models import Thread
from nexod.db.paging import count_rows, fetch_page
from nexod.errors import IdTaken, NotFound
from nexod.graphs.checkpointer import Checkpoints
from nexod.serde import as_utc, utcnow

SORTABLE = {"thread_id", "status", "created_at", "updated_at", "state_updated_at"}


def thread_dict(row: Thread) -> dict[str, Any]:
    """The wire form of a thread."""
    return {
        "thread_id": row.thread_id,
        "created_at": as_utc(row.created_at),
        "updated_at": as_utc(row.updated_at),
        "state_updated_at": as_utc(row.state_updated_at or row.updated_at),
        "metadata": row.metadata_,
        "status": row.status,
        "config": row.config,
        "values": row.values,
        "interrupts": row.interrupts,
    }


class Threads:
    """Thread operations, always within one organisation."""

    def __init__(self, db: async_sessionmaker[AsyncSession], checkpoints: Checkpoints) -> None:
        self._db = db
        self._checkpoints = checkpoints

    async def get(self, org_id: str, thread_id: str) -> Thread:
        """One thread; NotFound when missing or another tenant's."""
        async with self._db() as s:
            row = await s.get(Thread, thread_id)
            if row is None or row.org_id != org_id:
                raise NotFound("thread", thread_id)
            return row

    async def create(
        self,
        org_id: str,
        *,
        thread_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        if_exists: str = "raise",
        graph_id: str | None = None,
    ) -> Thread:
        """Create an idle thread; ``if_exists=do_nothing`` returns an existing one of this
        organisation. An id held by another organisation is :class:`IdTaken`, whatever
        ``if_exists`` says (see its docstring for why ids are answered this way)."""
        tid = thread_id or str(uuid.uuid4())
        now = utcnow()
        meta = dict(metadata or {})
        if graph_id:
            meta["graph_id"] = graph_id
        async with self._db() as s:
            existing = await s.get(Thread, tid)
            if existing is not None:
                if existing.org_id == org_id and if_exists == "do_nothing":
                    return existing
                raise IdTaken("thread", tid)
            row = Thread(
                thread_id=tid, org_id=org_id, status="idle", metadata_=meta, config={},
                values=None, interrupts={}, created_at=now, updated_at=now,
            )
            s.add(row)
            try:
                await s.commit()
            except IntegrityError as exc:
                if if_exists == "do_nothing":
                    try:
                        return await self.get(org_id, tid)
                    except NotFound:  # created concurrently by another organisation
                        raise IdTaken("thread", tid) from None
                raise IdTaken("thread", tid) from exc
            return row

    async def update(self, org_id: str, thread_id: str, *, metadata: dict[str, Any] | None) -> Thread:
        """Merge ``metadata`` into the thread's metadata."""
        async with self._db() as s:
            row = await s.get(Thread, thread_id)
            if row is None or row.org_id != org_id:
                raise NotFound("thread", thread_id)
            if metadata:
                row.metadata_ = {**row.metadata_, **metadata}
            row.updated_at = utcnow()
            await s.commit()
            return row

    async def delete(self, org_id: str, thread_id: str) -> None:
        """Delete a thread, its runs, their logs and its checkpoints."""
        async with self._db() as s:
            res = await s.execute(
                delete(Thread).where(Thread.thread_id == thread_id).where(Thread.org_id == org_id)
            )
            if res.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound("thread", thread_id)
            await s.commit()
        await self._checkpoints.delete_thread(thread_id)

    def _filters(
        self, dialect: str, org_id: str, metadata: Any, values: Any, ids: Any, status: Any
    ) -> list[Any]:
        conds = [
            Thread.org_id == org_id,
            json_contains(Thread.metadata_, metadata, dialect),
            json_contains(Thread.values, values, dialect),
        ]
        if ids:
            conds.append(Thread.thread_id.in_(ids))
        if status:
            conds.append(Thread.status == status)
        return conds

    async def search(
        self,
        org_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
        ids: list[str] | None = None,
        status: str | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> tuple[list[Thread], int | None]:
        """Matching threads and the next offset (None on the last page)."""
        async with self._db() as s:
            conds = self._filters(dialect_of(s), org_id, metadata, values, ids, status)
            return await fetch_page(
                s, select(Thread).where(*conds), sort=getattr(Thread, sort_by or "created_at"),
                tiebreak=Thread.thread_id, descending=sort_order != "asc", limit=limit, offset=offset,
            )

    async def count(
        self, org_id: str, *, metadata: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None, status: str | None = None,
    ) -> int:
        """How many threads match."""
        async with self._db() as s:
            return await count_rows(s, Thread, self._filters(dialect_of(s), org_id, metadata, values, None, status))

    async def copy(self, org_id: str, thread_id: str) -> Thread:
        """A new thread with the same metadata, values and full checkpoint history."""
        src = await self.get(org_id, thread_id)
        new_id = str(uuid.uuid4())
        now = utcnow()
        async with self._db() as s:
            row = Thread(
                thread_id=new_id, org_id=org_id, status=src.status if src.status != "busy" else "idle",
                metadata_=dict(src.metadata_), config=dict(src.config), values=src.values,
                interrupts=dict(src.interrupts), created_at=now, updated_at=now,
                state_updated_at=src.state_updated_at,
            )
            s.add(row)
            await s.commit()
        await self._checkpoints.copy_thread(thread_id, new_id)
        return row
