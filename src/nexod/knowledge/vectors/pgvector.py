"""Vectors in PostgreSQL with pgvector: one table, an HNSW index (cosine), JSONB metadata.

The table is this store's own (``kb_vectors``, created by :meth:`setup` like LangGraph's
checkpointer creates its tables), because its column type depends on the embedding model;
``kb_vector_config`` records which model filled it. Searches use pgvector 0.8's iterative
index scan, so a namespace or filter that the HNSW candidates mostly miss still gets ``k``
hits (results come back re-sorted by exact distance).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from nexod.errors import ConfigError
from nexod.knowledge.embeddings.base import Matrix
from nexod.knowledge.filters import Filter
from nexod.knowledge.sqlfilter import to_sql
from nexod.knowledge.vectors.base import (
    VectorHit,
    VectorRecord,
    VectorStore,
    VectorStoreMismatch,
    as_matrix,
    check_namespace,
)

BATCH = 500


def _tables(dim: int) -> tuple[MetaData, Table, Table]:
    from pgvector.sqlalchemy import Vector

    md = MetaData()
    vectors = Table(
        "kb_vectors", md,
        Column("namespace", Text, primary_key=True),
        Column("id", Text, primary_key=True),
        Column("embedding", Vector(dim), nullable=False),
        Column("metadata", JSONB, nullable=False),
    )
    config = Table(
        "kb_vector_config", md,
        Column("name", String(64), primary_key=True),
        Column("model", Text, nullable=False),
        Column("dim", Integer, nullable=False),
    )
    return md, vectors, config


class PgVectorStore(VectorStore):
    """pgvector on its own small connection pool; ``url`` is a postgresql:// URL."""

    kind = "pgvector"

    def __init__(self, url: str, *, model: str, dim: int, ef_search: int = 96, m: int = 16,
                 ef_construction: int = 64, pool_size: int = 5) -> None:
        super().__init__(model=model, dim=dim)
        rest = url.split("://", 1)[1]
        self._engine: AsyncEngine = create_async_engine(
            f"postgresql+psycopg://{rest}", pool_size=pool_size, max_overflow=5, pool_recycle=300,
            connect_args={"prepare_threshold": None},
        )
        self.ef_search, self.m, self.ef_construction = ef_search, m, ef_construction
        self._md, self.table, self._config = _tables(dim)

        # Search settings once per connection, not once per query (a round trip saved).
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute(f"SET hnsw.ef_search = {int(ef_search)}")
            cur.execute("SET hnsw.iterative_scan = relaxed_order")
            cur.close()
            dbapi_conn.commit()

        event.listen(self._engine.sync_engine, "connect", _on_connect)

    @property
    def engine(self) -> AsyncEngine:
        """The store's engine (benchmarks use it to time index builds)."""
        return self._engine

    async def setup(self) -> None:
        """Create the extension, tables and indexes if missing; check the recorded model."""
        async with self._engine.begin() as conn:
            version = await conn.scalar(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
            if version is None:
                try:
                    async with conn.begin_nested():
                        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
                except Exception as exc:
                    raise ConfigError(
                        "PostgreSQL lacks the pgvector extension (CREATE EXTENSION vector failed: "
                        f"{str(exc).splitlines()[0]}); install it or use NEXOD_VECTOR_STORE=local") from exc
            await conn.execute(text("SELECT pg_advisory_xact_lock(74657)"))  # concurrent setups
            await conn.run_sync(self._md.create_all)
            row = (await conn.execute(select(self._config).where(self._config.c.name == "kb_vectors"))).first()
            if row is None:
                await conn.execute(self._config.insert().values(name="kb_vectors", model=self.model, dim=self.dim))
            elif (row.model, row.dim) != (self.model, self.dim):
                raise VectorStoreMismatch(
                    f"pgvector table kb_vectors holds {row.dim}-d vectors of {row.model!r}, but the "
                    f"embedder is {self.model!r} ({self.dim}-d): set NEXOD_EMBEDDINGS back, or run "
                    "`nexod knowledge reconcile --rebuild`")
            await conn.execute(text(
                "CREATE INDEX IF NOT EXISTS ix_kb_vectors_hnsw ON kb_vectors USING hnsw "
                f"(embedding vector_cosine_ops) WITH (m = {int(self.m)}, "
                f"ef_construction = {int(self.ef_construction)})"))
            await conn.execute(text(
                "CREATE INDEX IF NOT EXISTS ix_kb_vectors_metadata ON kb_vectors USING gin (metadata)"))

    async def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        """INSERT … ON CONFLICT in one transaction (all or nothing)."""
        check_namespace(namespace)
        if not records:
            return
        vecs = as_matrix([r.vector for r in records], self.dim)
        async with self._engine.begin() as conn:
            for start in range(0, len(records), BATCH):
                rows = [{"namespace": namespace, "id": r.id, "embedding": v, "metadata": r.metadata}
                        for r, v in zip(records[start : start + BATCH], vecs[start : start + BATCH],
                                        strict=True)]
                stmt = pg_insert(self.table)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["namespace", "id"],
                    set_={"embedding": stmt.excluded.embedding, "metadata": stmt.excluded.metadata})
                await conn.execute(stmt, rows)

    async def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """DELETE by id."""
        check_namespace(namespace)
        if not ids:
            return
        async with self._engine.begin() as conn:
            for start in range(0, len(ids), 10_000):
                await conn.execute(delete(self.table).where(
                    self.table.c.namespace == namespace, self.table.c.id.in_(list(ids[start : start + 10_000]))))

    async def query(self, namespace: str, vector: Matrix, *, k: int = 10,
                    filter: Filter | None = None) -> list[VectorHit]:
        """ORDER BY cosine distance LIMIT k, through the HNSW index."""
        check_namespace(namespace)
        q = as_matrix(vector, self.dim)[0]
        t = self.table
        dist = t.c.embedding.cosine_distance(q).label("dist")
        stmt = (select(t.c.id, t.c.metadata, dist)
                .where(t.c.namespace == namespace, to_sql(filter, t.c.metadata, "postgresql"))
                .order_by(dist).limit(k))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        hits = [VectorHit(r.id, 1.0 - float(r.dist), r.metadata) for r in rows]
        hits.sort(key=lambda h: -h.score)  # relaxed_order may return near-ties out of order
        return hits

    async def fetch(self, namespace: str, ids: Sequence[str]) -> dict[str, VectorRecord]:
        """Rows by id."""
        check_namespace(namespace)
        t = self.table
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(t.c.id, t.c.embedding, t.c.metadata).where(
                t.c.namespace == namespace, t.c.id.in_(list(ids))))).all()
        return {r.id: VectorRecord(r.id, np.asarray(r.embedding, dtype=np.float32), r.metadata) for r in rows}

    async def count(self, namespace: str) -> int:
        """COUNT(*) of the namespace."""
        check_namespace(namespace)
        async with self._engine.connect() as conn:
            n = await conn.scalar(select(func.count()).select_from(self.table).where(
                self.table.c.namespace == namespace))
        return int(n or 0)

    async def list_ids(self, namespace: str) -> set[str]:
        """Every id of the namespace."""
        check_namespace(namespace)
        async with self._engine.connect() as conn:
            return set((await conn.scalars(select(self.table.c.id).where(
                self.table.c.namespace == namespace))).all())

    async def drop_namespace(self, namespace: str) -> None:
        """DELETE the namespace's rows."""
        check_namespace(namespace)
        async with self._engine.begin() as conn:
            await conn.execute(delete(self.table).where(self.table.c.namespace == namespace))

    async def drop_all(self) -> None:
        """Drop the table and its record of the model (``reconcile --rebuild``)."""
        async with self._engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS kb_vectors"))
            await conn.execute(text("DROP TABLE IF EXISTS kb_vector_config"))

    async def aclose(self) -> None:
        """Dispose of the connection pool."""
        await self._engine.dispose()
