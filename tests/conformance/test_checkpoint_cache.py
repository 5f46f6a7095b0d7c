"""L2 agent-state cache: Redis answers for the latest checkpoint exactly as PostgreSQL would.

Real PostgreSQL and real Redis (NEXOD_TEST_DATABASE_URL / NEXOD_TEST_REDIS_URL), real LangGraph
graphs. Each "process" is its own saver and Redis client; a thin subclass of the Postgres
saver counts the reads that reach the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.channels import DeltaChannel
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    create_checkpoint,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from nexod.events.redis import connect
from nexod.graphs.cache import CachedCheckpointSaver
from nexod.graphs.checkpointer import Checkpoints, open_checkpoints
from nexod.settings import Settings
from tests.conftest import pg_admin_url
from tests.servers import free_port, postgres_database

PREFIX = f"nexod:cp:test-{uuid.uuid4().hex[:8]}:"


def redis_url() -> str:
    url = os.environ.get("NEXOD_TEST_REDIS_URL")
    if not url:
        pytest.skip("NEXOD_TEST_REDIS_URL is not set: run `make test`, which starts Redis")
    return url


# --- a real graph: parallel nodes, a subgraph that interrupts, a root node that interrupts --


class State(TypedDict):
    log: Annotated[list[str], operator.add]
    messages: Annotated[list[AnyMessage], add_messages]


def _child() -> Any:
    b: Any = StateGraph(State)
    b.add_node("c1", lambda s: {"log": ["c1"]})

    def c2(s: Any) -> dict[str, Any]:
        answer = interrupt({"question": "child?"})
        return {"log": [f"c2:{answer}"], "messages": [AIMessage(f"child got {answer}")]}

    b.add_node("c2", c2)
    b.add_edge(START, "c1")
    b.add_edge("c1", "c2")
    b.add_edge("c2", END)
    return b


def build() -> Any:
    b: Any = StateGraph(State)
    b.add_node("plan", lambda s: {"log": ["plan"], "messages": [HumanMessage("go")]})
    b.add_node("work_a", lambda s: {"log": ["a"]})
    b.add_node("work_b", lambda s: {"log": ["b"], "messages": [AIMessage("b done")]})
    b.add_node("sub", _child().compile())

    def review(s: Any) -> dict[str, Any]:
        return {"log": [f"review:{interrupt('root?')}"]}

    b.add_node("review", review)
    b.add_edge(START, "plan")
    b.add_edge("plan", "work_a")
    b.add_edge("plan", "work_b")
    b.add_edge(["work_a", "work_b"], "sub")
    b.add_edge("sub", "review")
    b.add_edge("review", END)
    return b


GRAPH = build()


def _extend(state: list[str] | None, writes: Sequence[list[str]]) -> list[str]:
    return [*(state or []), *(x for w in writes for x in w)]


class Delta(TypedDict):
    items: Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=2)]


def build_delta() -> Any:
    """A graph whose state is a DeltaChannel (rebuilt from ancestor writes)."""
    b: Any = StateGraph(Delta)
    b.add_node("a", lambda s: {"items": ["a"]})
    b.add_node("b", lambda s: {"items": ["b"]})
    b.add_edge(START, "a")
    b.add_edge("a", "b")
    b.add_edge("b", END)
    return b


def cfg(thread_id: str, ns: str = "") -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}


# --- fixtures ---------------------------------------------------------------------------------


class CountingSaver(AsyncPostgresSaver):
    """The real Postgres saver, counting the reads that reach PostgreSQL. When ``hold`` is
    set, a read waits on it after the database answered (a slow reader)."""

    reads = 0
    hold: asyncio.Event | None = None
    read_done: asyncio.Event | None = None
    put_done: asyncio.Event | None = None  # set: a put stops after its commit, for good

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        self.reads += 1
        tup = await super().aget_tuple(config)
        if self.hold is not None and self.read_done is not None:
            self.read_done.set()
            await self.hold.wait()
        return tup

    async def aput(self, config: RunnableConfig, checkpoint: Checkpoint,
                   metadata: CheckpointMetadata, new_versions: ChannelVersions) -> RunnableConfig:
        saved = await super().aput(config, checkpoint, metadata, new_versions)
        if self.put_done is not None:
            self.put_done.set()
            await asyncio.Event().wait()
        return saved


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database(pg_admin_url()) as url:
        yield url


@pytest.fixture(scope="module")
async def pool(pg_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    p: AsyncConnectionPool[Any] = AsyncConnectionPool(
        pg_url, min_size=1, max_size=6, open=False,
        kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
    )
    await p.open(wait=True)
    await AsyncPostgresSaver(p).setup()
    yield p
    await p.close()


@pytest.fixture
async def bare(pool: AsyncConnectionPool[Any]) -> AsyncPostgresSaver:
    """The database's own answer, to compare the cache with."""
    return AsyncPostgresSaver(pool)


