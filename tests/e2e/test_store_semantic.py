"""LangGraph store semantic search (``store.index`` in langgraph.json) through langgraph-sdk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import APIStatusError

from tests.conftest import pg_admin_url
from tests.servers import Server, postgres_database


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def indexed_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp(f"indexed-{request.param}")
    config = data / "langgraph.json"
    config.write_text(json.dumps({"graphs": {}, "store": {"index": {"fields": ["text"], "dims": 384}}}))
    if request.param == "postgres":
        with postgres_database(pg_admin_url()) as url:
            srv = Server(data, database_url=url, config=config)
            srv.start()
            yield srv
            srv.stop()
    else:
        srv = Server(data, config=config)
        srv.start()
        yield srv
        srv.stop()


@pytest.fixture
async def sdk(indexed_server: Server) -> AsyncIterator[LangGraphClient]:
    c = get_client(url=indexed_server.url)
    yield c
    await c.http.client.aclose()


MEMORIES = {
    ("users", "alice", "memories"): {
        "m1": "Alice prefers dark mode in every editor.",
        "m2": "Alice is allergic to peanuts.",
        "m3": "Alice's favourite programming language is Rust.",
    },
    ("users", "bob", "memories"): {
        "m1": "Bob likes a light colour theme.",
    },
}


async def test_semantic_search_ranks_by_meaning(sdk: LangGraphClient) -> None:
    for ns, items in MEMORIES.items():
        for key, text in items.items():
            await sdk.store.put_item(list(ns), key, {"text": text, "kind": "memory"})
    await sdk.store.put_item(["users", "alice", "memories"], "hidden", {"text": "Alice hates the dark theme"},
                             index=False)
    found = (await sdk.store.search_items(["users", "alice"], query="what UI theme does she like?", limit=3))["items"]
    assert found[0]["key"] == "m1" and found[0]["namespace"] == ["users", "alice", "memories"]
    assert all(i["namespace"][1] == "alice" for i in found)
    assert "hidden" not in {i["key"] for i in found}  # index=False: stored, not embedded
    assert found[0]["score"] > found[-1]["score"]
    everyone = (await sdk.store.search_items(["users"], query="colour theme preferences", limit=2))["items"]
    assert {(i["namespace"][1], i["key"]) for i in everyone} == {("alice", "m1"), ("bob", "m1")}
    food = (await sdk.store.search_items(["users"], query="food allergy", limit=1, filter={"kind": "memory"}))
    assert food["items"][0]["key"] == "m2"
    # Replacing an item re-embeds it; deleting it removes it from the results.
    await sdk.store.put_item(["users", "alice", "memories"], "m2", {"text": "Alice walks her dog every morning."})
    walk = (await sdk.store.search_items(["users", "alice"], query="pets and exercise", limit=1))["items"]
    assert walk[0]["key"] == "m2"
    await sdk.store.delete_item(["users", "alice", "memories"], "m2")
    after = (await sdk.store.search_items(["users", "alice"], query="pets and exercise", limit=5))["items"]
    assert "m2" not in {i["key"] for i in after}
    plain = (await sdk.store.search_items(["users", "bob"]))["items"]  # no query: the filter path as before
    assert [i["key"] for i in plain] == ["m1"] and plain[0].get("score") is None


async def test_bad_index_fields_are_422(sdk: LangGraphClient) -> None:
    with pytest.raises(APIStatusError) as err:
        await sdk.store.put_item(["x"], "k", {"text": "t"}, index=[])
    assert err.value.response.status_code == 422


def test_dims_mismatch_stops_start_up(tmp_path: Path) -> None:
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {}, "store": {"index": {"fields": ["$"], "dims": 1536}}}))
    srv = Server(tmp_path, config=config)
    with pytest.raises(RuntimeError, match=r"store\.index\.dims is 1536"):
        srv.start(timeout=30)
    srv.stop()
