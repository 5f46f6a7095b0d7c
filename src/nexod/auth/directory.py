"""Organisations, users and memberships: the mirror of Clerk that webhooks keep in step."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexod.auth.base import Role, parse_role
from nexod.cache.base import Caches
from nexod.db.models import Membership, Organization, User
from nexod.errors import Unauthenticated
from nexod.serde import utcnow

ROLE_TTL = 60.0
RECHECK = 5.0
"""Seconds a process trusts that an organisation it has seen is not deleted: a deletion bars
the organisation's callers at once in the process that received it, within this elsewhere."""


REMOVED: Literal["removed"] = "removed"
"""The role stored for a membership a webhook removed (or whose user was deleted)."""


def role_key(org_id: str, user_id: str) -> str:
    """Where a mirrored membership role is cached (L1)."""
    return f"nexod:l1:role:{org_id}:{user_id}"


class Directory:
    """Reads and writes the identity tables; ``ensure_org`` runs on every request (it reads
    the organisation's row at most every RECHECK seconds per process)."""

    def __init__(self, db: async_sessionmaker[AsyncSession], caches: Caches,
                 on_new_org: Callable[[str], Awaitable[None]]) -> None:
        self._db = db
        self._caches = caches
        self._on_new_org = on_new_org
        self._known: dict[str, float] = {}  # org id → when it was last seen alive

    async def ensure_org(self, org_id: str, name: str | None = None) -> None:
        """Make sure the organisation exists, with its default assistants (idempotent);
        Unauthenticated once it was deleted (its tombstone stays, so it is never re-created)."""
        now = time.monotonic()
        seen = self._known.get(org_id)
        if seen is not None and now - seen < RECHECK:
            return
        async with self._db() as s:
            row = await s.get(Organization, org_id)
            if row is not None and row.deleted_at is not None:
                self._known.pop(org_id, None)
                raise Unauthenticated("the organisation was deleted")
            if row is None:
                stamp = utcnow()
                s.add(Organization(org_id=org_id, name=name or org_id, slug=None,
                                   created_at=stamp, updated_at=stamp))
                try:
                    await s.commit()
                except IntegrityError:
                    await s.rollback()  # created concurrently: fine
        if seen is None:
            await self._on_new_org(org_id)
        self._known[org_id] = now

    def forget_org(self, org_id: str) -> None:
        """This process stops trusting the organisation (it was just deleted)."""
        self._known.pop(org_id, None)

    async def role_of(self, org_id: str, user_id: str) -> Role | Literal["removed"] | None:
        """The user's mirrored role in the organisation: ``removed`` once a webhook said they
        left it, None when not mirrored (cached for ROLE_TTL seconds; webhooks that change it
        drop the cached copy)."""
        key = role_key(org_id, user_id)
        cached = await self._caches.get(key, layer="roles")
        if isinstance(cached, dict):
            role = cached.get("role")
        else:
            async with self._db() as s:
                role = await s.scalar(select(Membership.role).where(
                    Membership.org_id == org_id, Membership.user_id == user_id))
            await self._caches.set(key, {"role": role}, ROLE_TTL)
        if role == REMOVED:
            return REMOVED
        return parse_role(role) if role is not None else None

    async def forget_role(self, org_id: str, user_id: str) -> None:
        """Drop a cached role (after a webhook changed it)."""
        await self._caches.delete(role_key(org_id, user_id))

    # --- webhook writes (within the caller's transaction) ---------------------------------------

    @staticmethod
    async def upsert_user(s: AsyncSession, data: dict[str, Any]) -> str:
        """Create or update a user from a Clerk ``user`` object (or ``public_user_data``)."""
        uid = str(data.get("id") or data.get("user_id"))
        emails = data.get("email_addresses") or []
        primary = next((e.get("email_address") for e in emails
                        if e.get("id") == data.get("primary_email_address_id")), None)
        email = primary or data.get("identifier") or (emails[0].get("email_address") if emails else None)
        name = " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p) or None
        now = utcnow()
        row = await s.get(User, uid)
        if row is None:
            s.add(User(user_id=uid, email=email, name=name, created_at=now, updated_at=now))
        else:
            row.email, row.name, row.updated_at = email or row.email, name or row.name, now
        await s.flush()
        return uid

    @staticmethod
    async def upsert_org(s: AsyncSession, data: dict[str, Any]) -> str:
        """Create or update an organisation from a Clerk ``organization`` object."""
        oid = str(data["id"])
        now = utcnow()
        row = await s.get(Organization, oid)
        if row is None:
            s.add(Organization(org_id=oid, name=str(data.get("name") or oid), slug=data.get("slug"),
                               created_at=now, updated_at=now))
        else:
            row.name, row.slug, row.updated_at = str(data.get("name") or row.name), data.get("slug"), now
        await s.flush()
        return oid

    @staticmethod
    async def set_membership(s: AsyncSession, org_id: str, user_id: str, role: str | None) -> None:
        """Create or update a membership with a role."""
        now = utcnow()
        row = await s.get(Membership, (org_id, user_id))
        if row is None:
            s.add(Membership(org_id=org_id, user_id=user_id, role=parse_role(role),
                             created_at=now, updated_at=now))
        else:
            row.role, row.updated_at = parse_role(role), now
        await s.flush()

    @staticmethod
    async def remove_membership(s: AsyncSession, org_id: str, user_id: str) -> None:
        """Mark a membership removed (a tombstone, not a delete): the user's Clerk tokens,
        valid for up to a minute more and still naming the organisation, are refused at once."""
        now = utcnow()
        row = await s.get(Membership, (org_id, user_id))
        if row is None:
            s.add(Membership(org_id=org_id, user_id=user_id, role=REMOVED, created_at=now, updated_at=now))
        else:
            row.role, row.updated_at = REMOVED, now
        await s.flush()

    @staticmethod
    async def remove_user(s: AsyncSession, user_id: str) -> list[str]:
        """Forget a deleted user's name and email and mark their memberships removed (so their
        last tokens are refused); returns the organisations they were in."""
        orgs = list(await s.scalars(select(Membership.org_id).where(Membership.user_id == user_id)))
        await s.execute(update(Membership).where(Membership.user_id == user_id)
                        .values(role=REMOVED, updated_at=utcnow()))
        await s.execute(update(User).where(User.user_id == user_id).values(email=None, name=None))
        return orgs

    @staticmethod
    async def tombstone(s: AsyncSession, org_id: str) -> list[str]:
        """Mark an organisation deleted (idempotent) and drop its memberships; returns the
        users who were members. Its other data is purged after the commit
        (:class:`nexod.resources.tenants.TenantPurge`)."""
        now = utcnow()
        row = await s.get(Organization, org_id)
        if row is None:
            s.add(Organization(org_id=org_id, name=org_id, slug=None, created_at=now,
                               updated_at=now, deleted_at=now))
        elif row.deleted_at is None:
            row.deleted_at, row.updated_at = now, now
        users = list(await s.scalars(select(Membership.user_id).where(Membership.org_id == org_id)))
        await s.execute(delete(Membership).where(Membership.org_id == org_id))
        await s.flush()
        return users
