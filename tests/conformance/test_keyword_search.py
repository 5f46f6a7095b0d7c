"""Keyword search and its filters on SQL: SQLite FTS5 and PostgreSQL full-text, same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from nexod.db.engine import create_engine, sessionmaker
from nexod.db.migrate import upgrade
from nexod.db.models import KbDocument, VectorMetadata
from nexod.knowledge.filters import parse
from nexod.knowledge.keyword import keyword_search, setup_keyword_index
from nexod.knowledge.sqlfilter import to_sql
from nexod.serde import utcnow
from nexod.settings import Settings
from tests.conformance.test_vector_stores import FILTER_CASES, FILTER_DOCS
from tests.conftest import pg_admin_url
from tests.servers import postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async def _open(settings: Settings) -> AsyncIterator[AsyncEngine]:
        eng = create_engine(settings)
        await upgrade(eng)
        async with eng.begin() as conn:
            await setup_keyword_index(conn)
        try:
            yield eng
        finally:
            await eng.dispose()

    if request.param == "postgres":
        with postgres_database(pg_admin_url()) as url:
            async for e in _open(Settings(data_dir=tmp_path, database_url=url)):
                yield e
    else:
        async for e in _open(Settings(data_dir=tmp_path)):
            yield e


TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Foxes are small omnivorous mammals; a fox hunts at night.",
    "Dogs were domesticated from wolves long ago.",
    "Stock markets fell sharply on Tuesday.",
    "A lazy afternoon with the dog and the cat.",
]


async def seed(engine: AsyncEngine, org: str = "o", namespace: str = "ns") -> None:
    now = utcnow()
    async with sessionmaker(engine)() as s:
        s.add(KbDocument(document_id="doc", org_id=org, namespace=namespace, source="s", title=None,
                         content_type="text/plain", content_hash="h", size_bytes=1, version=1, status="indexed",
                         error=None, chunk_count=len(TEXTS), embedding_model="m", metadata_={},
                         created_at=now, updated_at=now))
        await s.flush()
        await s.execute(insert(VectorMetadata.__table__), [{
            "chunk_id": f"doc#1#{i}", "org_id": org, "namespace": namespace, "document_id": "doc", "version": 1,
            "chunk_index": i, "text": f"{text} shared", "char_start": 0, "char_end": len(text), "section": None,
            "page": None, "metadata": FILTER_DOCS[i], "content_hash": "h", "embedding_model": "m",
            "embedding_dim": 1, "embedding": b"\0\0\0\0", "created_at": now,
        } for i, text in enumerate(TEXTS)])
        await s.commit()


async def search(engine: AsyncEngine, query: str, *, raw: dict[str, object] | None = None, org: str = "o",
                 namespace: str = "ns") -> list[int]:
    async with sessionmaker(engine)() as s:
        where = to_sql(parse(raw), VectorMetadata.__table__.c.metadata, engine.dialect.name)
        hits = await keyword_search(s, query, org_id=org, namespace=namespace, k=10, where=where)
        ids = {r.id: r.chunk_index for r in (await s.execute(
            VectorMetadata.__table__.select().where(VectorMetadata.id.in_([h.row_id for h in hits])))).all()}
    return [ids[h.row_id] for h in hits]


async def test_ranks_by_keywords_with_stemming(engine: AsyncEngine) -> None:
    await seed(engine)
    found = await search(engine, "fox hunting")
    assert found[0] == 1  # "fox" twice and "hunts" (stemmed to "hunt") beat a single "fox"
    assert set(found) == {0, 1}
    assert await search(engine, "market") == [3]  # "markets" stems to the same word
    assert await search(engine, "quantum") == []
    assert await search(engine, "!!! ??? ---") == []  # no words: no hits, no syntax error
    assert await search(engine, 'fox" OR NOT (dog') != []  # user text is never query syntax


async def test_scoped_to_org_and_namespace(engine: AsyncEngine) -> None:
    await seed(engine)
    assert await search(engine, "fox", org="other") == []
    assert await search(engine, "fox", namespace="other") == []


async def test_filters_mean_what_they_mean_on_vector_stores(engine: AsyncEngine) -> None:
    await seed(engine)
    for raw, expected in FILTER_CASES:
        assert set(await search(engine, "shared", raw=raw)) == expected, raw