class Process:
    """One server process: its own Redis client and cached saver over a counting saver."""

    def __init__(self, pool: AsyncConnectionPool[Any], url: str, **kw: Any) -> None:
        self.client = connect(url)
        self.db = CountingSaver(pool)
        self.saver = CachedCheckpointSaver(self.db, self.client, prefix=PREFIX, **kw)
        self.graph = GRAPH.compile(checkpointer=self.saver)


@pytest.fixture
async def procs(pool: AsyncConnectionPool[Any]) -> AsyncIterator[list[Process]]:
    """Two processes sharing PostgreSQL and Redis."""
    url = redis_url()
    ps = [Process(pool, url), Process(pool, url)]
    yield ps
    for p in ps:
        await p.client.aclose()


async def same_as_db(saver: BaseCheckpointSaver[Any], bare: BaseCheckpointSaver[Any],
                     config: RunnableConfig) -> CheckpointTuple | None:
    got = await saver.aget_tuple(config)
    assert got == await bare.aget_tuple(config)
    return got


async def to_first_interrupt(p: Process, thread_id: str) -> None:
    await p.graph.ainvoke({"log": [], "messages": []}, cfg(thread_id))


async def sub_ns(bare: AsyncPostgresSaver, thread_id: str) -> str:
    async for t in bare.alist({"configurable": {"thread_id": thread_id}}):
        if t.config["configurable"]["checkpoint_ns"]:
            return str(t.config["configurable"]["checkpoint_ns"])
    raise AssertionError("no subgraph checkpoint")


# --- tests ------------------------------------------------------------------------------------


async def test_factory_wraps_only_with_redis_and_a_ttl(pg_url: str, tmp_path: Path) -> None:
    client = connect(redis_url())
    try:
        on = Settings(data_dir=tmp_path, database_url=pg_url, checkpoint_cache_ttl=60)
        async with open_checkpoints(on, redis=client) as cps:
            assert isinstance(cps.saver, CachedCheckpointSaver) and cps.kind == "postgres"
            assert cps.cache is cps.saver and isinstance(cps.inner, AsyncPostgresSaver)
            assert cps.saver.ttl == 60
            clone = cps.saver.with_allowlist({("tests", "Thing")})
            assert isinstance(clone, CachedCheckpointSaver) and clone.redis is client
            assert clone.serde is clone.inner.serde
        off = Settings(data_dir=tmp_path, database_url=pg_url, checkpoint_cache_ttl=0)
        async with open_checkpoints(off, redis=client) as cps:
            assert isinstance(cps.saver, AsyncPostgresSaver) and cps.cache is None
        async with open_checkpoints(Settings(data_dir=tmp_path), redis=client) as cps:
            assert cps.kind == "sqlite" and cps.cache is not None
            assert type(cps.inner).__name__ == "AsyncSqliteSaver"
        async with open_checkpoints(on) as cps:
            assert cps.cache is None
    finally:
        await client.aclose()


