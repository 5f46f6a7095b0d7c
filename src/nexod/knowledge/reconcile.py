"""Repair a vector store from ``vector_metadata``, the source of truth.

For each namespace in SQL: vectors missing from the store are written in one bulk load (from
the stored embedding, or embedded again when the model changed; see
``VectorStore.bulk_upsert``), vectors the store has but SQL does not are deleted, and
documents left ``failed`` or ``pending`` by a store outage become ``indexed``.
"""

from __future__ import annotations

import shutil

import numpy as np
from sqlalchemy import select, update

from nexod.db.models import KbDocument, VectorMetadata
from nexod.knowledge.keyword import rebuild_keyword_index
from nexod.knowledge.service import KnowledgeBase, physical_namespace
from nexod.knowledge.vectors.base import VectorRecord
from nexod.settings import Settings

BATCH = 1000


async def drop_store(settings: Settings) -> None:
    """Delete the configured vector store's data (``reconcile --rebuild``); SQL is untouched."""
    scheme = settings.vector_store_url.partition(":")[0]
    if scheme == "local":
        shutil.rmtree(settings.data_dir / "vectors", ignore_errors=True)
    elif scheme == "pgvector":
        from nexod.knowledge.embeddings import open_embedder
        from nexod.knowledge.vectors import open_vector_store
        from nexod.knowledge.vectors.pgvector import PgVectorStore

        embedder = open_embedder(settings)
        store = open_vector_store(settings, model=embedder.name, dim=embedder.dim)
        assert isinstance(store, PgVectorStore)
        await store.drop_all()
        await store.aclose()
    # Pinecone: vectors are overwritten and extras deleted by reconcile itself.


async def reconcile(kb: KnowledgeBase) -> dict[str, int]:
    """Bring the store in line with SQL; returns counts of what was done."""
    report = {"namespaces": 0, "written": 0, "deleted": 0, "reembedded": 0, "documents_fixed": 0}
    async with kb.engine.begin() as conn:
        await rebuild_keyword_index(conn)
    async with kb.db() as s:
        spaces = (await s.execute(select(VectorMetadata.org_id, VectorMetadata.namespace).distinct())).all()
    for org_id, namespace in spaces:
        report["namespaces"] += 1
        phys = physical_namespace(org_id, namespace)
        in_store = await kb.store.list_ids(phys)
        async with kb.db() as s:
            rows = (await s.execute(select(
                VectorMetadata.chunk_id, VectorMetadata.text, VectorMetadata.metadata_,
                VectorMetadata.embedding, VectorMetadata.embedding_model, VectorMetadata.embedding_dim,
                VectorMetadata.section, KbDocument.title,
            ).join(KbDocument, KbDocument.document_id == VectorMetadata.document_id).where(
                VectorMetadata.org_id == org_id, VectorMetadata.namespace == namespace))).all()
        wanted = {r.chunk_id for r in rows}
        missing = [r for r in rows if r.chunk_id not in in_store]
        records: list[VectorRecord] = []
        for start in range(0, len(missing), BATCH):
            part = missing[start : start + BATCH]
            stale = [r for r in part if r.embedding_model != kb.embedder.name or r.embedding_dim != kb.embedder.dim]
            fresh = {}
            if stale:
                texts = [f"{' > '.join(p for p in (r.title, r.section) if p)}\n{r.text}".lstrip("\n") for r in stale]
                vecs = await kb.embedder.embed(texts)
                for r, v in zip(stale, vecs, strict=True):
                    fresh[r.chunk_id] = v
                async with kb.db() as s:
                    for r, v in zip(stale, vecs, strict=True):
                        await s.execute(update(VectorMetadata).where(VectorMetadata.chunk_id == r.chunk_id).values(
                            embedding=v.astype(np.float32).tobytes(), embedding_model=kb.embedder.name,
                            embedding_dim=kb.embedder.dim))
                    await s.commit()
                report["reembedded"] += len(stale)
            records += [VectorRecord(r.chunk_id, fresh.get(r.chunk_id, np.frombuffer(r.embedding, dtype=np.float32)),
                                     r.metadata_) for r in part]
        if records:  # one bulk write: pgvector COPYs it, and builds HNSW once when the table was empty
            await kb.store.bulk_upsert(phys, records)
            report["written"] += len(records)
        extra = sorted(in_store - wanted)
        if extra:
            await kb.store.delete(phys, extra)
            report["deleted"] += len(extra)
    async with kb.db() as s:
        fixed = await s.execute(update(KbDocument).where(KbDocument.status != "indexed").values(
            status="indexed", error=None))
        await s.commit()
    report["documents_fixed"] = int(fixed.rowcount or 0)  # type: ignore[attr-defined]
    return report
