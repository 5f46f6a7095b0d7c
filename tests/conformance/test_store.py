"""The LangGraph store API on SQL: the same behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langgraph.store.base import InvalidNamespaceError

from nexod.db.engine import create_engine, sessionmaker
from nexod.db.migrate import upgrade
from nexod.errors import InvalidInput
from nexod.settings import Settings
from nexod.store.sql import Stores
from tests.conftest import pg_admin_url
from tests.servers import postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    async def _open(settings: Settings) -> AsyncIterator[Stores]:
        engine = create_engine(settings)
        await upgrade(engine)
        try:
            yield Stores(sessionmaker(engine))
        finally:
            await engine.dispose()

    if request.param == "postgres":
        with postgres_database(pg_admin_url()) as url:
            async for s in _open(Settings(data_dir=tmp_path, database_url=url)):
                yield s
    else:
        async for s in _open(Settings(data_dir=tmp_path)):
            yield s


async def test_put_get_overwrite_delete(stores: Stores) -> None:
    store = stores.for_org("a")
    await store.aput(("docs", "u1"), "k", {"v": 1})
    first = await store.aget(("docs", "u1"), "k")
    assert first is not None and first.value == {"v": 1} and first.namespace == ("docs", "u1")
    await store.aput(("docs", "u1"), "k", {"v": 2})
    second = await store.aget(("docs", "u1"), "k")
    assert second is not None and second.value == {"v": 2}
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at
    await store.adelete(("docs", "u1"), "k")
    assert await store.aget(("docs", "u1"), "k") is None


async def test_tenants_never_see_each_other(stores: Stores) -> None:
    await stores.for_org("a").aput(("shared",), "k", {"owner": "a"})
    await stores.for_org("b").aput(("shared",), "k", {"owner": "b"})
    a = await stores.for_org("a").aget(("shared",), "k")
    assert a is not None and a.value == {"owner": "a"}
    assert [i.value for i in await stores.for_org("b").asearch(("shared",))] == [{"owner": "b"}]
    assert await stores.for_org("c").alist_namespaces() == []


async def test_search_prefix_filters_and_paging(stores: Stores) -> None:
    store = stores.for_org("a")
    for i in range(5):
        await store.aput(("users", f"u{i}", "prefs"), "p", {"n": i, "tag": "even" if i % 2 == 0 else "odd"})
    await store.aput(("users_archive",), "p", {"n": 99, "tag": "even"})  # not under ("users",)
    under = await store.asearch(("users",), limit=10)
    assert sorted(i.value["n"] for i in under) == [0, 1, 2, 3, 4]
    evens = await store.asearch(("users",), filter={"tag": "even"})
    assert sorted(i.value["n"] for i in evens) == [0, 2, 4]
    ranged = await store.asearch(("users",), filter={"n": {"$gte": 1, "$lt": 3}})
    assert sorted(i.value["n"] for i in ranged) == [1, 2]
    not_two = await store.asearch(("users",), filter={"n": {"$ne": 2}})
    assert 2 not in [i.value["n"] for i in not_two]
    page1 = await store.asearch(("users",), limit=2)
    page2 = await store.asearch(("users",), limit=2, offset=2)
    assert len(page1) == 2 and len(page2) == 2
    assert {i.namespace for i in page1}.isdisjoint({i.namespace for i in page2})
    with pytest.raises(InvalidInput):
        await store.asearch(("users",), filter={"n": {"$near": 1}})


async def test_list_namespaces(stores: Stores) -> None:
    store = stores.for_org("a")
    for ns in [("a", "b", "c"), ("a", "b", "d"), ("a", "x", "c"), ("z",)]:
        await store.aput(ns, "k", {})
    assert await store.alist_namespaces(prefix=("a", "b")) == [("a", "b", "c"), ("a", "b", "d")]
    assert await store.alist_namespaces(suffix=("c",)) == [("a", "b", "c"), ("a", "x", "c")]
    assert await store.alist_namespaces(prefix=("a", "*", "c")) == [("a", "b", "c"), ("a", "x", "c")]
    assert await store.alist_namespaces(max_depth=1) == [("a",), ("z",)]
    assert await store.alist_namespaces(limit=1, offset=1) == [("a", "b", "d")]


async def test_ttl_expires_items(stores: Stores) -> None:
    store = stores.for_org("a")
    await store.aput(("tmp",), "short", {"x": 1}, ttl=0.02)  # minutes: 1.2 s
    await store.aput(("tmp",), "forever", {"x": 2})
    assert await store.aget(("tmp",), "short") is not None
    await asyncio.sleep(1.5)
    assert await store.aget(("tmp",), "short") is None
    assert [i.key for i in await store.asearch(("tmp",))] == ["forever"]


async def test_bad_namespace_is_rejected(stores: Stores) -> None:
    for bad in [("has.dot",), ("",)]:
        with pytest.raises((InvalidInput, InvalidNamespaceError)):
            await stores.for_org("a").aput(bad, "k", {})
    assert await stores.for_org("a").alist_namespaces() == []
