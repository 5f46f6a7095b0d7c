"""L2 agent-state cache: the latest checkpoint of each thread in Redis, PostgreSQL behind it.

LangGraph ships no Redis-cached PostgreSQL saver (``langgraph-checkpoint-redis`` keeps the
checkpoints *in* Redis instead of a database, it does not sit in front of one), so this module
is our own code. :class:`CachedCheckpointSaver` wraps the real saver (``AsyncPostgresSaver``,
or ``AsyncSqliteSaver``): every write goes to the inner saver first, and the database stays
the source of truth. Redis only holds, per ``(thread_id, checkpoint_ns)``, the *latest*
checkpoint tuple (checkpoint, metadata, config, parent config and its pending writes), so a
takeover worker resuming a run, or ``GET /threads/{id}/state``, reads it without touching
PostgreSQL. History (``alist``) always comes from the database.

Keys (``{thread_id}`` is a Redis Cluster hash tag: a thread's keys share one slot)::

    nexod:cp:{<thread_id>}:gen        the thread's generation token (a random string)
    nexod:cp:{<thread_id>}:ns:<ns>    hash: the latest entry of one namespace
        gen    generation the content was written under
        id     checkpoint id of the entry       born   Redis time (ms) the entry was written
        entry  checkpoint, metadata, parent id  wid    checkpoint id the writes belong to
        w:<task_id, idx>  one pending write (the SQL primary key, so upserts behave the same)
        snap   all pending writes, as one blob, when the entry was filled from a database read
        partial  set when writes were recorded into an empty hash (see below)

Values are the inner saver's ``serde.dumps_typed`` output (JsonPlusSerializer: msgpack, never
pickle), framed as length-prefixed byte strings. Each change is one Lua script, so a check
and the write it guards are atomic.

Rules:

* **Newest wins.** An entry is only replaced by a checkpoint id that is >= the cached one
  (UUIDv6 ids are time-ordered); a database read only fills the cache when nothing as new is
  cached, so a slow writer or a slow reader never puts an older state back.
* **Complete or absent.** A hit needs ``wid == id``: the writes are those of that checkpoint.
  Writes are recorded after the inner saver stored them; special writes (negative idx)
  overwrite, others keep the first value, as the SQL upserts do. Async durability can store
  a step's writes before its checkpoint: those replace the entry and the put that follows
  adopts them, unless they went into an empty hash (expired, invalidated), where earlier
  writes of that checkpoint may be missing (``partial``: that checkpoint is never served). An
  entry filled from a read keeps its writes as one snapshot; a later write to that
  checkpoint drops it, since it cannot be merged key by key.
* **Invalidation** (:meth:`CachedCheckpointSaver.invalidate`: delete, rollback, copy, prune)
  replaces the thread's generation token. Entries stamped with another token are ignored and
  deleted when seen, so one write covers every namespace. Fills and writes are fenced by the
  token their caller saw *before* reading or writing the database: if it changed meanwhile,
  the fill is dropped, and a refused writer replaces the token again, because a concurrent
  fill may hold a database snapshot from before that writer's commit. A write that fails or
  is cancelled (the database may have committed) invalidates the thread; the Redis update
  after a commit is shielded from cancellation. An entry that can't be decoded is a miss.
* **Outage.** Any Redis error is logged once per outage (warning), the operation falls back
  to the inner saver, and Redis is skipped for ``cooldown`` seconds (a small circuit
  breaker), so an outage costs one failed call per ``cooldown``, not one per step. A thread
  whose change could not reach Redis (a write, or an invalidation) is remembered; when Redis
  answers again, this process first replaces those threads' tokens (and drops its idle
  connections, which may be dead), before any other cache operation. Until then it does not
  use Redis at all.
* **Bounded staleness.** Hits refresh the TTL, but an entry older than ``max_age`` (default
  4 x ttl) is never served. That bounds the double faults no rule above can see: a process
  that lost Redis and died before it came back, a crash between the database commit and the
  Redis update, a Redis restart that lost acknowledged writes (run this cache on a Redis
  without persistence, it only holds copies). A crash in the commit-to-Redis window makes a
  takeover redo at most that one step, as LangGraph's default ``durability="async"`` can.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import struct
import time
import uuid
from collections import OrderedDict
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    PendingWrite,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
    writes_sort_key,
)
from redis.exceptions import RedisError

from nexod.observability.base import Metrics, NullMetrics

log = logging.getLogger("nexod.checkpoints")

T = TypeVar("T")
_ERRORS = (RedisError, OSError, asyncio.TimeoutError)
_GEN_MEMO = 10_000  # threads whose generation token this process remembers

# --- Lua -------------------------------------------------------------------------------------
# KEYS[1] = generation key, KEYS[2] = namespace hash. ARGV[1] = ttl in ms.

_LUA_COMMON = """
local ttl = tonumber(ARGV[1])
local function lt(a, b)  -- byte order, as checkpoint ids sort
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function touch()
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[1], 2 * ttl)
end
-- The hash as of generation g; content written under another generation is deleted.
local function current(g)
  local h = redis.call('HMGET', KEYS[2], 'gen', 'id', 'wid', 'born', 'snap', 'partial')
  if not h[1] then return {} end
  if h[1] ~= g then redis.call('DEL', KEYS[2]); return {} end
  return {id = h[2], wid = h[3], born = h[4], snap = h[5], partial = h[6]}
