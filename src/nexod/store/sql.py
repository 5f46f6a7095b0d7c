"""A LangGraph :class:`BaseStore` on the ``store_items`` table, scoped to one organisation.

LangGraph ships SqliteStore and PostgresStore, but they know nothing of tenants and keep their
own tables; this store shares our migrations and puts ``org_id`` on every row.
Filters support exact matches and the comparison operators ``$eq $ne $gt $gte $lt $lte``.
With a :class:`~nexod.store.index.StoreIndex` (``store.index`` in langgraph.json), ``put``
embeds items and ``search(query=…)`` ranks them by meaning.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)
from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexod.db.engine import dialect_of
from nexod.db.models import StoreItem
from nexod.errors import InvalidInput
from nexod.serde import utcnow
from nexod.store.index import StoreIndex

SEP = "."


def encode_namespace(namespace: tuple[str, ...]) -> str:
    """Namespace labels joined with dots (labels may not contain dots)."""
    for label in namespace:
        if not isinstance(label, str) or not label or SEP in label:
            raise InvalidInput(
                f"namespace labels must be non-empty strings without '.', got {label!r}",
                field="namespace",
            )
    return SEP.join(namespace)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": operator.eq, "$ne": operator.ne, "$gt": operator.gt,
    "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le,
}


def _matches(value: Any, cond: Any) -> bool:
    if isinstance(cond, dict) and cond and all(str(k).startswith("$") for k in cond):
        for op, arg in cond.items():
            fn = _OPS.get(op)
            if fn is None:
                raise InvalidInput(f"unsupported filter operator {op!r}; use one of {sorted(_OPS)}",
                                   field="filter")
            try:
                if not fn(value, arg):
                    return False
            except TypeError:
                return False
        return True
    return bool(value == cond)


def _filter_ok(value: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    if not flt:
        return True
    for key, cond in flt.items():
        cur: Any = value
        for part in key.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if not _matches(cur, cond):
            return False
    return True


class SqlStore(BaseStore):
    """The LangGraph store API over SQLAlchemy, for one ``org_id``."""

    supports_ttl = True

    def __init__(self, db: async_sessionmaker[AsyncSession], org_id: str,
                 index: StoreIndex | None = None) -> None:
        self._db = db
        self._org = org_id
        self._index = index

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        raise NotImplementedError("SqlStore is async only; use the a* methods")

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        results: list[Result] = []
        puts: list[PutOp] = []
        ops = list(ops)
        semantic = {i: await self._semantic_hits(op) for i, op in enumerate(ops)
                    if isinstance(op, SearchOp) and op.query}
        async with self._db() as s:
            for i, op in enumerate(ops):
                if isinstance(op, GetOp):
                    results.append(await self._get(s, op))
                elif isinstance(op, PutOp):
                    await self._put(s, op)
                    puts.append(op)
                    results.append(None)
                elif isinstance(op, SearchOp):
                    results.append(await self._search(s, op, semantic.get(i)))
                elif isinstance(op, ListNamespacesOp):
                    results.append(await self._namespaces(s, op))
                else:  # pragma: no cover
                    raise TypeError(f"unknown store op {op!r}")
            await s.commit()
        if self._index is not None and puts:
            # After the commit: SQL is the source of truth, and no connection is held while embedding.
            items = [(encode_namespace(op.namespace), op.key,
                      "" if op.value is None or op.index is False
                      else self._index.text_of(op.value, op.index or None)) for op in puts]
            await self._index.upsert(self._org, items)
        return results

    async def _semantic_hits(self, op: SearchOp) -> list[tuple[str, str, float]] | None:
        """``(prefix, key, score)`` nearest ``op.query``, deep enough for the page and filter."""
        if self._index is None:
            raise InvalidInput("semantic search is not configured on this server: add store.index to "
                               "langgraph.json, or search with a filter", field="query")
        prefix = encode_namespace(op.namespace_prefix) if op.namespace_prefix else None
        depth = (op.offset + op.limit) * (4 if op.filter else 1) + 10
        hits = await self._index.query(self._org, op.query or "", prefix, min(depth, 10_000))
        return [(h.metadata["ns"], h.metadata["key"], h.score) for h in hits]

    def _live(self) -> Any:
        return or_(StoreItem.expires_at.is_(None), StoreItem.expires_at > utcnow())

    @staticmethod
    def _item(row: StoreItem, cls: type[Item] = Item, **extra: Any) -> Any:
        return cls(
            namespace=tuple(row.prefix.split(SEP)), key=row.key, value=row.value,
            created_at=_utc(row.created_at), updated_at=_utc(row.updated_at), **extra,
        )

    async def _refresh(self, s: AsyncSession, rows: list[StoreItem]) -> None:
        now = utcnow()
        for row in rows:
            if row.ttl_minutes:
                await s.execute(
                    update(StoreItem)
                    .where(StoreItem.org_id == self._org, StoreItem.prefix == row.prefix, StoreItem.key == row.key)
                    .values(expires_at=now + timedelta(minutes=row.ttl_minutes))
                )

    async def _get(self, s: AsyncSession, op: GetOp) -> Item | None:
        row = await s.scalar(
            select(StoreItem).where(
                StoreItem.org_id == self._org, StoreItem.prefix == encode_namespace(op.namespace),
                StoreItem.key == op.key, self._live(),
            )
        )
        if row is None:
            return None
        if op.refresh_ttl:
            await self._refresh(s, [row])
        return self._item(row)  # type: ignore[no-any-return]

    async def _put(self, s: AsyncSession, op: PutOp) -> None:
        prefix = encode_namespace(op.namespace)
        if op.value is None:
            await s.execute(
                delete(StoreItem).where(
                    StoreItem.org_id == self._org, StoreItem.prefix == prefix, StoreItem.key == op.key
                )
            )
            return
        now = utcnow()
        ttl = op.ttl
        values = {
            "org_id": self._org, "prefix": prefix, "key": op.key, "value": op.value,
            "created_at": now, "updated_at": now, "ttl_minutes": ttl,
            "expires_at": now + timedelta(minutes=ttl) if ttl else None,
        }
        ins = pg_insert if dialect_of(s) == "postgresql" else sqlite_insert
        stmt = ins(StoreItem).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["org_id", "prefix", "key"],
            set_={"value": stmt.excluded.value, "updated_at": now, "ttl_minutes": ttl,
                  "expires_at": values["expires_at"]},
        )
        await s.execute(stmt)

    async def _search(self, s: AsyncSession, op: SearchOp,
                      semantic: list[tuple[str, str, float]] | None = None) -> list[SearchItem]:
        if semantic is not None:
            return await self._search_semantic(s, op, semantic)
        q = select(StoreItem).where(StoreItem.org_id == self._org, self._live())
        if op.namespace_prefix:
            prefix = encode_namespace(op.namespace_prefix)
            q = q.where(or_(StoreItem.prefix == prefix,
                            StoreItem.prefix.like(_escape_like(prefix + SEP) + "%", escape="\\")))
        q = q.order_by(StoreItem.updated_at.desc(), StoreItem.key)
        rows = [r for r in (await s.scalars(q)).all() if _filter_ok(r.value, op.filter)]
        page = rows[op.offset : op.offset + op.limit]
        if op.refresh_ttl:
            await self._refresh(s, page)
        return [self._item(r, SearchItem, score=None) for r in page]

    async def _search_semantic(self, s: AsyncSession, op: SearchOp,
                               hits: list[tuple[str, str, float]]) -> list[SearchItem]:
        if not hits:
            return []
        keys = {(p, k) for p, k, _ in hits}
        rows = (await s.scalars(select(StoreItem).where(
            StoreItem.org_id == self._org, self._live(),
            StoreItem.prefix.in_({p for p, _ in keys}), StoreItem.key.in_({k for _, k in keys})))).all()
        by_key = {(r.prefix, r.key): r for r in rows}
        ranked = [(by_key[(p, k)], score) for p, k, score in hits
                  if (p, k) in by_key and _filter_ok(by_key[(p, k)].value, op.filter)]
        page = ranked[op.offset : op.offset + op.limit]
        if op.refresh_ttl:
            await self._refresh(s, [r for r, _ in page])
        return [self._item(r, SearchItem, score=round(score, 6)) for r, score in page]

    async def _namespaces(self, s: AsyncSession, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        prefixes = (await s.scalars(
            select(StoreItem.prefix).where(StoreItem.org_id == self._org, self._live()).distinct()
        )).all()
        found: set[tuple[str, ...]] = set()
        for p in prefixes:
            ns = tuple(p.split(SEP))
            ok = True
            for cond in op.match_conditions or ():
                path = tuple(cond.path)
                if len(path) > len(ns):
                    ok = False
                    break
                part = ns[: len(path)] if cond.match_type == "prefix" else ns[-len(path):]
                if any(a != "*" and a != b for a, b in zip(path, part, strict=True)):
                    ok = False
                    break
            if ok:
                found.add(ns[: op.max_depth] if op.max_depth else ns)
        ordered = sorted(found)
        return ordered[op.offset : op.offset + op.limit]

    async def aclose(self) -> None:
        """Nothing to close: the engine belongs to the app."""
        await asyncio.sleep(0)


class Stores:
    """Hands out a store scoped to an organisation; ``index`` turns on semantic search."""

    def __init__(self, db: async_sessionmaker[AsyncSession], index: StoreIndex | None = None) -> None:
        self._db = db
        self.index = index

    def for_org(self, org_id: str) -> SqlStore:
        """The store of ``org_id``."""
        return SqlStore(self._db, org_id, self.index)