async def test_cached_tuples_and_state_equal_the_database(
    procs: list[Process], bare: AsyncPostgresSaver
) -> None:
    a = procs[0]
    plain = GRAPH.compile(checkpointer=bare)
    tid = str(uuid.uuid4())
    await to_first_interrupt(a, tid)
    ns = await sub_ns(bare, tid)
    for step in range(3):
        a.db.reads = 0
        root = await same_as_db(a.saver, bare, cfg(tid))
        sub = await same_as_db(a.saver, bare, cfg(tid, ns))
        assert root is not None and sub is not None and a.db.reads == 0  # written through
        assert any(w[1] == "__interrupt__" for w in root.pending_writes or []) or step == 2
        # ...and the same explicit checkpoint id, and the state LangGraph builds from them.
        assert await same_as_db(a.saver, bare, root.config) == root
        assert await a.graph.aget_state(cfg(tid), subgraphs=True) == await plain.aget_state(
            cfg(tid), subgraphs=True)
        assert a.db.reads == 0
        if step < 2:
            await a.graph.ainvoke(Command(resume=f"yes{step}"), cfg(tid))
    final = await a.graph.aget_state(cfg(tid))
    assert final.values["log"][-2:] == ["c2:yes0", "review:yes1"] and not final.next


async def test_works_over_sqlite_and_with_delta_channels(tmp_path: Path) -> None:
    b = build_delta()
    client = connect(redis_url())
    try:
        async with open_checkpoints(Settings(data_dir=tmp_path), redis=client) as cps:
            assert cps.cache is not None
            cache, lite = cps.cache, cps.inner
            for builder, first in ((GRAPH, {"log": [], "messages": []}), (b, {"items": ["x"]})):
                graph, plain = builder.compile(checkpointer=cache), builder.compile(checkpointer=lite)
                tid = str(uuid.uuid4())
                for step in range(3):
                    await graph.ainvoke(first if step == 0 or builder is b else
                                        Command(resume=step), cfg(tid))
                    assert await same_as_db(cache, lite, cfg(tid)) is not None
                    assert await graph.aget_state(cfg(tid), subgraphs=True) == (
                        await plain.aget_state(cfg(tid), subgraphs=True))
            assert (await graph.aget_state(cfg(tid))).values["items"] == ["x", "a", "b"] * 3
    finally:
        await client.aclose()


async def test_another_process_reads_and_resumes_from_redis(
    procs: list[Process], bare: AsyncPostgresSaver
) -> None:
    a, b = procs
    tid = str(uuid.uuid4())
    await to_first_interrupt(a, tid)
    ns = await sub_ns(bare, tid)
    await same_as_db(b.saver, bare, cfg(tid))
    await same_as_db(b.saver, bare, cfg(tid, ns))
    snapshot = await b.graph.aget_state(cfg(tid), subgraphs=True)
    assert snapshot.tasks and snapshot.tasks[0].interrupts
    assert b.db.reads == 0  # a takeover worker never went to PostgreSQL
    # b resumes the run a started (the subgraph interrupt, then the root one), from Redis.
    await b.graph.ainvoke(Command(resume="from-b"), cfg(tid))
    out = await b.graph.ainvoke(Command(resume="again"), cfg(tid))
    assert out["log"][-2:] == ["c2:from-b", "review:again"]
    assert b.db.reads == 0
    # a sees b's writes through Redis too.
    a.db.reads = 0
    assert (await same_as_db(a.saver, bare, cfg(tid))) is not None and a.db.reads == 0


