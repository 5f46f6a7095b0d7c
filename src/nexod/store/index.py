"""Semantic search for the LangGraph store, on the knowledge base's embedder and vector store.

Turned on by ``store.index`` in langgraph.json. Each indexed item gets one vector: the text
at its index fields (``$`` is the whole value), joined, embedded by Nexod's embedder. Vectors
live in the vector store namespace ``<org>/langgraph-store`` under the id
``<namespace>|<key>``, with every prefix of the item's namespace as metadata, so a search under
a namespace prefix is a metadata filter. SQL stays the source of truth for the items: a
search reads the hits' rows back and drops expired or filtered-out ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from langgraph.store.base import get_text_at_path

from nexod.errors import ConfigError
from nexod.graphs.config import StoreIndexConfig
from nexod.knowledge.embeddings.base import Embedder
from nexod.knowledge.filters import Filter, parse
from nexod.knowledge.vectors.base import VectorHit, VectorRecord, VectorStore

SPACE = "langgraph-store"


class StoreIndex:
    """Embeds store items and finds them again by meaning."""

    def __init__(self, config: StoreIndexConfig, embedder: Embedder, vectors: VectorStore) -> None:
        if config.dims is not None and config.dims != embedder.dim:
            raise ConfigError(
                f"store.index.dims is {config.dims}, but the embedding model {embedder.name} makes "
                f"{embedder.dim}-d vectors: set NEXOD_EMBEDDINGS to a {config.dims}-d model, or drop "
                "'dims' from store.index")
        self.fields = config.fields
        self.embedder = embedder
        self.vectors = vectors

    @staticmethod
    def vector_id(prefix: str, key: str) -> str:
        """The vector's id for the item ``key`` in the namespace ``prefix`` (dot-joined)."""
        return f"{prefix}|{key}"

    def text_of(self, value: Mapping[str, Any], fields: Sequence[str] | None) -> str:
        """The text embedded for ``value``: its index fields, joined ('' when there is none)."""
        parts: list[str] = []
        for path in fields or self.fields:
            if path == "$":
                parts.append(orjson.dumps(value).decode())
            else:
                parts.extend(t for t in get_text_at_path(value, path) if t)
        return "\n".join(parts)

    async def upsert(self, org_id: str, items: Sequence[tuple[str, str, str]]) -> None:
        """Embed and store ``(prefix, key, text)`` items; an empty text removes the item's vector."""
        keep = [(p, k, t) for p, k, t in items if t.strip()]
        drop = [self.vector_id(p, k) for p, k, t in items if not t.strip()]
        space = f"{org_id}/{SPACE}"
        if keep:
            vecs = await self.embedder.embed([t for _, _, t in keep])
            records = []
            for (prefix, key, _), vec in zip(keep, vecs, strict=True):
                labels = prefix.split(".")
                prefixes = [".".join(labels[: i + 1]) for i in range(len(labels))]
                records.append(VectorRecord(self.vector_id(prefix, key), vec,
                                            {"ns": prefix, "key": key, "prefixes": prefixes}))
            await self.vectors.upsert(space, records)
        if drop:
            await self.vectors.delete(space, drop)

    async def delete(self, org_id: str, prefix: str, key: str) -> None:
        """Forget an item's vector."""
        await self.vectors.delete(f"{org_id}/{SPACE}", [self.vector_id(prefix, key)])

    async def query(self, org_id: str, query: str, prefix: str | None, k: int) -> list[VectorHit]:
        """The ``k`` nearest items under ``prefix`` (all items when None)."""
        flt: Filter | None = parse({"prefixes": prefix}) if prefix else None
        q = await self.embedder.embed_query(query)
        return await self.vectors.query(f"{org_id}/{SPACE}", q, k=k, filter=flt)
