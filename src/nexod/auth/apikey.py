"""``NEXOD_AUTH=apikey``: API keys (``x-api-key`` or ``Authorization: Bearer nxk_…``) and the
browser sessions opened with them."""

from __future__ import annotations

from nexod.auth.base import Authenticator, Credentials, Principal
from nexod.auth.keys import PREFIX, ApiKeys
from nexod.auth.sessions import Sessions
from nexod.errors import Unauthenticated


class ApiKeyAuthenticator(Authenticator):
    """A session cookie, else an API key."""

    def __init__(self, keys: ApiKeys, sessions: Sessions) -> None:
        self.keys = keys
        self.sessions = sessions

    async def authenticate(self, creds: Credentials) -> Principal:
        """The caller named by the first credential present."""
        key = creds.api_key or (creds.bearer if creds.bearer and creds.bearer.startswith(PREFIX) else None)
        if key is not None:
            return await self.keys.verify(key)
        if creds.session is not None:
            return await self.sessions.resolve(creds.session)
        raise Unauthenticated("send an API key in the x-api-key header (or Authorization: Bearer)")
