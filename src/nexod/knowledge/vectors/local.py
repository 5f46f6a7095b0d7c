"""The embedded vector store: one index per namespace in files under ``<data_dir>/vectors/``.

Small namespaces are searched exactly (one matrix product); from ``exact_below`` vectors on, a
usearch HNSW index answers instead, kept up to date on every write. The index holds ``f32``
vectors, or quantised ones (``f16``, ``i8``: faster to build and search, a quarter of the
memory for ``i8``) whose candidates (:data:`RERANK` x k) are re-scored exactly with the f32
vectors the store keeps anyway, so scores stay exact and quantisation costs no recall.
Filters are checked on the HNSW candidates (over-fetched), and when too few pass, on an exact
scan of the rows that match — so a selective filter is slower, never wrong.

Durability: each write is appended to the namespace's log (``log.bin``) before it is applied;
a snapshot (``vectors.npy``, ``rows.bin``, ``hnsw.usearch``) is written when the log grows
large and on close, and a restart loads the snapshot and replays the log. One process owns the
files (an exclusive ``flock``); another opening them at the same time gets a read-only view.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from nexod.errors import Conflict
from nexod.knowledge.embeddings.base import Matrix
from nexod.knowledge.filters import Filter
from nexod.knowledge.vectors.base import (
    VectorHit,
    VectorRecord,
    VectorStore,
    VectorStoreMismatch,
    as_matrix,
    check_namespace,
)

_UPSERT, _DELETE = 1, 2
RERANK = 4
"""A quantised index fetches this many candidates per hit wanted, re-scored exactly."""
BUILD_THREADS = 1
"""Threads that insert into an HNSW index. One: usearch's concurrent ``add`` (2.x) can leave a
node stored but unreachable by any search (unum-cloud/USearch#735, fix pending in #772);
measured here, 2 threads stranded 0.01-0.3 % of the vectors (a document semantic search can
never return) and 1 thread none, for a build about 1.6x slower."""
DTYPES = ("f32", "f16", "i8")
_HEADER = struct.Struct("<BII")  # op, json length, vector bytes length
FORMAT = 1


def _space_dir(root: Path, namespace: str) -> Path:
    return root / hashlib.sha256(namespace.encode()).hexdigest()[:24]


class _Space:
    """One namespace: rows of vectors and metadata, an optional HNSW index, a write-ahead log."""

    def __init__(self, path: Path, namespace: str, dim: int, *, exact_below: int, ef_search: int,
                 writable: bool, m: int = 16, ef_construction: int = 64, dtype: str = "f32") -> None:
        self.path = path
        self.namespace = namespace
        self.dim = dim
        self.exact_below = exact_below
        self.ef_search = ef_search
        self.m, self.ef_construction = m, ef_construction
        self.dtype = dtype
        self.writable = writable
        self.lock = threading.RLock()
        self.rows: dict[str, int] = {}
        self.ids: list[str | None] = []
        self.meta: list[dict[str, Any] | None] = []
        self.vecs: Matrix = np.zeros((0, dim), dtype=np.float32)
        self.alive = 0
        self.ann: Any = None
        self.log: IO[bytes] | None = None
        self.log_bytes = 0

    # ---- loading and saving -------------------------------------------------------------

    def load(self) -> None:
        """Read the snapshot (if any), then replay the log on top of it."""
        snap = self.path / "rows.bin"
        stale = False
        if snap.is_file():
            data = orjson.loads(snap.read_bytes())
            self.ids, self.meta = data["ids"], data["meta"]
            n = len(self.ids)
            vecs = np.load(self.path / "vectors.npy")
            self.vecs = np.zeros((max(n, 16), self.dim), dtype=np.float32)
            self.vecs[:n] = vecs[:n]
            self.rows = {i: r for r, i in enumerate(self.ids) if i is not None}
            self.alive = len(self.rows)
            index = self.path / "hnsw.usearch"
            if index.is_file() and self._same_kind(index):
                self.ann = self._new_ann()
                self.ann.load(str(index))
            elif index.is_file():  # another NEXOD_KB_HNSW_DTYPE wrote it: rebuilt below, then saved
                stale = True
        log_path = self.path / "log.bin"
        if log_path.is_file():
            self._replay(log_path.read_bytes())
        if self.ann is None and self.alive >= self.exact_below:
            self._build_ann()
        if self.writable:
            self.path.mkdir(parents=True, exist_ok=True)
            self.log = open(log_path, "ab")
            self.log_bytes = self.log.tell()
            if stale:
                self.snapshot()

    def _replay(self, buf: bytes) -> None:
        pos, vec_bytes = 0, self.dim * 4
        while pos + _HEADER.size <= len(buf):
            op, jlen, vlen = _HEADER.unpack_from(buf, pos)
            end = pos + _HEADER.size + jlen + vlen
            if end > len(buf):
                break  # a torn final record from a crash: it was never acknowledged
            body = orjson.loads(buf[pos + _HEADER.size : pos + _HEADER.size + jlen])
            if op == _UPSERT and vlen == vec_bytes:
                vec = np.frombuffer(buf, dtype=np.float32, count=self.dim, offset=pos + _HEADER.size + jlen)
                self._apply_upsert([body["id"]], vec.reshape(1, -1), [body["meta"]])
            elif op == _DELETE:
                self._apply_delete(body["ids"])
            pos = end

    def snapshot(self) -> None:
        """Write the snapshot files atomically and truncate the log."""
        if not self.writable:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        n = len(self.ids)
        tmp = self.path / "vectors.npy.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, self.vecs[:n])
        tmp.replace(self.path / "vectors.npy")
        (self.path / "rows.bin.tmp").write_bytes(orjson.dumps({"ids": self.ids, "meta": self.meta,
                                                               "namespace": self.namespace}))
        if self.ann is not None:
            self.ann.save(str(self.path / "hnsw.usearch.tmp"))
            (self.path / "hnsw.usearch.tmp").replace(self.path / "hnsw.usearch")
        else:
            (self.path / "hnsw.usearch").unlink(missing_ok=True)
        (self.path / "rows.bin.tmp").replace(self.path / "rows.bin")
        if self.log is not None:
            self.log.truncate(0)
            self.log.seek(0)
            self.log_bytes = 0

    def close(self) -> None:
        """Snapshot when anything was logged, and close the log."""
        if self.log is not None:
            if self.log_bytes:
                self.snapshot()
            self.log.close()
            self.log = None

    # ---- the HNSW index -----------------------------------------------------------------

    def _metric(self) -> str:
        # Unit vectors: "cos" = "ip"; usearch quantises to i8 only for "cos" (on "ip" it loses the scale).
        return "ip" if self.dtype == "f32" else "cos"

    def _same_kind(self, path: Path) -> bool:
        from nexod.knowledge.native import load_usearch

        info = load_usearch().metadata(str(path)) or {}
        kind = (getattr(info.get("kind_scalar"), "name", ""), getattr(info.get("kind_metric"), "name", ""))
        return (kind[0].lower(), kind[1].lower()) == (self.dtype, self._metric())

    def _new_ann(self) -> Any:
        from nexod.knowledge.native import load_usearch

        Index = load_usearch()
        # Never usearch's default bf16: it caps recall@10 near 0.99 on 384-d vectors (no re-scoring).
        return Index(ndim=self.dim, metric=self._metric(), dtype=self.dtype, connectivity=self.m,
                     expansion_add=self.ef_construction, expansion_search=self.ef_search)

    def _build_ann(self) -> None:
        ann = self._new_ann()
        rows = np.fromiter(self.rows.values(), dtype=np.uint64, count=len(self.rows))
        if len(rows):
            ann.add(rows, self.vecs[rows.astype(np.int64)], threads=BUILD_THREADS)
        self.ann = ann

    # ---- writes ---------------------------------------------------------------------------

    def _grow(self, need: int) -> None:
        if need > self.vecs.shape[0]:
            cap = max(need, self.vecs.shape[0] * 2, 16)
            bigger = np.zeros((cap, self.dim), dtype=np.float32)
            bigger[: len(self.ids)] = self.vecs[: len(self.ids)]
            self.vecs = bigger

    def _apply_upsert(self, ids: Sequence[str], vecs: Matrix, metas: Sequence[dict[str, Any]]) -> None:
        new_rows: list[int] = []
        replaced: list[int] = []
        first_new = len(self.ids)
        self._grow(len(self.ids) + len(ids))
        for rid, vec, md in zip(ids, vecs, metas, strict=True):
            row = self.rows.get(rid)
            if row is None:
                row = len(self.ids)
                self.ids.append(rid)
                self.meta.append(md)
                self.rows[rid] = row
                self.alive += 1
            else:
                self.meta[row] = md
                if row < first_new:  # rows added by this call are not in the index yet
                    replaced.append(row)
            self.vecs[row] = vec
            new_rows.append(row)
        if self.ann is not None:
            if replaced:
                self.ann.remove(np.unique(np.asarray(replaced, dtype=np.uint64)))
            keys = np.unique(np.asarray(new_rows, dtype=np.uint64))  # an id twice in one call: the last wins
            self.ann.add(keys, self.vecs[keys.astype(np.int64)], threads=BUILD_THREADS)
        elif self.alive >= self.exact_below:
            self._build_ann()

    def _apply_delete(self, ids: Sequence[str]) -> None:
        gone = []
        for rid in ids:
            row = self.rows.pop(rid, None)
            if row is not None:
                self.ids[row] = None
                self.meta[row] = None
                self.vecs[row] = 0.0
                self.alive -= 1
                gone.append(row)
        if gone and self.ann is not None:
            self.ann.remove(np.asarray(gone, dtype=np.uint64))

    def _append(self, chunks: list[bytes]) -> None:
        if self.log is None:
            raise Conflict(f"the local vector store under {self.path.parent} is open read-only: "
                           "another process (a running `nexod serve`?) owns it; write through it")
        data = b"".join(chunks)
        self.log.write(data)
        self.log.flush()
        self.log_bytes += len(data)

    def upsert(self, records: Sequence[VectorRecord], vecs: Matrix) -> None:
        """Log, then apply; snapshot when the log outgrows a quarter of the data."""
        with self.lock:
            out = []
            for rec, vec in zip(records, vecs, strict=True):
                body = orjson.dumps({"id": rec.id, "meta": rec.metadata})
                out.append(_HEADER.pack(_UPSERT, len(body), self.dim * 4) + body + vec.tobytes())
            self._append(out)
            self._apply_upsert([r.id for r in records], vecs, [r.metadata for r in records])
            self._maybe_snapshot()

    def delete(self, ids: Sequence[str]) -> None:
        """Log, then apply a deletion."""
        with self.lock:
            present = [i for i in ids if i in self.rows]
            if not present:
                return
            body = orjson.dumps({"ids": present})
            self._append([_HEADER.pack(_DELETE, len(body), 0) + body])
            self._apply_delete(present)
            if self.alive == 0:
                self.ids, self.meta, self.rows = [], [], {}
                self.vecs = np.zeros((0, self.dim), dtype=np.float32)
                self.ann = None
                self.snapshot()
            else:
                self._maybe_snapshot()

    def _maybe_snapshot(self) -> None:
        if self.log_bytes > max(64 << 20, len(self.ids) * self.dim):
            self.snapshot()

    # ---- reads ----------------------------------------------------------------------------

    def _exact(self, q: Matrix, k: int, rows: np.ndarray[Any, Any] | None) -> list[tuple[int, float]]:
        n = len(self.ids)
        if rows is None:
            scores = self.vecs[:n] @ q
            dead = [r for r, i in enumerate(self.ids) if i is None] if self.alive < n else []
            if dead:
                scores[dead] = -np.inf
            cand = np.arange(n)
        else:
            if not len(rows):
                return []
            scores = self.vecs[rows] @ q
            cand = rows
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top])]
        return [(int(cand[t]), float(scores[t])) for t in top if np.isfinite(scores[t])]

    def query(self, q: Matrix, k: int, flt: Filter | None) -> list[VectorHit]:
        """Nearest rows, best first (see the module docstring for how filters are applied)."""
        with self.lock:
            if self.alive == 0:
                return []
            found: list[tuple[int, float]]
            if self.ann is None:
                rows = None
                if flt is not None:
                    rows = np.asarray([r for r, m in enumerate(self.meta)
                                       if m is not None and flt.matches(m)], dtype=np.int64)
                found = self._exact(q, k, rows)
            else:
                want = k if flt is None else k * 10
                if self.dtype == "f32":
                    res = self.ann.search(q, min(want, self.alive), threads=1)
                    found = [(int(key), 1.0 - float(d)) for key, d in zip(res.keys, res.distances, strict=True)]
                else:  # quantised: more candidates, re-scored exactly, the best ``want`` kept
                    keys = self.ann.search(q, min(want * RERANK, self.alive), threads=1).keys.astype(np.int64)
                    exact = self.vecs[keys] @ q
                    best = np.argsort(-exact)[:want]
                    found = [(int(keys[i]), float(exact[i])) for i in best]
                if flt is not None:
                    ok = [(r, s) for r, s in found if (m := self.meta[r]) is not None and flt.matches(m)]
                    if len(ok) < k and len(found) >= want:
                        rows = np.asarray([r for r, m in enumerate(self.meta)
                                           if m is not None and flt.matches(m)], dtype=np.int64)
                        ok = self._exact(q, k, rows)
                    found = ok
            return [VectorHit(self.ids[r] or "", s, self.meta[r] or {}) for r, s in found[:k]
                    if self.ids[r] is not None]

    def fetch(self, ids: Sequence[str]) -> dict[str, VectorRecord]:
        """Stored records by id."""
        with self.lock:
            out = {}
            for rid in ids:
                row = self.rows.get(rid)
                if row is not None:
                    out[rid] = VectorRecord(rid, self.vecs[row].copy(), dict(self.meta[row] or {}))
            return out


class LocalVectorStore(VectorStore):
    """Namespaces as folders of files under ``root``; see the module docstring."""

    kind = "local"

    def __init__(self, root: Path, *, model: str, dim: int, exact_below: int = 20_000,
                 ef_search: int = 96, m: int = 32, ef_construction: int = 128, dtype: str = "f32") -> None:
        super().__init__(model=model, dim=dim)
        if dtype not in DTYPES:
            raise ValueError(f"HNSW dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.dtype = dtype
        self.root = root
        self.exact_below = exact_below
        self.ef_search = ef_search
        self.m, self.ef_construction = m, ef_construction
        self._spaces: dict[str, _Space] = {}
        self._lock_file: IO[bytes] | None = None
        self.writable = False
        self._open_lock = threading.Lock()

    async def setup(self) -> None:
        """Create the folder, take the writer lock if free, check the recorded model."""
        await asyncio.to_thread(self._setup)

    def _setup(self) -> None:
        if self._lock_file is not None or self.writable:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        manifest = self.root / "manifest.json"
        if manifest.is_file():
            info = orjson.loads(manifest.read_bytes())
            if info.get("model") != self.model or info.get("dim") != self.dim:
                raise VectorStoreMismatch(
                    f"the local vector store in {self.root} holds {info.get('dim')}-d vectors of "
                    f"{info.get('model')!r}, but the embedder is {self.model!r} ({self.dim}-d): set "
                    "NEXOD_EMBEDDINGS back, or run `nexod knowledge reconcile --rebuild`")
        lock = open(self.root / ".lock", "a+b")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            self.writable = False
            return
        self._lock_file = lock
        self.writable = True
        if not manifest.is_file():
            manifest.write_bytes(orjson.dumps({"model": self.model, "dim": self.dim, "format": FORMAT}))

    def _space(self, namespace: str, create: bool) -> _Space | None:
        check_namespace(namespace)
        with self._open_lock:
            space = self._spaces.get(namespace)
            if space is None:
                path = _space_dir(self.root, namespace)
                if not create and not path.is_dir():
                    return None
                space = _Space(path, namespace, self.dim, exact_below=self.exact_below,
                               ef_search=self.ef_search, writable=self.writable, m=self.m,
                               ef_construction=self.ef_construction, dtype=self.dtype)
                space.load()
                self._spaces[namespace] = space
            return space

    async def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        """Append to the log and update the index, in a worker thread."""
        if not records:
            return
        vecs = as_matrix([r.vector for r in records], self.dim)

        def run() -> None:
            space = self._space(namespace, create=True)
            assert space is not None
            space.upsert(records, vecs)

        await asyncio.to_thread(run)

    async def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Remove ids (logged first)."""
        def run() -> None:
            space = self._space(namespace, create=False)
            if space is not None:
                space.delete(ids)

        await asyncio.to_thread(run)

    async def query(self, namespace: str, vector: Matrix, *, k: int = 10,
                    filter: Filter | None = None) -> list[VectorHit]:
        """Nearest neighbours; exact or HNSW depending on the namespace's size."""
        q = as_matrix(vector, self.dim)[0]

        def run() -> list[VectorHit]:
            space = self._space(namespace, create=False)
            return [] if space is None else space.query(q, k, filter)

        return await asyncio.to_thread(run)

    async def fetch(self, namespace: str, ids: Sequence[str]) -> dict[str, VectorRecord]:
        """Records by id."""
        space = await asyncio.to_thread(self._space, namespace, False)
        return {} if space is None else space.fetch(ids)

    async def count(self, namespace: str) -> int:
        """Live records in the namespace."""
        space = await asyncio.to_thread(self._space, namespace, False)
        return 0 if space is None else space.alive

    async def list_ids(self, namespace: str) -> set[str]:
        """Every live id."""
        space = await asyncio.to_thread(self._space, namespace, False)
        return set() if space is None else set(space.rows)

    async def drop_namespace(self, namespace: str) -> None:
        """Delete the namespace's folder."""
        def run() -> None:
            space = self._space(namespace, create=False)
            if space is None:
                return
            if not self.writable:
                raise Conflict(f"the local vector store under {self.root} is open read-only")
            with self._open_lock:
                self._spaces.pop(namespace, None)
            space.close()
            for f in space.path.iterdir():
                f.unlink()
            space.path.rmdir()

        await asyncio.to_thread(run)

    async def flush(self) -> None:
        """Write every namespace's snapshot now (benchmarks and tests use it)."""
        def run() -> None:
            for space in list(self._spaces.values()):
                with space.lock:
                    space.snapshot()

        await asyncio.to_thread(run)

    async def aclose(self) -> None:
        """Snapshot what was logged, release the writer lock."""
        def run() -> None:
            for space in list(self._spaces.values()):
                with space.lock:
                    space.close()
            self._spaces.clear()
            if self._lock_file is not None:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                self._lock_file.close()
                self._lock_file = None
            self.writable = False

        await asyncio.to_thread(run)
