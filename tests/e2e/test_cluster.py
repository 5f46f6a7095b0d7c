"""Production mode: two API processes and two worker processes on one PostgreSQL and one Redis.

No process is special: a run created on one API process streams and cancels from the other,
survives the SIGKILL or SIGTERM of the worker running it, and a thread never runs two runs at
once however the creates race. Redis here is a private server, so a test can take it away.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError

from tests.conftest import pg_admin_url
from tests.servers import RedisServer, Server, WorkerProcess, postgres_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
STEPS = ["s1", "s2", "s3", "s4", "s5"]
ENV = {
    "NEXOD_LEASE_SECONDS": "3",  # a dead worker's run is taken over within seconds
    "NEXOD_SHUTDOWN_GRACE": "1",
    "NEXOD_POLL_INTERVAL": "0.5",
}


@dataclass
class Cluster:
    db_url: str
    redis: RedisServer
    apis: list[Server]
    workers: list[WorkerProcess]
    clients: list[LangGraphClient] = field(default_factory=list)

    async def db(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(self.db_url) as conn:
            return await (await conn.execute(sql, args)).fetchall()

    async def owner_of(self, run_id: str) -> WorkerProcess:
        """The worker process holding the run's lease."""
        rows = await self.db("SELECT lease_owner FROM agent_sessions WHERE run_id = %s", run_id)
        owner = rows[0][0]
        assert owner, f"run {run_id} is not running"
        pid = int(owner.split(":")[1])
        return next(w for w in self.workers if w.pid == pid)

    def heal(self) -> None:
        """Restart whatever a test stopped, so the next test starts from a full cluster."""
        if self.redis.proc is None or self.redis.proc.poll() is not None:
            self.redis.start()
        for w in self.workers:
            if w.proc is None or w.proc.poll() is not None:
                w.start()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not RedisServer.available():
        pytest.skip("redis-server is not installed: run `make test`, which installs it")
    base = tmp_path_factory.mktemp("cluster")
    redis = RedisServer(base / "redis")
    redis.start()
    with postgres_database(pg_admin_url()) as url:
        common = {"database_url": url, "redis_url": redis.url, "extra_env": ENV}
        apis = [Server(base / f"api{i}", no_worker=True, **common) for i in range(2)]  # type: ignore[arg-type]
        workers = [WorkerProcess(base / f"worker{i}", **common) for i in range(2)]  # type: ignore[arg-type]
        apis[0].start()  # the first one migrates the database
        for proc in [apis[1], *workers]:
            proc.start()
        c = Cluster(url, redis, apis, workers)
        try:
            yield c
        finally:
            for proc in [*apis, *workers]:
                proc.stop()
            redis.stop()


@pytest.fixture
async def clients(cluster: Cluster) -> AsyncIterator[tuple[LangGraphClient, LangGraphClient]]:
    cluster.heal()
    a, b = (get_client(url=api.url) for api in cluster.apis)
    yield a, b
    for c in (a, b):
        await c.http.client.aclose()


async def _updates(client: LangGraphClient, tid: str, rid: str, last_event_id: str = "-1",
                   stop_after: int | None = None) -> list[tuple[int, str, Any]]:
    seen: list[tuple[int, str, Any]] = []
    async for part in client.runs.join_stream(tid, rid, last_event_id=last_event_id):
        seen.append((int(part.id), part.event, part.data))
        if stop_after is not None and sum(ev == "updates" for _, ev, _ in seen) >= stop_after:
            break
    return seen


def _steps(seen: list[tuple[int, str, Any]]) -> list[str]:
    return [next(iter(data)) for _, ev, data in seen if ev == "updates"]


async def test_stream_from_another_api_process(clients: tuple[LangGraphClient, LangGraphClient]) -> None:
    api1, api2 = clients
    thread = await api1.threads.create()
    tid = thread["thread_id"]
    run = await api1.runs.create(tid, "steps", input={}, stream_mode=["updates"],
                                 config={"configurable": {"delay": 0.2}})
    seen = await asyncio.wait_for(_updates(api2, tid, run["run_id"]), 30)
    assert _steps(seen) == STEPS
    ids = [i for i, _, _ in seen]
    assert ids == sorted(set(ids))
    assert (await api2.runs.get(tid, run["run_id"]))["status"] == "success"