async def test_a_miss_fills_the_cache_once(procs: list[Process], bare: AsyncPostgresSaver) -> None:
    a, b = procs
    tid = str(uuid.uuid4())
    await to_first_interrupt(a, tid)
    await a.saver.invalidate(tid)
    a.db.reads = 0
    await same_as_db(b.saver, bare, cfg(tid))
    assert b.db.reads == 1
    await same_as_db(b.saver, bare, cfg(tid))
    await same_as_db(a.saver, bare, cfg(tid))
    assert b.db.reads == 1 and a.db.reads == 0
    # A write to a checkpoint filled from a read drops it; the next read has the write too.
    await a.graph.ainvoke(Command(resume="late"), cfg(tid))
    await same_as_db(b.saver, bare, cfg(tid))


async def test_writes_mirror_the_sql_upserts(procs: list[Process], bare: AsyncPostgresSaver) -> None:
    a, b = procs
    tid = str(uuid.uuid4())
    await to_first_interrupt(a, tid)
    latest = await bare.aget_tuple(cfg(tid))
    assert latest is not None
    conf = latest.config
    await a.saver.aput_writes(conf, [("log", ["first"]), ("messages", [])], "task-x", "~x")
    await a.saver.aput_writes(conf, [("log", ["ignored: same task and idx"])], "task-x", "~x")
    await a.saver.aput_writes(conf, [("__interrupt__", "one")], "task-y", "~y")
    await a.saver.aput_writes(conf, [("__interrupt__", "two: special writes overwrite")], "task-y", "~y")
    await a.saver.aput_writes(conf, [("log", ["zz"])], "task-0", "")
    b.db.reads = 0
    got = await same_as_db(b.saver, bare, cfg(tid))
    assert got is not None and b.db.reads == 0
    assert ("task-y", "__interrupt__", "two: special writes overwrite") in (got.pending_writes or [])


async def test_delete_rollback_and_copy_invalidate(
    procs: list[Process], bare: AsyncPostgresSaver
) -> None:
    a, b = procs
    cps = Checkpoints(a.saver, "postgres")
    tid = str(uuid.uuid4())
    await to_first_interrupt(a, tid)
    await a.graph.ainvoke(Command(resume="x"), cfg(tid))
    history = [t async for t in bare.alist(cfg(tid))]
    await same_as_db(b.saver, bare, cfg(tid))  # b has the latest cached
    target = history[3].config["configurable"]["checkpoint_id"]
    await cps.rollback(tid, target)
    rolled = await same_as_db(b.saver, bare, cfg(tid))
    assert rolled is not None and rolled.config["configurable"]["checkpoint_id"] == target
    copy = str(uuid.uuid4())
    await cps.copy_thread(tid, copy)
    await same_as_db(b.saver, bare, cfg(copy))
    await cps.delete_thread(tid)
    assert await same_as_db(b.saver, bare, cfg(tid)) is None
    assert await same_as_db(a.saver, bare, cfg(tid)) is None


async def test_a_slow_reader_or_writer_never_puts_an_older_state_back(
    procs: list[Process], bare: AsyncPostgresSaver
) -> None:
    a, b = procs
    tid = str(uuid.uuid4())
    await to_first_interrupt(a, tid)
    await a.saver.invalidate(tid)
    # b misses, reads PostgreSQL, and stalls before filling the cache...
    b.db.hold, b.db.read_done = asyncio.Event(), asyncio.Event()
    slow = asyncio.create_task(b.saver.aget_tuple(cfg(tid)))
    await b.db.read_done.wait()
    # ...while a moves the thread on (its writes reach Redis first).
    await a.graph.ainvoke(Command(resume="meanwhile"), cfg(tid))
    b.db.hold.set()
    old = await slow
    b.db.hold = None
    new = await same_as_db(b.saver, bare, cfg(tid))
    assert old is not None and new is not None and new.checkpoint["id"] > old.checkpoint["id"]
    # A late put of an older checkpoint (a slow writer) leaves the newer one cached.
    history = [t async for t in bare.alist(cfg(tid))]
    older = history[2]
    parent = older.parent_config or cfg(tid)
    await a.saver.aput(parent, older.checkpoint, older.metadata, {})
    b.db.reads = 0
    assert await same_as_db(b.saver, bare, cfg(tid)) == new
    assert b.db.reads == 0


