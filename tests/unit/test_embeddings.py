"""The local embedder gives the vectors sentence-transformers gives, without PyTorch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from nexod.errors import ConfigError
from nexod.knowledge.embeddings.local import LocalEmbedder, onnx_path, package_model_dir

REFERENCE = Path(__file__).parent.parent / "fixtures" / "minilm_reference.npz"


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


async def test_vectors_match_sentence_transformers_reference(model_cache: Path) -> None:
    """Reference vectors were computed by sentence-transformers on PyTorch (see the fixture's script)."""
    ref = np.load(REFERENCE)
    sentences = [str(s) for s in ref["sentences"]]
    embedder = LocalEmbedder(model_cache)
    got = await embedder.embed(sentences)
    assert got.shape == (len(sentences), 384) and got.dtype == np.float32
    assert np.abs(got - ref["vectors"]).max() < 2e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    one = await embedder.embed_query(sentences[1])
    assert np.abs(one[0] - ref["vectors"][1]).max() < 2e-5  # batching and padding change nothing


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is None,
                    reason="sentence-transformers (and PyTorch) not installed: compared with the "
                           "stored reference vectors only")
async def test_vectors_match_sentence_transformers_live(model_cache: Path) -> None:
    from sentence_transformers import SentenceTransformer

    texts = ["live parity check", "another sentence, longer than the first one by a little"]
    expected = SentenceTransformer(str(package_model_dir()), device="cpu").encode(texts)
    got = await LocalEmbedder(model_cache).embed(texts)
    assert np.abs(got - expected).max() < 2e-5


async def test_export_is_cached_and_reused(model_cache: Path) -> None:
    await LocalEmbedder(model_cache).setup()
    cached = onnx_path(package_model_dir(), model_cache)
    assert cached.is_file()
    before = cached.stat().st_mtime_ns
    await LocalEmbedder(model_cache).setup()
    assert cached.stat().st_mtime_ns == before  # loaded the cached file: no second export


async def test_missing_model_files_are_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"config\.json|model\.safetensors|No such file"):
        await LocalEmbedder(tmp_path / "cache", model_dir=tmp_path).embed(["x"])
    with pytest.raises(ConfigError, match="NEXOD_EMBEDDINGS"):
        from nexod.knowledge.embeddings import open_embedder
        from nexod.settings import Settings

        open_embedder(Settings(data_dir=tmp_path, embeddings="local:some-other-model"))


def test_hnsw_before_the_model_does_not_crash(tmp_path: Path, model_cache: Path) -> None:
    """usearch imported before onnxruntime segfaults the process; the store loads them in order."""
    import subprocess
    import sys

    script = f"""
import asyncio, numpy as np
from pathlib import Path
from nexod.knowledge.vectors.local import LocalVectorStore
from nexod.knowledge.vectors.base import VectorRecord
from nexod.knowledge.embeddings.local import LocalEmbedder

async def main():
    store = LocalVectorStore(Path({str(tmp_path)!r}), model="m", dim=384, exact_below=1)
    await store.setup()
    await store.upsert("ns", [VectorRecord("a", np.ones(384, dtype=np.float32) / 384 ** 0.5)])
    vec = await LocalEmbedder(Path({str(model_cache)!r})).embed_query("hello")
    print(len(await store.query("ns", vec, k=1)))
    await store.aclose()

asyncio.run(main())
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "1"
