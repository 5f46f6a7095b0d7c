"""Embedding models, chosen by ``NEXOD_EMBEDDINGS``: ``local`` (default) or ``openai:<model>``."""

from __future__ import annotations

from nexod.errors import ConfigError
from nexod.knowledge.embeddings.base import Embedder, Matrix
from nexod.settings import Settings

__all__ = ["Embedder", "Matrix", "open_embedder"]


def open_embedder(settings: Settings) -> Embedder:
    """The embedder named by the settings (not loaded yet: call ``setup()`` or just use it)."""
    spec = settings.embeddings
    scheme, _, model = spec.partition(":")
    if scheme == "local":
        from nexod.knowledge.embeddings.local import MODEL, LocalEmbedder

        if model and model != MODEL:
            raise ConfigError(f"NEXOD_EMBEDDINGS: the local runtime ships only {MODEL}, got {model!r}")
        return LocalEmbedder(settings.model_cache or settings.data_dir / "models",
                             threads=settings.embedding_threads)
    if scheme == "openai":
        from nexod.knowledge.embeddings.openai import OpenAIEmbedder

        if not model:
            raise ConfigError("NEXOD_EMBEDDINGS: name the model, e.g. openai:text-embedding-3-small")
        key = settings.embeddings_api_key.get_secret_value() if settings.embeddings_api_key else None
        return OpenAIEmbedder(model, base_url=settings.embeddings_url, api_key=key, dim=settings.embedding_dim)
    raise ConfigError(f"NEXOD_EMBEDDINGS: expected 'local' or 'openai:<model>', got {spec!r}")
