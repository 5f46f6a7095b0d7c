"""Durable runs: a server killed mid-run finishes the run after a restart, and a client that
rejoins with Last-Event-ID sees every event exactly once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from tests.conftest import pg_admin_url
from tests.servers import Server, postgres_database

STEPS = ["s1", "s2", "s3", "s4", "s5"]


@pytest.fixture
def crash_server(backend: str, tmp_path: Path) -> Iterator[Server]:
    """A server of our own, since this test kills it. A short lease lets PostgreSQL mode
    notice the dead worker quickly (embedded mode re-queues on start)."""
    env = {"NEXOD_LEASE_SECONDS": "2"}
    if backend == "postgres":
        with postgres_database(pg_admin_url()) as url:
            srv = Server(tmp_path, database_url=url, extra_env=env)
            yield srv
            srv.stop()
    else:
        srv = Server(tmp_path, extra_env=env)
        yield srv
        srv.stop()


async def test_sigkill_mid_run_resumes_from_checkpoint(crash_server: Server) -> None:
    crash_server.start()
    client = get_client(url=crash_server.url)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "steps", input={}, stream_mode=["updates"],
                                   config={"configurable": {"delay": 1.0}})
    seen: list[tuple[int, str, object]] = []

    async def follow(last_event_id: str) -> None:
        async for part in client.runs.join_stream(tid, run["run_id"], last_event_id=last_event_id):
            seen.append((int(part.id), part.event, part.data))
            if sum(1 for _, ev, _ in seen if ev == "updates") == 2 and crash_server.proc:
                return

    await asyncio.wait_for(follow("-1"), 30)
    await asyncio.sleep(0.3)  # s3 is now running; s2's checkpoint is written
    crash_server.kill()
    crash_server.start()
    client = get_client(url=crash_server.url)
    last_id = str(seen[-1][0])
    async for part in client.runs.join_stream(tid, run["run_id"], last_event_id=last_id):
        seen.append((int(part.id), part.event, part.data))

    ids = [i for i, _, _ in seen]
    assert ids == sorted(set(ids)), f"event ids repeated or out of order: {ids}"
    updates = [next(iter(data)) for _, ev, data in seen if ev == "updates"]  # type: ignore[call-overload]
    assert updates == STEPS, updates
    attempts = [data["attempt"] for _, ev, data in seen if ev == "metadata"]  # type: ignore[index]
    assert attempts == [1, 2]
    final = await client.runs.get(tid, run["run_id"])
    assert final["status"] == "success"
    state = await client.threads.get_state(tid)
    # Each step ran to completion exactly once: s1 and s2 were not executed again.
    assert state["values"]["done"] == STEPS
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_restart_keeps_threads_runs_and_events(crash_server: Server) -> None:
    crash_server.start()
    client = get_client(url=crash_server.url)
    thread = await client.threads.create(metadata={"keep": True})
    out = await client.runs.wait(thread["thread_id"], "approval", input={"amount": 500})
    assert "__interrupt__" in out
    crash_server.stop()
    crash_server.start()
    client = get_client(url=crash_server.url)
    got = await client.threads.get(thread["thread_id"])
    assert got["status"] == "interrupted" and got["metadata"]["keep"] is True
    out = await client.runs.wait(thread["thread_id"], "approval", command={"resume": {"approved": True, "by": "eve"}})
    assert out["decided_by"] == "eve"
    runs = await client.runs.list(thread["thread_id"])
    assert len(runs) == 2
    replay = [p async for p in client.runs.join_stream(thread["thread_id"], runs[-1]["run_id"], last_event_id="-1")]
    assert replay[0].event == "metadata"


async def test_run_out_of_attempts_ends_in_error_with_the_reason(backend: str, tmp_path: Path) -> None:
    env = {"NEXOD_LEASE_SECONDS": "2", "NEXOD_MAX_ATTEMPTS": "1"}
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_database(pg_admin_url())) if backend == "postgres" else None
        srv = Server(tmp_path, database_url=url, extra_env=env)
        stack.callback(srv.stop)
        srv.start()
        client = get_client(url=srv.url)
        tid = (await client.threads.create())["thread_id"]
        run = await client.runs.create(tid, "steps", input={}, config={"configurable": {"delay": 1.0}})
        async for part in client.runs.join_stream(tid, run["run_id"], last_event_id="-1"):
            if part.event == "values":  # it is running
                break
        srv.kill()
        srv.start()
        client = get_client(url=srv.url)
        final = None
        for _ in range(100):
            final = await client.runs.get(tid, run["run_id"])
            if final["status"] != "running":
                break
            await asyncio.sleep(0.1)
        assert final is not None and final["status"] == "error"
        joined = await client.runs.join(tid, run["run_id"])
        assert joined["__error__"]["error"] == "RunAttemptsExceeded"
        assert "1 times" in joined["__error__"]["message"]
        assert (await client.threads.get(tid))["status"] == "error"