async def test_live_stream_relayed_by_the_other_api_process(
    clients: tuple[LangGraphClient, LangGraphClient],
) -> None:
    """A client on API 2 creating a streamed run whose worker is reached only through API 1's
    queue: events arrive live, not replayed at the end."""
    api1, api2 = clients
    tid = (await api1.threads.create())["thread_id"]
    arrivals: list[float] = []
    loop = asyncio.get_running_loop()
    async for part in api2.runs.stream(tid, "steps", input={}, stream_mode="updates",
                                       config={"configurable": {"delay": 0.4}}):
        if part.event == "updates":
            arrivals.append(loop.time())
    assert len(arrivals) == len(STEPS)
    # Spread over the run (~2 s), not delivered in one burst at the end.
    assert arrivals[-1] - arrivals[0] > 1.0, arrivals


async def test_cancel_from_another_api_process(
    cluster: Cluster, clients: tuple[LangGraphClient, LangGraphClient],
) -> None:
    api1, api2 = clients
    tid = (await api1.threads.create())["thread_id"]
    run = await api1.runs.create(tid, "steps", input={}, stream_mode=["updates"],
                                 config={"configurable": {"delay": 2.0}})
    await asyncio.wait_for(_updates(api1, tid, run["run_id"], stop_after=1), 30)
    await api2.runs.cancel(tid, run["run_id"], wait=True)
    final = await api1.runs.get(tid, run["run_id"])
    assert final["status"] == "interrupted"
    state = await api1.threads.get_state(tid)
    assert 1 <= len(state["values"]["done"]) < len(STEPS)
    assert (await api1.threads.get(tid))["status"] != "busy"


async def test_sigkill_of_the_worker_running_a_run(
    cluster: Cluster, clients: tuple[LangGraphClient, LangGraphClient],
) -> None:
    api1, api2 = clients
    tid = (await api1.threads.create())["thread_id"]
    run = await api1.runs.create(tid, "steps", input={}, stream_mode=["updates"],
                                 config={"configurable": {"delay": 1.0}})
    rid = run["run_id"]
    live = asyncio.create_task(_updates(api2, tid, rid))  # stays connected throughout
    first = await asyncio.wait_for(_updates(api1, tid, rid, stop_after=2), 30)
    await asyncio.sleep(0.3)  # s3 is running; s2's checkpoint is written
    victim = await cluster.owner_of(rid)
    victim.kill()
    rejoined = await asyncio.wait_for(_updates(api1, tid, rid, last_event_id=str(first[-1][0])), 60)
    seen = first + rejoined
    ids = [i for i, _, _ in seen]
    assert ids == sorted(set(ids)), f"event ids repeated or out of order: {ids}"
    assert _steps(seen) == STEPS
    assert [d["attempt"] for _, ev, d in seen if ev == "metadata"] == [1, 2]
    live_seen = await asyncio.wait_for(live, 30)
    assert [i for i, _, _ in live_seen] == ids, "the client that never disconnected saw a different stream"
    assert (await api2.runs.get(tid, rid))["status"] == "success"
    state = await api2.threads.get_state(tid)
    assert state["values"]["done"] == STEPS  # s1 and s2 did not run again
    survivor = next(w for w in cluster.workers if w is not victim)
    owner = (await cluster.db("SELECT lease_owner, attempt FROM agent_sessions WHERE run_id = %s", rid))[0]
    assert owner == (None, 2)
    assert "runs_requeued" in survivor.logs()