end
-- Writers pass the token they saw before writing the database; if it changed, a fill may
-- hold a snapshot older than their commit, so they replace the token again.
local function fenced(expected, fresh)
  local g = redis.call('GET', KEYS[1])
  if g == expected then return g end
  redis.call('SET', KEYS[1], fresh, 'PX', 2 * ttl)
  return nil
end
"""

# ARGV: ttl, fresh token, max age ms -> {gen} on a miss, {gen, fields} on a hit.
_LUA_READ = _LUA_COMMON + """
local g = redis.call('GET', KEYS[1])
if not g then
  g = ARGV[2]
  redis.call('SET', KEYS[1], g, 'PX', 2 * ttl)
end
local h = current(g)
if h.id and h.id == h.wid and not h.partial then
  if now_ms() - tonumber(h.born) <= tonumber(ARGV[3]) then
    touch()
    return {g, redis.call('HGETALL', KEYS[2])}
  end
  redis.call('DEL', KEYS[2])
end
return {g}
"""

# ARGV: ttl, expected gen, checkpoint id, entry, writes snapshot -> 1 when stored.
_LUA_FILL = _LUA_COMMON + """
local g = redis.call('GET', KEYS[1])
if g ~= ARGV[2] then return 0 end
local h = current(g)
local id = ARGV[3]
if h.id and not lt(h.id, id) then return 0 end    -- this or a newer checkpoint is cached
if h.wid and not lt(h.wid, id) then return 0 end  -- a writer records its writes already
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'gen', g, 'id', id, 'wid', id, 'born', now_ms(),
           'entry', ARGV[4], 'snap', ARGV[5])
touch()
return 1
"""

# ARGV: ttl, expected gen, fresh token, checkpoint id, entry -> {stored 0/1, gen}.
_LUA_PUT = _LUA_COMMON + """
local g = fenced(ARGV[2], ARGV[3])
if not g then return {0, ARGV[3]} end
local h = current(g)
local id = ARGV[4]
if (h.id and lt(id, h.id)) or (h.wid and lt(id, h.wid)) then return {0, g} end
if h.wid == id and h.partial then return {0, g} end  -- some of its writes may be missing
if h.wid ~= id then redis.call('DEL', KEYS[2]) end  -- writes of an older checkpoint
redis.call('HSET', KEYS[2], 'gen', g, 'id', id, 'wid', id, 'born', now_ms(), 'entry', ARGV[5])
touch()
return {1, g}
"""

# ARGV: ttl, expected gen, fresh token, checkpoint id, 'set'|'nx', field, value, ...
_LUA_WRITES = _LUA_COMMON + """
local g = fenced(ARGV[2], ARGV[3])
if not g then return {0, ARGV[3]} end
local h = current(g)
local id = ARGV[4]
if (h.id and lt(id, h.id)) or (h.wid and lt(id, h.wid)) then return {0, g} end
if h.wid == id and h.snap then  -- a snapshot can't be merged key by key: drop it
  redis.call('DEL', KEYS[2])
  return {0, g}
