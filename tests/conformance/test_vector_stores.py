"""One suite, every vector store: local (always), pgvector (real PostgreSQL), Pinecone (with a key)."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nexod.errors import InvalidInput
from nexod.knowledge.filters import parse
from nexod.knowledge.vectors.base import VectorRecord, VectorStore, VectorStoreMismatch
from tests.conftest import pg_admin_url
from tests.servers import postgres_database

DIM = 16
MODEL = "test:model"
PINECONE_KEY = os.environ.get("NEXOD_TEST_PINECONE_API_KEY")
PINECONE_INDEX = os.environ.get("NEXOD_TEST_PINECONE_INDEX", "nexod-conformance")

Factory = Callable[..., VectorStore]


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray[Any, Any]:
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(params=["local", "local-hnsw", "local-hnsw-i8", "pgvector", "pinecone"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    """A factory: each call opens the same backing store again (to test restarts and mismatches)."""
    opened: list[VectorStore] = []
    kind = str(request.param)

    def track(store: VectorStore) -> VectorStore:
        opened.append(store)
        return store

    if kind.startswith("local"):
        from nexod.knowledge.vectors.local import LocalVectorStore

        # local-hnsw: every namespace past 50 vectors goes through the usearch index
        # (-i8: an index of quantised vectors, candidates re-scored exactly).
        below = 50 if kind.startswith("local-hnsw") else 100_000
        dtype = "i8" if kind.endswith("-i8") else "f32"
        yield lambda model=MODEL, dim=DIM: track(
            LocalVectorStore(tmp_path / "vectors", model=model, dim=dim, exact_below=below, dtype=dtype))
    elif kind == "pgvector":
        from nexod.knowledge.vectors.pgvector import PgVectorStore

        with postgres_database(pg_admin_url()) as url:
            yield lambda model=MODEL, dim=DIM: track(PgVectorStore(url, model=model, dim=dim))
            for s in opened:
                await s.aclose()
            opened.clear()
    else:
        if not PINECONE_KEY:
            pytest.skip("Pinecone: NEXOD_TEST_PINECONE_API_KEY is not set; this suite needs a real "
                        "Pinecone project (it creates/uses index NEXOD_TEST_PINECONE_INDEX)")
        from nexod.knowledge.vectors.pinecone import PineconeVectorStore

        yield lambda model=MODEL, dim=DIM: track(
            PineconeVectorStore(PINECONE_INDEX, api_key=PINECONE_KEY, model=model, dim=dim,
                                consistent=True))
    for s in opened:
        await s.aclose()


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which backend ``make_store`` opened (its parameter)."""
    return str(request.node.callspec.params["make_store"])


@pytest.fixture
async def store(make_store: Factory) -> VectorStore:
    s = make_store()
    await s.setup()
    return s


@pytest.fixture
def ns() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


async def test_nearest_first_with_cosine_scores(store: VectorStore, ns: str, store_kind: str) -> None:
    rng = np.random.default_rng(1)
    vecs = unit(rng, 200)
    await store.upsert(ns, [VectorRecord(f"v{i}", vecs[i], {"i": i}) for i in range(200)])
    assert await store.count(ns) == 200
    q = vecs[7] + 0.05 * unit(rng, 1)[0]
    q = q / np.linalg.norm(q)
    hits = await store.query(ns, q, k=5)
    exact = [f"v{i}" for i in np.argsort(-(vecs @ q))[:5]]
    assert hits[0].id == "v7" and hits[0].metadata == {"i": 7}
    if store_kind == "local":  # exact search: exactly the true top 5
        assert [h.id for h in hits] == exact
    else:  # an HNSW graph is approximate (a multi-threaded build differs run to run): >= 4 of 5
        assert len({h.id for h in hits} & set(exact)) >= 4, ([h.id for h in hits], exact)
    for h in hits:  # whatever was found carries its exact cosine score
        assert h.score == pytest.approx(float(vecs[int(h.id[1:])] @ q), abs=1e-3)
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))


async def test_upsert_replaces_and_delete_removes(store: VectorStore, ns: str) -> None:
    rng = np.random.default_rng(2)
    a, b = unit(rng, 2)
    await store.upsert(ns, [VectorRecord("x", a, {"v": 1}), VectorRecord("y", b, {"v": 1})])
    await store.upsert(ns, [VectorRecord("x", b, {"v": 2})])
    assert await store.count(ns) == 2
    got = await store.fetch(ns, ["x", "nope"])
    assert set(got) == {"x"} and got["x"].metadata == {"v": 2}
    assert np.allclose(got["x"].vector, b, atol=1e-3)
    await store.delete(ns, ["x", "never-there"])
    assert await store.list_ids(ns) == {"y"}
    assert [h.id for h in await store.query(ns, b, k=10)] == ["y"]


