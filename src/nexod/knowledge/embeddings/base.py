"""The embedding model interface: text in, unit-length float32 vectors out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
"""Vectors as rows: ``len(texts) x dim`` float32, each row of unit length."""


class Embedder(ABC):
    """Turns text into vectors. Implementations load their model once and never block the loop.

    ``name`` and ``dim`` are recorded with every vector written, so a store filled by one model
    is never searched with another.
    """

    name: str
    """Model identifier recorded with each vector, e.g. ``local:all-MiniLM-L6-v2``."""
    dim: int
    """Length of each vector."""

    @abstractmethod
    async def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed passages (batched internally); one unit-length row per text, in order."""

    async def embed_query(self, text: str) -> Matrix:
        """Embed one search query; a ``1 x dim`` matrix."""
        return await self.embed([text])

    async def setup(self) -> None:  # noqa: B027 - optional hook
        """Load the model now rather than on first use (idempotent)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release the model and any connections."""


def normalize(rows: Matrix) -> Matrix:
    """Scale each row to unit length (rows of zeros stay zero)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: Matrix = (rows / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return out
