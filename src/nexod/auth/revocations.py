"""The revocation watermark: when the latest key was revoked or session ended.

A credential cached in Redis (L1) is deleted from it the moment it is revoked. If Redis cannot
be told (it is unreachable from the revoking process, but not from others), the cached copy
would outlive the revocation. So each cached credential carries the time it was cached, and
every process reads the latest revocation time from the database at most every
``REFRESH`` seconds: a cached copy older than that watermark is checked against the database
again. A revocation that could not reach Redis thus takes effect within ``REFRESH`` seconds
everywhere, and at once in the process that made it.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexod.db.models import ApiKey, BrowserSession
from nexod.serde import as_utc

REFRESH = 2.0
"""Seconds between reads of the watermark."""
SKEW = timedelta(seconds=2)
"""Clock difference between processes tolerated when comparing times."""


class Watermark:
    """The latest revocation time seen by this process."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db
        self._latest: datetime | None = None
        self._read_at = float("-inf")

    def bump(self, when: datetime) -> None:
        """A revocation made by this process: effective here at once."""
        if self._latest is None or when > self._latest:
            self._latest = when

    async def latest(self) -> datetime | None:
        """The latest revocation, from the database when the last read is older than REFRESH."""
        if time.monotonic() - self._read_at >= REFRESH:
            async with self._db() as s:
                keys = await s.scalar(select(func.max(ApiKey.revoked_at)))
                sessions = await s.scalar(select(func.max(BrowserSession.ended_at)))
            for when in (as_utc(keys), as_utc(sessions)):
                if when is not None:
                    self.bump(when)
            self._read_at = time.monotonic()
        return self._latest

    async def trusts(self, cached_at: str | None) -> bool:
        """True when a copy cached at ``cached_at`` is newer than every revocation."""
        if cached_at is None:
            return False
        latest = await self.latest()
        return latest is None or datetime.fromisoformat(cached_at) > latest + SKEW