async def test_namespaces_are_isolated(store: VectorStore, ns: str) -> None:
    rng = np.random.default_rng(3)
    v = unit(rng, 1)[0]
    await store.upsert(f"{ns}-a", [VectorRecord("same-id", v, {"owner": "a"})])
    await store.upsert(f"{ns}-b", [VectorRecord("same-id", v, {"owner": "b"})])
    assert [h.metadata["owner"] for h in await store.query(f"{ns}-a", v, k=10)] == ["a"]
    assert await store.query(f"{ns}-unknown", v, k=10) == []
    await store.drop_namespace(f"{ns}-a")
    assert await store.count(f"{ns}-a") == 0
    assert await store.count(f"{ns}-b") == 1


FILTER_DOCS: list[dict[str, Any]] = [
    {"genre": "drama", "year": 2019, "tags": ["a", "b"], "draft": False},
    {"genre": "comedy", "year": 2021, "tags": ["b"], "draft": True},
    {"genre": "drama", "year": 2023.5, "draft": False},
    {"genre": "documentary", "year": 2020, "tags": ["c"]},
    {"year": "unknown", "tags": []},
]

FILTER_CASES: list[tuple[dict[str, Any], set[int]]] = [
    ({"genre": "drama"}, {0, 2}),
    ({"genre": {"$eq": "drama"}}, {0, 2}),
    ({"genre": {"$ne": "drama"}}, {1, 3, 4}),
    ({"year": {"$gt": 2020}}, {1, 2}),
    ({"year": {"$gte": 2020}}, {1, 2, 3}),
    ({"year": {"$lt": 2020}}, {0}),
    ({"year": {"$lte": 2020, "$gt": 2019}}, {3}),
    ({"year": 2019}, {0}),
    ({"genre": {"$in": ["comedy", "documentary"]}}, {1, 3}),
    ({"genre": {"$nin": ["comedy", "documentary"]}}, {0, 2, 4}),
    ({"tags": "b"}, {0, 1}),
    ({"tags": {"$in": ["a", "c"]}}, {0, 3}),
    ({"tags": {"$nin": ["b"]}}, {2, 3, 4}),
    ({"tags": {"$ne": "b"}}, {2, 3, 4}),
    ({"draft": True}, {1}),
    ({"draft": {"$exists": False}}, {3, 4}),
    ({"genre": {"$exists": True}}, {0, 1, 2, 3}),
    ({"$or": [{"genre": "comedy"}, {"year": {"$gte": 2023}}]}, {1, 2}),
    ({"$and": [{"genre": "drama"}, {"year": {"$lt": 2020}}]}, {0}),
    ({"genre": "drama", "draft": False, "year": {"$gt": 2020}}, {2}),
    ({"$or": [{"$and": [{"genre": "drama"}, {"tags": "a"}]}, {"draft": True}]}, {0, 1}),
]


async def test_filters_mean_the_same_everywhere(store: VectorStore, ns: str) -> None:
    rng = np.random.default_rng(4)
    vecs = unit(rng, len(FILTER_DOCS))
    await store.upsert(ns, [VectorRecord(f"d{i}", vecs[i], md) for i, md in enumerate(FILTER_DOCS)])
    for raw, expected in FILTER_CASES:
        flt = parse(raw)
        assert flt is not None
        assert {i for i, md in enumerate(FILTER_DOCS) if flt.matches(md)} == expected, raw
        hits = await store.query(ns, vecs[0], k=10, filter=flt)
        assert {int(h.id[1:]) for h in hits} == expected, raw


async def test_selective_filter_still_finds_k(store: VectorStore, ns: str) -> None:
    """2 % of the rows match: the ANN candidates mostly miss them, yet k come back, nearest first."""
    rng = np.random.default_rng(5)
    n = 600
    vecs = unit(rng, n)
    await store.upsert(ns, [VectorRecord(f"r{i}", vecs[i], {"rare": i % 50 == 0}) for i in range(n)])
    flt = parse({"rare": True})
    hits = await store.query(ns, vecs[1], k=5, filter=flt)
    rare = [i for i in range(n) if i % 50 == 0]
    best = sorted(rare, key=lambda i: -float(vecs[i] @ vecs[1]))[:5]
    assert [h.id for h in hits] == [f"r{i}" for i in best]


