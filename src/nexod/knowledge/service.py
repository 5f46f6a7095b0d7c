"""The knowledge base: ingest documents, search them (semantic, keyword, hybrid), delete them.

SQL is the source of truth (``kb_documents`` and ``vector_metadata``, with each chunk's text
and vector); the vector store is derived from it. An ingest parses, chunks and embeds first,
writing nothing, so bad input leaves no trace; then one SQL transaction swaps the document's
chunks, and the vector store follows (status ``pending`` until it has, ``failed`` with the
reason if it could not; ``nexod knowledge reconcile`` repairs the store from SQL).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from nexod.db.models import KbDocument, VectorMetadata
from nexod.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, Unavailable
from nexod.knowledge.chunking import Chunk, chunk
from nexod.knowledge.embeddings.base import Embedder
from nexod.knowledge.filters import Filter, check_metadata
from nexod.knowledge.fusion import rrf
from nexod.knowledge.keyword import keyword_search, setup_keyword_index
from nexod.knowledge.parsing import CONTENT_TYPES, parse
from nexod.knowledge.sqlfilter import to_sql
from nexod.knowledge.vectors.base import VectorRecord, VectorStore, check_namespace
from nexod.observability.base import Metrics, NullMetrics
from nexod.serde import utcnow

log = logging.getLogger("nexod.knowledge")

Mode = Literal["hybrid", "semantic", "keyword"]
VM_TABLE = cast(Table, VectorMetadata.__table__)
DEFAULT_NAMESPACE = "default"


def physical_namespace(org_id: str, namespace: str) -> str:
    """The vector-store namespace of a tenant's namespace: tenants never share one."""
    return f"{org_id}/{namespace}"


@dataclass(frozen=True)
class ChunkConfig:
    """How documents are cut: target size and overlap, in characters."""

    size: int
    overlap: int

    def __post_init__(self) -> None:
        if not 100 <= self.size <= 20_000:
            raise InvalidInput("chunk_size must be between 100 and 20000 characters", field="chunk_size")
        if not 0 <= self.overlap < self.size:
            raise InvalidInput("chunk_overlap must be at least 0 and smaller than chunk_size",
                               field="chunk_overlap")


@dataclass
class Hit:
    """One search result with its citation: document, chunk, character offsets, score."""

    chunk_id: str
    document_id: str
    source: str
    title: str | None
    chunk_index: int
    char_start: int
    char_end: int
    section: str | None
    page: int | None
    text: str
    score: float
    metadata: dict[str, Any]
    ranks: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def document_dict(doc: KbDocument) -> dict[str, Any]:
    """A document row as the API returns it."""
    return {
        "document_id": doc.document_id, "namespace": doc.namespace, "source": doc.source,
        "title": doc.title, "content_type": doc.content_type, "content_hash": doc.content_hash,
        "size_bytes": doc.size_bytes, "version": doc.version, "status": doc.status, "error": doc.error,
        "chunk_count": doc.chunk_count, "embedding_model": doc.embedding_model,
        "metadata": doc.metadata_, "created_at": doc.created_at, "updated_at": doc.updated_at,
    }


