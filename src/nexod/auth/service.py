"""Everything identity, wired once per process: ``Auth`` is what the API layer talks to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexod.auth.apikey import ApiKeyAuthenticator
from nexod.auth.base import Authenticator, Credentials, Principal
from nexod.auth.directory import Directory
from nexod.auth.keys import ApiKeys
from nexod.auth.local import LocalAuthenticator
from nexod.auth.permissions import Permissions
from nexod.auth.revocations import Watermark
from nexod.auth.sessions import Sessions
from nexod.auth.webhooks import ClerkWebhooks
from nexod.cache.base import Caches
from nexod.settings import Settings


class Auth:
    """Authenticator (chosen by ``NEXOD_AUTH``), keys, sessions, permissions, directory, webhooks."""

    def __init__(self, settings: Settings, db: async_sessionmaker[AsyncSession], caches: Caches,
                 on_new_org: Callable[[str], Awaitable[None]],
                 on_org_deleted: Callable[[str], Awaitable[object]] | None = None) -> None:
        self.mode = settings.auth
        self.watermark = Watermark(db)
        self.keys = ApiKeys(db, caches, self.watermark)
        self.sessions = Sessions(db, caches, settings.session_ttl, self.watermark)
        self.permissions = Permissions(db, caches)
        self.directory = Directory(db, caches, on_new_org)
        secret = settings.clerk_webhook_secret.get_secret_value() if settings.clerk_webhook_secret else None
        self.webhooks = ClerkWebhooks(db, secret, self.directory, self.permissions, self.sessions,
                                     on_org_deleted)
        self.authenticator = self._authenticator(settings)

    def _authenticator(self, settings: Settings) -> Authenticator:
        if settings.auth == "local":
            return LocalAuthenticator()
        if settings.auth == "apikey":
            return ApiKeyAuthenticator(self.keys, self.sessions)
        from nexod.auth.clerk import ClerkAuthenticator, ClerkVerifier

        return ClerkAuthenticator(ClerkVerifier(settings), self.keys, self.sessions, self.directory)

    async def authenticate(self, creds: Credentials) -> Principal:
        """The caller, with their organisation set up on first sight."""
        who = await self.authenticator.authenticate(creds)
        await self.directory.ensure_org(who.org_id)
        return who

    async def revoke_key(self, org_id: str, key_id: str) -> None:
        """Revoke a key and end the browser sessions opened with it, at once."""
        await self.keys.revoke(org_id, key_id)
        await self.sessions.end_where(org_id, credential=key_id)