async def test_ann_recall_against_exact(store: VectorStore, ns: str) -> None:
    rng = np.random.default_rng(6)
    n = 2000
    vecs = unit(rng, n)
    await store.upsert(ns, [VectorRecord(str(i), vecs[i]) for i in range(n)])
    queries = unit(rng, 20)
    found = 0
    for q in queries:
        exact = {str(i) for i in np.argsort(-(vecs @ q))[:10]}
        found += len(exact & {h.id for h in await store.query(ns, q, k=10)})
    assert found / 200 >= 0.95


async def test_bulk_upsert_loads_then_merges(store: VectorStore, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bulk load into an empty store (pgvector: COPY, index built afterwards), then a bulk
    merge over it (pgvector: COPY into a temporary table, INSERT … ON CONFLICT)."""
    monkeypatch.setattr("nexod.knowledge.vectors.pgvector.REINDEX_FROM", 100)
    rng = np.random.default_rng(8)
    n = 600
    vecs = unit(rng, n)
    seen: list[int] = []
    timings = await store.bulk_upsert(ns, [VectorRecord(f"b{i}", vecs[i], {"i": i, "t": "é"}) for i in range(n)],
                                      progress=seen.append)
    assert seen and seen[-1] == n and timings["load_s"] >= 0
    if store.kind == "pgvector":  # the index was dropped and built once after the rows
        assert timings["index_s"] > 0
    assert await store.count(ns) == n
    hits = await store.query(ns, vecs[42], k=3)
    assert hits[0].id == "b42" and hits[0].metadata == {"i": 42, "t": "é"}
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    fresh = unit(rng, 3)
    await store.bulk_upsert(ns, [VectorRecord("b0", fresh[0], {"v": 1}), VectorRecord("b0", fresh[1], {"v": 2}),
                                 VectorRecord("new", fresh[2], {"v": 3})])
    assert await store.count(ns) == n + 1
    got = await store.fetch(ns, ["b0", "new", "b1"])
    assert got["b0"].metadata == {"v": 2} and np.allclose(got["b0"].vector, fresh[1], atol=1e-3)
    assert got["new"].metadata == {"v": 3} and got["b1"].metadata == {"i": 1, "t": "é"}
    assert [h.id for h in await store.query(ns, fresh[2], k=1)] == ["new"]
    assert [h.id for h in await store.query(ns, vecs[7], k=1, filter=parse({"i": 7}))] == ["b7"]


async def test_bad_vectors_and_namespaces_are_refused(store: VectorStore, ns: str) -> None:
    with pytest.raises(InvalidInput, match="dimensions"):
        await store.upsert(ns, [VectorRecord("x", np.ones(DIM + 1, dtype=np.float32))])
    with pytest.raises(InvalidInput, match="NaN"):
        await store.upsert(ns, [VectorRecord("x", np.full(DIM, np.nan, dtype=np.float32))])
    with pytest.raises(InvalidInput, match="namespace"):
        await store.query("bad namespace!", np.ones(DIM, dtype=np.float32), k=1)
    assert await store.count(ns) == 0


async def test_survives_restart_and_refuses_another_model(make_store: Factory, ns: str) -> None:
    rng = np.random.default_rng(7)
    vecs = unit(rng, 120)
    first = make_store()
    await first.setup()
    await first.upsert(ns, [VectorRecord(f"v{i}", vecs[i], {"i": i}) for i in range(120)])
    await first.delete(ns, ["v3"])
    await first.aclose()
    again = make_store()
    await again.setup()
    assert await again.count(ns) == 119
    hits = await again.query(ns, vecs[5], k=1)
    assert hits[0].id == "v5" and hits[0].metadata == {"i": 5}
    await again.aclose()
    other = make_store(model="other:model", dim=DIM * 2)
    with pytest.raises(VectorStoreMismatch, match="other:model"):
        await other.setup()


async def test_every_vector_finds_itself(store: VectorStore, ns: str) -> None:
    """No stored vector is lost to search: each is its own nearest neighbour (an HNSW graph
    built with concurrent inserts can strand nodes that no query ever reaches)."""
    rng = np.random.default_rng(9)
    n = 1500
    vecs = unit(rng, n)
    await store.upsert(ns, [VectorRecord(f"s{i}", vecs[i]) for i in range(n)])
    await store.upsert(ns, [VectorRecord(f"s{i}", vecs[i]) for i in range(0, n, 7)])  # re-inserted
    lost = [i for i in range(n) if [h.id for h in await store.query(ns, vecs[i], k=1)] != [f"s{i}"]]
    assert lost == []