class KnowledgeBase:
    """Documents, chunks and search for every organisation, over one embedder and one store."""

    def __init__(self, engine: AsyncEngine, db: async_sessionmaker[AsyncSession], embedder: Embedder,
                 store: VectorStore, *, chunking: ChunkConfig, max_bytes: int,
                 metrics: Metrics | None = None) -> None:
        self.engine = engine
        self.metrics = metrics or NullMetrics()
        self.db = db
        self.embedder = embedder
        self.store = store
        self.chunking = chunking
        self.max_bytes = max_bytes

    @contextmanager
    def _timed(self, op: str) -> Iterator[None]:
        """Record one vector store operation's time (also when it fails)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.metrics.vector_search(backend=self.store.kind, seconds=time.perf_counter() - started, op=op)

    async def setup(self) -> None:
        """Create the keyword index and the vector store's tables (idempotent)."""
        async with self.engine.begin() as conn:
            await setup_keyword_index(conn)
        await self.store.setup()

    async def aclose(self) -> None:
        """Close the store and the embedder."""
        await self.store.aclose()
        await self.embedder.aclose()

    # ---- ingest -----------------------------------------------------------------------------

    async def ingest(self, org_id: str, data: bytes, *, source: str, namespace: str = DEFAULT_NAMESPACE,
                     filename: str | None = None, content_type: str | None = None, title: str | None = None,
                     metadata: dict[str, Any] | None = None, chunking: ChunkConfig | None = None,
                     ) -> tuple[dict[str, Any], bool]:
        """Add or replace the document ``source``; returns it and whether anything changed.

        Unchanged content (same hash, same chunking, same model, indexed) is not re-embedded.
        """
        check_namespace(namespace)
        self._check_writable()
        if not source or len(source) > 1024:
            raise InvalidInput("source must be 1-1024 characters (a file name, path or URL)", field="source")
        metadata = check_metadata(dict(metadata or {}))
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(f"the document is {len(data)} bytes; the limit is {self.max_bytes} "
                                  "(NEXOD_KB_MAX_UPLOAD_MB)", field="file")
        cfg = chunking or self.chunking
        digest = hashlib.sha256(
            data + f"|{cfg.size}|{cfg.overlap}|{self.embedder.name}|{sorted(metadata.items())}|{title}".encode()
        ).hexdigest()
        async with self.db() as s:
            existing = await s.scalar(select(KbDocument).where(
                KbDocument.org_id == org_id, KbDocument.namespace == namespace, KbDocument.source == source))
        if existing is not None and existing.content_hash == digest and existing.status == "indexed":
            return document_dict(existing), False

        parsed = parse(data, filename=filename or source, content_type=content_type)
        chunks = chunk(parsed, size=cfg.size, overlap=cfg.overlap)
        if not chunks:
            raise InvalidInput("the document has no text to index", field="file")
        doc_title = title or parsed.title
        vectors = await self._embed(chunks, doc_title)
        return await self._store(org_id, namespace, source, existing, digest, len(data),
                                 CONTENT_TYPES[parsed.kind], doc_title, metadata, chunks, vectors), True

    def _check_writable(self) -> None:
        if not self.store.writable:
            raise Conflict(f"the {self.store.kind} vector store is owned by another process (a running "
                           "`nexod serve`?): write through its API, e.g. `nexod ingest --url http://…`")

    async def _embed(self, chunks: Sequence[Chunk], title: str | None) -> np.ndarray[Any, Any]:
        try:
            return await self.embedder.embed([c.embedding_text(title) for c in chunks])
        except InvalidInput:
            raise
        except Exception as exc:
            raise Unavailable(f"the embedding model failed: {exc}") from exc

    async def _store(self, org_id: str, namespace: str, source: str, existing: KbDocument | None,
                     digest: str, size: int, content_type: str, title: str | None,
                     metadata: dict[str, Any], chunks: Sequence[Chunk], vectors: np.ndarray[Any, Any],
                     ) -> dict[str, Any]:
        now = utcnow()
        doc_id = existing.document_id if existing else str(uuid.uuid4())
        version = existing.version + 1 if existing else 1
        base_md = {**metadata, "document_id": doc_id, "source": source}
        rows = [{
            "chunk_id": f"{doc_id}#{version}#{c.index}", "org_id": org_id, "namespace": namespace,
            "document_id": doc_id, "version": version, "chunk_index": c.index, "text": c.text,
            "char_start": c.start, "char_end": c.end, "section": c.section, "page": c.page,
            "metadata": {**base_md, **({"section": c.section} if c.section else {}),
                         **({"page": c.page} if c.page is not None else {})},
            "content_hash": hashlib.sha256(c.text.encode()).hexdigest(),
            "embedding_model": self.embedder.name, "embedding_dim": self.embedder.dim,
            "embedding": vectors[i].astype(np.float32).tobytes(), "created_at": now,
        } for i, c in enumerate(chunks)]
        values = {"title": title, "content_type": content_type, "content_hash": digest, "size_bytes": size,
                  "version": version, "status": "pending", "error": None, "chunk_count": len(chunks),
                  "embedding_model": self.embedder.name, "metadata_": metadata, "updated_at": now}
        async with self.db() as s:
            old_ids = []
            try:
                if existing is None:
                    s.add(KbDocument(document_id=doc_id, org_id=org_id, namespace=namespace, source=source,
                                     created_at=now, **values))
                    await s.flush()
                else:
                    old_ids = list((await s.scalars(select(VectorMetadata.chunk_id).where(
                        VectorMetadata.document_id == doc_id))).all())
                    await s.execute(delete(VectorMetadata).where(VectorMetadata.document_id == doc_id))
                    changed = await s.execute(update(KbDocument).where(
                        KbDocument.document_id == doc_id, KbDocument.version == existing.version).values(**values))
                    if changed.rowcount != 1:  # type: ignore[attr-defined]
                        raise Conflict(f"document {source!r} changed while it was being ingested; retry")
                await s.execute(insert(VM_TABLE), rows)
                await s.commit()
            except IntegrityError as exc:
                await s.rollback()
                if "kb_documents" not in str(exc.orig) and "uq_kb_documents_source" not in str(exc.orig):
                    raise
                raise Conflict(f"document {source!r} in namespace {namespace!r} is being ingested by "
                               "another request; retry") from exc
        phys = physical_namespace(org_id, namespace)
        status, error = "indexed", None
        try:
            with self._timed("upsert"):
                await self.store.upsert(phys, [VectorRecord(r["chunk_id"], vectors[i], r["metadata"])
                                               for i, r in enumerate(rows)])
            if old_ids:
                with self._timed("delete"):
                    await self.store.delete(phys, old_ids)
        except Exception as exc:  # the store is behind SQL now: say so; reconcile repairs it
            status, error = "failed", f"vector store {self.store.kind}: {exc}"
            log.warning("kb_store_failed", extra={"org_id": org_id, "document_id": doc_id, "reason": str(exc)})
        async with self.db() as s:
            await s.execute(update(KbDocument).where(KbDocument.document_id == doc_id).values(
                status=status, error=error))
            await s.commit()
            doc = await s.scalar(select(KbDocument).where(KbDocument.document_id == doc_id))
        assert doc is not None
        return document_dict(doc)

    # ---- documents --------------------------------------------------------------------------

    async def get_document(self, org_id: str, document_id: str) -> dict[str, Any]:
        """One document; NotFound for unknown ids and other tenants' documents."""
        async with self.db() as s:
            doc = await s.scalar(select(KbDocument).where(
                KbDocument.document_id == document_id, KbDocument.org_id == org_id))
        if doc is None:
            raise NotFound("document", document_id)
        return document_dict(doc)

    async def list_documents(self, org_id: str, *, namespace: str | None = None, limit: int = 50,
                             offset: int = 0) -> list[dict[str, Any]]:
        """Documents, newest first, optionally in one namespace."""
        q = select(KbDocument).where(KbDocument.org_id == org_id)
        if namespace is not None:
            q = q.where(KbDocument.namespace == check_namespace(namespace))
        q = q.order_by(KbDocument.created_at.desc(), KbDocument.document_id).limit(limit).offset(offset)
        async with self.db() as s:
            return [document_dict(d) for d in (await s.scalars(q)).all()]

    async def delete_document(self, org_id: str, document_id: str) -> None:
        """Remove a document, its chunks and their vectors."""
        self._check_writable()
        async with self.db() as s:
            doc = await s.scalar(select(KbDocument).where(
                KbDocument.document_id == document_id, KbDocument.org_id == org_id))
            if doc is None:
                raise NotFound("document", document_id)
            ids = list((await s.scalars(select(VectorMetadata.chunk_id).where(
                VectorMetadata.document_id == document_id))).all())
            await s.execute(delete(VectorMetadata).where(VectorMetadata.document_id == document_id))
            await s.execute(delete(KbDocument).where(KbDocument.document_id == document_id))
            await s.commit()
        with self._timed("delete"):
            await self.store.delete(physical_namespace(org_id, doc.namespace), ids)

    async def purge_org(self, org_id: str) -> int:
        """Delete every document of ``org_id`` with its chunks and vectors; returns how many."""
        async with self.db() as s:
            ids = list((await s.scalars(
                select(KbDocument.document_id).where(KbDocument.org_id == org_id))).all())
        for document_id in ids:
            try:
                await self.delete_document(org_id, document_id)
            except NotFound:  # deleted meanwhile
                pass
        return len(ids)

    # ---- search -----------------------------------------------------------------------------

    async def namespace_exists(self, org_id: str, namespace: str) -> bool:
        """True when the organisation has a document in ``namespace``."""
        async with self.db() as s:
            found = await s.scalar(select(KbDocument.document_id).where(
                KbDocument.org_id == org_id, KbDocument.namespace == namespace).limit(1))
        return found is not None

    async def search(self, org_id: str, query: str, *, namespace: str = DEFAULT_NAMESPACE, k: int = 10,
                     mode: Mode = "hybrid", filter: Filter | None = None) -> list[Hit]:
        """The ``k`` best chunks for ``query``; NotFound when the namespace holds no documents."""
        check_namespace(namespace)
        if not query.strip():
            raise InvalidInput("query must not be empty", field="query")
        if not await self.namespace_exists(org_id, namespace):
            raise NotFound("namespace", namespace)
        depth = k if mode != "hybrid" else max(3 * k, 30)

        async def semantic_leg() -> list[tuple[str, float]]:
            if mode == "keyword":
                return []
            q = await self.embedder.embed_query(query)
            with self._timed("query"):
                hits = await self.store.query(physical_namespace(org_id, namespace), q, k=depth,
                                              filter=filter)
            return [(h.id, h.score) for h in hits]

        async def keyword_leg() -> list[tuple[int, float]]:
            if mode == "semantic":
                return []
            async with self.db() as s:
                where = to_sql(filter, VectorMetadata.__table__.c.metadata, s.get_bind().dialect.name)
                kw = await keyword_search(s, query, org_id=org_id, namespace=namespace, k=depth, where=where)
            return [(h.row_id, h.score) for h in kw]

        # The legs overlap: the query is embedded (in a thread) while the database answers.
        semantic, keyword = await asyncio.gather(semantic_leg(), keyword_leg())
        rows = await self._rows(org_id, [c for c, _ in semantic], [r for r, _ in keyword])
        by_chunk = {r.chunk_id: r for r in rows}
        by_row = {r.id: r.chunk_id for r in rows}
        sem_ids = [c for c, _ in semantic if c in by_chunk]  # a vector whose row is gone is stale
        kw_ids = [by_row[r] for r, _ in keyword if r in by_row]
        if mode == "semantic":
            ranked = [(c, s) for c, s in semantic if c in by_chunk]
        elif mode == "keyword":
            ranked = [(by_row[r], s) for r, s in keyword if r in by_row]
        else:
            ranked = rrf([sem_ids, kw_ids])
        sem_rank = {c: i + 1 for i, c in enumerate(sem_ids)}
        kw_rank = {c: i + 1 for i, c in enumerate(kw_ids)}
        out = []
        for chunk_id, score in ranked[:k]:
            r = by_chunk[chunk_id]
            ranks = {name: rk[chunk_id] for name, rk in (("semantic", sem_rank), ("keyword", kw_rank))
                     if chunk_id in rk}
            out.append(Hit(chunk_id, r.document_id, r.source, r.title, r.chunk_index, r.char_start, r.char_end,
                           r.section, r.page, r.text, round(float(score), 6), r.metadata_, ranks))
        return out

    async def _rows(self, org_id: str, chunk_ids: list[str], row_ids: list[int]) -> list[Any]:
        if not chunk_ids and not row_ids:
            return []
        vm = VectorMetadata
        cols = (vm.id, vm.chunk_id, vm.document_id, vm.chunk_index, vm.char_start, vm.char_end, vm.section,
                vm.page, vm.text, vm.metadata_, KbDocument.source, KbDocument.title)
        q = select(*cols).join(KbDocument, KbDocument.document_id == vm.document_id).where(vm.org_id == org_id)
        found: list[Any] = []
        async with self.db() as s:
            if chunk_ids:
                found += (await s.execute(q.where(vm.chunk_id.in_(chunk_ids)))).all()
            if row_ids:
                found += (await s.execute(q.where(vm.id.in_(row_ids)))).all()
        return found

    async def count_chunks(self, org_id: str, namespace: str) -> int:
        """Chunks stored for a namespace (SQL, the source of truth)."""
        async with self.db() as s:
            n = await s.scalar(select(func.count()).select_from(VectorMetadata).where(
                VectorMetadata.org_id == org_id, VectorMetadata.namespace == namespace))
        return int(n or 0)


def open_knowledge(settings: Any, engine: AsyncEngine, db: async_sessionmaker[AsyncSession],
                   metrics: Metrics | None = None) -> KnowledgeBase:
    """Build the knowledge base the settings describe (call ``setup()`` next)."""
    from nexod.knowledge.embeddings import open_embedder
    from nexod.knowledge.vectors import open_vector_store

    embedder = open_embedder(settings)
    store = open_vector_store(settings, model=embedder.name, dim=embedder.dim)
    return KnowledgeBase(engine, db, embedder, store,
                         chunking=ChunkConfig(settings.kb_chunk_size, settings.kb_chunk_overlap),
                         max_bytes=int(settings.kb_max_upload_mb * 1024 * 1024), metrics=metrics)
