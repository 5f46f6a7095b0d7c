"""Vector stores, chosen by ``NEXOD_VECTOR_STORE``: ``local``, ``pgvector[:url]``, ``pinecone:<index>``."""

from __future__ import annotations

from nexod.errors import ConfigError
from nexod.knowledge.vectors.base import VectorHit, VectorRecord, VectorStore, VectorStoreMismatch
from nexod.settings import Settings

__all__ = ["VectorHit", "VectorRecord", "VectorStore", "VectorStoreMismatch", "open_vector_store"]


def open_vector_store(settings: Settings, *, model: str, dim: int) -> VectorStore:
    """The store named by the settings, for vectors of ``model`` (not set up yet)."""
    spec = settings.vector_store_url
    scheme, _, rest = spec.partition(":")
    if scheme == "local":
        from nexod.knowledge.vectors.local import LocalVectorStore

        return LocalVectorStore(settings.data_dir / "vectors", model=model, dim=dim,
                                exact_below=settings.kb_exact_below, ef_search=settings.kb_ef_search,
                                m=settings.kb_hnsw_m, ef_construction=settings.kb_hnsw_ef_construction,
                                dtype=settings.kb_hnsw_dtype)
    if scheme == "pgvector":
        try:
            from nexod.knowledge.vectors.pgvector import PgVectorStore
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError("NEXOD_VECTOR_STORE=pgvector needs: pip install 'nexod[postgres]'") from exc
        url = rest or (settings.libpq_url if settings.is_postgres else "")
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("NEXOD_VECTOR_STORE=pgvector needs NEXOD_DATABASE_URL, or "
                              "pgvector:postgresql://user:pass@host/db")
        return PgVectorStore(url, model=model, dim=dim, ef_search=settings.kb_ef_search, m=settings.kb_hnsw_m,
                             ef_construction=settings.kb_hnsw_ef_construction)
    if scheme == "pinecone":
        try:
            from nexod.knowledge.vectors.pinecone import PineconeVectorStore
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError("NEXOD_VECTOR_STORE=pinecone:<index> needs: pip install 'nexod[pinecone]'") from exc
        if not rest:
            raise ConfigError("NEXOD_VECTOR_STORE: name the Pinecone index, e.g. pinecone:nexod-knowledge")
        if settings.pinecone_api_key is None:
            raise ConfigError("NEXOD_VECTOR_STORE=pinecone:… needs NEXOD_PINECONE_API_KEY")
        store: VectorStore = PineconeVectorStore(rest, api_key=settings.pinecone_api_key.get_secret_value(),
                                   model=model, dim=dim)
        return store
    raise ConfigError(f"NEXOD_VECTOR_STORE: expected local, pgvector[:url] or pinecone:<index>, got {spec!r}")
