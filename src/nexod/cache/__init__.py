"""The seed's cache layers on one cashews backend: L1 sessions and API keys (3600 s),
L2 agent state (``nexod.graphs.cache``, 300 s), L3 API responses (``cache_for``, 60 s)."""

from nexod.cache.base import Caches, open_caches

__all__ = ["Caches", "open_caches"]
