"""Assistants: create, read, version, search. A graph id works wherever an assistant id does."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexod.db.engine import dialect_of
from nexod.db.filters import json_contains
from nexod.db.models import AgentSession, Assistant, AssistantVersion, Thread
from nexod.db.paging import count_rows, fetch_page
from nexod.errors import IdTaken, NotFound
from nexod.graphs.registry import GraphRegistry, default_assistant_id
from nexod.serde import as_utc, utcnow

SORTABLE = {"assistant_id", "graph_id", "name", "created_at", "updated_at"}


def assistant_dict(row: Assistant | AssistantVersion) -> dict[str, Any]:
    """The wire form of an assistant (or one of its versions)."""
    out: dict[str, Any] = {
        "assistant_id": row.assistant_id,
        "graph_id": row.graph_id,
        "config": row.config,
        "context": row.context,
        "metadata": row.metadata_,
        "name": row.name,
        "description": row.description,
        "created_at": as_utc(row.created_at),
        "version": row.version,
    }
    if isinstance(row, Assistant):
        out["updated_at"] = as_utc(row.updated_at)
    return out


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class Assistants:
    """Assistant operations, always within one organisation."""

    def __init__(self, db: async_sessionmaker[AsyncSession], registry: GraphRegistry) -> None:
        self._db = db
        self._registry = registry

    def resolve_id(self, assistant_id: str, org_id: str | None = None) -> str:
        """Map a graph id to the organisation's default assistant id; leave UUIDs alone."""
        if _is_uuid(assistant_id):
            return assistant_id
        if assistant_id in self._registry.ids:
            return default_assistant_id(assistant_id, org_id)
        raise NotFound("assistant", assistant_id)

    async def ensure_defaults(self, org_id: str) -> None:
        """Create each graph's default assistant if it is missing (idempotent)."""
        for graph_id in self._registry.ids:
            await self.create(
                org_id,
                graph_id=graph_id,
                assistant_id=default_assistant_id(graph_id, org_id),
                name=graph_id,
                description=self._registry.spec(graph_id).description,
                metadata={"created_by": "system"},
                if_exists="do_nothing",
            )

    async def row_in(self, s: AsyncSession, org_id: str, assistant_id: str) -> Assistant:
        """The assistant, read within the caller's session (graph ids resolve to defaults)."""
        return await self._row(s, org_id, assistant_id)

    async def _row(self, s: AsyncSession, org_id: str, assistant_id: str) -> Assistant:
        aid = self.resolve_id(assistant_id, org_id)
        row = await s.get(Assistant, aid)
        if row is None or row.org_id != org_id:
            raise NotFound("assistant", assistant_id)
        return row

    async def get(self, org_id: str, assistant_id: str) -> Assistant:
        """One assistant; NotFound when missing or another tenant's."""
        async with self._db() as s:
            return await self._row(s, org_id, assistant_id)

    async def create(
        self,
        org_id: str,
        *,
        graph_id: str,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        assistant_id: str | None = None,
        if_exists: str = "raise",
        name: str | None = None,
        description: str | None = None,
    ) -> Assistant:
        """Create an assistant (version 1) for a registered graph. An id in use, by this
        organisation (``if_exists=raise``) or another (always), is :class:`IdTaken`."""
        if graph_id not in self._registry.ids:
            raise NotFound("graph", graph_id)
        aid = assistant_id or str(uuid.uuid4())
        now = utcnow()
        fields = dict(
            org_id=org_id,
            graph_id=graph_id,
            name=name or "Untitled",
            description=description,
            config=config or {},
            context=context or {},
            metadata_=metadata or {},
            created_at=now,
        )
        async with self._db() as s:
            existing = await s.get(Assistant, aid)
            if existing is not None:
                if existing.org_id == org_id and if_exists == "do_nothing":
                    return existing
                raise IdTaken("assistant", aid)
            row = Assistant(assistant_id=aid, version=1, updated_at=now, **fields)
            s.add(row)
            s.add(AssistantVersion(assistant_id=aid, version=1, **fields))
            try:
                await s.commit()
            except IntegrityError as exc:
                raise IdTaken("assistant", aid) from exc
            return row

    async def update(
        self,
        org_id: str,
        assistant_id: str,
        *,
        graph_id: str | None = None,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> Assistant:
        """Add a new version with the given changes and make it the latest."""
        if graph_id is not None and graph_id not in self._registry.ids:
            raise NotFound("graph", graph_id)
        async with self._db() as s:
            row = await self._row(s, org_id, assistant_id)
            max_v = await s.scalar(
                select(func.max(AssistantVersion.version)).where(
                    AssistantVersion.assistant_id == row.assistant_id
                )
            )
            now = utcnow()
            row.version = int(max_v or 0) + 1
            if graph_id is not None:
                row.graph_id = graph_id
            if config is not None:
                row.config = config
            if context is not None:
                row.context = context
            if metadata is not None:
                row.metadata_ = {**row.metadata_, **metadata}
            if name is not None:
                row.name = name
            if description is not None:
                row.description = description
            row.updated_at = now
            s.add(
                AssistantVersion(
                    assistant_id=row.assistant_id,
                    version=row.version,
                    org_id=org_id,
                    graph_id=row.graph_id,
                    name=row.name,
                    description=row.description,
                    config=row.config,
                    context=row.context,
                    metadata_=row.metadata_,
                    created_at=now,
                )
            )
            await s.commit()
            return row

    async def delete(self, org_id: str, assistant_id: str, *, delete_threads: bool = False) -> list[str]:
        """Delete an assistant and all its versions; returns thread ids deleted with it."""
        async with self._db() as s:
            row = await self._row(s, org_id, assistant_id)
            thread_ids: list[str] = []
            if delete_threads:
                thread_ids = list(
                    (
                        await s.scalars(
                            select(AgentSession.thread_id)
                            .where(AgentSession.assistant_id == row.assistant_id)
                            .where(AgentSession.org_id == org_id)
                            .distinct()
                        )
                    ).all()
                )
                if thread_ids:
                    await s.execute(
                        delete(Thread)
                        .where(Thread.thread_id.in_(thread_ids))
                        .where(Thread.org_id == org_id)
                    )
            await s.execute(
                delete(AssistantVersion).where(AssistantVersion.assistant_id == row.assistant_id)
            )
            await s.delete(row)
            await s.commit()
            return thread_ids

    def _filters(self, dialect: str, org_id: str, metadata: Any, graph_id: Any, name: Any) -> list[Any]:
        conds = [Assistant.org_id == org_id, json_contains(Assistant.metadata_, metadata, dialect)]
        if graph_id:
            conds.append(Assistant.graph_id == graph_id)
        if name:
            conds.append(func.lower(Assistant.name).contains(name.lower(), autoescape=True))
        return conds

    async def search(
        self,
        org_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        graph_id: str | None = None,
        name: str | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> tuple[list[Assistant], int | None]:
        """Matching assistants and the next offset (None on the last page)."""
        async with self._db() as s:
            conds = self._filters(dialect_of(s), org_id, metadata, graph_id, name)
            return await fetch_page(
                s, select(Assistant).where(*conds), sort=getattr(Assistant, sort_by or "created_at"),
                tiebreak=Assistant.assistant_id, descending=sort_order != "asc", limit=limit, offset=offset,
            )

    async def count(
        self, org_id: str, *, metadata: dict[str, Any] | None = None, graph_id: str | None = None,
        name: str | None = None,
    ) -> int:
        """How many assistants match."""
        async with self._db() as s:
            return await count_rows(s, Assistant, self._filters(dialect_of(s), org_id, metadata, graph_id, name))

    async def versions(
        self, org_id: str, assistant_id: str, *, metadata: dict[str, Any] | None = None,
        limit: int = 10, offset: int = 0,
    ) -> list[AssistantVersion]:
        """An assistant's versions, newest first."""
        async with self._db() as s:
            row = await self._row(s, org_id, assistant_id)
            dialect = dialect_of(s)
            return list(
                (
                    await s.scalars(
                        select(AssistantVersion)
                        .where(AssistantVersion.assistant_id == row.assistant_id)
                        .where(json_contains(AssistantVersion.metadata_, metadata, dialect))
                        .order_by(AssistantVersion.version.desc())
                        .limit(limit)
                        .offset(offset)
                    )
                ).all()
            )

    async def set_latest(self, org_id: str, assistant_id: str, version: int) -> Assistant:
        """Make an existing version the current one."""
        async with self._db() as s:
            row = await self._row(s, org_id, assistant_id)
            v = await s.get(AssistantVersion, (row.assistant_id, version))
            if v is None:
                raise NotFound("assistant version", f"{assistant_id}@{version}")
            row.version = v.version
            row.graph_id = v.graph_id
            row.name = v.name
            row.description = v.description
            row.config = v.config
            row.context = v.context
            row.metadata_ = v.metadata_
            row.updated_at = utcnow()
            await s.commit()
            return row
