"""Vectors in PostgreSQL with pgvector: one table, an HNSW index (cosine), JSONB metadata.

The table is this store's own (``kb_vectors``, created by :meth:`setup` like LangGraph's
checkpointer creates its tables), because its column type depends on the embedding model;
``kb_vector_config`` records which model filled it. Searches use pgvector 0.8's iterative
index scan, so a namespace or filter that the HNSW candidates mostly miss still gets ``k``
hits (results come back re-sorted by exact distance).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import orjson
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
REINDEX_FROM = 10_000
"""A bulk load of at least this many rows into an empty table builds the HNSW index afterwards."""


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
            await conn.execute(text(self._hnsw_ddl()))
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

    def _hnsw_ddl(self) -> str:
        return ("CREATE INDEX IF NOT EXISTS ix_kb_vectors_hnsw ON kb_vectors USING hnsw "
                f"(embedding vector_cosine_ops) WITH (m = {int(self.m)}, "
                f"ef_construction = {int(self.ef_construction)})")

    async def bulk_upsert(self, namespace: str, records: Sequence[VectorRecord],
                          progress: Callable[[int], None] | None = None, *,
                          maintenance_work_mem: str | None = None,
                          parallel_workers: int | None = None) -> dict[str, float]:
        """:meth:`upsert` through ``COPY … (FORMAT BINARY)``, in one transaction (all or nothing).

        Into an empty table (a new store, ``reconcile --rebuild``), from :data:`REINDEX_FROM`
        records on, the table is locked, the HNSW index dropped, the rows copied straight in and
        the index built once at the end (``maintenance_work_mem`` and ``parallel_workers`` set
        the build's memory and helper processes for this transaction; the server's settings
        otherwise): much faster than keeping the index current row by row, and searches wait
        for it. Otherwise the rows are copied into a temporary table and merged with one
        ``INSERT … SELECT … ON CONFLICT``. Later records win over earlier ones with the same id.
        """
        check_namespace(namespace)
        recs = list({r.id: r for r in records}.values())
        if not recs:
            return {"load_s": 0.0, "index_s": 0.0}
        vecs = as_matrix([r.vector for r in recs], self.dim).astype(">f4")  # pgvector's wire order
        head = struct.pack(">HH", self.dim, 0)
        started = time.perf_counter()
        index_s = 0.0
        async with self._engine.begin() as conn:
            direct = False
            if len(recs) >= REINDEX_FROM and not await conn.scalar(text("SELECT EXISTS (SELECT 1 FROM kb_vectors)")):
                await conn.execute(text("LOCK TABLE kb_vectors IN ACCESS EXCLUSIVE MODE"))
                direct = not await conn.scalar(text("SELECT EXISTS (SELECT 1 FROM kb_vectors)"))
            if direct:
                await conn.execute(text("DROP INDEX IF EXISTS ix_kb_vectors_hnsw"))
                sql, ns = "COPY kb_vectors (namespace, id, embedding, metadata) FROM STDIN (FORMAT BINARY)", [namespace]
            else:
                await conn.execute(text(
                    f"CREATE TEMP TABLE kb_vectors_load (id text, embedding vector({int(self.dim)}), "
                    "metadata jsonb) ON COMMIT DROP"))
                sql, ns = "COPY kb_vectors_load (id, embedding, metadata) FROM STDIN (FORMAT BINARY)", []
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            async with raw.cursor() as cur, cur.copy(sql) as copy:
                copy.set_types(["text"] * len(ns) + ["text", "bytea", "bytea"])
                for i, (rec, vec) in enumerate(zip(recs, vecs, strict=True), 1):
                    # binary jsonb is a version byte (1) and the JSON text
                    await copy.write_row([*ns, rec.id, head + vec.tobytes(), b"\x01" + orjson.dumps(rec.metadata)])
                    if progress is not None and (i % 10_000 == 0 or i == len(recs)):
                        progress(i)
            if not direct:
                await conn.execute(text(
                    "INSERT INTO kb_vectors (namespace, id, embedding, metadata) "
                    "SELECT :ns, id, embedding, metadata FROM kb_vectors_load "
                    "ON CONFLICT (namespace, id) DO UPDATE "
                    "SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata"), {"ns": namespace})
            load_s = time.perf_counter() - started
            if direct:
                t0 = time.perf_counter()
                if maintenance_work_mem is not None:
                    await conn.execute(text("SELECT set_config('maintenance_work_mem', :v, true)"),
                                       {"v": maintenance_work_mem})
                if parallel_workers is not None:
                    await conn.execute(text("SELECT set_config('max_parallel_maintenance_workers', :v, true)"),
                                       {"v": str(int(parallel_workers))})
                await conn.execute(text(self._hnsw_ddl()))
                await conn.execute(text("ANALYZE kb_vectors"))
                index_s = time.perf_counter() - t0
        return {"load_s": load_s, "index_s": index_s}

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
