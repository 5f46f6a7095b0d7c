"""Checkpoint pruning keeps the newest N root checkpoints, on SQLite and on PostgreSQL.

Real LangGraph graphs (a subgraph called per run, a persistent ``checkpointer=True``
subgraph) run on the savers Nexod opens; pruning must leave the thread's latest state as it
was, keep exactly N root checkpoints with the subgraph checkpoints that belong to them, and
leave no writes (nor, on PostgreSQL, blobs) behind for what it deleted.
"""

from __future__ import annotations

import operator
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple, empty_checkpoint
from langgraph.graph import END, START, StateGraph

from nexod.graphs.cache import CachedCheckpointSaver
from nexod.graphs.checkpointer import Checkpoints, open_checkpoints
from nexod.graphs.prune import Row, doomed
from nexod.settings import Settings
from tests.conftest import pg_admin_url
from tests.servers import postgres_database


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    out: str


class Child(TypedDict, total=False):
    out: str  # the only key shared with the parent: the child never sees `log`


def _child(name: str) -> Any:
    b: Any = StateGraph(Child)
    b.add_node(f"{name}1", lambda s: {"out": f"{name}1"})
    b.add_node(f"{name}2", lambda s: {"out": f"{s.get('out')},{name}2"})
    b.add_edge(START, f"{name}1")
    b.add_edge(f"{name}1", f"{name}2")
    b.add_edge(f"{name}2", END)
    return b


def build() -> Any:
    b: Any = StateGraph(State)
    b.add_node("plan", lambda s: {"log": ["plan"]})
    b.add_node("sub", _child("c").compile())  # a new namespace per call: "sub:<task id>"
    b.add_node("mem", _child("m").compile(checkpointer=True))  # one namespace: "mem"
    b.add_edge(START, "plan")
    b.add_edge("plan", "sub")
    b.add_edge("sub", "mem")
    b.add_edge("mem", END)
    return b


GRAPH = build()


def cfg(thread_id: str, ns: str | None = "") -> RunnableConfig:
    conf: dict[str, Any] = {"thread_id": thread_id}
    if ns is not None:
        conf["checkpoint_ns"] = ns
    return {"configurable": conf}


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database(pg_admin_url()) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def cps(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Checkpoints]:
    if request.param == "postgres":
        settings = Settings(data_dir=tmp_path, database_url=request.getfixturevalue("pg_url"))
    else:
        settings = Settings(data_dir=tmp_path)
    async with open_checkpoints(settings) as c:
        yield c


async def run(cps: Checkpoints, thread_id: str, times: int) -> None:
    graph = GRAPH.compile(checkpointer=cps.saver)
    for i in range(times):
        await graph.ainvoke({"log": [f"run{i}"]}, cfg(thread_id))


async def history(cps: Checkpoints, thread_id: str, ns: str | None = None) -> list[CheckpointTuple]:
    return [t async for t in cps.saver.alist(cfg(thread_id, ns))]


async def orphans(cps: Checkpoints, thread_id: str) -> tuple[int, int]:
    """Writes of checkpoints that are gone, and (PostgreSQL) blobs no checkpoint references."""
    saver: Any = cps.inner
    if cps.kind == "sqlite":
        cur = await saver.conn.execute(
            "SELECT count(*) FROM writes w WHERE thread_id = ? AND NOT EXISTS (SELECT 1 FROM "
            "checkpoints c WHERE c.thread_id = w.thread_id AND c.checkpoint_ns = w.checkpoint_ns"
            " AND c.checkpoint_id = w.checkpoint_id)", (thread_id,))
        return int((await cur.fetchone())[0]), 0
    async with saver.conn.connection() as conn:
        w = await (await conn.execute(
            "SELECT count(*) AS n FROM checkpoint_writes w WHERE thread_id = %s AND NOT EXISTS "
            "(SELECT 1 FROM checkpoints c WHERE c.thread_id = w.thread_id AND "
            "c.checkpoint_ns = w.checkpoint_ns AND c.checkpoint_id = w.checkpoint_id)",
            (thread_id,))).fetchone()
        b = await (await conn.execute(
            "SELECT count(*) AS n FROM checkpoint_blobs b WHERE thread_id = %s AND NOT EXISTS "
            "(SELECT 1 FROM checkpoints c WHERE c.thread_id = b.thread_id AND "
            "c.checkpoint_ns = b.checkpoint_ns AND "
            "c.checkpoint -> 'channel_versions' ->> b.channel = b.version)", (thread_id,))).fetchone()
        return int(w["n"]), int(b["n"])