async def test_a_cancelled_write_leaves_no_stale_entry(
    procs: list[Process], bare: AsyncPostgresSaver
) -> None:
    a, b = procs
    tid = str(uuid.uuid4())
    await to_first_interrupt(a, tid)
    latest = await same_as_db(b.saver, bare, cfg(tid))  # cached in Redis
    assert latest is not None
    nxt = create_checkpoint(latest.checkpoint, None, 99)
    a.db.put_done = asyncio.Event()
    put = asyncio.create_task(a.saver.aput(
        latest.config, nxt, {"source": "update", "step": 99, "parents": {}}, {}))
    await a.db.put_done.wait()  # committed to PostgreSQL; the run is cancelled right then
    put.cancel()
    with pytest.raises(asyncio.CancelledError):
        await put
    a.db.put_done = None
    got = await same_as_db(b.saver, bare, cfg(tid))
    assert got is not None and got.checkpoint["id"] == nxt["id"]


async def test_writes_ahead_of_their_checkpoint(procs: list[Process], bare: AsyncPostgresSaver) -> None:
    """Async durability can store a step's writes before its checkpoint."""
    a, b = procs
    meta: CheckpointMetadata = {"source": "update", "step": 50, "parents": {}}
    for lost_earlier_writes in (False, True):
        tid = str(uuid.uuid4())
        await to_first_interrupt(a, tid)
        latest = await bare.aget_tuple(cfg(tid))
        assert latest is not None
        if lost_earlier_writes:  # e.g. the entry expired or was invalidated in between
            await a.saver.invalidate(tid)
        nxt = create_checkpoint(latest.checkpoint, None, 50)
        ahead: RunnableConfig = {"configurable": {**latest.config["configurable"],
                                                  "checkpoint_id": nxt["id"]}}
        await a.saver.aput_writes(ahead, [("log", ["early"])], "task-early", "~early")
        await a.saver.aput(latest.config, nxt, meta, {})
        b.db.reads = 0
        got = await same_as_db(b.saver, bare, cfg(tid))
        assert got is not None and ("task-early", "log", ["early"]) in (got.pending_writes or [])
        # Served from Redis only when no earlier write can be missing.
        assert b.db.reads == (1 if lost_earlier_writes else 0)


async def test_a_writer_that_missed_an_invalidation_fences_fills(
    procs: list[Process], bare: AsyncPostgresSaver
) -> None:
    a, b = procs
    tid = str(uuid.uuid4())
    await to_first_interrupt(a, tid)
    await b.saver.invalidate(tid)  # a does not know yet
    latest = await bare.aget_tuple(cfg(tid))
    assert latest is not None
    # b misses and reads PostgreSQL before a's commit...
    b.db.hold, b.db.read_done = asyncio.Event(), asyncio.Event()
    slow = asyncio.create_task(b.saver.aget_tuple(cfg(tid)))
    await b.db.read_done.wait()
    # ...a commits a newer checkpoint; Redis refuses a's update (stale generation)...
    nxt = create_checkpoint(latest.checkpoint, None, 77)
    await a.saver.aput(latest.config, nxt, {"source": "update", "step": 77, "parents": {}}, {})
    # ...so b's fill, holding the older snapshot, must not be trusted either.
    b.db.hold.set()
    await slow
    b.db.hold = None
    got = await same_as_db(b.saver, bare, cfg(tid))
    assert got is not None and got.checkpoint["id"] == nxt["id"]


async def test_entries_past_max_age_are_not_served(
    pool: AsyncConnectionPool[Any], bare: AsyncPostgresSaver
) -> None:
    p = Process(pool, redis_url(), max_age=0.3)
    try:
        tid = str(uuid.uuid4())
        await to_first_interrupt(p, tid)
        p.db.reads = 0
        await same_as_db(p.saver, bare, cfg(tid))
        assert p.db.reads == 0
        await asyncio.sleep(0.4)
        await same_as_db(p.saver, bare, cfg(tid))
        assert p.db.reads == 1
    finally:
        await p.client.aclose()