end
if h.wid ~= id then
  -- The first write of a checkpoint ahead of its put. Written into a live hash, no earlier
  -- write of it can be missing; into an empty one (expired, invalidated, dropped) some may.
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'gen', g, 'wid', id)
  if not h.wid then redis.call('HSET', KEYS[2], 'partial', '1') end
end
local cmd = ARGV[5] == 'set' and 'HSET' or 'HSETNX'
for i = 6, #ARGV, 2 do redis.call(cmd, KEYS[2], ARGV[i], ARGV[i + 1]) end
touch()
return {1, g}
"""

# KEYS[1] = generation key. ARGV: ttl, fresh token -> the current token (created if absent).
_LUA_GEN = """
local g = redis.call('GET', KEYS[1])
if g then return g end
redis.call('SET', KEYS[1], ARGV[2], 'PX', 2 * tonumber(ARGV[1]))
return ARGV[2]
"""


# --- framing ---------------------------------------------------------------------------------


def pack(parts: Sequence[bytes]) -> bytes:
    """Length-prefixed byte strings: a frame that needs no escaping and no pickle."""
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def unpack(data: bytes) -> list[bytes]:
    """The byte strings of a :func:`pack` frame."""
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        (size,) = struct.unpack_from(">I", data, pos)
        out.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return out


def _b(text: str) -> bytes:
    return text.encode()


def _where(config: RunnableConfig) -> tuple[str, str]:
    conf = config["configurable"]
    return str(conf["thread_id"]), str(conf.get("checkpoint_ns") or "")


def _stored_metadata(config: RunnableConfig, metadata: CheckpointMetadata) -> Any:
    """The metadata as the SQL savers give it back: merged with the config, through JSON."""
    return json.loads(json.dumps(get_serializable_checkpoint_metadata(config, metadata)))


@dataclass
class _Read:
    """What a cache lookup saw: the generation token, and the entry's fields on a hit."""

    gen: bytes
    fields: dict[bytes, bytes] | None


class _Guard:
    """Circuit breaker, threads owed an invalidation, and remembered generation tokens.

    Shared by the clones :meth:`CachedCheckpointSaver.with_allowlist` makes.
    """

    def __init__(self, cooldown: float) -> None:
        self.cooldown = cooldown
        self.down = False
        self.open_until = 0.0
        self.probing = False
        self.dirty: set[str] = set()
        self.flush_all = False
        self.gens: OrderedDict[str, bytes] = OrderedDict()

    def owe(self, thread_id: str | None) -> None:
        """A change to ``thread_id`` (to unknown threads when None) missed Redis."""
        if thread_id is None:
            self.flush_all = True
        else:
            self.dirty.add(thread_id)
            self.gens.pop(thread_id, None)

    def owed(self) -> bool:
        """Whether invalidations must reach Redis before anything else does."""
        return self.flush_all or bool(self.dirty)

    def trip(self, exc: BaseException) -> None:
        """Redis failed: skip it for ``cooldown`` seconds; log once per outage."""
        if not self.down:
            log.warning("checkpoint_cache_unavailable", extra={"error": repr(exc)})
        self.down = True
        self.open_until = time.monotonic() + self.cooldown

    def remember(self, thread_id: str, gen: bytes) -> None:
        """The thread's generation token as Redis last told us (a bounded LRU)."""
        self.gens[thread_id] = gen
        self.gens.move_to_end(thread_id)
        if len(self.gens) > _GEN_MEMO:
            self.gens.popitem(last=False)


