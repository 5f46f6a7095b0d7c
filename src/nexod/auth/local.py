"""``NEXOD_AUTH=local``: the embedded default. One user, admin of the local organisation;
the settings refuse it on anything but a loopback address."""

from __future__ import annotations

from nexod.auth.base import Authenticator, Credentials, Principal
from nexod.settings import LOCAL_ORG

LOCAL_USER = Principal(org_id=LOCAL_ORG, subject="local", kind="local", role="admin")


class LocalAuthenticator(Authenticator):
    """Everyone who can reach the loopback address is the local user."""

    async def authenticate(self, creds: Credentials) -> Principal:
        """Always the local user."""
        return LOCAL_USER
