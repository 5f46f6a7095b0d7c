"""Load order of the native libraries behind the local embedder and the local vector store.

Importing ``usearch`` and then ``onnxruntime`` in one process crashes it (SIGSEGV inside
onnxruntime's extension; seen with usearch 2.26.6 and onnxruntime 1.32.0); the other order is
fine. Every place that imports usearch calls :func:`load_usearch`, which imports ONNX Runtime
first when it is installed.
"""

from __future__ import annotations

from typing import Any


def load_onnxruntime() -> Any:
    """``onnxruntime``, imported (idempotent)."""
    import onnxruntime

    return onnxruntime


def load_usearch() -> Any:
    """``usearch.index.Index``, imported after ONNX Runtime (see the module docstring)."""
    try:
        load_onnxruntime()
    except ImportError:  # pragma: no cover - embeddings not installed: no clash possible
        pass
    from usearch.index import Index

    return Index