async def test_sync_calls_are_bridged_from_other_threads(
    procs: list[Process], bare: AsyncPostgresSaver
) -> None:
    a = procs[0]
    tid = str(uuid.uuid4())
    await to_first_interrupt(a, tid)
    assert await asyncio.to_thread(a.saver.get_tuple, cfg(tid)) == await bare.aget_tuple(cfg(tid))
    with pytest.raises(asyncio.InvalidStateError):
        a.saver.get_tuple(cfg(tid))


# --- Redis outages ----------------------------------------------------------------------------


async def test_unreachable_redis_falls_back_to_postgres(
    pool: AsyncConnectionPool[Any], bare: AsyncPostgresSaver, caplog: pytest.LogCaptureFixture
) -> None:
    p = Process(pool, f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    plain = GRAPH.compile(checkpointer=bare)
    tid = str(uuid.uuid4())
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="nexod.checkpoints"):
        await to_first_interrupt(p, tid)
        await p.graph.ainvoke(Command(resume="r1"), cfg(tid))
        assert await p.graph.aget_state(cfg(tid), subgraphs=True) == await plain.aget_state(
            cfg(tid), subgraphs=True)
        out = await p.graph.ainvoke(Command(resume="r2"), cfg(tid))
    await p.client.aclose()
    assert out["log"][-2:] == ["c2:r1", "review:r2"]
    assert p.db.reads > 0
    assert time.monotonic() - started < 10
    warnings = [r for r in caplog.records if r.getMessage() == "checkpoint_cache_unavailable"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


class Proxy:
    """A TCP proxy in front of the real Redis; ``cut`` is an outage that keeps Redis's data."""

    def __init__(self, target: str) -> None:
        from urllib.parse import urlparse

        parsed = urlparse(target)
        self.host, self.target_port = parsed.hostname or "127.0.0.1", parsed.port or 6379
        self.db = parsed.path or "/0"
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.conns: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self.db}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.conns:
            w.close()
        self.conns.clear()
        await asyncio.sleep(0.05)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        self.conns += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


async def test_changes_missed_in_an_outage_are_invalidated_on_recovery(
    procs: list[Process], pool: AsyncConnectionPool[Any], bare: AsyncPostgresSaver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    b = procs[1]
    proxy = Proxy(redis_url())
    await proxy.start()
    a = Process(pool, proxy.url, cooldown=0.2)
    try:
        tid = str(uuid.uuid4())
        await to_first_interrupt(a, tid)
        await same_as_db(b.saver, bare, cfg(tid))
        assert b.db.reads == 0
        with caplog.at_level(logging.INFO, logger="nexod.checkpoints"):
            await proxy.cut()
            # a moves the thread on; none of it reaches Redis, which still holds the old entry.
            await a.graph.ainvoke(Command(resume="in-outage"), cfg(tid))
            await proxy.start()
            await asyncio.sleep(0.25)
            # a's first use of Redis after the cooldown settles what it owes.
            await a.saver.aget_tuple(cfg(str(uuid.uuid4())))
            got = await same_as_db(b.saver, bare, cfg(tid))
            assert got is not None and b.db.reads == 1  # the stale entry was not trusted
            assert any(w[1] == "__interrupt__" for w in got.pending_writes or [])
            # Write-through works again: a's next steps reach b through Redis.
            await a.graph.ainvoke(Command(resume="after"), cfg(tid))
            await same_as_db(b.saver, bare, cfg(tid))
            assert b.db.reads == 1
        messages = [r.getMessage() for r in caplog.records]
        assert messages.count("checkpoint_cache_unavailable") == 1  # logged once per outage
        assert messages.count("checkpoint_cache_recovered") == 1
    finally:
        await proxy.cut()
        await a.client.aclose()
