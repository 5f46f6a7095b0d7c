"""The vector store interface: namespaced vectors with metadata, nearest-neighbour search.

A store holds vectors of one embedding model (``model``, ``dim``), recorded by the store
itself; opening it with another model is a :class:`VectorStoreMismatch`, never silent garbage.
Scores are cosine similarities (higher is closer). The SQL ``vector_metadata`` table, not the
store, is the source of truth: ``nexod knowledge reconcile`` rebuilds any store from it.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nexod.errors import ConfigError, InvalidInput
from nexod.knowledge.embeddings.base import Matrix
from nexod.knowledge.filters import Filter

BULK_BATCH = 10_000
NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@/=-]{0,199}$")


class VectorStoreMismatch(ConfigError):
    """The store holds vectors of another model or dimension than the embedder in use."""


@dataclass(frozen=True)
class VectorRecord:
    """One vector to store: ``id`` is unique within its namespace."""

    id: str
    vector: Matrix
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VectorHit:
    """One search result: cosine similarity ``score`` and the stored metadata."""

    id: str
    score: float
    metadata: dict[str, Any]


def check_namespace(namespace: str) -> str:
    """Namespaces are 1-200 characters: letters, digits and ``_ . : @ / = -``."""
    if not isinstance(namespace, str) or not NAMESPACE_RE.match(namespace):
        raise InvalidInput(
            f"namespace {namespace!r} must be 1-200 characters of letters, digits and _ . : @ / = -",
            field="namespace")
    return namespace


def as_matrix(vectors: Sequence[Matrix] | Matrix, dim: int) -> Matrix:
    """Stack vectors into ``n x dim`` float32, refusing the wrong length or non-finite values."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or (arr.shape[0] and arr.shape[1] != dim):
        raise InvalidInput(f"vectors must have {dim} dimensions, got shape {arr.shape}", field="vector")
    if not np.isfinite(arr).all():
        raise InvalidInput("vectors must not contain NaN or infinity", field="vector")
    return arr


class VectorStore(ABC):
    """Namespaced nearest-neighbour search over unit vectors, with metadata filters.

    Every method is safe to call from the event loop (blocking work runs in threads).
    """

    kind: str
    """``local``, ``pgvector`` or ``pinecone``."""

    writable: bool = True
    """False when another process owns the store (the local store's files); writes would fail."""

    def __init__(self, *, model: str, dim: int) -> None:
        self.model = model
        self.dim = dim

    @abstractmethod
    async def setup(self) -> None:
        """Create what the store needs (idempotent) and check its recorded model and dimension.

        Raises :class:`VectorStoreMismatch` when the store was filled by another model.
        """

    @abstractmethod
    async def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        """Insert or replace records by id. All or nothing for one call where the backend allows."""

    async def bulk_upsert(self, namespace: str, records: Sequence[VectorRecord],
                          progress: Callable[[int], None] | None = None) -> dict[str, float]:
        """:meth:`upsert` for many records at once (imports, ``reconcile``): the same result.

        Stores with a faster path for large loads override it (pgvector: ``COPY``). ``progress``
        is called with the number of records written so far. Returns timings in seconds
        (``load_s``; ``index_s`` when the store built its index once after the load).
        """
        started = time.perf_counter()
        for start in range(0, len(records), BULK_BATCH):
            await self.upsert(namespace, records[start : start + BULK_BATCH])
            if progress is not None:
                progress(min(start + BULK_BATCH, len(records)))
        return {"load_s": time.perf_counter() - started, "index_s": 0.0}

    @abstractmethod
    async def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Remove records by id; unknown ids are ignored."""

    @abstractmethod
    async def query(self, namespace: str, vector: Matrix, *, k: int = 10,
                    filter: Filter | None = None) -> list[VectorHit]:
        """The ``k`` records nearest ``vector`` that satisfy ``filter``, best first.

        An unknown namespace gives no hits.
        """

    @abstractmethod
    async def fetch(self, namespace: str, ids: Sequence[str]) -> dict[str, VectorRecord]:
        """The records with these ids that exist."""

    @abstractmethod
    async def count(self, namespace: str) -> int:
        """How many records the namespace holds."""

    @abstractmethod
    async def list_ids(self, namespace: str) -> set[str]:
        """Every id in the namespace (for reconciliation)."""

    @abstractmethod
    async def drop_namespace(self, namespace: str) -> None:
        """Remove a namespace and everything in it."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Flush and release resources."""
