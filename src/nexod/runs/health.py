"""Worker heartbeats and queue depth: what readiness checks and ``nexod status`` report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from nexod.db.models import AgentSession, WorkerBeat
from nexod.serde import as_utc, utcnow


@dataclass(frozen=True, slots=True)
class Beat:
    """One worker's report."""

    worker_id: str
    hostname: str
    pid: int
    capacity: int
    in_flight: int
    status: str  # "running" or "draining"


class WorkerBeats:
    """Heartbeat rows in the ``workers`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def beat(self, beat: Beat) -> None:
        """Record that ``beat.worker_id`` is alive, with its load."""
        now = utcnow()
        values = {"hostname": beat.hostname, "pid": beat.pid, "capacity": beat.capacity,
                  "in_flight": beat.in_flight, "status": beat.status, "heartbeat_at": now}
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        stmt = insert(WorkerBeat).values(worker_id=beat.worker_id, started_at=now, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["worker_id"], set_=values)
        async with self._engine.begin() as conn:
            await conn.execute(stmt)

    async def forget(self, worker_id: str) -> None:
        """Remove a worker that stopped cleanly."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(WorkerBeat).where(WorkerBeat.worker_id == worker_id))

    async def sweep(self, older_than: float) -> int:
        """Remove rows of workers silent for ``older_than`` seconds (crashed processes)."""
        async with self._engine.begin() as conn:
            res = await conn.execute(
                delete(WorkerBeat).where(
                    WorkerBeat.heartbeat_at < utcnow() - timedelta(seconds=older_than)
                )
            )
        return int(res.rowcount or 0)

    async def report(self, alive_within: float) -> list[dict[str, Any]]:
        """Every known worker, with ``alive`` false when its heartbeat is older than allowed."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(WorkerBeat).order_by(WorkerBeat.started_at))).all()
        now = utcnow()
        out = []
        for r in rows:
            beat_at = as_utc(r.heartbeat_at)
            age = _age(now, r.heartbeat_at)
            out.append({
                "worker_id": r.worker_id, "hostname": r.hostname, "pid": r.pid,
                "capacity": r.capacity, "in_flight": r.in_flight, "status": r.status,
                "started_at": as_utc(r.started_at), "heartbeat_at": beat_at,
                "heartbeat_age_seconds": round(age, 3), "alive": age <= alive_within,
            })
        return out


def _age(now: datetime, then: datetime) -> float:
    """Seconds from ``then`` (naive from SQLite means UTC) to ``now``."""
    return (now - (then if then.tzinfo else then.replace(tzinfo=UTC))).total_seconds()


async def queue_depth(engine: AsyncEngine) -> dict[str, Any]:
    """Runs waiting (due now and scheduled for later) and running, and the oldest wait."""
    now = utcnow()
    s = AgentSession
    due = and_(s.status == "pending", s.available_at <= now)
    later = and_(s.status == "pending", s.available_at > now)
    async with engine.connect() as conn:
        pending, scheduled, running, oldest = (await conn.execute(
            select(func.count().filter(due), func.count().filter(later),
                   func.count().filter(s.status == "running"), func.min(s.available_at).filter(due))
            .where(s.status.in_(("pending", "running")))
        )).one()
    return {"pending": pending, "scheduled": scheduled, "running": running,
            "oldest_pending_seconds": round(_age(now, oldest), 3) if oldest else 0.0}
