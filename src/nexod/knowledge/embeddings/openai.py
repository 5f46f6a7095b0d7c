"""Any OpenAI-compatible ``/embeddings`` endpoint (OpenAI, vLLM, Ollama, LiteLLM, TEI…)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np

from nexod.errors import Unavailable
from nexod.knowledge.embeddings.base import Embedder, Matrix, normalize


class EmbeddingError(Unavailable):
    """The embeddings endpoint failed or answered with something unusable."""


class OpenAIEmbedder(Embedder):
    """POSTs batches to ``{base_url}/embeddings``; vectors are L2-normalised on arrival."""

    def __init__(self, model: str, *, base_url: str, api_key: str | None, dim: int | None,
                 batch_size: int = 128, timeout: float = 60.0) -> None:
        self.name = f"openai:{model}"
        self._model = model
        self._dim = dim
        self.dim = dim or 0  # learnt in setup() when not configured
        self._batch = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)


    async def setup(self) -> None:
        """Learn the dimension with one tiny request when it is not configured."""
        if self._dim is None:
            self._dim = self.dim = int((await self._call(["dimension probe"])).shape[1])

    async def _call(self, texts: Sequence[str]) -> Matrix:
        try:
            resp = await self._http.post("/embeddings", json={"model": self._model, "input": list(texts)})
        except httpx.HTTPError as exc:
            raise EmbeddingError(f"embeddings endpoint unreachable: {exc}") from exc
        if resp.status_code != 200:
            raise EmbeddingError(f"embeddings endpoint answered {resp.status_code}: {resp.text[:300]}")
        try:
            data = sorted(resp.json()["data"], key=lambda d: d["index"])
            rows = np.array([d["embedding"] for d in data], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"embeddings endpoint answered an unexpected body: {exc}") from exc
        if rows.ndim != 2 or rows.shape[0] != len(texts):
            raise EmbeddingError(f"asked for {len(texts)} embeddings, got shape {rows.shape}")
        if self._dim is not None and rows.shape[1] != self._dim:
            raise EmbeddingError(f"{self.name} returned {rows.shape[1]}-d vectors, expected {self._dim}")
        return normalize(rows)

    async def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed in batches of ``batch_size`` inputs."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [await self._call(texts[i : i + self._batch]) for i in range(0, len(texts), self._batch)]
        return np.vstack(parts)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
