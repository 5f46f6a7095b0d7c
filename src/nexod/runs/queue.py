"""The run queue: pending rows in ``agent_sessions``, claimed under a lease.

A claim picks the oldest due run whose thread has nothing running and no older pending run,
locking it with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL. The partial unique index
``uq_agent_sessions_one_running`` makes a second running run on one thread impossible even if
two claims race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased

from nexod.db.models import AgentSession, Assistant, Thread
from nexod.db.rows import to_model
from nexod.serde import utcnow

TERMINAL = frozenset({"success", "error", "interrupted", "timeout"})


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed run with the assistant and thread it runs on, read in the claim's transaction.

    ``assistant`` or ``thread`` is None when it was deleted after the run was queued.
    ``resumed`` is True when the run started before (a crash, a lease lost, a graceful
    release): it continues from its checkpoints and its event ids.
    """

    run: AgentSession
    assistant: Assistant | None
    thread: Thread | None
    resumed: bool = False


class RunQueue:
    """Claim, renew and release runs."""

    def __init__(self, engine: AsyncEngine, *, lease_seconds: float, max_attempts: int) -> None:
        self._engine = engine
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        self._claim_query = self._build_claim_query()

    @staticmethod
    def _build_claim_query() -> Any:
        # Built once: constructing this statement costs more than running it on SQLite.
        running = aliased(AgentSession)
        older = aliased(AgentSession)
        r = AgentSession
        return (
            select(r)
            .where(r.status == "pending", r.available_at <= bindparam("now"))
            .where(~exists().where(and_(running.thread_id == r.thread_id, running.status == "running")))
            .where(
                ~exists().where(
                    and_(older.thread_id == r.thread_id, older.status == "pending", older.run_id < r.run_id)
                )
            )
            .order_by(r.run_id)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True, of=r)
        )

    async def claim(self, owner: str, limit: int = 1) -> list[Claimed]:
        """Claim up to ``limit`` due runs for ``owner``; empty when none is ready."""
        now = utcnow()
        lease_until = now + self._lease
        try:
            async with self._engine.begin() as conn:
                rows = (await conn.execute(self._claim_query, {"now": now, "limit": limit})).all()
                if not rows:
                    return []
                runs = [to_model(AgentSession, r) for r in rows]
                ids = [r.run_id for r in runs]
                await conn.execute(
                    update(AgentSession)
                    .where(AgentSession.run_id.in_(ids))
                    .values(status="running", lease_owner=owner, lease_expires_at=lease_until,
                            attempt=AgentSession.attempt + 1,
                            started_at=func.coalesce(AgentSession.started_at, now), updated_at=now)
                )
                assistants = {
                    a.assistant_id: a for a in (
                        to_model(Assistant, r) for r in (await conn.execute(
                            select(Assistant).where(Assistant.assistant_id.in_({r.assistant_id for r in runs}))
                        )).all()
                    )
                }
                threads = {
                    t.thread_id: t for t in (
                        to_model(Thread, r) for r in (await conn.execute(
                            select(Thread).where(Thread.thread_id.in_({r.thread_id for r in runs}))
                        )).all()
                    )
                }
        except (IntegrityError, OperationalError):
            # Another worker claimed a run of the same thread first (or the row moved).
            return []
        claimed = []
        for run in runs:
            resumed = run.started_at is not None
            run.status, run.lease_owner, run.lease_expires_at = "running", owner, lease_until
            run.attempt = (run.attempt or 0) + 1
            run.started_at = run.started_at or now
            claimed.append(
                Claimed(run, assistants.get(run.assistant_id), threads.get(run.thread_id), resumed)
            )
        return claimed

    async def renew(self, owner: str, run_ids: list[str]) -> dict[str, str | None]:
        """Extend the lease of the owner's runs; returns each still-owned run's cancel action."""
        if not run_ids:
            return {}
        now = utcnow()
        async with self._engine.begin() as s:
            await s.execute(
                update(AgentSession)
                .where(AgentSession.run_id.in_(run_ids), AgentSession.lease_owner == owner,
                       AgentSession.status == "running")
                .values(lease_expires_at=now + self._lease)
            )
            rows = (
                await s.execute(
                    select(AgentSession.run_id, AgentSession.cancel_action).where(
                        AgentSession.run_id.in_(run_ids), AgentSession.lease_owner == owner
                    )
                )
            ).all()
        return {r[0]: r[1] for r in rows}

    async def release(self, run_id: str, owner: str) -> None:
        """Give a running run back to the queue (graceful shutdown); it resumes elsewhere."""
        async with self._engine.begin() as s:
            await s.execute(
                update(AgentSession)
                .where(AgentSession.run_id == run_id, AgentSession.lease_owner == owner,
                       AgentSession.status == "running")
                .values(status="pending", lease_owner=None, lease_expires_at=None, updated_at=utcnow(),
                        attempt=AgentSession.attempt - 1)
            )

    async def sweep(self, *, all_running: bool = False) -> tuple[int, list[str]]:
        """Re-queue runs whose lease expired (every running run when ``all_running``).

        Runs out of attempts end in ``error`` instead; their ids are returned so their threads
        can be updated. Returns (requeued count, failed run ids).
        """
        now = utcnow()
        cond: list[Any] = [AgentSession.status == "running"]
        if not all_running:
            cond.append(AgentSession.lease_expires_at < now)
        async with self._engine.begin() as s:
            failed = list(
                (
                    await s.scalars(
                        update(AgentSession)
                        .where(*cond, AgentSession.attempt >= self._max_attempts)
                        .values(
                            status="error", lease_owner=None, ended_at=now, updated_at=now,
                            error={"error": "RunAttemptsExceeded",
                                   "message": f"run was interrupted {self._max_attempts} times "
                                              "(worker lost each time); giving up"},
                        )
                        .returning(AgentSession.run_id)
                    )
                ).all()
            )
            if failed:
                await s.execute(
                    update(Thread)
                    .where(Thread.thread_id.in_(
                        select(AgentSession.thread_id).where(AgentSession.run_id.in_(failed))
                    ))
                    .values(status="error", updated_at=now)
                )
            res = await s.execute(
                update(AgentSession)
                .where(*cond)
                .values(status="pending", lease_owner=None, lease_expires_at=None, updated_at=now)
            )
        return int(res.rowcount or 0), failed
