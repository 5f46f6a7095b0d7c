"""Storage stays bounded: idle threads past NEXOD_THREAD_TTL are deleted with their runs and
checkpoints; busy threads are never touched; NEXOD_CHECKPOINT_KEEP trims history."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError

from tests.conftest import pg_admin_url
from tests.servers import Server, postgres_database

EXPIRING = {"NEXOD_THREAD_TTL": "0.03", "NEXOD_SWEEP_INTERVAL": "0.3"}  # 1.8 s
PRUNING = {"NEXOD_CHECKPOINT_KEEP": "2", "NEXOD_SWEEP_INTERVAL": "0.3"}


@pytest.fixture
def sweeping_server(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    env = PRUNING if "pruned" in request.node.name else EXPIRING
    if backend == "postgres":
        with postgres_database(pg_admin_url()) as url:
            srv = Server(tmp_path, database_url=url, extra_env=env)
            srv.start()
            yield srv
            srv.stop()
    else:
        srv = Server(tmp_path, extra_env=env)
        srv.start()
        yield srv
        srv.stop()


async def test_idle_threads_expire_busy_ones_stay(sweeping_server: Server) -> None:
    client = get_client(url=sweeping_server.url)
    idle = (await client.threads.create())["thread_id"]
    await client.runs.wait(idle, "steps", input={})
    busy = (await client.threads.create())["thread_id"]
    long_run = await client.runs.create(busy, "steps", input={}, config={"configurable": {"delay": 1.0}})
    for _ in range(60):
        await asyncio.sleep(0.2)
        try:
            await client.threads.get(idle)
        except NotFoundError:
            break
    else:
        pytest.fail("the idle thread outlived its TTL")
    assert (await client.threads.get(busy))["status"] == "busy"  # older than the TTL, but busy
    await client.runs.join(busy, long_run["run_id"])
    assert (await client.runs.get(busy, long_run["run_id"]))["status"] == "success"
    fresh = (await client.threads.create())["thread_id"]
    await asyncio.sleep(0.9)  # a few sweeps: younger than the TTL, so kept
    assert (await client.threads.get(fresh))["thread_id"] == fresh
    with pytest.raises(NotFoundError):
        await client.threads.get_state(idle)
    await client.http.client.aclose()


async def test_checkpoint_history_is_pruned(sweeping_server: Server) -> None:
    client = get_client(url=sweeping_server.url)
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "steps", input={})
    before = (await client.threads.get_state(tid))["values"]
    for _ in range(30):
        history = await client.threads.get_history(tid, limit=100)
        if len(history) <= 2:
            break
        await asyncio.sleep(0.2)
    assert len(history) == 2, [h["checkpoint"]["checkpoint_id"] for h in history]
    assert (await client.threads.get_state(tid))["values"] == before
    # The thread goes on from its pruned history.
    await client.runs.wait(tid, "steps", input={})
    assert (await client.threads.get_state(tid))["values"]["done"] == before["done"] * 2
    await client.http.client.aclose()
