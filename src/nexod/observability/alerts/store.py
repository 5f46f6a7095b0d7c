"""The ``alerts`` table: raise, bump, resolve and list alerts.

Every change is a compare-and-set in one statement, so when several processes evaluate the
same rule exactly one of them wins each transition, and only the winner notifies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from nexod.db.models import Alert
from nexod.db.rows import to_model
from nexod.serde import as_utc, utcnow


@dataclass(frozen=True)
class Raise:
    """What an evaluation found: an alert that should be firing."""

    key: str
    rule: str
    severity: str
    title: str
    summary: str
    details: dict[str, Any]
    link: str | None = None
    org_id: str | None = None
    increment: int = 1


class AlertStore:
    """Alerts in the database (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def open(self, r: Raise, now: datetime) -> Alert | None:
        """Insert a firing alert for ``r.key``; None when one is firing already."""
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        values = {
            "alert_id": str(uuid.uuid4()), "key": r.key, "rule": r.rule, "severity": r.severity,
            "status": "firing", "title": r.title, "summary": r.summary, "details": r.details,
            "link": r.link, "org_id": r.org_id, "count": max(r.increment, 1), "started_at": now,
            "last_seen_at": now, "notified_at": now, "resolved_at": None,
        }
        stmt = insert(Alert).values(**values).on_conflict_do_nothing(
            index_elements=["key"], index_where=text("status = 'firing'"))
        async with self._engine.begin() as conn:
            res = await conn.execute(stmt)
        if not res.rowcount:
            return None
        return Alert(**values)

    async def bump(self, r: Raise, now: datetime) -> Alert | None:
        """Add ``r.increment`` to the firing alert for ``r.key`` and refresh its details."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(Alert).where(Alert.key == r.key, Alert.status == "firing")
                .values(count=Alert.count + r.increment, last_seen_at=now, details=r.details,
                        summary=r.summary, link=r.link))
            row = (await conn.execute(
                select(Alert).where(Alert.key == r.key, Alert.status == "firing"))).first()
        return None if row is None else to_model(Alert, row)

    async def claim_reminder(self, alert: Alert, now: datetime, every: float) -> bool:
        """True for the one caller that may send a reminder now (``every`` seconds apart)."""
        last = as_utc(alert.notified_at)
        if last is None or (now - last).total_seconds() < every:
            return False
        async with self._engine.begin() as conn:
            res = await conn.execute(
                update(Alert).where(Alert.alert_id == alert.alert_id,
                                    Alert.notified_at == alert.notified_at,
                                    Alert.status == "firing")
                .values(notified_at=now))
        return bool(res.rowcount)

    async def resolve(self, key: str, now: datetime, *, idle_for: float | None = None) -> Alert | None:
        """Resolve the firing alert for ``key`` (only if unseen for ``idle_for`` s); the winner
        gets the alert, everyone else None."""
        async with self._engine.begin() as conn:
            row = (await conn.execute(
                select(Alert).where(Alert.key == key, Alert.status == "firing"))).first()
            if row is None:
                return None
            alert = to_model(Alert, row)
            seen = as_utc(alert.last_seen_at)
            if idle_for is not None and seen is not None and now - seen < timedelta(seconds=idle_for):
                return None
            res = await conn.execute(
                update(Alert).where(Alert.alert_id == alert.alert_id, Alert.status == "firing")
                .values(status="resolved", resolved_at=now))
        if not res.rowcount:
            return None
        alert.status, alert.resolved_at = "resolved", now
        return alert

    async def firing_keys(self, rule: str) -> list[str]:
        """Keys of the alerts of ``rule`` firing now."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(Alert.key).where(Alert.rule == rule, Alert.status == "firing"))
            return [r[0] for r in rows]

    async def list(
        self, *, org_id: str, status: str | None, limit: int, offset: int,
    ) -> tuple[list[dict[str, Any]], int]:
        """Alerts of ``org_id`` and of the platform (no org), newest first, and their total."""
        where = [or_(Alert.org_id == org_id, Alert.org_id.is_(None))]
        if status is not None:
            where.append(Alert.status == status)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(Alert).where(*where).order_by(Alert.started_at.desc(), Alert.alert_id)
                .limit(limit).offset(offset))).all()
            total = int(await conn.scalar(select(func.count()).select_from(Alert).where(*where)) or 0)
        out = []
        for row in rows:
            a = to_model(Alert, row)
            out.append({c: getattr(a, c) for c in (
                "alert_id", "key", "rule", "severity", "status", "title", "summary", "details",
                "link", "org_id", "count")} | {
                "started_at": as_utc(a.started_at), "last_seen_at": as_utc(a.last_seen_at),
                "notified_at": as_utc(a.notified_at), "resolved_at": as_utc(a.resolved_at)})
        return out, total


def now_utc() -> datetime:
    """The current time (UTC), as the store expects."""
    return utcnow()
