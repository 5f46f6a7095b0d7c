"""The OpenAI-compatible embedder against a deterministic embeddings server on loopback."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from nexod.knowledge.embeddings.openai import EmbeddingError, OpenAIEmbedder
from tests.servers import free_port

DIM = 12


def fake_vector(text: str) -> list[float]:
    """Deterministic, not normalised (the embedder must normalise)."""
    digest = hashlib.sha256(text.encode()).digest()
    return [float(b) + 1.0 for b in digest[:DIM]]


def double_app(calls: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        body = await request.json()
        calls.append({"auth": request.headers.get("authorization"), **body})
        if body["model"] == "broken":
            return JSONResponse({"error": {"message": "model overloaded"}}, status_code=503)
        data = [{"index": i, "embedding": fake_vector(t), "object": "embedding"} for i, t in enumerate(body["input"])]
        return JSONResponse({"data": list(reversed(data)), "model": body["model"], "object": "list"})

    return app


@pytest.fixture(scope="module")
def double() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    calls: list[dict[str, Any]] = []
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(double_app(calls), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/v1", calls
    server.should_exit = True
    thread.join(5)


async def test_batches_orders_and_normalises(double: tuple[str, list[dict[str, Any]]]) -> None:
    url, calls = double
    calls.clear()
    emb = OpenAIEmbedder("text-embedding-3-small", base_url=url, api_key="sk-test", dim=None, batch_size=2)
    await emb.setup()
    assert emb.dim == DIM and emb.name == "openai:text-embedding-3-small"
    texts = ["alpha", "beta", "gamma", "delta", "epsilon"]
    got = await emb.embed(texts)
    assert got.shape == (5, DIM)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0)
    for row, text in zip(got, texts, strict=True):  # the server answered out of order
        want = np.array(fake_vector(text))
        assert np.allclose(row, want / np.linalg.norm(want), atol=1e-6)
    assert [len(c["input"]) for c in calls] == [1, 2, 2, 1]  # the probe, then batches of 2
    assert {c["auth"] for c in calls} == {"Bearer sk-test"}
    await emb.aclose()


async def test_endpoint_failures_are_clear(double: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = double
    broken = OpenAIEmbedder("broken", base_url=url, api_key=None, dim=DIM)
    with pytest.raises(EmbeddingError, match="503"):
        await broken.embed(["x"])
    await broken.aclose()
    wrong_dim = OpenAIEmbedder("m", base_url=url, api_key=None, dim=DIM + 1)
    with pytest.raises(EmbeddingError, match="expected 13"):
        await wrong_dim.embed(["x"])
    await wrong_dim.aclose()
    nowhere = OpenAIEmbedder("m", base_url=f"http://127.0.0.1:{free_port()}/v1", api_key=None, dim=DIM)
    with pytest.raises(EmbeddingError, match="unreachable"):
        await nowhere.embed(["x"])
    await nowhere.aclose()