async def test_sigterm_hands_runs_over_after_the_grace_period(
    cluster: Cluster, clients: tuple[LangGraphClient, LangGraphClient],
) -> None:
    api1, api2 = clients
    tid = (await api1.threads.create())["thread_id"]
    run = await api1.runs.create(tid, "steps", input={}, stream_mode=["updates"],
                                 config={"configurable": {"delay": 1.5}})
    rid = run["run_id"]
    first = await asyncio.wait_for(_updates(api1, tid, rid, stop_after=1), 30)
    victim = await cluster.owner_of(rid)
    code = await asyncio.to_thread(victim.stop)  # SIGTERM; grace is 1 s, the step takes 1.5 s
    assert code == 0, victim.logs()[-2000:]
    assert "runs_released" in victim.logs()
    rest = await asyncio.wait_for(_updates(api2, tid, rid, last_event_id=str(first[-1][0])), 60)
    seen = first + rest
    ids = [i for i, _, _ in seen]
    assert ids == sorted(set(ids))
    assert _steps(seen) == STEPS
    assert (await api2.runs.get(tid, rid))["status"] == "success"
    assert (await api2.threads.get_state(tid))["values"]["done"] == STEPS


@pytest.mark.parametrize("strategy", ["interrupt", "rollback"])
async def test_interrupt_and_rollback_reach_the_worker_from_another_api_process(
    cluster: Cluster, clients: tuple[LangGraphClient, LangGraphClient], strategy: str,
) -> None:
    api1, api2 = clients
    tid = (await api1.threads.create())["thread_id"]
    first = await api1.runs.create(tid, "steps", input={}, stream_mode=["updates"],
                                   config={"configurable": {"delay": 1.0}})
    await asyncio.wait_for(_updates(api1, tid, first["run_id"], stop_after=1), 30)
    second = await api2.runs.create(tid, "steps", input={}, multitask_strategy=strategy,  # type: ignore[arg-type]
                                    config={"configurable": {"delay": 0.05}})
    await asyncio.wait_for(api2.runs.join(tid, second["run_id"]), 30)
    assert (await api1.runs.get(tid, second["run_id"]))["status"] == "success"
    done = (await api1.threads.get_state(tid))["values"]["done"]
    if strategy == "rollback":
        with pytest.raises(NotFoundError):
            await api1.runs.get(tid, first["run_id"])
        assert done == STEPS  # the first run's progress was undone
    else:
        assert (await api1.runs.get(tid, first["run_id"]))["status"] == "interrupted"
        assert 1 <= len(done) - len(STEPS) < len(STEPS)  # its progress was kept


async def _race(clients: tuple[LangGraphClient, LangGraphClient], tid: str, strategy: str,
                delay: float) -> tuple[list[dict[str, Any]], int]:
    async def one(i: int) -> dict[str, Any] | None:
        try:
            return await clients[i % 2].runs.create(  # type: ignore[return-value]
                tid, "steps", input={}, multitask_strategy=strategy,  # type: ignore[arg-type]
                config={"configurable": {"delay": delay}},
            )
        except ConflictError:
            return None

    results = await asyncio.gather(*(one(i) for i in range(20)))
    accepted = [r for r in results if r is not None]
    return accepted, len(results) - len(accepted)


async def test_race_reject_accepts_exactly_one(
    cluster: Cluster, clients: tuple[LangGraphClient, LangGraphClient],
) -> None:
    tid = (await clients[0].threads.create())["thread_id"]
    accepted, rejected = await _race(clients, tid, "reject", delay=0.3)
    assert (len(accepted), rejected) == (1, 19)
    await clients[1].runs.join(tid, accepted[0]["run_id"])
    runs = await clients[0].runs.list(tid)
    assert [r["status"] for r in runs] == ["success"]
    assert (await clients[0].threads.get_state(tid))["values"]["done"] == STEPS


async def test_race_enqueue_runs_all_one_at_a_time(
    cluster: Cluster, clients: tuple[LangGraphClient, LangGraphClient],
) -> None:
    tid = (await clients[0].threads.create())["thread_id"]
    accepted, rejected = await _race(clients, tid, "enqueue", delay=0.02)
    assert (len(accepted), rejected) == (20, 0)
    for r in accepted:
        await asyncio.wait_for(clients[1].runs.join(tid, r["run_id"]), 60)
    rows = await cluster.db(
        "SELECT run_id, status, started_at, ended_at, lease_owner FROM agent_sessions "
        "WHERE thread_id = %s ORDER BY started_at", tid,
    )
    assert [r[1] for r in rows] == ["success"] * 20
    for before, after in itertools.pairwise(rows):
        assert before[3] <= after[2], f"runs {before[0]} and {after[0]} overlapped"
    assert [r[0] for r in rows] == sorted(r["run_id"] for r in accepted), "not in arrival order"
    # Each run appended s1..s5 to the thread: any interleaving would show in the order.
    assert (await clients[0].threads.get_state(tid))["values"]["done"] == STEPS * 20
    owners = await cluster.db("SELECT DISTINCT lease_owner FROM agent_sessions WHERE thread_id = %s", tid)
    assert owners == [(None,)]


