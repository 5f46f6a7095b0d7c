"""Pinecone (the seed's ``nexod-knowledge`` index) through the official ``pinecone`` SDK (v10).

A serverless, cosine, dense index; created by :meth:`setup` if it does not exist, tagged with
the embedding model so another model is refused. Namespaces map one to one. The SDK's
blocking client runs in worker threads; writes go in batches within Pinecone's limits (200
vectors of 384 floats per upsert, well under 2 MB; 1,000 ids per fetch or delete). Pinecone
is eventually consistent: ``consistent=True`` (tests) waits until writes are visible.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from nexod.errors import Unavailable
from nexod.knowledge.embeddings.base import Matrix
from nexod.knowledge.filters import Filter
from nexod.knowledge.vectors.base import (
    VectorHit,
    VectorRecord,
    VectorStore,
    VectorStoreMismatch,
    as_matrix,
    check_namespace,
)

UPSERT_BATCH = 200
ID_BATCH = 1000
TAG = "nexod-model"


def _tag(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", model)[:120]


class PineconeVectorStore(VectorStore):
    """One Pinecone index; see the module docstring."""

    kind = "pinecone"

    def __init__(self, index_name: str, *, api_key: str, model: str, dim: int, cloud: str = "aws",
                 region: str = "us-east-1", consistent: bool = False) -> None:
        super().__init__(model=model, dim=dim)
        from pinecone import Pinecone

        self._pc = Pinecone(api_key=api_key)
        self._name = index_name
        self._cloud, self._region = cloud, region
        self._consistent = consistent
        self._index: Any = None

    def _setup(self) -> None:
        from pinecone import ServerlessSpec

        if not self._pc.indexes.exists(self._name):
            self._pc.indexes.create(name=self._name, dimension=self.dim, metric="cosine",
                                    spec=ServerlessSpec(cloud=self._cloud, region=self._region),
                                    tags={TAG: _tag(self.model)})
            for _ in range(120):  # a new serverless index takes a few seconds to be ready
                desc = self._pc.indexes.describe(self._name)
                if getattr(getattr(desc, "status", None), "ready", True):
                    break
                time.sleep(1)
        desc = self._pc.indexes.describe(self._name)
        tags = dict(getattr(desc, "tags", None) or {})
        if desc.dimension != self.dim or tags.get(TAG, _tag(self.model)) != _tag(self.model):
            raise VectorStoreMismatch(
                f"Pinecone index {self._name!r} holds {desc.dimension}-d vectors of {tags.get(TAG)!r}, but "
                f"the embedder is {self.model!r} ({self.dim}-d): use another index, or set NEXOD_EMBEDDINGS back")
        self._index = self._pc.index(self._name, host=desc.host or "")

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from pinecone.errors import PineconeError

        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except PineconeError as exc:
            raise Unavailable(f"Pinecone: {exc}") from exc

    async def setup(self) -> None:
        """Create the index if missing (serverless, cosine) and check its dimension and model tag."""
        if self._index is None:
            await self._run(self._setup)

    async def _wait(self, namespace: str, ids: Sequence[str], present: bool) -> None:
        if not self._consistent or not ids:
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = await self.fetch(namespace, ids[:ID_BATCH])
            if (len(got) == min(len(ids), ID_BATCH)) if present else not got:
                return
            await asyncio.sleep(0.5)

    async def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        """Batched upserts of ``{id, values, metadata}``."""
        check_namespace(namespace)
        if not records:
            return
        vecs = as_matrix([r.vector for r in records], self.dim)
        payload = [{"id": r.id, "values": v.tolist(), "metadata": r.metadata} for r, v in zip(records, vecs, strict=True)]
        for start in range(0, len(payload), UPSERT_BATCH):
            await self._run(self._index.upsert, vectors=payload[start : start + UPSERT_BATCH],
                            namespace=namespace, show_progress=False)
        await self._wait(namespace, [r.id for r in records], present=True)

    async def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Delete by id, 1,000 at a time; an unknown namespace is not an error."""
        from pinecone.errors import NotFoundError

        check_namespace(namespace)
        for start in range(0, len(ids), ID_BATCH):
            try:
                await asyncio.to_thread(self._index.delete, ids=list(ids[start : start + ID_BATCH]),
                                        namespace=namespace)
            except NotFoundError:
                return
        await self._wait(namespace, list(ids), present=False)

    async def query(self, namespace: str, vector: Matrix, *, k: int = 10,
                    filter: Filter | None = None) -> list[VectorHit]:
        """Pinecone query with the filter passed as written (Pinecone's own language)."""
        check_namespace(namespace)
        q = as_matrix(vector, self.dim)[0]
        res = await self._run(self._index.query, top_k=k, vector=q.tolist(), namespace=namespace,
                              filter=filter.raw if filter else None, include_metadata=True)
        return [VectorHit(m.id, float(m.score), dict(m.metadata or {})) for m in res.matches]

    async def fetch(self, namespace: str, ids: Sequence[str]) -> dict[str, VectorRecord]:
        """Fetch by id, 1,000 at a time."""
        check_namespace(namespace)
        out: dict[str, VectorRecord] = {}
        for start in range(0, len(ids), ID_BATCH):
            res = await self._run(self._index.fetch, ids=list(ids[start : start + ID_BATCH]), namespace=namespace)
            for vid, v in res.vectors.items():
                out[vid] = VectorRecord(vid, np.asarray(v.values, dtype=np.float32), dict(v.metadata or {}))
        return out

    async def count(self, namespace: str) -> int:
        """From ``describe_index_stats`` (eventually consistent)."""
        check_namespace(namespace)
        stats = await self._run(self._index.describe_index_stats)
        ns = stats.namespaces.get(namespace)
        return int(ns.vector_count) if ns is not None else 0

    async def list_ids(self, namespace: str) -> set[str]:
        """Every id, through the paginated list endpoint."""
        check_namespace(namespace)

        def run() -> set[str]:
            return {item.id for page in self._index.list(namespace=namespace) for item in page.vectors}

        return set(await self._run(run))

    async def drop_namespace(self, namespace: str) -> None:
        """Delete the namespace (missing is fine)."""
        from pinecone.errors import NotFoundError

        check_namespace(namespace)
        try:
            await asyncio.to_thread(self._index.delete_namespace, name=namespace)
        except NotFoundError:
            pass

    async def aclose(self) -> None:
        """Close the SDK's HTTP pools."""
        await asyncio.to_thread(self._pc.close)
