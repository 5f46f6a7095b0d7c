"""Who may do what: role and scopes for the organisation, grants for one assistant.

An assistant with no grant for a permission (``run``, ``approve``, ``administer``) follows the
caller's role: members run and approve, only admins administer. Once an assistant has grants
for a permission, only the granted users (and organisation admins) hold it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexod.auth.base import ASSISTANT_PERMISSIONS, Permission, Principal
from nexod.cache.base import Caches
from nexod.db.models import AssistantPermission
from nexod.errors import Forbidden, InvalidInput
from nexod.serde import utcnow

GRANTS_TTL = 60.0


def grants_key(assistant_id: str) -> str:
    """Where an assistant's grants are cached (L1)."""
    return f"nexod:l1:grants:{assistant_id}"


class Permissions:
    """Checks and stores per-assistant grants (the assistant's tenant is checked by the caller)."""

    def __init__(self, db: async_sessionmaker[AsyncSession], caches: Caches) -> None:
        self._db = db
        self._caches = caches

    @staticmethod
    def require(who: Principal, permission: Permission, what: str) -> None:
        """Forbidden unless the role and scopes allow ``permission`` in the organisation."""
        if permission not in who.permissions:
            raise Forbidden(permission, what)

    async def grants(self, assistant_id: str) -> dict[str, list[str]]:
        """``{permission: [user ids]}`` for one assistant (cached, dropped on change)."""
        cached = await self._caches.get(grants_key(assistant_id), layer="grants")
        if isinstance(cached, dict):
            return cached
        async with self._db() as s:
            rows = (await s.execute(
                select(AssistantPermission.permission, AssistantPermission.user_id)
                .where(AssistantPermission.assistant_id == assistant_id)
            )).all()
        out: dict[str, list[str]] = {}
        for perm, user in rows:
            out.setdefault(perm, []).append(user)
        await self._caches.set(grants_key(assistant_id), out, GRANTS_TTL)
        return out

    async def require_on(self, who: Principal, permission: Permission, assistant_id: str, what: str) -> None:
        """Forbidden unless ``who`` holds ``permission`` on this assistant."""
        if permission not in who.scopes:
            raise Forbidden(permission, what)
        if who.role == "admin":
            return
        granted = (await self.grants(assistant_id)).get(permission)
        if granted:
            if who.subject not in granted:
                raise Forbidden(permission, what)
            return
        self.require(who, permission, what)

    async def set_user(self, org_id: str, assistant_id: str, user_id: str,
                       permissions: Iterable[str]) -> list[str]:
        """Replace one user's grants on one assistant; an empty list removes them."""
        wanted = sorted(set(permissions))
        for p in wanted:
            if p not in ASSISTANT_PERMISSIONS:
                raise InvalidInput(f"unknown permission {p!r}; choose from {list(ASSISTANT_PERMISSIONS)}",
                                   field="permissions")
        if not user_id or len(user_id) > 64:
            raise InvalidInput("user_id must be 1 to 64 characters", field="user_id")
        now = utcnow()
        async with self._db() as s:
            await s.execute(delete(AssistantPermission).where(
                AssistantPermission.assistant_id == assistant_id, AssistantPermission.user_id == user_id))
            s.add_all(AssistantPermission(assistant_id=assistant_id, user_id=user_id, permission=p,
                                          org_id=org_id, created_at=now) for p in wanted)
            await s.commit()
        await self.forget(assistant_id)
        return wanted

    async def remove_user(self, org_id: str, user_id: str) -> None:
        """Drop every grant a user holds in an organisation (they left it)."""
        async with self._db() as s:
            aids = list(await s.scalars(select(AssistantPermission.assistant_id).where(
                AssistantPermission.org_id == org_id, AssistantPermission.user_id == user_id)))
            await s.execute(delete(AssistantPermission).where(
                AssistantPermission.org_id == org_id, AssistantPermission.user_id == user_id))
            await s.commit()
        for aid in set(aids):
            await self.forget(aid)

    async def forget(self, assistant_id: str) -> None:
        """Drop the cached grants of an assistant."""
        await self._caches.delete(grants_key(assistant_id))
