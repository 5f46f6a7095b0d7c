"""Behind PgBouncer in transaction mode (as on Supabase / Neon poolers), everything works:
no prepared statement or session state outlives a transaction, in our queries or in the
LangGraph checkpointer's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langgraph_sdk import get_client

from tests.conftest import pg_admin_url
from tests.servers import PgBouncer, RedisServer, Server, WorkerProcess, postgres_database

pytestmark = [pytest.mark.postgres]


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not PgBouncer.available() or not RedisServer.available():
        pytest.skip("pgbouncer / redis-server not installed: run `make test`, which installs them")
    base = tmp_path_factory.mktemp("pooler")
    with postgres_database(pg_admin_url()) as direct:
        bouncer = PgBouncer(direct)
        bouncer.start()
        redis = RedisServer(base / "redis")
        redis.start()
        url = bouncer.url(direct.rsplit("/", 1)[1])
        common = {"database_url": url, "redis_url": redis.url}
        api = Server(base / "api", no_worker=True, **common)  # type: ignore[arg-type]
        worker = WorkerProcess(base / "worker", **common)  # type: ignore[arg-type]
        try:
            api.start()
            worker.start()
            yield api
        finally:
            api.stop()
            worker.stop()
            redis.stop()
            bouncer.stop()


async def test_runs_state_and_store_through_the_pooler(pooled: Server) -> None:
    client = get_client(url=pooled.url)
    for _ in range(3):  # more transactions than one server connection's worth
        tid = (await client.threads.create())["thread_id"]
        parts = [p async for p in client.runs.stream(tid, "steps", input={}, stream_mode="updates")]
        assert [next(iter(p.data)) for p in parts if p.event == "updates"] == ["s1", "s2", "s3", "s4", "s5"]
        history = await client.threads.get_history(tid)
        assert len(history) == 7
    # Human in the loop: interrupt, then resume from the stored checkpoint.
    tid = (await client.threads.create())["thread_id"]
    out = await client.runs.wait(tid, "approval", input={"amount": 500})
    assert "__interrupt__" in out
    out = await client.runs.wait(tid, "approval", command={"resume": {"approved": True, "by": "ann"}})
    assert out["decided_by"] == "ann"
    await client.store.put_item(["docs", "a"], "k1", {"v": 1})
    assert (await client.store.get_item(["docs", "a"], "k1"))["value"] == {"v": 1}
    await client.http.client.aclose()
    assert "prepared statement" not in pooled.logs()