async def test_keeps_the_newest_roots_with_their_subgraphs(cps: Checkpoints) -> None:
    tid, small = str(uuid.uuid4()), str(uuid.uuid4())
    await run(cps, tid, 3)
    await run(cps, small, 1)
    graph = GRAPH.compile(checkpointer=cps.saver)
    state = await graph.aget_state(cfg(tid), subgraphs=True)
    latest = await cps.saver.aget_tuple(cfg(tid))
    everything = await history(cps, tid)
    roots = await history(cps, tid, "")
    small_before = await history(cps, small)
    assert len(roots) > 6

    deleted = await cps.prune([tid, small], keep=5)

    kept = await history(cps, tid)
    assert deleted == len(everything) - len(kept) > 0
    assert [t.checkpoint["id"] for t in await history(cps, tid, "")] == [
        t.checkpoint["id"] for t in roots[:5]]
    cutoff = roots[4].checkpoint["id"]
    mem = [t for t in everything if t.config["configurable"]["checkpoint_ns"] == "mem"]
    for t in kept:
        ns = t.config["configurable"]["checkpoint_ns"]
        if ns and t.checkpoint["id"] != mem[0].checkpoint["id"]:
            assert t.metadata["parents"][""] >= cutoff
    assert mem[0].checkpoint["id"] in {t.checkpoint["id"] for t in kept}  # persistent subgraph
    for t in everything:  # every subgraph checkpoint of a kept root step is still there
        if t.config["configurable"]["checkpoint_ns"] and t.metadata["parents"][""] >= cutoff:
            assert t.checkpoint["id"] in {k.checkpoint["id"] for k in kept}
    # The thread reads as before, nothing points at a deleted checkpoint, nothing is left over.
    assert await cps.saver.aget_tuple(cfg(tid)) == latest
    assert await graph.aget_state(cfg(tid), subgraphs=True) == state
    ids = {t.checkpoint["id"] for t in kept}
    assert all(t.parent_config is None or t.parent_config["configurable"]["checkpoint_id"] in ids
               for t in kept)
    assert await orphans(cps, tid) == (0, 0)
    assert await history(cps, small) == small_before  # fewer than `keep` roots: untouched
    # ...and the thread carries on from where it was.
    out = await graph.ainvoke({"log": ["more"]}, cfg(tid))
    assert out == {"log": [*state.values["log"], "more", "plan"], "out": "m1,m2"}
    assert state.values["log"] == ["run0", "plan", "run1", "plan", "run2", "plan"]


async def test_keep_one_and_pruning_twice(cps: Checkpoints) -> None:
    tid = str(uuid.uuid4())
    await run(cps, tid, 2)
    graph = GRAPH.compile(checkpointer=cps.saver)
    before = await graph.aget_state(cfg(tid))
    assert await cps.prune([tid], keep=1) > 0
    roots = await history(cps, tid, "")
    assert len(roots) == 1 and roots[0].parent_config is None  # its parent is gone
    after = await graph.aget_state(cfg(tid))
    assert (after.values, after.next, after.tasks, after.metadata, after.config) == (
        before.values, before.next, before.tasks, before.metadata, before.config)
    assert await orphans(cps, tid) == (0, 0)
    assert await cps.prune([tid], keep=1) == 0
    assert await cps.prune([tid], keep=0) == 0  # 0 keeps everything
    assert await cps.prune([], keep=3) == 0


async def test_threads_with_delta_channels_are_skipped(cps: Checkpoints) -> None:
    tid = str(uuid.uuid4())
    conf: RunnableConfig = cfg(tid)
    for step in range(3):
        cp = empty_checkpoint()
        conf = await cps.saver.aput(
            conf, cp, {"source": "loop", "step": step, "parents": {},
                       "counters_since_delta_snapshot": {"items": (step, step)}}, {})
    assert await cps.prune([tid], keep=1) == 0
    assert len(await history(cps, tid)) == 3


def test_the_plan_for_one_thread() -> None:
    rows = [Row("", "r1", None), Row("", "r2", None), Row("", "r3", None),
            Row("sub:a", "s1", "r1"), Row("sub:b", "s2", "r2"), Row("sub:c", "s3", "r3"),
            Row("mem", "m1", "r1"), Row("mem", "m0", "r0"), Row("sub:x", "r0x", None)]
    assert sorted(doomed(rows, 2)) == [("", "r1"), ("mem", "m0"), ("sub:a", "s1"), ("sub:x", "r0x")]
    assert doomed(rows, 3) == doomed(rows, 9) == doomed(rows, 0) == []


async def test_pruning_invalidates_the_cache(pg_url: str, tmp_path: Path) -> None:
    url = os.environ.get("NEXOD_TEST_REDIS_URL")
    if not url:
        pytest.skip("NEXOD_TEST_REDIS_URL is not set: run `make test`, which starts Redis")
    from nexod.events.redis import connect

    client = connect(url)
    try:
        settings = Settings(data_dir=tmp_path, database_url=pg_url, checkpoint_cache_ttl=60)
        async with open_checkpoints(settings, redis=client) as c:
            assert isinstance(c.saver, CachedCheckpointSaver)
            tid = str(uuid.uuid4())
            await run(c, tid, 2)
            cached = await c.saver.aget_tuple(cfg(tid))
            assert cached is not None and cached.parent_config is not None
            await c.prune([tid], keep=1)
            now = await c.saver.aget_tuple(cfg(tid))
            assert now == await c.inner.aget_tuple(cfg(tid))
            assert now is not None and now.parent_config is None
    finally:
        await client.aclose()
