"""The local store's HNSW index kinds: f32, or quantised with exact re-scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nexod.knowledge.vectors.base import VectorRecord
from nexod.knowledge.vectors.local import LocalVectorStore


async def test_an_index_of_another_dtype_is_rebuilt_on_open(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(300, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    first = LocalVectorStore(tmp_path, model="m", dim=32, exact_below=50, dtype="f32")
    await first.setup()
    await first.bulk_upsert("ns", [VectorRecord(str(i), vecs[i]) for i in range(300)])
    await first.aclose()
    again = LocalVectorStore(tmp_path, model="m", dim=32, exact_below=50, dtype="i8")
    await again.setup()
    hits = await again.query("ns", vecs[5], k=3)
    space = again._spaces["ns"]
    assert str(space.ann.dtype).endswith("I8")
    assert hits[0].id == "5" and abs(hits[0].score - 1.0) < 1e-5  # exact scores after re-scoring
    exact = np.argsort(-(vecs @ vecs[5]))[:3]
    assert [h.id for h in hits] == [str(i) for i in exact]
    assert space._same_kind(space.path / "hnsw.usearch")  # saved at once, not rebuilt on every open
    await again.aclose()
