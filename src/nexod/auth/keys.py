"""API keys: ``nxk_<random>``, shown once, stored as a SHA-256 digest with scopes and expiry.

The secret has 256 bits of entropy, so an unsalted SHA-256 is enough to make a stolen table
useless; lookups are by digest. Verified keys are cached (L1) for at most an hour and dropped
from the cache the moment they are revoked.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexod.auth.base import PERMISSIONS, Permission, Principal
from nexod.auth.revocations import Watermark
from nexod.cache.base import Caches
from nexod.db.models import ApiKey
from nexod.errors import InvalidInput, NotFound, Unauthenticated
from nexod.serde import as_utc, utcnow

PREFIX = "nxk_"
KEY_CACHE_TTL = 3600.0


def digest(secret: str) -> str:
    """The stored form of a key or session id."""
    return hashlib.sha256(secret.encode()).hexdigest()


def cache_key(key_digest: str) -> str:
    """Where a verified key's principal is cached."""
    return f"nexod:l1:key:{key_digest}"


def parse_scopes(scopes: Iterable[str] | None) -> frozenset[Permission]:
    """Check scope names; none given means every scope but ``administer``."""
    if scopes is None:
        return frozenset(p for p in PERMISSIONS if p != "administer")
    out = set()
    for s in scopes:
        if s not in PERMISSIONS:
            raise InvalidInput(f"unknown scope {s!r}; choose from {list(PERMISSIONS)}", field="scopes")
        out.add(s)
    if not out:
        raise InvalidInput("a key needs at least one scope", field="scopes")
    return frozenset(out)


def key_dict(row: ApiKey) -> dict[str, Any]:
    """The wire form of a key (never the secret, never the digest)."""
    return {"key_id": row.key_id, "name": row.name, "prefix": row.prefix, "scopes": row.scopes,
            "created_by": row.created_by, "created_at": as_utc(row.created_at),
            "expires_at": as_utc(row.expires_at) if row.expires_at else None,
            "revoked_at": as_utc(row.revoked_at) if row.revoked_at else None}


def principal_of(row: ApiKey) -> Principal:
    """The caller a key stands for: an admin when it holds ``administer``, else a member."""
    scopes = frozenset(row.scopes)
    return Principal(org_id=row.org_id, subject=f"key:{row.key_id}", kind="apikey",
                     role="admin" if "administer" in scopes else "member",
                     scopes=scopes, credential=row.key_id)  # type: ignore[arg-type]


@dataclass
class NewKey:
    """A key just created: the only time ``secret`` exists outside the caller's hands."""

    row: ApiKey
    secret: str


class ApiKeys:
    """Create, list, revoke and verify keys, always within one organisation."""

    def __init__(self, db: async_sessionmaker[AsyncSession], caches: Caches, watermark: Watermark) -> None:
        self._db = db
        self._caches = caches
        self._watermark = watermark

    async def create(
        self, org_id: str, *, name: str, scopes: Iterable[str] | None = None,
        expires_in: timedelta | None = None, created_by: str | None = None,
    ) -> NewKey:
        """A new key; its secret is returned here and never again."""
        if not name.strip() or len(name) > 255:
            raise InvalidInput("name must be 1 to 255 characters", field="name")
        if expires_in is not None and expires_in.total_seconds() <= 0:
            raise InvalidInput("expires_in must be positive", field="expires_in")
        granted = parse_scopes(scopes)
        secret = PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        row = ApiKey(key_id=str(uuid.uuid4()), org_id=org_id, name=name.strip(), digest=digest(secret),
                     prefix=secret[:10], scopes=sorted(granted), created_by=created_by, created_at=now,
                     expires_at=now + expires_in if expires_in else None, revoked_at=None)
        async with self._db() as s:
            s.add(row)
            await s.commit()
        return NewKey(row, secret)

    async def list(self, org_id: str) -> list[ApiKey]:
        """Every key of the organisation, newest first (revoked ones included)."""
        async with self._db() as s:
            q = select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.created_at.desc())
            return list(await s.scalars(q))

    async def revoke(self, org_id: str, key_id: str) -> ApiKey:
        """Revoke at once: the database first, then the cached copy."""
        async with self._db() as s:
            row = await s.get(ApiKey, key_id)
            if row is None or row.org_id != org_id:
                raise NotFound("api key", key_id)
            if row.revoked_at is None:
                now = utcnow()
                await s.execute(update(ApiKey).where(ApiKey.key_id == key_id).values(revoked_at=now))
                await s.commit()
                await s.refresh(row)
                self._watermark.bump(now)
        await self._caches.delete(cache_key(row.digest))
        return row

    async def verify(self, secret: str) -> Principal:
        """The principal of a valid key; Unauthenticated if unknown, expired or revoked."""
        if not secret.startswith(PREFIX) or len(secret) > 128:
            raise Unauthenticated("not a Nexod API key")
        d = digest(secret)
        cached = await self._caches.get(cache_key(d), layer="api_keys") if self._caches.shared else None
        if isinstance(cached, dict) and _still_valid(cached.get("expires_at")) \
                and await self._watermark.trusts(cached.get("cached_at")):
            return Principal.from_dict(cached["principal"])
        async with self._db() as s:
            row = await s.scalar(select(ApiKey).where(ApiKey.digest == d))
        if row is None:
            raise Unauthenticated("unknown API key")
        if row.revoked_at is not None:
            raise Unauthenticated("the API key was revoked")
        expires = as_utc(row.expires_at)
        if expires is not None and expires <= utcnow():
            raise Unauthenticated("the API key expired")
        principal = principal_of(row)
        ttl = KEY_CACHE_TTL
        if expires is not None:
            ttl = min(ttl, (expires - utcnow()).total_seconds())
        if ttl > 0 and self._caches.shared:
            await self._caches.set(cache_key(d), {
                "principal": principal.to_dict(),
                "expires_at": expires.isoformat() if expires else None,
                "cached_at": utcnow().isoformat(),
            }, ttl)
        return principal


def _still_valid(expires_at: str | None) -> bool:
    return expires_at is None or datetime.fromisoformat(expires_at) > utcnow()