class CachedCheckpointSaver(BaseCheckpointSaver[str]):
    """A checkpoint saver that keeps each thread's latest checkpoint in Redis.

    ``inner`` is the real (async) saver and the source of truth; ``redis`` a
    ``redis.asyncio.Redis`` client returning bytes (``decode_responses=False``) with short
    timeouts. See the module docstring for the keys and the consistency rules.
    """

    def __init__(
        self,
        inner: BaseCheckpointSaver[str],
        redis: Any,
        *,
        ttl: int = 300,
        prefix: str = "nexod:cp:",
        cooldown: float = 5.0,
        max_age: float | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if redis.get_connection_kwargs().get("decode_responses"):
            raise ValueError("the checkpoint cache needs a Redis client with decode_responses=False")
        super().__init__(serde=inner.serde)
        self.inner = inner
        self.redis = redis
        self.ttl = ttl
        self.prefix = prefix
        self._ttl_ms = int(ttl * 1000)
        self._max_age_ms = int((max_age if max_age is not None else 4 * ttl) * 1000)
        self._guard = _Guard(cooldown)
        self._metrics = metrics or NullMetrics()
        self._read_script = redis.register_script(_LUA_READ)
        self._fill_script = redis.register_script(_LUA_FILL)
        self._put_script = redis.register_script(_LUA_PUT)
        self._writes_script = redis.register_script(_LUA_WRITES)
        self._gen_script = redis.register_script(_LUA_GEN)

    # --- delegation ----------------------------------------------------------------------

    @property
    def config_specs(self) -> list[Any]:
        """The inner saver's configuration fields."""
        return list(self.inner.config_specs)

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Channel versions are the inner saver's."""
        return self.inner.get_next_version(current, channel)

    def with_allowlist(
        self, extra_allowlist: Collection[tuple[str, ...]]
    ) -> BaseCheckpointSaver[str]:
        """A clone over ``inner.with_allowlist(...)``; Redis state is shared."""
        inner = self.inner.with_allowlist(extra_allowlist)
        if inner is self.inner:
            return self
        clone = copy.copy(self)
        clone.inner = inner
        clone.serde = inner.serde
        return clone

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """History comes from the inner saver (the cache only holds the latest)."""
        async for tup in self.inner.alist(config, filter=filter, before=before, limit=limit):
            yield tup

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Delta-channel history walks ancestors: the inner saver's fast path."""
        return await self.inner.aget_delta_channel_history(config=config, channels=channels)

    # --- reads ---------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The latest (or the asked-for, if it is the latest) tuple from Redis, else the inner
        saver; a latest read that missed fills the cache."""
        thread_id, ns = _where(config)
        wanted = get_checkpoint_id(config)
        seen = await self._read(thread_id, ns)
        if seen is not None and seen.fields is not None:
            if wanted is None or _b(wanted) == seen.fields.get(b"id"):
                try:
                    found = self._decode(thread_id, ns, seen.fields)
                    self._metrics.cache_lookup(layer="agent_state", hit=True)
                    return found
                except Exception:  # unreadable entry (e.g. another version's): a miss
                    log.warning("checkpoint_cache_decode_failed", exc_info=True)
                    await self.invalidate(thread_id)
                    seen = None
        if seen is not None:  # Redis answered (an outage is not a miss: it is not asked)
            self._metrics.cache_lookup(layer="agent_state", hit=False)
        tup = await self.inner.aget_tuple(config)
        if seen is not None and wanted is None and tup is not None:
            await self._fill(thread_id, ns, seen.gen, tup)
        return tup

    async def _read(self, thread_id: str, ns: str) -> _Read | None:
        keys = self._keys(thread_id, ns)
        args = [self._ttl_ms, uuid.uuid4().hex, self._max_age_ms]
        reply = await self._redis(lambda: self._read_script(keys=keys, args=args), thread_id)
        if reply is None:
            return None
        gen = bytes(reply[0])
        self._guard.remember(thread_id, gen)
        if len(reply) < 2:
            return _Read(gen, None)
        flat = reply[1]
        return _Read(gen, dict(zip(flat[::2], flat[1::2], strict=True)))

    async def _fill(self, thread_id: str, ns: str, gen: bytes, tup: CheckpointTuple) -> None:
        """Cache a tuple read from the database, unless something newer is there by now."""
        try:
            parent = tup.parent_config["configurable"]["checkpoint_id"] if tup.parent_config else ""
            entry = self._encode_entry(tup.checkpoint, tup.metadata, parent)
            snap: list[bytes] = []
            for task_id, channel, value in tup.pending_writes or []:
                kind, blob = self.serde.dumps_typed(value)
                snap += [_b(task_id), _b(channel), _b(kind), blob]
        except Exception:  # a state read never fails because of the cache
            log.warning("checkpoint_cache_encode_failed", exc_info=True)
            return
        args = [self._ttl_ms, gen, tup.checkpoint["id"], entry, pack(snap)]
        keys = self._keys(thread_id, ns)
        await self._redis(lambda: self._fill_script(keys=keys, args=args), thread_id)

    def _decode(self, thread_id: str, ns: str, fields: dict[bytes, bytes]) -> CheckpointTuple:
        ct, cb, mt, mb, parent = unpack(fields[b"entry"])
        checkpoint_id = fields[b"id"].decode()
        where = {"thread_id": thread_id, "checkpoint_ns": ns}
        return CheckpointTuple(
            config={"configurable": {**where, "checkpoint_id": checkpoint_id}},
            checkpoint=self.serde.loads_typed((ct.decode(), cb)),
            metadata=self.serde.loads_typed((mt.decode(), mb)),
            parent_config=(
                {"configurable": {**where, "checkpoint_id": parent.decode()}} if parent else None
            ),
            pending_writes=self._decode_writes(fields),
        )

    def _decode_writes(self, fields: dict[bytes, bytes]) -> list[PendingWrite]:
        if b"snap" in fields:
            parts = unpack(fields[b"snap"])
            return [
                (tid.decode(), ch.decode(), self.serde.loads_typed((kind.decode(), blob)))
                for tid, ch, kind, blob in zip(*[iter(parts)] * 4, strict=True)
            ]
        # Keyed writes: put back in the order the SQL savers return (task_path, task_id, idx).
        rows: list[tuple[tuple[str, str, int], str, str, bytes]] = []
        for name, value in fields.items():
            if name.startswith(b"w:"):
                task_id, idx = (p.decode() for p in unpack(name[2:]))
                path, ch, kind, blob = unpack(value)
                key = writes_sort_key(path.decode(), task_id, int(idx))
                rows.append((key, ch.decode(), kind.decode(), blob))
        rows.sort(key=lambda r: r[0])
        return [(key[1], ch, self.serde.loads_typed((kind, blob))) for key, ch, kind, blob in rows]

    # --- writes --------------------------------------------------------------------------

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store in the inner saver, then make the new checkpoint the cached latest."""
        thread_id, ns = _where(config)
        parent = config["configurable"].get("checkpoint_id") or ""
        gen, args = await self._prepare(thread_id, lambda: [
            checkpoint["id"],
            self._encode_entry(checkpoint, _stored_metadata(config, metadata), parent),
        ])
        write = self.inner.aput(config, checkpoint, metadata, new_versions)
        return await self._write_through(thread_id, ns, gen, self._put_script, args, write)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store in the inner saver, then record the writes against their checkpoint."""
        thread_id, ns = _where(config)
        gen, args = await self._prepare(
            thread_id, lambda: self._encode_writes(config, writes, task_id, task_path))
        write = self.inner.aput_writes(config, writes, task_id, task_path)
        await self._write_through(thread_id, ns, gen, self._writes_script, args, write)

    def _encode_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
        task_path: str,
    ) -> list[Any]:
        """Script arguments for writes, keyed like the SQL savers' primary key (task_id, idx);
        special writes overwrite only when all of the batch are special, as in SQL."""
        overwrite = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        args: list[Any] = [config["configurable"]["checkpoint_id"], "set" if overwrite else "nx"]
        for idx, (channel, value) in enumerate(writes):
            kind, blob = self.serde.dumps_typed(value)
            slot = WRITES_IDX_MAP.get(channel, idx)
            args += [b"w:" + pack([_b(task_id), _b(str(slot))]),
                     pack([_b(task_path), _b(channel), _b(kind), blob])]
        return args

    def _encode_entry(self, checkpoint: Checkpoint, metadata: Any, parent: str) -> bytes:
        ct, cb = self.serde.dumps_typed(checkpoint)
        mt, mb = self.serde.dumps_typed(metadata)
        return pack([_b(ct), cb, _b(mt), mb, _b(parent)])

    async def _prepare(
        self, thread_id: str, encode: Callable[[], list[Any]]
    ) -> tuple[bytes | None, list[Any]]:
        """The generation token to fence a write with, and its script arguments, both taken
        before the database write (values are serialised then, as the inner saver does).
        No token: Redis is skipped, and the thread will owe an invalidation."""
        gen = await self._gen(thread_id)
        if gen is None:
            return None, []
        try:
            return gen, encode()
        except Exception:  # the cache must never fail a run: forget the thread instead
            log.warning("checkpoint_cache_encode_failed", exc_info=True)
            return None, []

    async def _gen(self, thread_id: str) -> bytes | None:
        """The generation token to fence a write with, seen before the database write."""
        if (known := self._guard.gens.get(thread_id)) is not None:
            return known
        keys = [self._keys(thread_id, "")[0]]
        args = [self._ttl_ms, uuid.uuid4().hex]
        reply = await self._redis(lambda: self._gen_script(keys=keys, args=args), thread_id)
        if reply is None:
            return None
        self._guard.remember(thread_id, bytes(reply))
        return bytes(reply)

    async def _write_through(
        self, thread_id: str, ns: str, gen: bytes | None, script: Any, args: list[Any],
        write: Awaitable[T],
    ) -> T:
        """Await the inner saver's ``write``, then update Redis. Neither a cancelled run nor
        a failed write may leave the old entry trusted (the database may have committed),
        so the Redis side is shielded from cancellation and a failure invalidates."""
        try:
            result = await write
        except BaseException:
            await asyncio.shield(self.invalidate(thread_id))
            raise
        await asyncio.shield(self._apply(thread_id, ns, gen, script, args))
        return result

    async def _apply(
        self, thread_id: str, ns: str, gen: bytes | None, script: Any, args: list[Any]
    ) -> None:
        """Run a writer script; a write that can't reach Redis owes the thread an invalidation."""
        if gen is None:
            self._guard.owe(thread_id)
            return
        keys = self._keys(thread_id, ns)
        full = [self._ttl_ms, gen, uuid.uuid4().hex, *args]
        reply = await self._redis(lambda: script(keys=keys, args=full), thread_id, mutates=True)
        if reply is not None:
            self._guard.remember(thread_id, bytes(reply[1]))

    # --- history changes -----------------------------------------------------------------

    async def invalidate(self, thread_id: str) -> None:
        """Forget everything cached for a thread (all namespaces): call after changing its
        history behind this saver's back."""
        fresh = uuid.uuid4().hex.encode()
        key = self._keys(thread_id, "")[0]
        done = await self._redis(
            lambda: self.redis.set(key, fresh, px=2 * self._ttl_ms), thread_id, mutates=True
        )
        if done is not None:
            self._guard.remember(thread_id, fresh)

    async def invalidate_all(self) -> None:
        """Forget every cached thread (after a change whose threads are unknown)."""
        await self._redis(self._unlink_all, None, mutates=True)

    async def _unlink_all(self) -> None:
        async for key in self.redis.scan_iter(match=f"{self.prefix}*", count=500):
            await self.redis.unlink(key)
        self._guard.gens.clear()

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete in the inner saver, then invalidate."""
        try:
            await self.inner.adelete_thread(thread_id)
        finally:
            await self.invalidate(str(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete in the inner saver; the threads touched are unknown, so forget them all."""
        try:
            await self.inner.adelete_for_runs(run_ids)
        finally:
            await self.invalidate_all()

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy in the inner saver, then invalidate the target."""
        try:
            await self.inner.acopy_thread(source_thread_id, target_thread_id)
        finally:
            await self.invalidate(str(target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Prune in the inner saver, then invalidate the threads."""
        try:
            await self.inner.aprune(thread_ids, strategy=strategy)
        finally:
            for thread_id in [] if isinstance(thread_ids, str) else thread_ids:
                await self.invalidate(str(thread_id))

    # --- Redis access with the circuit breaker -------------------------------------------

    def _keys(self, thread_id: str, ns: str) -> list[str]:
        base = f"{self.prefix}{{{thread_id}}}"
        return [f"{base}:gen", f"{base}:ns:{ns}"]

    async def _redis(
        self, op: Callable[[], Awaitable[T]], thread_id: str | None, *, mutates: bool = False
    ) -> T | None:
        """``op()``, or None when Redis is skipped or fails. A skipped or failed change
        (``mutates``) leaves its thread (all threads when None) owing an invalidation."""
        try:
            if await self._ready() and thread_id not in self._guard.dirty:
                return await op()
        except _ERRORS as exc:
            self._guard.trip(exc)
        if mutates:
            self._guard.owe(thread_id)
        return None

    async def _ready(self) -> bool:
        """Whether to use Redis now. After an outage one caller probes, and pays the owed
        invalidations before anything else reaches Redis."""
        guard = self._guard
        if not guard.down and not guard.owed():
            return True
        if guard.probing or time.monotonic() < guard.open_until:
            return False
        guard.probing = True
        try:
            await self._settle()
        finally:
            guard.probing = False
        if guard.down:
            guard.down = False
            log.info("checkpoint_cache_recovered")
        return True

    async def _settle(self) -> None:
        """Replace the generation token of every thread changed while Redis was away."""
        guard = self._guard
        if guard.down and (pool := getattr(self.redis, "connection_pool", None)) is not None:
            # Idle sockets from before the outage may be dead without the client knowing.
            await pool.disconnect(inuse_connections=False)
        if guard.flush_all:
            await self._unlink_all()
            guard.flush_all = False
        owed = list(guard.dirty)
        fresh = {t: uuid.uuid4().hex.encode() for t in owed}
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.ping()
            for thread_id in owed:
                pipe.set(self._keys(thread_id, "")[0], fresh[thread_id], px=2 * self._ttl_ms)
            await pipe.execute()
        for thread_id in owed:
            guard.dirty.discard(thread_id)
            guard.remember(thread_id, fresh[thread_id])

    # --- sync API: bridged to the event loop the inner saver runs on ---------------------

    def _sync(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = getattr(self.inner, "loop", None)
        if loop is None:
            coro.close()
            raise NotImplementedError("the cached saver is async: use the a* methods")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise asyncio.InvalidStateError(
                "Synchronous calls to the cached checkpoint saver are only allowed from "
                "another thread; use the async interface (e.g. `await graph.ainvoke(...)`)."
            )
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Sync :meth:`aget_tuple` (from a thread other than the saver's loop)."""
        return self._sync(self.aget_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Sync history: the inner saver's."""
        return self.inner.list(config, filter=filter, before=before, limit=limit)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Sync :meth:`aput`."""
        return self._sync(self.aput(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Sync :meth:`aput_writes`."""
        self._sync(self.aput_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        """Sync :meth:`adelete_thread`."""
        self._sync(self.adelete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Sync :meth:`adelete_for_runs`."""
        self._sync(self.adelete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Sync :meth:`acopy_thread`."""
        self._sync(self.acopy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Sync :meth:`aprune`."""
        self._sync(self.aprune(thread_ids, strategy=strategy))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Sync delta-channel history: the inner saver's."""
        return self.inner.get_delta_channel_history(config=config, channels=channels)