async def test_ready_reports_workers_and_queue(
    cluster: Cluster, clients: tuple[LangGraphClient, LangGraphClient],
) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(50):  # a restarted worker's first heartbeat
            body = (await http.get(f"{cluster.apis[1].url}/ready")).json()
            if sum(w["alive"] for w in body["workers"]) == 2:
                break
            await asyncio.sleep(0.2)
        resp = await http.get(f"{cluster.apis[1].url}/ready")
    assert resp.status_code == 200
    body = resp.json()
    assert body["ready"] is True and body["checks"] == {"database": "ok", "redis": "ok"}
    alive = {w["pid"] for w in body["workers"] if w["alive"]}
    assert alive == {w.pid for w in cluster.workers}
    assert set(body["queue"]) >= {"pending", "running", "scheduled", "oldest_pending_seconds"}


async def test_redis_outage_loses_no_run_and_streams_resume(
    cluster: Cluster, clients: tuple[LangGraphClient, LangGraphClient],
) -> None:
    api1, api2 = clients
    tid = (await api1.threads.create())["thread_id"]
    run = await api1.runs.create(tid, "steps", input={}, stream_mode=["updates"],
                                 config={"configurable": {"delay": 0.6}})
    rid = run["run_id"]
    live = asyncio.create_task(_updates(api2, tid, rid))
    await asyncio.sleep(0.8)
    cluster.redis.stop()
    try:
        async with httpx.AsyncClient() as http:
            resp = await http.get(f"{cluster.apis[0].url}/ready")
        assert resp.status_code == 503 and resp.json()["checks"]["redis"].startswith("unavailable")
        # New runs during the outage: created, claimed by polling workers, finished.
        others = [await api1.runs.create((await api1.threads.create())["thread_id"], "steps", input={})
                  for _ in range(3)]
        for r in others:
            await asyncio.wait_for(api2.runs.join(r["thread_id"], r["run_id"]), 30)
            assert (await api2.runs.get(r["thread_id"], r["run_id"]))["status"] == "success"
    finally:
        cluster.redis.start()
    seen = await asyncio.wait_for(live, 60)
    ids = [i for i, _, _ in seen]
    assert ids == sorted(set(ids))
    assert _steps(seen) == STEPS
    # Back to live delivery: a stream after the outage gets events as they happen.
    tid2 = (await api1.threads.create())["thread_id"]
    loop = asyncio.get_running_loop()
    for _ in range(50):
        async with httpx.AsyncClient() as http:
            if (await http.get(f"{cluster.apis[1].url}/ready")).status_code == 200:
                break
        await asyncio.sleep(0.2)
    arrivals = [loop.time() async for p in api2.runs.stream(
        tid2, "steps", input={}, stream_mode="updates", config={"configurable": {"delay": 0.4}})
        if p.event == "updates"]
    assert len(arrivals) == len(STEPS) and arrivals[-1] - arrivals[0] > 1.0


def test_worker_refuses_sqlite(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXOD_")}
    out = subprocess.run([sys.executable, "-m", "nexod.cli", "worker"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "NEXOD_DATABASE_URL" in out.stderr




def test_status_command_lists_workers_and_queue(cluster: Cluster) -> None:
    import subprocess
    import sys

    cluster.heal()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXOD_")}
    env["NEXOD_DATABASE_URL"] = cluster.db_url
    out = subprocess.run([sys.executable, "-m", "nexod.cli", "status"], env=env, capture_output=True,
                         text=True, timeout=60, cwd=cluster.apis[0].data_dir)
    assert out.returncode == 0, out.stderr
    for w in cluster.workers:
        assert f":{w.pid}:" in out.stdout, out.stdout
    assert "queue:" in out.stdout and "due" in out.stdout
