"""Browser sessions: a random id in a Secure, HTTP-only cookie; its digest in the database and
the principal cached in L1 (Redis) for the session's life. Logout ends both at once (the row
keeps ``ended_at``, which feeds the revocation watermark).

Embedded (no Redis) the database is read on each request instead: a process-local cache could
not be told when `nexod keys revoke`, run in another process, ends a session."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexod.auth.base import Principal
from nexod.auth.keys import digest
from nexod.auth.revocations import Watermark
from nexod.cache.base import Caches
from nexod.db.models import BrowserSession
from nexod.errors import Unauthenticated
from nexod.serde import as_utc, utcnow


def cache_key(session_digest: str) -> str:
    """Where a session's principal is cached (L1)."""
    return f"nexod:l1:session:{session_digest}"


class Sessions:
    """Create, resolve and end browser sessions."""

    def __init__(self, db: async_sessionmaker[AsyncSession], caches: Caches, ttl: int,
                 watermark: Watermark) -> None:
        self._db = db
        self._caches = caches
        self.ttl = ttl
        self._watermark = watermark

    async def create(self, who: Principal) -> str:
        """A new session for ``who``; returns the cookie value (shown to the browser only)."""
        token = secrets.token_urlsafe(32)
        d = digest(token)
        now = utcnow()
        subject = Principal(org_id=who.org_id, subject=who.subject, kind="session", role=who.role,
                            scopes=who.scopes, credential=who.credential)
        async with self._db() as s:
            s.add(BrowserSession(digest=d, org_id=who.org_id, subject=who.subject,
                                 credential=who.credential, principal=subject.to_dict(),
                                 created_at=now, expires_at=now + timedelta(seconds=self.ttl)))
            await s.commit()
        if self._caches.shared:
            await self._caches.set(cache_key(d), {"principal": subject.to_dict(),
                                                  "cached_at": utcnow().isoformat()}, self.ttl)
        return token

    async def resolve(self, token: str) -> Principal:
        """The principal of a live session; Unauthenticated once it ended or expired."""
        d = digest(token)
        cached = await self._caches.get(cache_key(d), layer="sessions") if self._caches.shared else None
        if isinstance(cached, dict) and await self._watermark.trusts(cached.get("cached_at")):
            return Principal.from_dict(cached["principal"])
        async with self._db() as s:
            row = await s.get(BrowserSession, d)
        if row is None or row.ended_at is not None:
            raise Unauthenticated("the session ended (log in again)")
        expires = as_utc(row.expires_at)
        if expires is None or expires <= utcnow():
            raise Unauthenticated("the session expired (log in again)")
        if self._caches.shared:
            await self._caches.set(cache_key(d), {"principal": row.principal, "cached_at": utcnow().isoformat()},
                                   (expires - utcnow()).total_seconds())
        return Principal.from_dict(row.principal)

    async def end(self, token: str) -> None:
        """Log out: the session stops working for every process at once."""
        d = digest(token)
        now = utcnow()
        async with self._db() as s:
            await s.execute(update(BrowserSession).where(BrowserSession.digest == d).values(ended_at=now))
            await s.commit()
        self._watermark.bump(now)
        await self._caches.delete(cache_key(d))

    async def end_where(self, org_id: str | None = None, *, subject: str | None = None,
                        credential: str | None = None) -> int:
        """End every session of a subject (in an org) or made with a credential (a key)."""
        conds = []
        if org_id is not None:
            conds.append(BrowserSession.org_id == org_id)
        if subject is not None:
            conds.append(BrowserSession.subject == subject)
        if credential is not None:
            conds.append(BrowserSession.credential == credential)
        now = utcnow()
        async with self._db() as s:
            digests = list(await s.scalars(select(BrowserSession.digest).where(
                *conds, BrowserSession.ended_at.is_(None))))
            if digests:
                await s.execute(update(BrowserSession).where(BrowserSession.digest.in_(digests))
                                .values(ended_at=now))
                await s.commit()
                self._watermark.bump(now)
        for d in digests:
            await self._caches.delete(cache_key(d))
        return len(digests)
